"""Opening from the scores alone: the list first, the model run in the background, a scores
folder with annotations fetched for the rows being previewed."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from labeltui import pipeline
from labeltui.config import load_config
from labeltui.convert import convert
from labeltui.engine.query import sort_view
from labeltui.errors import LoadError
from labeltui.review import ReviewStore
from labeltui.score_output import score_locally
from labeltui.tui import LabelTuiApp
from labeltui.tui.screens.gallery import GalleryScreen
from labeltui.tui.screens.summary import SummaryScreen
from labeltui.tui.widgets.detail import Preview
from labeltui.tui.widgets.projector import ProjectorPane
from tests.test_scores_dir import demo_config
from labeltui.tui.screens.review import ReviewScreen
from tests.tui.conftest import preview_text, widget_text


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The detection demo with a warm score cache, its sharded run's scores folder and its own scores folder."""
    base = tmp_path_factory.mktemp("lazy")
    config = load_config(demo_config("detection", base / "src"))
    reference = pipeline.scores_for(config, need_run=True)  # also warms the cache
    run_dir = convert(config, base / "run", rows_per_part=25)
    run_dir = run_dir if run_dir.is_dir() else run_dir.parent
    score_locally(load_config(run_dir / "run.yaml"), base / "scores", rows_per_part=20)
    score_locally(config, base / "plain", rows_per_part=20)
    return {"config": config.path, "run_config": run_dir / "run.yaml", "scores": base / "scores", "plain": base / "plain",
            "ref": reference}


def own_store(config: Path, folder: Path) -> Path:
    """A copy of ``config`` (same inputs, same score cache) whose review store and exports go to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [line for line in config.read_text().splitlines() if not line.startswith(("review:", "export:", "  store:", "  dir: /"))]
    copy = folder / "run.yaml"
    copy.write_text("\n".join(lines).replace("path: manifest.json", f"path: {config.parent / 'manifest.json'}")
                    + f"\nreview: {{store: {folder / 'review.sqlite'}}}\nexport: {{dir: {folder / 'batches'}}}\n")
    return copy


def scores_copy(scores: Path, config: Path, folder: Path) -> Path:
    """A scores folder whose scores.json names ``config`` (so the review store is the test's own)."""
    manifest = json.loads((scores / "scores.json").read_text())
    out = folder / "scores"
    out.mkdir(parents=True)
    for name in ("scores", "objects"):
        (out / name).symlink_to(scores / name)
    (out / "scores.json").write_text(json.dumps({**manifest, "config": str(config)}))
    return out


def flat(text: str) -> str:
    """Text drawn in a box, as one line of words."""
    return " ".join(text.replace("│", " ").split())


def headings(summary) -> str:
    return " ".join(" ".join(widget_text(w).split()) for w in summary.query(".summary-heading"))


async def until(pilot, test, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.03)):
        if test():
            return
        await pilot.pause(0.03)
    raise AssertionError("timed out")


async def settle(pilot) -> None:
    """Let the preview land (conftest's settle waits for every worker: the held-back run too)."""
    screen = pilot.app.screen
    await pilot.pause(0.05)
    await until(pilot, lambda: screen.detail._timer is None and not screen.detail.preview.stale)


def run_app(app: LabelTuiApp, script, size=(120, 40)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.is_mounted)
            await settle(pilot)
            await script(pilot, app.screen)

    asyncio.run(main())


def test_the_list_opens_before_the_run_and_previews_follow(folders, tmp_path, monkeypatch):
    config = own_store(folders["config"], tmp_path)
    gate = threading.Event()
    real = pipeline.load_run

    def held_back(config, progress=None):  # the background read waits for the test
        assert gate.wait(30)
        return real(config, progress)

    monkeypatch.setattr(pipeline, "load_run", held_back)
    ref = folders["ref"].scores

    async def script(pilot, screen):
        s = screen.session
        assert s.run is None and s.run_pending and s.n_rows == 60  # the list, from the cached scores alone
        assert np.array_equal(s.view, sort_view(ref, np.arange(60), "score", True))
        assert str(s.ids[s.view[0]]) in widget_text(screen.suspects)
        assert "loading annotations" in preview_text(screen)
        assert "loading the model run" in widget_text(screen.query_one("#status"))
        top = str(s.ids[s.view[0]])
        await pilot.press("x")  # a verdict before the run is here
        assert ReviewStore.open(tmp_path / "review.sqlite", run_name="x").get(top)["verdict"] == "error"
        await pilot.press("k", "1")  # and a filter
        assert s.filter_expr == "fp >= 1" and len(s.view) == int((ref["fp"] >= 1).sum())
        await pilot.press("0", "p")  # the projector needs the run: it says so
        pane = screen.query_one(ProjectorPane)
        await until(pilot, lambda: pane.state == "failed")
        assert "still being read" in pane.message
        await pilot.press("p", "w")  # and the gallery shows placeholders
        await until(pilot, lambda: isinstance(pilot.app.screen, GalleryScreen))
        gallery = pilot.app.screen
        tile = gallery.query("Tile").first().query_one(Preview)
        await until(pilot, lambda: "loading annotations" in flat(widget_text(tile)))
        gate.set()
        await until(pilot, lambda: s.run is not None)
        await until(pilot, lambda: "loading" not in widget_text(tile) and "▀" in widget_text(tile))  # redrawn
        await pilot.press("escape")
        await settle(pilot)
        text = preview_text(screen)
        assert "loading" not in text and "▀" in text and "★" in text  # the picture, its issue object emphasised
        assert "objects (" in widget_text(screen.query_one("#row-info"))
        assert "loading the model run" not in widget_text(screen.query_one("#status"))
        assert s.verdict_of(int(s.view[0])) == "error"
        await pilot.press("p")
        await until(pilot, lambda: pane.state == "ready")

    run_app(LabelTuiApp(config, reviewer="tester"), script)


