"""Benchmark the review app on a synthetic 1M-row scored run (a script, not a pytest test).

    python tests/perf/bench_tui.py [--rows 1000000] [--baseline-rows 200000] [--moves 150] [--repeat 3] [--no-command]

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
  rows: first frame and a cursor move, measured the same way;
- from the command (skipped with ``--no-command``): a ``--rows`` classification
  run on disk (a Parquet table with 10 class probabilities) whose scores are
  cached, opened with ``labeltui open run.yaml`` in a detached 200x60 tmux
  pane: seconds from starting the command to the review screen's first frame
  (the pane polled every 10 ms for the list header), to the model run having
  arrived in the background (the "loading the model run" note gone, the first
  row's class bars drawn), and peak RSS; median of ``--repeat`` runs; target
  <= 2 s to the first frame.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

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


def synthetic_run(n: int, image: Path, folder: Path, *, points: bool = False) -> tuple[Config, Scored]:
    """A detection run of ``n`` rows, one GT and one predicted box each, scored;
    ``points``: with 2-D embeddings in 12 clusters (the projector shows them as they are)."""
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
    embeddings = None
    if points:
        centres = np.random.default_rng(1).normal(0, 5, (12, 2)).astype(np.float32)
        embeddings = centres[np.random.default_rng(2).integers(0, 12, n)]
        embeddings += np.random.default_rng(3).normal(0, 1, (n, 2)).astype(np.float32)
    run = build_run(
        "bench-1m", "detection", rows, ann, classes=CLASSES,
        embeddings=embeddings, embedding_mask=None if embeddings is None else np.ones(n, dtype=bool),
    )
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


# ---------------------------------------------------------------- from the command
def classification_table(folder: Path, n: int, n_classes: int = 10) -> Path:
    """A classification run of ``n`` rows on disk: one Parquet table as ground truth and
    predictions (label, text asset, ``prob_<class>``); returns its config."""
    rng = np.random.default_rng(0)
    classes = [f"class_{i}" for i in range(n_classes)]
    probs = rng.dirichlet(np.ones(n_classes) * 0.3, n)
    given = np.where(rng.random(n) < 0.9, probs.argmax(1), rng.integers(0, n_classes, n))
    table = pd.DataFrame({
        "data_row_id": np.char.add("row-", np.arange(n).astype(str)).astype(object),
        "label": np.array(classes, dtype=object)[given],
        "asset": np.char.add("caption of row ", np.arange(n).astype(str)).astype(object),
    })
    for i, c in enumerate(classes):
        table[f"prob_{c}"] = probs[:, i]
    table.to_parquet(folder / "table.parquet", index=False)
    config = folder / "run.yaml"
    config.write_text(
        f"name: cls-{n}\ntask: classification\n"
        "ground_truth: {format: table, path: table.parquet}\npredictions: {format: table, path: table.parquet}\n"
        f"review: {{store: {folder / 'review.sqlite'}}}\ncache: {{dir: {folder / 'cache'}}}\n"
    )
    return config


def labeltui_command() -> str:
    """The ``labeltui`` console script of this Python (not a version manager's shim, which
    adds its own startup time to every measurement)."""
    script = Path(sys.executable).parent / "labeltui"
    return str(script) if script.exists() else "labeltui"


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) used so far by process ``pid`` and its children."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(_cpu_seconds(int(c)) for c in children)


def _pane(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def open_in_tmux(target: Path, marks: dict[str, Callable[[str], bool]], timeout: float = 120.0) -> dict[str, float]:
    """Run ``labeltui open target`` in a detached tmux pane of SIZE, as a user would
    start it; seconds from the command until each of ``marks`` (a test on the pane's
    text, polled every 10 ms) first holds, the CPU seconds (all threads) the process
    had used when the first mark held (the wall time it needs on an idle machine,
    give or take the work threads do in parallel), then quit (q) and add the peak
    RSS in MB."""
    name = f"lt-bench-{os.getpid()}"
    first = next(iter(marks))
    with tempfile.TemporaryDirectory() as tmp:
        rss = Path(tmp) / "rss"
        command = f"/usr/bin/time -f %M -o {rss} {labeltui_command()} open {target} --reviewer bench"
        env = {**os.environ, "TERM": "xterm-256color"}
        t0 = time.perf_counter()
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(SIZE[0]), "-y", str(SIZE[1]), command],
                       check=True, env=env)
        out: dict[str, float] = {}
        pid = int(subprocess.run(["tmux", "list-panes", "-t", name, "-F", "#{pane_pid}"], capture_output=True, text=True).stdout)
        try:
            while any(mark not in out for mark in marks):
                screen = _pane(name)
                now = time.perf_counter() - t0
                for mark, test in marks.items():
                    if mark not in out and test(screen):
                        out[mark] = now
                        if mark == first:
                            out["  CPU s used by then (all threads)"] = _cpu_seconds(pid)
                if "could not open" in screen or now > timeout:
                    raise SystemExit(f"labeltui open {target} did not get there; the pane shows:\n{screen}")
                time.sleep(0.01)
            subprocess.run(["tmux", "send-keys", "-t", name, "q"], check=True)
            end = time.perf_counter() + 30
            while time.perf_counter() < end and not (rss.exists() and rss.read_text().strip()):
                time.sleep(0.05)
            out["peak RSS (MB)"] = int(rss.read_text().split()[-1]) / 1024
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    return out


def bench_command(rows: int, repeat: int) -> dict[str, float]:
    """``labeltui open`` of a cached 1M-row classification run, from the command (median of ``repeat``)."""
    from labeltui.config import load_config
    from labeltui.pipeline import scores_for

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = classification_table(folder, rows)
        t = time.perf_counter()
        scores_for(load_config(config))  # warm the score cache
        print(f"\n{rows:,}-row classification table scored and cached in {time.perf_counter() - t:.1f} s")
        marks = {
            "first frame of the list (s)": lambda screen: "score▼" in screen,
            "model run loaded, class bars drawn (s)": lambda screen: "score▼" in screen and "loading the model run" not in screen
            and "█" in screen,
        }
        runs = [open_in_tmux(config, marks) for _ in range(repeat)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


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
    parser.add_argument("--repeat", type=int, default=3, help="runs of the from-the-command measurement")
    parser.add_argument("--no-command", action="store_true", help="skip the from-the-command measurement (needs tmux)")
    args = parser.parse_args()
    if not args.no_command:
        results = bench_command(args.rows, args.repeat)
        print(f"labeltui open run.yaml from the command, warm score cache, {SIZE[0]}x{SIZE[1]} tmux pane (median of {args.repeat})")
        for name, value in results.items():
            print(f"  {name:45s} {value:12,.3f}")
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
