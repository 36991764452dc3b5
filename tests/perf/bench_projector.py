"""Benchmark the projector (a script, not a pytest test).

    python tests/perf/bench_projector.py [--points 1000000] [--pca-rows 100000] [--dims 512]

Measured, each as a median with a baseline in the same run:

- projection: our PCA (``project_2d``) of ``--pca-rows`` x ``--dims``
  float32 embeddings (target <= 5 s) vs scikit-learn's ``PCA(2)``; then the
  same projection through ``projection_for`` cold (compute + write the cache)
  and warm (read the cache);
- pan / zoom redraw in the review app at 200x60 with the projector open on
  ``--points`` points: UI-thread CPU and wall time from the key's action to
  the frame on screen (target <= 50 ms), vs a naive pane that re-renders the
  whole scatter as one Rich renderable in a ``Static`` on every change;
- a cursor move in the list with the projector open (only the marker's line
  is redrawn) vs with it hidden, and the naive pane's marker move.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from textual._compositor import CompositorUpdate  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import Static  # noqa: E402

from labeltui.cache import cache_key  # noqa: E402
from labeltui.config import Config, Source  # noqa: E402
from labeltui.engine.neighbors import project_2d  # noqa: E402
from labeltui.formats.base import ANNOTATION_DTYPES  # noqa: E402
from labeltui.pipeline import Scored  # noqa: E402
from labeltui.projection import projection_for  # noqa: E402
from labeltui.render.palette import class_color  # noqa: E402
from labeltui.render.scatter import rasterize, render_scatter  # noqa: E402
from labeltui.run import build_run  # noqa: E402
from labeltui.tui import LabelTuiApp  # noqa: E402
from labeltui.tui.screens.review import ReviewScreen  # noqa: E402
from labeltui.tui.widgets.projector import ProjectorPane  # noqa: E402

SIZE = (200, 60)
N_CLASSES = 12


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def row(name: str, value: float, unit: str = "ms", target: float | None = None) -> None:
    goal = f"  (target <= {target:g} {unit})" if target is not None else ""
    print(f"  {name:58s} {value:10.2f} {unit}{goal}")


# ---------------------------------------------------------------- projection
def clustered_embeddings(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(20, d)).astype(np.float32)
    emb = centres[rng.integers(0, 20, n)]
    emb += rng.normal(0, 1, size=(n, d)).astype(np.float32)
    return emb


def bench_projection(n: int, d: int, repeat: int) -> None:
    from sklearn.decomposition import PCA

    emb = clustered_embeddings(n, d)
    print(f"\nprojection of {n:,} x {d} float32 embeddings (median of {repeat})")
    ours = []
    for _ in range(repeat):
        t = time.perf_counter()
        project_2d(emb)
        ours.append(time.perf_counter() - t)
    row("labeltui PCA (project_2d)", med(ours), "s", 5.0)
    base = []
    for _ in range(repeat):
        t = time.perf_counter()
        PCA(n_components=2, random_state=0).fit_transform(emb)
        base.append(time.perf_counter() - t)
    row("baseline: scikit-learn PCA(2).fit_transform", med(base), "s")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ids = np.char.add("r", np.arange(n).astype(str)).astype(object)
        np.save(folder / "emb.npy", emb)
        (folder / "ids.txt").write_text("\n".join(ids) + "\n")
        pd.DataFrame({"data_row_id": ids, "label": "a"}).to_csv(folder / "gt.csv", index=False)
        config = Config(
            path=folder / "run.yaml",
            name="bench",
            task="classification",
            ground_truth=Source("table", folder / "gt.csv"),
            predictions=None,
            embeddings=Source("npy", folder / "emb.npy", ids=folder / "ids.txt"),
        )
        run = build_run(
            "bench", "classification", pd.DataFrame({"data_row_id": ids}), _no_annotations(),
            classes=["a"], embeddings=emb, embedding_mask=np.ones(n, dtype=bool),
        )
        t = time.perf_counter()
        key = cache_key(config)
        row("score cache key (hash the inputs, once per open)", time.perf_counter() - t, "s")
        t = time.perf_counter()
        cold = projection_for(run, config, key=key)
        row("projection_for, cold: PCA + write the cache", time.perf_counter() - t, "s")
        warm_times = []
        for _ in range(repeat):
            t = time.perf_counter()
            warm = projection_for(run, config, key=key)
            warm_times.append(time.perf_counter() - t)
        assert warm.from_cache and not cold.from_cache
        row("projection_for, warm: read the cache", med(warm_times), "s")


def _no_annotations() -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series([], dtype=v) for k, v in ANNOTATION_DTYPES.items()})


# ---------------------------------------------------------------- a 1M-point run
def synthetic_run(n: int, folder: Path) -> tuple[Config, Scored]:
    """A classification run of ``n`` rows whose input gives a 2-D projection:
    ``N_CLASSES`` Gaussian clusters, 1% of the rows labeled as another class."""
    rng = np.random.default_rng(0)
    ids = np.char.add("row-", np.char.zfill(np.arange(n).astype(str), 7)).astype(object)
    cluster = rng.integers(0, N_CLASSES, n)
    centres = rng.uniform(-10, 10, size=(N_CLASSES, 2))
    xy = (centres[cluster] + rng.normal(0, 1.2, size=(n, 2))).astype(np.float32)
    label = cluster.copy()
    wrong = rng.random(n) < 0.01
    label[wrong] = (cluster[wrong] + rng.integers(1, N_CLASSES, int(wrong.sum()))) % N_CLASSES
    classes = [f"class_{i:02d}" for i in range(N_CLASSES)]
    names = np.array(classes, dtype=object)
    rows = pd.DataFrame({"data_row_id": ids, "global_key": ids, "asset": "", "width": np.nan, "height": np.nan})
    conf = rng.uniform(0.3, 1.0, n)
    run = build_run(
        "bench-projector", "classification", rows, _no_annotations(), classes=classes,
        gt_label=label.astype(np.int32), pred_label=cluster.astype(np.int32), pred_confidence=conf,
    )
    run.projection = xy
    score = np.where(wrong, rng.uniform(0.6, 1.0, n), rng.beta(1, 8, n))
    scores = pd.DataFrame(
        {
            "data_row_id": ids,
            "global_key": ids,
            "score": score,
            "issue": np.where(wrong, "wrong_label", ""),
            "issue_object": -1,
            "label": names[label],
            "agree": (label == cluster).astype(np.int8),
            "confidence": conf,
            "pred_label": names[cluster],
            "pred_confidence": conf,
            "margin": rng.uniform(0, 1, n),
            "knn_disagreement": np.where(wrong, 0.9, rng.beta(1, 9, n)),
        }
    )
    config = Config(
        path=folder / "run.yaml",
        name="bench-projector",
        task="classification",
        ground_truth=Source("table", folder / "gt.csv"),
        predictions=None,
        review_store=folder / "review.sqlite",
        export_dir=folder / "batches",
    )
    return config, Scored(run=run, scores=scores, objects=None, from_cache=True)


# ---------------------------------------------------------------- frames
class Frames:
    """Records every frame an app displays: wall time and UI-thread CPU time at its end."""

    def __init__(self, app: App) -> None:
        self.times: list[float] = []
        self.cpu: list[float] = []
        original = app._display

        def display(screen, renderable) -> None:
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)  # what the driver would write
                self.times.append(time.perf_counter())
                self.cpu.append(time.thread_time())
            original(screen, renderable)

        app._display = display

    async def measure(self, action, timeout: float = 5.0) -> tuple[float, float]:
        """(UI CPU ms, wall ms) from calling ``action`` to its first frame."""
        n = len(self.times)
        t0, c0 = time.perf_counter(), time.thread_time()
        action()
        end = t0 + timeout
        while len(self.times) <= n and time.perf_counter() < end:
            await asyncio.sleep(0.0005)
        if len(self.times) <= n:
            return float("nan"), float("nan")
        cpu, wall = (self.cpu[n] - c0) * 1000, (self.times[n] - t0) * 1000
        await asyncio.sleep(0.03)  # let the frame settle before the next key
        return cpu, wall


PAN_ZOOM = [("pan", (1, 0)), ("pan", (0, 1)), ("zoom", (2.0,)), ("pan", (-1, 0)), ("zoom", (2.0,)),
            ("pan", (0, -1)), ("zoom", (0.5,)), ("zoom", (0.5,))]


async def bench_app(config: Config, scored: Scored, rounds: int) -> dict[str, float]:
    app = LabelTuiApp(config=config, scored=scored, reviewer="bench")
    frames = Frames(app)
    out: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        while not isinstance(app.screen, ReviewScreen):
            await asyncio.sleep(0.01)
        screen: ReviewScreen = app.screen
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        hidden = [await frames.measure(screen.action_cursor_down) for _ in range(30)]
        t = time.perf_counter()
        await pilot.press("p")
        pane = screen.query_one(ProjectorPane)
        while pane.state != "ready":
            await asyncio.sleep(0.005)
        await pilot.pause(0.2)
        out["open the pane (input's 2-D projection) ms"] = (time.perf_counter() - t) * 1000
        out["pane canvas cells"] = pane._canvas[1] * pane._canvas[2]
        redraw = []
        for _ in range(rounds):
            for name, args in PAN_ZOOM:
                redraw.append(await frames.measure(lambda: getattr(pane, f"action_{name}")(*args)))
        out["pan/zoom redraw: median UI CPU ms"] = med([c for c, _ in redraw])
        out["pan/zoom redraw: p90 UI CPU ms"] = float(np.percentile([c for c, _ in redraw], 90))
        out["pan/zoom redraw: median wall ms"] = med([w for _, w in redraw])
        recolor = [await frames.measure(pane.action_cycle_color) for _ in range(2 * len(pane.modes))]
        out["color mode switch: median UI CPU ms"] = med([c for c, _ in recolor])
        await pilot.press("escape")  # focus the list, the pane stays open
        shown = [await frames.measure(screen.action_cursor_down) for _ in range(30)]
        out["list cursor move, projector open: median UI CPU ms"] = med([c for c, _ in shown])
        out["list cursor move, projector hidden: median UI CPU ms"] = med([c for c, _ in hidden])
        step = [await frames.measure(lambda: pane.action_step(1, 0)) for _ in range(20)]
        out["projector cursor step (snap + list + marker): median UI ms"] = med([c for c, _ in step])
    return out


class NaiveApp(App):
    """Baseline: a Static showing ``render_scatter`` of all points, rebuilt on every change."""

    def __init__(self, xy: np.ndarray, cats: np.ndarray) -> None:
        super().__init__()
        self.xy, self.cats = xy, cats
        self.bounds = (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))
        self.marker = 0

    def compose(self) -> ComposeResult:
        yield Static(id="plot")

    def redraw(self) -> None:
        plot = self.query_one(Static)
        cells = (plot.size.width, plot.size.height - 1)
        raster = rasterize(self.xy[:, 0], self.xy[:, 1], self.cats, cells=cells, bounds=self.bounds, n_categories=N_CLASSES)
        colors = [class_color(i) for i in range(N_CLASSES)]
        plot.update(render_scatter(raster, colors, marker=tuple(self.xy[self.marker]), legend=[str(i) for i in range(N_CLASSES)]))

    def pan(self, dx: float) -> None:
        x0, y0, x1, y1 = self.bounds
        s = (x1 - x0) * 0.25 * dx
        self.bounds = (x0 + s, y0, x1 + s, y1)
        self.redraw()

    def move_marker(self) -> None:
        self.marker += 1
        self.redraw()


async def bench_naive(xy: np.ndarray, cats: np.ndarray, count: int) -> dict[str, float]:
    app = NaiveApp(xy, cats)
    frames = Frames(app)
    out: dict[str, float] = {}
    async with app.run_test(size=(108, 47)) as pilot:  # the projector's size at 200x60
        await pilot.pause(0.2)
        app.redraw()
        await pilot.pause(0.2)
        pans = [await frames.measure(lambda: app.pan(1 if i % 2 else -1)) for i in range(count)]
        moves = [await frames.measure(app.move_marker) for _ in range(count)]
        out["baseline: naive pane, pan redraw: median UI CPU ms"] = med([c for c, _ in pans])
        out["baseline: naive pane, pan redraw: median wall ms"] = med([w for _, w in pans])
        out["baseline: naive pane, marker move: median UI CPU ms"] = med([c for c, _ in moves])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--pca-rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of 8 pan/zoom keys")
    args = parser.parse_args()
    bench_projection(args.pca_rows, args.dims, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        config, scored = synthetic_run(args.points, Path(tmp))
        print(f"\nsynthetic run: {args.points:,} points, {N_CLASSES} classes ({time.perf_counter() - t:.1f} s)")
        print(f"review app at {SIZE[0]}x{SIZE[1]} with the projector open")
        for name, value in asyncio.run(bench_app(config, scored, args.rounds)).items():
            target = 50.0 if name.startswith("pan/zoom redraw: median") else None
            row(name, value, "" if "cells" in name else "ms", target)
        cats = scored.run.gt_label.astype(np.int64)
        for name, value in asyncio.run(bench_naive(scored.run.projection, cats, 16)).items():
            row(name, value)


if __name__ == "__main__":
    main()