def test_a_run_that_cannot_be_read_leaves_the_list_working(folders, tmp_path, monkeypatch):
    config = own_store(folders["config"], tmp_path)

    def broken(config, progress=None):
        raise LoadError("annotations.json: images[3]: id: missing")

    monkeypatch.setattr(pipeline, "load_run", broken)

    async def script(pilot, screen):
        s = screen.session
        await until(pilot, lambda: s.run_error is not None)
        await settle(pilot)
        assert "could not be read" in preview_text(screen) and "images[3]" in preview_text(screen)
        await pilot.press("o")
        assert s.counts()["ok"] == 1
        await pilot.press("m")
        await until(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))
        assert "could not be read" in headings(pilot.app.screen)

    run_app(LabelTuiApp(config, reviewer="tester"), script)


def test_a_scores_folder_opens_with_previews_fetched_row_by_row(folders, tmp_path):
    scores = scores_copy(folders["scores"], own_store(folders["run_config"], tmp_path / "cfg"), tmp_path)
    ref = folders["ref"]

    async def script(pilot, screen):
        s = screen.session
        assert s.source is not None and s.run is None and s.row_source is not None
        full = sort_view(ref.scores, np.arange(60), "score", True)
        assert np.array_equal(s.view, full)  # score, most suspicious first
        await until(pilot, lambda: s.ids.complete and "…" not in widget_text(screen.suspects))
        top = str(ref.scores["data_row_id"].iat[int(full[0])])
        assert top in widget_text(screen.suspects).splitlines()[1].split()  # the first line of the list
        await settle(pilot)
        pos = int(s.view[0])
        data = s.fetched_row(pos)  # fetched on demand for the preview
        assert data is not None and len(data.boxes) == len(ref.run.annotations_of(pos))
        assert "objects (" in widget_text(screen.query_one("#row-info"))
        text = preview_text(screen)
        assert "▀" in text and "★" in text and "loading" not in text
        await pilot.press("slash", *"fp >= 2", "enter")  # a typed filter
        assert s.filter_expr == "fp >= 2" and np.array_equal(s.view, full[(ref.scores["fp"].to_numpy() >= 2)[full]])
        await pilot.press("slash", "ctrl+u", *'"truck" in classes', "enter")  # a column the list did not read
        assert "classes" in s.scores.columns and len(s.view) == int(ref.scores["classes"].str.contains("truck").sum())
        await settle(pilot)
        pos = int(s.view[0])
        assert s.fetched_row(pos) is not None and "objects (" in widget_text(screen.query_one("#row-info"))
        await pilot.press("x")
        stored = ReviewStore.open(tmp_path / "cfg" / "review.sqlite", run_name="x").verdicts()
        assert stored["data_row_id"].tolist() == [str(ref.scores["data_row_id"].iat[pos])]
        await pilot.press("e")
        await pilot.pause(0.2)
        await pilot.press("enter")  # export the rows marked as errors
        await until(pilot, lambda: list((tmp_path / "cfg" / "batches").glob("*.json")))
        manifest = json.loads(next((tmp_path / "cfg" / "batches").glob("*.json")).read_text())
        assert [r["global_key"] for r in manifest["rows"]] == [str(ref.scores["global_key"].iat[pos])]
        await pilot.press("w")  # the gallery fetches its page's rows
        await until(pilot, lambda: isinstance(pilot.app.screen, GalleryScreen))
        gallery = pilot.app.screen
        await until(pilot, lambda: all(s.fetched_row(t.pos) is not None for t in gallery.query("Tile") if t.pos >= 0))
        await pilot.press("escape", "m")
        await until(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))
        assert "per class (objects): not for a scores folder" in headings(pilot.app.screen)

    run_app(LabelTuiApp(scores, reviewer="tester"), script, size=(160, 45))


def test_a_scores_folder_of_a_plain_config_reads_the_run_later(folders, tmp_path):
    scores = scores_copy(folders["plain"], own_store(folders["config"], tmp_path / "cfg"), tmp_path)

    async def script(pilot, screen):
        s = screen.session
        assert s.source is not None and s.row_source is None
        await until(pilot, lambda: s.run is not None)
        await settle(pilot)
        text = preview_text(screen)
        assert "▀" in text and "★" in text
        assert "issue_object" in s.scores.columns  # the list's class column can name the issue object now

    run_app(LabelTuiApp(scores, reviewer="tester"), script)
