"""Scoring a sharded run on a Dask cluster (``labeltui score --engine dask``).

Scoring is per data row except for a few run-wide statistics, so it runs in
two passes over partitions of consecutive rows (one or more parts of a
sharded run, see ``labeltui.shards``):

1. every partition is loaded and prepared on a worker
   (``engine.score.prepare``: matching, overlaps, issue types) and stays in
   that worker's memory; the worker returns the partition's features, the few
   numbers per object the run-wide statistics need;
2. the client joins the features in row order and fits the run-wide
   statistics once (``engine.score.fit``), then broadcasts them; every worker
   finishes its partition (suspicions, row scores, metrics) and writes it as a
   part of the scores folder.

The run-wide statistics are: detection, the calibration curves ``P(class,
confidence)`` of the three prediction issues, the histogram of bad_location
overlaps, the size rank of every ground-truth box (all areas, sorted) with the
``P(class, size)`` curve of spurious_label, and per-class recall; NER, the
three calibration curves, per-type supported share and typical confidence;
classification, the per-class confident-learning thresholds. Because the
features of the partitions joined in row order are exactly those of the whole
run, the fits and so every score equal single-machine scoring bit for bit.
Embedding-neighbour disagreement needs every embedding at once: when the run
has embeddings it is computed on the client (``engine.neighbors``) from the
partitions' embeddings, which must fit in the client's memory.

The scores folder must be on storage the workers can write (a shared
filesystem); a ``LocalCluster`` on this machine always can.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from labeltui.config import Config
from labeltui.engine import score as engine
from labeltui.errors import LoadError
from labeltui.run import concat_runs
from labeltui.score_output import check_output, commit, scores_table, staging_dir, write_part

Progress = Callable[[str, float], None]
#: How long to try reaching a --scheduler address.
CONNECT_TIMEOUT = "20s"


def partitions_of(parts: list[dict], wanted: int | None) -> list[list[int]]:
    """Group the run's parts into ``wanted`` partitions of consecutive parts
    (balanced by rows); every part on its own when ``wanted`` is None."""
    n = len(parts)
    if not wanted or wanted >= n:
        return [[k] for k in range(n)]
    rows = np.cumsum([p["n_rows"] for p in parts])
    bounds = np.searchsorted(rows, rows[-1] * np.arange(1, wanted) / wanted, side="left") + 1
    groups = [g.tolist() for g in np.split(np.arange(n), np.unique(np.clip(bounds, 1, n - 1)))]
    return [g for g in groups if g]


def _prepare_partition(manifest: str, ks: list[int], config: Config) -> engine.PreparedRun:
    from labeltui.shards import load_part

    return engine.prepare(concat_runs([load_part(manifest, k) for k in ks]), config)


def _features(prepared: engine.PreparedRun) -> dict:
    return engine.features(prepared)


def _neighbour_inputs(prepared: engine.PreparedRun) -> tuple:
    run = prepared.run
    return run.embeddings, run.embedding_mask, engine.row_labels(run)


def _finish_partition(
    prepared: engine.PreparedRun, fits, config: Config, knn: np.ndarray | None, folder: str, k: int,
    first_row: int, first_annotation: int,
) -> dict:
    scored = engine.finish(prepared, fits, config, knn=knn)
    return write_part(Path(folder), k, scores_table(prepared.run, scored), scored.objects, first_row, first_annotation)


def _client(scheduler: str | None, workers: int | None):
    try:
        from dask.distributed import Client
    except ImportError:
        raise LoadError("--engine dask needs Dask: pip install 'labeltui[dask]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise LoadError(f"--scheduler {scheduler}: cannot connect ({exc}); check the address and that the scheduler runs") from None
    return Client(local_cluster(workers or os.cpu_count() or 1))


def local_cluster(workers: int):
    """A LocalCluster of ``workers`` single-threaded processes for scoring.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers by
    default; with it glibc hands freed memory back at once and the matching's
    large temporary arrays page-fault on every allocation (measured: prepare
    2.3 s instead of 1.1 s per 60k images). Scoring frees everything at the
    end of a partition anyway, so the workers here keep glibc's defaults.
    """
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.ERROR)


def score_on_dask(
    config: Config, out: Path, *, scheduler: str | None = None, partitions: int | None = None,
    workers: int | None = None, force: bool = False, progress: Progress | None = None,
) -> dict:
    """Score the sharded run ``config`` names on Dask and write the scores folder ``out``.

    ``scheduler``: a running scheduler's address (default: a LocalCluster of
    ``workers`` processes); ``partitions``: how many partitions (default: one
    per part of the sharded run). Returns the folder's manifest plus timings.
    """
    from labeltui.shards import read_manifest

    if config.ground_truth is None or config.ground_truth.format != "shards":
        raise LoadError(
            "--engine dask reads a sharded run: convert it first with "
            f"`labeltui convert {config.path or 'CONFIG'} -o RUN_DIR`, then score RUN_DIR/run.yaml",
            path=config.path,
        )
    manifest_path = str(config.ground_truth.path)
    manifest = read_manifest(manifest_path)
    parts = manifest["parts"]
    check_output(out, force)
    groups = partitions_of(parts, partitions)
    first_ann = np.concatenate([[0], np.cumsum([p["n_annotations"] for p in parts])]).astype(int)
    say = progress or (lambda msg, frac: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    client = _client(scheduler, workers)
    timings["cluster"] = time.perf_counter() - t0
    tmp = staging_dir(out)
    try:
        from dask.distributed import as_completed

        t = time.perf_counter()
        prepared = [client.submit(_prepare_partition, manifest_path, g, config, pure=False) for g in groups]
        feats = [client.submit(_features, p, pure=False) for p in prepared]
        for done, _ in enumerate(as_completed(feats), 1):
            say(f"pass 1/2: matched {done}/{len(groups)} partitions", 0.5 * done / len(groups))
        fits = engine.fit(manifest["task"], engine.join_features(client.gather(feats)), config)
        timings["pass1"] = time.perf_counter() - t

        t = time.perf_counter()
        knn_parts: list = [None] * len(groups)
        if manifest.get("embedding_dim") and config.scoring.knn_weight > 0:
            say("neighbours: gathering embeddings", 0.5)
            emb, mask, labels = zip(*client.gather([client.submit(_neighbour_inputs, p, pure=False) for p in prepared]))
            knn = engine.knn_scores(np.concatenate(emb), np.concatenate(mask), np.concatenate(labels), config.scoring)
            sizes = np.cumsum([0] + [sum(parts[k]["n_rows"] for k in g) for g in groups])
            knn_parts = [knn[a:b] for a, b in zip(sizes[:-1], sizes[1:])]
        timings["neighbours"] = time.perf_counter() - t

        t = time.perf_counter()
        fits_f = client.scatter(fits, broadcast=True)
        written = [
            client.submit(_finish_partition, p, fits_f, config, knn_parts[i], str(tmp), i,
                          int(parts[g[0]]["first_row"]), int(first_ann[g[0]]), pure=False)
            for i, (p, g) in enumerate(zip(prepared, groups))
        ]
        for done, _ in enumerate(as_completed(written), 1):
            say(f"pass 2/2: scored {done}/{len(groups)} partitions", 0.5 + 0.5 * done / len(groups))
        entries = client.gather(written)
        timings["pass2"] = time.perf_counter() - t
        meta = {"name": config.name, "task": manifest["task"], "classes": manifest["classes"],
                "config": str(config.path.resolve()) if config.path else None, "engine": "dask",
                "partitions": len(groups)}
        commit(tmp, out, meta, entries)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()
    return {**meta, "n_rows": sum(e["n_rows"] for e in entries), "timings": timings}


def print_progress(msg: str, frac: float) -> None:
    """Progress on stderr, one line per step."""
    print(f"labeltui: {msg}", file=sys.stderr, flush=True)
