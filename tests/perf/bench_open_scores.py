"""Benchmark opening a 20M-row scored run that does not fit in memory (issue 9 item 3; a script).

    python tests/perf/bench_open_scores.py [--rows 20000000] [--data DIR] [--regen]

Generates (once, kept in ``--data``, default ~/.cache/labeltui-bench/scores-<rows>)
a synthetic detection run of ``--rows`` data rows as a sharded run (rows and
annotation parts, two boxes a row, written with pyarrow part by part) and its
scores folder (``scores.json`` + score and object parts with the columns of
``pipeline.scores_for`` for a detection run, 100k rows a part). Then measures,
each in a fresh process started as a user would start it:

- ``labeltui open SCORES_DIR`` in a 200x60 tmux pane: seconds from the
  command to the first frame of the review screen (the pane is polled every
  10 ms for the list's header line), to the first row's preview facts (its
  annotations fetched on demand), and the peak RSS of the process
  (``/usr/bin/time``); target <= 5 s and <= 2 GB;
- the same with 10,000 verdicts already in the review store;
- ``labeltui rank SCORES_DIR --top 20`` (and with a filter): wall time and
  peak RSS.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_tui import labeltui_command, open_in_tmux  # noqa: E402

from labeltui import shards  # noqa: E402
from labeltui.engine import ISSUE_TYPES  # noqa: E402
from labeltui.run import build_run  # noqa: E402

CLASSES = ["bicycle", "bus", "car", "person", "truck", "van"]
PART_ROWS = 100_000
MARKS = {
    "first frame of the list (s)": lambda screen: "score▼" in screen,
    "first row's annotations in the detail pane (s)": lambda screen: "objects (" in screen,
    "ids read (list fully drawn) (s)": lambda screen: "score▼" in screen and "reading ids" not in screen,
}


# ---------------------------------------------------------------- data
def _ids(rows: np.ndarray) -> pa.Array:
    return pa.array(np.char.add("img-", np.char.zfill(rows.astype(str), 8)).astype(object), pa.large_string())


def _template_columns(image: Path) -> dict:
    """The manifest ``columns`` entry of a sharded detection run (from a two-row run)."""
    import pandas as pd

    rows = pd.DataFrame({"data_row_id": ["a", "b"], "global_key": ["a.jpg", "b.jpg"], "asset": [str(image)] * 2,
                         "width": [1024.0] * 2, "height": [768.0] * 2})
    ann = pd.DataFrame({"data_row_id": ["a", "a"], "source": ["gt", "pred"], "label": ["car", "car"],
                        "x0": [1.0, 2.0], "y0": [1.0, 2.0], "x1": [9.0, 9.0], "y1": [9.0, 9.0], "start": [-1, -1],
                        "end": [-1, -1], "confidence": [np.nan, 0.9], "annotation_id": ["0", "1"], "polygon": [None, None]})
    run = build_run("bench", "detection", rows, ann, classes=CLASSES)
    return shards.run_tables(run)[2]


def _write_part(k: int, lo: int, m: int, image: Path, run_dir: Path, scores_dir: Path) -> tuple[dict, dict]:
    rng = np.random.default_rng(k)
    row = np.arange(lo, lo + m, dtype=np.int64)
    ids = _ids(row)
    keys = pa.array(np.char.add(np.asarray(ids.to_numpy(zero_copy_only=False), dtype=str), ".jpg").astype(object), pa.large_string())
    rows_table = pa.table({"row": row, "data_row_id": ids, "global_key": keys, "asset": pa.array(np.full(m, str(image), dtype=object), pa.large_string()),
                           "width": np.full(m, 1024.0), "height": np.full(m, 768.0)})
    name = f"part-{k:05d}.parquet"
    pq.write_table(rows_table, run_dir / "rows" / name)
    # two boxes a row: a ground-truth box (fn) and a prediction (fp), sorted by row then source
    a = 2 * m
    arow = np.repeat(row, 2)
    cls = rng.integers(0, len(CLASSES), a)
    x0, y0 = rng.uniform(0, 900, a), rng.uniform(0, 650, a)
    pred = np.tile(np.array([False, True]), m)
    ann = pa.table({
        "data_row_id": pa.array(np.repeat(np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object), 2), pa.large_string()),
        "source": pa.array(np.where(pred, "pred", "gt").astype(object), pa.large_string()),
        "label": pa.array(np.array(CLASSES, dtype=object)[cls], pa.large_string()),
        "x0": x0, "y0": y0, "x1": x0 + rng.uniform(20, 120, a), "y1": y0 + rng.uniform(20, 110, a),
        "start": np.full(a, -1, np.int64), "end": np.full(a, -1, np.int64),
        "confidence": np.where(pred, rng.uniform(0.2, 1.0, a), np.nan),
        "annotation_id": pa.array(np.arange(2 * lo, 2 * lo + a).astype(str).astype(object), pa.large_string()),
        "polygon": pa.nulls(a),
        "row": arow,
        "class_id": cls.astype(np.int32),
    })
    pq.write_table(ann, run_dir / "annotations" / name, row_group_size=shards.ANNOTATION_ROW_GROUP)
    # scores: the columns of pipeline.scores_for for a detection run, in row order
    issues = np.array(("",) + ISSUE_TYPES["detection"], dtype=object)
    issue = issues[rng.integers(0, len(issues), m)]
    has = issue != ""
    pred_obj = 2 * row + 1
    combos = np.array(["car|truck", "bus", "car", "person|van", "bicycle|car|truck", "car|person"], dtype=object)
    fp = rng.integers(0, 4, m)
    scores = pa.table({
        "row": row, "data_row_id": ids, "global_key": keys,
        "score": np.where(has, rng.beta(2, 5, m), 0.0),
        "issue": pa.array(issue, pa.large_string()),
        "issue_object": np.where(has, pred_obj, -1),
        "label": pa.array(np.where(has, np.array(CLASSES, dtype=object)[cls[1::2]], ""), pa.large_string()),
        "classes": pa.array(combos[rng.integers(0, len(combos), m)], pa.large_string()),
        "tp": rng.integers(0, 30, m), "fp": fp, "fn": rng.integers(0, 4, m),
        "precision": rng.uniform(0, 1, m), "recall": rng.uniform(0, 1, m), "f1": rng.uniform(0, 1, m),
        "iou": rng.uniform(0.3, 1, m), "max_fp_confidence": np.where(fp > 0, rng.uniform(0.2, 1, m), 0.0),
        "n_gt": rng.integers(1, 40, m), "n_pred": rng.integers(1, 40, m),
    })
    pq.write_table(scores, scores_dir / "scores" / name)
    obj_issue = np.full(a, "", dtype=object)
    obj_issue[1::2][has] = issue[has]
    objects = pa.table({
        "outcome": pa.array(np.where(pred, "fp", "fn").astype(object), pa.large_string()),
        "partner": np.full(a, -1, np.int64), "iou": np.full(a, np.nan), "best_partner": np.full(a, -1, np.int64),
        "best_iou": np.zeros(a), "issue": pa.array(obj_issue, pa.large_string()),
        "suspicion": np.where(obj_issue != "", np.repeat(scores.column("score").to_numpy(), 2), 0.0),
        "issue_partner": np.full(a, -1, np.int64),
    })
    pq.write_table(objects, scores_dir / "objects" / name)
    run_part = {"first_row": lo, "n_rows": m, "n_annotations": a, "rows": f"rows/{name}", "annotations": f"annotations/{name}"}
    score_part = {"first_row": lo, "n_rows": m, "scores": f"scores/{name}", "objects": f"objects/{name}",
                  "first_annotation": 2 * lo, "n_annotations": a}
    return run_part, score_part


def write_synthetic(folder: Path, n: int, image: Path) -> Path:
    """A sharded run ``folder/run`` and its scores folder ``folder/scores``; returns the scores folder."""
    run_dir, scores_dir = folder / "run", folder / "scores"
    for d in (run_dir / "rows", run_dir / "annotations", scores_dir / "scores", scores_dir / "objects"):
        d.mkdir(parents=True, exist_ok=True)
    run_parts, score_parts = [], []
    t = time.perf_counter()
    for k, lo in enumerate(range(0, n, PART_ROWS)):
        r, s = _write_part(k, lo, min(PART_ROWS, n - lo), image, run_dir, scores_dir)
        run_parts.append(r)
        score_parts.append(s)
        if k % 20 == 19:
            print(f"  wrote {lo + PART_ROWS:,} rows ({time.perf_counter() - t:.0f} s)", flush=True)
    manifest = {
        "format": shards.FORMAT, "version": shards.VERSION, "name": f"bench-{n}", "task": "detection",
        "classes": CLASSES, "n_rows": n, "n_annotations": 2 * n, "embedding_dim": None, "source_config": None,
        "warnings": [], "parts": run_parts, "columns": _template_columns(image), "stats": {}, "fingerprint": "synthetic",
    }
    (run_dir / shards.MANIFEST).write_text(json.dumps(manifest, indent=1))
    (run_dir / "run.yaml").write_text(
        f"name: bench-{n}\ntask: detection\nground_truth: {{format: shards, path: manifest.json}}\n"
        f"review: {{store: {folder / 'review.sqlite'}}}\nexport: {{dir: {folder / 'batches'}}}\n"
    )
    scores_meta = {"format": "labeltui-scores", "version": 1, "name": f"bench-{n}", "task": "detection",
                   "classes": CLASSES, "n_rows": n, "config": str(run_dir / "run.yaml"), "engine": "local",
                   "parts": score_parts}
    (scores_dir / "scores.json").write_text(json.dumps(scores_meta, indent=1))
    return scores_dir


def ensure_data(folder: Path, n: int, regen: bool) -> Path:
    marker = folder / ".complete"
    if marker.exists() and not regen:
        print(f"reusing {folder}")
        return folder / "scores"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    from PIL import Image

    image = folder / "street.jpg"
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8)).save(image, quality=85)
    print(f"generating {n:,} rows into {folder} ...", flush=True)
    t = time.perf_counter()
    scores = write_synthetic(folder, n, image)
    marker.write_text("ok\n")
    print(f"generated in {time.perf_counter() - t:.0f} s", flush=True)
    return scores


# ---------------------------------------------------------------- measuring
def _timed(argv: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall s, peak RSS MB, stdout) of a command run under /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as rss:
        t = time.perf_counter()
        out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
        if out.returncode:
            raise SystemExit(f"{' '.join(argv)} failed:\n{out.stderr}")
        return wall, int(rss.read().split()[-1]) / 1024, out.stdout


def seed_verdicts(store: Path, n_rows: int, count: int) -> None:
    """``count`` verdicts spread over the run, written straight into the review store."""
    from labeltui.review import ReviewStore

    rows = np.linspace(0, n_rows - 1, count).astype(np.int64)
    ids = _ids(rows).to_pylist()
    with ReviewStore.open(store, run_name=f"bench-{n_rows}", reviewer="seed") as s:
        s.set_verdict(ids[::2], "error")
        s.set_verdict(ids[1::2], "ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--data", type=Path, default=None, help="where the synthetic run is kept")
    parser.add_argument("--regen", action="store_true", help="regenerate the synthetic data")
    args = parser.parse_args()
    folder = args.data or Path.home() / ".cache" / "labeltui-bench" / f"scores-{args.rows}"
    scores = ensure_data(folder, args.rows, args.regen)
    store = folder / "review.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    print(f"\nlabeltui open {scores}  ({args.rows:,} rows, fresh review store)")
    for name, value in open_in_tmux(scores, MARKS).items():
        print(f"  {name:50s} {value:10,.2f}")
    seed_verdicts(store, args.rows, 10_000)
    print("\nthe same with 10,000 verdicts in the review store")
    marks = {**MARKS, "verdicts shown (s)": lambda screen: "10,000 reviewed" in screen}
    for name, value in open_in_tmux(scores, marks).items():
        print(f"  {name:50s} {value:10,.2f}")
    for extra in ([], ["--filter", "fp >= 2 and max_fp_confidence > 0.9"], ["--sort", "iou:asc"]):
        wall, peak, text = _timed([labeltui_command(), "rank", str(scores), "--top", "20", "--format", "csv", *extra])
        lines = text.splitlines()
        print(f"\nlabeltui rank SCORES_DIR --top 20 {' '.join(extra)}")
        print(f"  {'wall (s)':50s} {wall:10,.2f}\n  {'peak RSS (MB)':50s} {peak:10,.0f}\n  {'rows printed':50s} {len(lines) - 1:10,d}")
        print(f"  first: {lines[1] if len(lines) > 1 else '-'}")


if __name__ == "__main__":
    main()
