"""Writing a scored run as a folder of Parquet parts (``labeltui score -o DIR``).

Layout (``scores.json`` + ``scores/part-K.parquet`` + ``objects/part-K.parquet``):
part K holds a contiguous range of rows in run order with a ``row`` column (the
global row position) and exactly the columns of the in-memory scores table;
its objects part holds the object outcomes of those rows' annotations. Object
indices (``issue_object``, ``partner``, ``best_partner``, ``issue_partner``)
are global annotation positions. The folder appears only when complete: parts
are written into a temporary sibling folder that is renamed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labeltui.engine.score import ScoredRun
from labeltui.errors import LoadError
from labeltui.run import ModelRun, row_classes

SCORES_FORMAT = "labeltui-scores"
SCORES_VERSION = 1
OBJECT_INDEX_COLUMNS = ("partner", "best_partner", "issue_partner")


def scores_table(run: ModelRun, scored: ScoredRun) -> pd.DataFrame:
    """The scores table the app and the CLI show: the engine's row scores plus
    ``global_key`` and, for box and span runs, the ``|``-joined row ``classes``."""
    scores = scored.scores.copy()
    if "global_key" not in scores.columns:
        scores.insert(scores.columns.get_loc("data_row_id") + 1, "global_key", run.rows["global_key"].to_numpy())
    if run.task != "classification" and "classes" not in scores.columns:
        scores.insert(scores.columns.get_loc("label") + 1, "classes", row_classes(run))
    return scores


def check_output(out: Path, force: bool) -> None:
    """Refuse to replace an existing non-empty folder unless ``force``."""
    if out.exists() and not out.is_dir():
        raise LoadError(f"{out}: exists and is not a folder; choose another -o")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise LoadError(f"{out}: folder exists and is not empty; choose another -o or pass --force")


def staging_dir(out: Path) -> Path:
    """A new temporary folder beside ``out`` (same filesystem, so the final rename is atomic)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    (tmp / "scores").mkdir()
    (tmp / "objects").mkdir()
    return tmp


def write_part(
    folder: Path, k: int, table: pd.DataFrame, objects: pd.DataFrame | None, first_row: int, first_annotation: int
) -> dict:
    """Write part ``k`` (rows from ``first_row``, annotations from
    ``first_annotation``; object indices in ``table``/``objects`` local to the
    part) into ``folder``; returns its manifest entry."""
    table = table.reset_index(drop=True)
    table.insert(0, "row", np.arange(first_row, first_row + len(table), dtype=np.int64))
    if "issue_object" in table:
        table["issue_object"] = _shifted(table["issue_object"].to_numpy(), first_annotation)
    name = f"part-{k:05d}.parquet"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), folder / "scores" / name)
    entry = {"first_row": first_row, "n_rows": len(table), "scores": f"scores/{name}", "objects": None,
             "first_annotation": first_annotation, "n_annotations": 0}
    if objects is not None and len(objects.columns):
        objects = objects.reset_index(drop=True)
        for col in OBJECT_INDEX_COLUMNS:
            if col in objects:
                objects[col] = _shifted(objects[col].to_numpy(), first_annotation)
        pq.write_table(pa.Table.from_pandas(objects, preserve_index=False), folder / "objects" / name)
        entry.update(objects=f"objects/{name}", n_annotations=len(objects))
    return entry


def _shifted(index: np.ndarray, offset: int) -> np.ndarray:
    index = np.asarray(index, dtype=np.int64)
    return np.where(index >= 0, index + offset, -1)


def commit(tmp: Path, out: Path, meta: dict, parts: list[dict]) -> Path:
    """Write ``scores.json`` into the staging folder and move it to ``out``."""
    parts = sorted(parts, key=lambda p: p["first_row"])
    manifest = {"format": SCORES_FORMAT, "version": SCORES_VERSION, **meta,
                "n_rows": sum(p["n_rows"] for p in parts), "parts": parts}
    with open(tmp / "scores.json", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
    return out


def write_scores_dir(
    out: Path, run: ModelRun, scores: pd.DataFrame, objects: pd.DataFrame | None, meta: dict, *,
    rows_per_part: int = 100_000, force: bool = False,
) -> Path:
    """Write a scored in-memory run (``scores`` with the columns of
    ``scores_table``, ``objects`` aligned to ``run.annotations``) as a scores folder."""
    check_output(out, force)
    tmp = staging_dir(out)
    try:
        ann_rows = run.annotations["row"].to_numpy()
        parts = []
        for k, lo in enumerate(range(0, max(run.n_rows, 1), rows_per_part)):
            hi = min(lo + rows_per_part, run.n_rows)
            a, b = np.searchsorted(ann_rows, [lo, hi])
            local = scores.iloc[lo:hi].copy()
            if "issue_object" in local:
                io = local["issue_object"].to_numpy()
                local["issue_object"] = np.where(io >= 0, io - a, -1)
            obj = None
            if objects is not None:
                obj = objects.iloc[a:b].copy()
                for col in OBJECT_INDEX_COLUMNS:
                    if col in obj:
                        v = obj[col].to_numpy()
                        obj[col] = np.where(v >= 0, v - a, -1)
            parts.append(write_part(tmp, k, local, obj, lo, int(a)))
        return commit(tmp, out, meta, parts)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def score_locally(
    config, out: Path, *, rows_per_part: int = 100_000, force: bool = False, use_cache: bool = True, progress=None
) -> dict:
    """Score ``config``'s run in this process (through the score cache) and
    write the scores folder ``out``; returns its manifest."""
    from labeltui.pipeline import scores_for

    check_output(out, force)
    scored = scores_for(config, progress, use_cache=use_cache, need_run=True)
    meta = {"name": config.name, "task": scored.run.task, "classes": list(scored.run.classes),
            "config": str(config.path.resolve()) if config.path else None, "engine": "local"}
    write_scores_dir(out, scored.run, scored.scores, scored.objects, meta, rows_per_part=rows_per_part, force=force)
    return {**meta, "n_rows": scored.run.n_rows}
