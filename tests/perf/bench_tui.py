"""Benchmark the review app on a synthetic 1M-row scored run (a script, not a pytest test).

    python tests/perf/bench_tui.py [--rows 1000000] [--baseline-rows 200000] [--moves 150]

The app runs headless at 200x60. Every frame Textual would write is rendered
to its terminal byte sequence (as the real driver does) and counted. Measured:

- first frame: from creating the app (scores and run already in memory) to
  the first frame of the review screen; target <= 1 s;
- a cursor move, app side: CPU time of the UI thread from the key's action to
  the frame written (handlers + rendering + composing), median, while a key
  repeats (33 ms apart) and for single taps (250 ms apart, which also pays
  for the row's facts and the preview landing); target <= 10 ms; plus the
  bytes written per move;
- filter re-apply (``fp >= 1 and max_fp_confidence > 0.8``, then back to all
  rows) including the frame; target <= 200 ms;
- the preview of a 4000x4000 JPEG as the worker builds it (decode + boxes +
  half-block lines) at the 200x60 pane size; target <= 60 ms;
- baseline in the same run: Textual's DataTable with ``--baseline-rows``
  rows: first frame and a cursor move, measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from textual._compositor import CompositorUpdate  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from labeltui.config import Config, Source  # noqa: E402
from labeltui.engine import ISSUE_TYPES  # noqa: E402
from labeltui.pipeline import Scored  # noqa: E402
from labeltui.run import build_run  # noqa: E402
from labeltui.tui import LabelTuiApp  # noqa: E402
from labeltui.tui.previews import ImageCache, PreviewRequest, build_preview  # noqa: E402
from labeltui.tui.rowinfo import RowFacts  # noqa: E402
from labeltui.tui.screens.review import ReviewScreen  # noqa: E402

SIZE = (200, 60)
CLASSES = ["car", "truck", "bus", "van", "bicycle", "person"]


# ---------------------------------------------------------------- data
def big_jpeg(folder: Path) -> Path:
    """A 4000x4000 JPEG with some detail (q90)."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:4000, 0:4000].astype(np.float32)
    base = np.stack([(xx / 16) % 255, (yy / 16) % 255, ((xx + yy) / 32) % 255], axis=-1)
    noise = rng.normal(0, 12, size=(4000, 4000, 1)).astype(np.float32)
    path = folder / "big.jpg"
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def synthetic_run(n: int, image: Path, folder: Path) -> tuple[Config, Scored]:
    """A detection run of ``n`` rows, one GT and one predicted box each, scored."""
    rng = np.random.default_rng(0)
    ids = np.char.add("img-", np.char.zfill(np.arange(n).astype(str), 7)).astype(object)
    rows = pd.DataFrame(
        {"data_row_id": ids, "global_key": ids, "asset": str(image), "width": 4000.0, "height": 4000.0}
    )
    k = 2 * n
    row = np.repeat(np.arange(n), 2)
    x0 = rng.uniform(0, 3500, k)
    y0 = rng.uniform(0, 3500, k)
    labels = np.array(CLASSES, dtype=object)[rng.integers(0, len(CLASSES), k)]
    ann = pd.DataFrame(
        {
            "data_row_id": ids[row],
            "source": np.tile(np.array(["gt", "pred"], dtype=object), n),
            "label": labels,
            "x0": x0,
            "y0": y0,
            "x1": x0 + rng.uniform(20, 400, k),
            "y1": y0 + rng.uniform(20, 400, k),
            "start": -1,
            "end": -1,
            "confidence": np.where(np.arange(k) % 2 == 1, rng.uniform(0.2, 1.0, k), np.nan),
            "annotation_id": np.arange(k).astype(str),
            "polygon": None,
            "row": row,
        }
    )
    run = build_run("bench-1m", "detection", rows, ann, classes=CLASSES)
    issues = np.array(("",) + ISSUE_TYPES["detection"], dtype=object)
    issue = issues[rng.integers(0, len(issues), n)]
    has = issue != ""
    score = np.where(has, rng.beta(2, 5, n), 0.0)
    fp = rng.integers(0, 4, n)
    fn = rng.integers(0, 4, n)
    pred_obj = 2 * np.arange(n) + 1
    scores = pd.DataFrame(
        {
            "data_row_id": ids,
            "global_key": ids,
            "score": score,
            "issue": issue,
            "issue_object": np.where(has, pred_obj, -1),
            "label": np.where(has, labels[pred_obj], ""),
            "tp": rng.integers(0, 30, n),
            "fp": fp,
            "fn": fn,
            "precision": rng.uniform(0, 1, n),
            "recall": rng.uniform(0, 1, n),
            "f1": rng.uniform(0, 1, n),
            "iou": rng.uniform(0.3, 1, n),
            "max_fp_confidence": np.where(fp > 0, rng.uniform(0.2, 1, n), 0.0),
            "n_gt": rng.integers(1, 40, n),
            "n_pred": rng.integers(1, 40, n),
        }
    )
    obj_issue = np.full(k, "", dtype=object)
    obj_issue[pred_obj[has]] = issue[has]
    objects = pd.DataFrame(
        {
            "outcome": np.tile(np.array(["fn", "fp"], dtype=object), n),
            "partner": -1,
            "iou": np.nan,
            "best_partner": -1,
            "best_iou": 0.0,
            "issue": obj_issue,
            "suspicion": np.where(obj_issue != "", np.repeat(score, 2), 0.0),
        }
    )
    config = Config(
        path=folder / "run.yaml",
        name="bench-1m",
        task="detection",
        ground_truth=Source("coco", folder / "gt.json"),
        predictions=None,
        review_store=folder / "review.sqlite",
        export_dir=folder / "batches",
    )
    return config, Scored(run=run, scores=scores, objects=objects, from_cache=True)


