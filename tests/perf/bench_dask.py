"""Scoring throughput: the single-process engine vs Dask with 1 and 2 workers.

A seeded synthetic detection run (COCO, see ``synth_coco``) is converted once
to a sharded run; then the same input is scored into a scores folder by

* ``local``: ``labeltui score --engine local`` in this process (read all parts,
  score, write), the baseline;
* ``dask-1`` / ``dask-2``: ``--engine dask`` on a LocalCluster of 1 / 2 worker
  processes (cluster start-up reported apart, not counted).

Prints rows/s (median of ``--repeat`` runs) and the Dask overhead at 2 workers
against the ideal: ``time(dask-2) / (time(local) / 2) - 1``.

    python tests/perf/bench_dask.py --images 60000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from synth_coco import write_synthetic_coco  # noqa: E402

from labeltui.config import load_config  # noqa: E402
from labeltui.convert import convert  # noqa: E402
from labeltui.distributed import local_cluster, score_on_dask  # noqa: E402
from labeltui.score_output import score_locally  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=60_000)
    ap.add_argument("--rows-per-part", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", help="work folder (default: a temporary one, removed at the end)")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        t = time.perf_counter()
        source = write_synthetic_coco(work / "coco", n_images=args.images)
        convert(load_config(source), work / "shards", rows_per_part=args.rows_per_part, force=True)
        config = load_config(work / "shards" / "run.yaml")
        print(f"input: {args.images:,} images, parts of {args.rows_per_part:,} rows (prepared in {time.perf_counter() - t:.1f} s)")

        times: dict[str, list[float]] = {"local": [], "dask-1": [], "dask-2": []}
        clusters = {}
        for n in (1, 2):
            t = time.perf_counter()
            clusters[n] = local_cluster(n)
            print(f"LocalCluster with {n} worker(s) started in {time.perf_counter() - t:.1f} s (not counted)")
        for _ in range(args.repeat):
            out = work / "out"
            t = time.perf_counter()
            score_locally(config, out, rows_per_part=args.rows_per_part, force=True, use_cache=False)
            times["local"].append(time.perf_counter() - t)
            for n in (1, 2):
                t = time.perf_counter()
                info = score_on_dask(config, out, scheduler=clusters[n].scheduler_address, force=True)
                times[f"dask-{n}"].append(time.perf_counter() - t)
                phases = ", ".join(f"{k} {v:.2f} s" for k, v in info["timings"].items() if k != "cluster")
                print(f"  dask-{n}: {times[f'dask-{n}'][-1]:.2f} s ({phases})")
            print(f"  local: {times['local'][-1]:.2f} s")
        rows = info["n_rows"]
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\n{'engine':<8} {'median s':>9} {'rows/s':>10} {'vs local':>9}")
        for k, v in med.items():
            print(f"{k:<8} {v:>9.2f} {rows / v:>10,.0f} {med['local'] / v:>8.2f}x")
        overhead = med["dask-2"] / (med["local"] / 2) - 1
        print(f"\nDask overhead at 2 workers vs the ideal 2x of the local engine: {overhead:+.0%} (target < 30%)")
        for c in clusters.values():
            c.close()
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