# ---------------------------------------------------------------- frame capture
@dataclasses.dataclass
class Frames:
    """Every frame the app displays: when, how many bytes, UI-thread CPU at its end."""

    app: App
    times: list[float] = dataclasses.field(default_factory=list)
    bytes: list[int] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)
    screens: list[str] = dataclasses.field(default_factory=list)

    def install(self) -> None:
        app = self.app
        original = app._display

        def display(screen, renderable) -> None:
            if isinstance(renderable, CompositorUpdate):
                sequence = renderable.render_segments(app.console)
                self.bytes.append(len(sequence.encode("utf-8")))
                self.times.append(time.perf_counter())
                self.cpu.append(time.thread_time())
                self.screens.append(type(screen).__name__)
            original(screen, renderable)

        app._display = display

    async def next_frame(self, after: int, timeout: float = 5.0) -> None:
        """Wait until a frame later than frame number ``after`` was displayed, then for quiet."""
        end = time.perf_counter() + timeout
        while len(self.times) <= after and time.perf_counter() < end:
            await asyncio.sleep(0.001)
        quiet = len(self.times)
        while time.perf_counter() < end:
            await asyncio.sleep(0.02)
            if len(self.times) == quiet:
                return
            quiet = len(self.times)


async def moves(frames: Frames, move, count: int, spacing: float) -> tuple[list[float], list[int]]:
    """UI-thread CPU ms and bytes written per move, moves ``spacing`` seconds apart.

    A move's cost is everything the UI thread did until the next move (its
    handlers, timers it set off, the frames it caused); the waiting in
    between costs no CPU.
    """
    starts, first_frame = [], []
    for _ in range(count):
        first_frame.append(len(frames.times))
        starts.append(time.thread_time())
        move()
        await asyncio.sleep(spacing)
    await frames.next_frame(len(frames.times) - 1, timeout=1.0)
    starts.append(frames.cpu[-1] if frames.cpu else time.thread_time())
    first_frame.append(len(frames.times))
    cpu_ms = [(b - a) * 1000 for a, b in zip(starts, starts[1:])]
    sent = [sum(frames.bytes[a:b]) for a, b in zip(first_frame, first_frame[1:])]
    return cpu_ms, sent


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------- the app
async def bench_app(config: Config, scored: Scored, n_moves: int) -> dict[str, float]:
    app = LabelTuiApp(config=config, scored=scored, reviewer="bench")
    frames = Frames(app)
    frames.install()
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        while not (isinstance(app.screen, ReviewScreen) and "ReviewScreen" in frames.screens):
            await asyncio.sleep(0.002)
        first = frames.screens.index("ReviewScreen")
        out["first frame (s)"] = frames.times[first] - t0
        out["first frame bytes"] = frames.bytes[first]
        screen: ReviewScreen = app.screen
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        repeat_cpu, repeat_bytes = await moves(frames, screen.action_cursor_down, n_moves, 0.033)
        await pilot.pause(0.3)
        tap_cpu, tap_bytes = await moves(frames, screen.action_cursor_down, max(10, n_moves // 5), 0.25)
        page_cpu, page_bytes = await moves(frames, screen.action_page_down, 20, 0.033)
        out["move, key repeat: median UI ms"] = med(repeat_cpu)
        out["move, key repeat: p90 UI ms"] = float(np.percentile(repeat_cpu, 90))
        out["move, key repeat: median bytes"] = med(repeat_bytes)
        out["move, tap (+facts +preview): median UI ms"] = med(tap_cpu)
        out["move, tap: median bytes"] = med(tap_bytes)
        out["page down: median UI ms"] = med(page_cpu)
        out["page down: median bytes"] = med(page_bytes)
        filter_ms, shown = [], []
        for expr in ("fp >= 1 and max_fp_confidence > 0.8", ""):
            n = len(frames.times)
            t = time.perf_counter()
            screen.run_query(expr)
            await frames.next_frame(n)
            filter_ms.append((frames.times[n] - t) * 1000)
            shown.append(len(screen.session.view))
        out["filter re-apply to first frame ms"] = filter_ms[0]
        out["rows the filter keeps"] = float(shown[0])
        out["filter cleared to first frame ms"] = filter_ms[1]
        t = time.perf_counter()
        screen.action_verdict("error")
        out["verdict (store write, durable) ms"] = (time.perf_counter() - t) * 1000
    return out


def bench_preview(scored: Scored, config: Config, repeat: int = 7) -> float:
    """Median ms to build the preview of the 4000x4000 JPEG at the 200x60 pane size, cold cache."""
    from labeltui.tui.session import Session

    session = Session(config, scored, None)
    pos = int(np.flatnonzero(scored.scores["issue_object"].to_numpy() >= 0)[0])
    boxes, first = RowFacts(session).objects_of(pos)
    cells = (106, 47)  # the preview pane at 200x60
    times = []
    for _ in range(repeat):
        request = PreviewRequest(pos, "image", str(scored.run.rows["asset"].iat[pos]), cells, boxes=boxes, focus=first)
        t = time.perf_counter()
        renderable = build_preview(request, ImageCache())
        from rich.console import Console

        console = Console(width=cells[0], color_system="truecolor")
        console.render_lines(renderable, console.options.update(width=cells[0], height=cells[1]), pad=False)
        times.append((time.perf_counter() - t) * 1000)
    return med(times)


# ---------------------------------------------------------------- baseline
class TableApp(App):
    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__()
        self.frame = frame

    def compose(self) -> ComposeResult:
        table = DataTable(cursor_type="row")
        table.add_columns(*self.frame.columns)
        table.add_rows(self.frame.itertuples(index=False))
        yield table


async def bench_table(frame: pd.DataFrame, n_moves: int) -> dict[str, float]:
    app = TableApp(frame)
    frames = Frames(app)
    frames.install()
    t0 = time.perf_counter()
    out: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        while not frames.times:
            await asyncio.sleep(0.002)
        out["first frame (s)"] = frames.times[0] - t0
        await pilot.pause(0.3)
        table = app.query_one(DataTable)
        cpu, sent = await moves(frames, table.action_cursor_down, n_moves, 0.033)
        out["move: median UI ms"] = med(cpu)
        out["move: median bytes"] = med(sent)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=200_000)
    parser.add_argument("--moves", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        image = big_jpeg(folder)
        config, scored = synthetic_run(args.rows, image, folder)
        print(f"synthetic run: {args.rows:,} rows, {len(scored.run.annotations):,} boxes ({time.perf_counter() - t:.1f} s)")
        results = asyncio.run(bench_app(config, scored, args.moves))
        print(f"\nlabeltui review screen, {args.rows:,} rows, {SIZE[0]}x{SIZE[1]}")
        for name, value in results.items():
            print(f"  {name:45s} {value:12,.3f}")
        print(f"  {'preview of a 4000x4000 JPEG, cold (ms)':45s} {bench_preview(scored, config):12,.3f}")
        columns = ["data_row_id", "score", "issue", "label", "fp", "fn", "max_fp_confidence"]
        table = scored.scores[columns].iloc[: args.baseline_rows]
        base = asyncio.run(bench_table(table, min(args.moves, 50)))
        print(f"\nbaseline: textual DataTable, {args.baseline_rows:,} rows, same size")
        for name, value in base.items():
            print(f"  {name:45s} {value:12,.3f}")


if __name__ == "__main__":
    main()
