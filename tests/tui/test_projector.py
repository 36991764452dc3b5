"""The projector pane on the classification demo: region filter, list <-> marker links,
keys, and a 200x60 snapshot showing a planted outlier inside another class's cluster."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.style import Style

from labeltui.config import load_config
from labeltui.pipeline import scores_for
from labeltui.render.palette import class_color
from labeltui.render.scatter import MARKER
from labeltui.tui import LabelTuiApp
from labeltui.tui.widgets.projector import ProjectorPane
from tests.tui.conftest import DEMO, wait_ready, widget_text

# set LABELTUI_SNAPSHOTS=folder to keep the SVGs (convert with rsvg-convert to look at them)
SNAPSHOTS = os.environ.get("LABELTUI_SNAPSHOTS")
PLANTED = "scene-0042"  # labeled basketball_court, sits in the harbor cluster


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The classification demo with a warm score cache (scored once for this module)."""
    root = tmp_path_factory.mktemp("projector") / "classification"
    shutil.copytree(DEMO / "classification", root)
    scores_for(load_config(root / "run.yaml"))
    return root


@pytest.fixture
def demo_config(tmp_path, template) -> Path:
    """A fresh copy of the demo (its review store and caches live in ``tmp_path``)."""
    shutil.copytree(template, tmp_path / "classification")
    return tmp_path / "classification" / "run.yaml"


async def _open_projector(pilot) -> ProjectorPane:
    screen = await wait_ready(pilot)
    await pilot.press("p")
    pane = screen.query_one(ProjectorPane)
    for _ in range(300):
        if pane.state in ("ready", "failed"):
            break
        await pilot.pause(0.02)
    await pilot.pause()
    assert pane.state == "ready", pane.message
    assert pane.has_focus and not screen.detail.preview.display
    return pane


def _drive(config: Path, script, size=(200, 60)) -> None:
    app = LabelTuiApp(config, reviewer="tester")

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            pane = await _open_projector(pilot)
            await script(pilot, app.screen, pane)

    asyncio.run(main())


async def _cursor_to(pilot, screen, pos: int) -> None:
    """Put the list's cursor on scores row ``pos`` (the projector follows)."""
    index = int(np.flatnonzero(screen.session.view == pos)[0])
    screen.suspects.move_cursor(index)
    await pilot.pause()
    assert screen.suspects.cursor_pos == pos


def _marker_cell(pane: ProjectorPane) -> tuple[int, int]:
    """(col, line) of the marker glyph in the pane as drawn."""
    lines = widget_text(pane).splitlines()
    hits = [(line.index(MARKER), y) for y, line in enumerate(lines) if MARKER in line and y < 1 + pane._canvas[2]]
    assert len(hits) == 1, hits
    return hits[0]


def _cells(strip) -> list[tuple[str, Style]]:
    """(character, style) of every cell of a drawn line."""
    return [(ch, seg.style or Style()) for seg in strip for ch in seg.text]


def test_region_around_a_cluster_filters_the_list_to_exactly_its_rows(demo_config):
    config = demo_config

    async def script(pilot, screen, pane):
        session = screen.session
        labels = session.scores["label"].to_numpy(dtype=object)
        harbor = np.flatnonzero(labels == "harbor")
        x, y = pane.xy[harbor, 0], pane.xy[harbor, 1]
        sx, sy = x.max() - x.min(), y.max() - y.min()
        # the cluster's points nearest to its bounding box's top-left and bottom-right corners
        top_left = int(harbor[np.argmin(((x - x.min()) / sx) ** 2 + ((y.max() - y) / sy) ** 2)])
        bottom_right = int(harbor[np.argmin(((x.max() - x) / sx) ** 2 + ((y - y.min()) / sy) ** 2)])
        await _cursor_to(pilot, screen, top_left)
        await pilot.press("v")
        assert pane.anchor_point is not None
        await _cursor_to(pilot, screen, bottom_right)
        pending = pane.pending_rect()
        await pilot.press("enter")
        await pilot.pause()

        rect = pane.region_rect
        assert rect == pending
        inside = np.flatnonzero(
            (pane.xy[:, 0] >= rect[0]) & (pane.xy[:, 0] <= rect[2]) & (pane.xy[:, 1] >= rect[1]) & (pane.xy[:, 1] <= rect[3])
        )
        view = session.view
        assert sorted(view.tolist()) == inside.tolist()  # exactly the rows inside, nothing else
        assert np.all(np.diff(session.scores["score"].to_numpy()[view]) <= 0)  # still ranked by score
        for corner in (top_left, bottom_right):
            assert corner in set(view.tolist())
        assert (labels[view] == "harbor").mean() >= 0.9  # it is the harbor cluster...
        assert len(set(view.tolist()) & set(harbor.tolist())) >= 0.8 * len(harbor)
        assert PLANTED in set(session.ids[view])  # ...with the planted basketball court inside it
        assert f"{len(view):,}/1,000 shown" in widget_text(screen.query_one("#status"))
        assert f"region filter {len(view):,} rows" in widget_text(pane).splitlines()[0]

        # the region is a mask ANDed with the text filter, not an expression
        await pilot.press("enter")  # no region being drawn: back to the list, region kept
        assert screen.suspects.has_focus and len(session.view) == len(view)
        await pilot.press("3")  # preset: wrong label
        assert session.filter_expr == 'issue == "wrong_label"'
        wrong = set(np.flatnonzero(session.scores["issue"].to_numpy(dtype=object) == "wrong_label").tolist())
        assert set(session.view.tolist()) == wrong & set(inside.tolist())
        assert PLANTED in set(session.ids[session.view])
        await pilot.press("escape")  # the list has focus: escape clears the region
        assert pane.region_rect is None
        assert set(session.view.tolist()) == wrong
        await pilot.press("0")
        assert len(session.view) == 1000

    _drive(config, script)


def test_moving_in_the_list_moves_the_marker_and_the_pane_moves_the_list(demo_config):
    config = demo_config

    async def script(pilot, screen, pane):
        await pilot.press("escape")  # nothing to cancel: the focus goes back to the list
        assert screen.suspects.has_focus and pane.display
        seen = []
        for _ in range(3):
            await pilot.press("j")
            pos = screen.suspects.cursor_pos
            assert pane.marker_pos == pos
            col, line = _marker_cell(pane)
            cell = pane.raster.cell_of(*pane.xy[pos])
            assert (col, line) == (cell[0], cell[1] + 1)  # canvas starts under the header line
            seen.append((col, line))
        assert len(set(seen)) > 1  # the marker really moved

        await pilot.press("p")  # focus the pane again
        assert pane.has_focus
        before = screen.suspects.cursor_pos
        x0 = float(pane.xy[before, 0])
        await pilot.press("l")
        after = screen.suspects.cursor_pos
        assert after != before and float(pane.xy[after, 0]) > x0  # snapped to a point on the right
        assert screen.detail.pos == after  # ...and the detail pane shows that row
        y0 = float(pane.xy[after, 1])
        await pilot.press("j")
        assert float(pane.xy[screen.suspects.cursor_pos, 1]) < y0  # down on screen = lower y

        col, line = _marker_cell(pane)
        await pilot.click(ProjectorPane, offset=(col, line))
        assert screen.suspects.cursor_pos == pane.marker_pos
        assert pane.raster.cell_of(*pane.xy[pane.marker_pos]) == (col, line - 1)

        await pilot.press("plus")
        assert abs(pane.zoom_level - 2.0) < 1e-9
        point = pane.xy[pane.marker_pos]
        assert pane.bounds[0] <= point[0] <= pane.bounds[2]  # zoomed around the cursor
        await pilot.press("L")
        assert pane.bounds[0] > pane.full_bounds[0]
        await pilot.press("f")
        assert pane.bounds == pane.full_bounds

        modes = []
        for _ in range(len(pane.modes)):
            await pilot.press("c")
            modes.append(pane.mode)
        assert modes == ["score", "verdict", "knn", "class"]
        await pilot.press("c", "c", "c")
        assert pane.mode == "knn" and "kNN disagreement 0 " in widget_text(pane)

        await pilot.press("p")  # focused: hide, the preview comes back
        assert not pane.display and screen.detail.preview.display and screen.suspects.has_focus
        await pilot.press("j", "j")  # moves while hidden...
        await pilot.press("p")
        assert pane.display and pane.has_focus and not screen.detail.preview.display
        col, line = _marker_cell(pane)  # ...show when it is back
        assert pane.raster.cell_of(*pane.xy[screen.suspects.cursor_pos]) == (col, line - 1)

    _drive(config, script)


def test_verdict_coloring_follows_reviews_and_the_cache_is_reused(demo_config):
    config = demo_config

    async def script(pilot, screen, pane):
        pos = screen.suspects.cursor_pos
        await pilot.press("c", "c")
        assert pane.mode == "verdict"
        await pilot.press("escape", "x")  # mark the row from the list
        assert screen.session.verdict_of(pos) == "error"
        await pilot.press("k")
        await pilot.pause()
        col, line = _marker_cell(pane)
        strip = pane.render_line(line)
        marker = [seg for seg in strip if seg.text == MARKER]
        assert marker and marker[0].style.color.name == "#d9453d"  # the error color

    _drive(config, script)
    cached = list((config.parent / ".labeltui-cache").glob("*-projection-pca-*.parquet"))
    assert len(cached) == 1

    async def again(pilot, screen, pane):
        assert pane.projection.from_cache

    _drive(config, again)


def test_snapshot_200x60_shows_the_planted_outlier_inside_the_harbor_cluster(demo_config):
    config = demo_config
    app = LabelTuiApp(config, reviewer="tester")

    async def main():
        async with app.run_test(size=(200, 60)) as pilot:
            pane = await _open_projector(pilot)
            screen = app.screen
            classes = list(screen.session.run.classes)
            pos = int(np.flatnonzero(screen.session.ids == PLANTED)[0])
            await _cursor_to(pilot, screen, pos)
            await pilot.pause()
            svg = app.export_screenshot()
            if SNAPSHOTS:
                Path(SNAPSHOTS).mkdir(parents=True, exist_ok=True)
                (Path(SNAPSHOTS) / "projector-200x60.svg").write_text(svg)

            # the marker is drawn in its own class's color (basketball_court)...
            col, line = _marker_cell(pane)
            glyph, style = _cells(pane.render_line(line))[col]
            assert glyph == MARKER and style.reverse
            assert style.color.name == class_color(classes.index("basketball_court")).lower()
            # ...among cells colored harbor all around it
            harbor = class_color(classes.index("harbor")).lower()
            around = [
                style.color.name
                for dy in (-1, 0, 1)
                for x, (ch, style) in enumerate(_cells(pane.render_line(line + dy)))
                if abs(x - col) <= 2 and (dy or x != col) and "\u2801" <= ch <= "\u28ff" and style.color
            ]
            assert len(around) >= 4 and around.count(harbor) / len(around) >= 0.6
            # and the picture is on screen: header, legend, the marker, the row's facts
            assert MARKER in svg and "projector" in svg and "harbor" in svg and "basketball_court" in svg
            assert PLANTED in svg

    asyncio.run(main())


def test_projector_fits_80x24(demo_config):
    config = demo_config

    async def script(pilot, screen, pane):
        text = widget_text(pane)
        lines = text.splitlines()
        assert lines[0].startswith(" ⠿ projector")
        assert pane.size.width >= 30 and pane._canvas[2] >= 3
        assert sum(ch >= "\u2801" and ch <= "\u28ff" for ch in text) > 20  # points drawn
        assert MARKER in text

    _drive(config, script, size=(80, 24))


def test_a_run_without_embeddings_says_so_in_the_pane(make_app):
    app = make_app("ner")

    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await wait_ready(pilot)
            await pilot.press("p")
            pane = screen.query_one(ProjectorPane)
            for _ in range(200):
                if pane.state == "failed":
                    break
                await pilot.pause(0.02)
            await pilot.pause()
            text = widget_text(pane)
            assert "no projection" in text and "the run has no embeddings" in text
            await pilot.press("l", "plus", "c", "v", "enter")  # nothing to move: no error
            assert screen.suspects.has_focus  # enter with nothing drawn goes back to the list
            await pilot.press("j")
            assert screen.suspects.cursor == 1

    asyncio.run(main())


def test_the_projection_runs_in_a_worker_with_progress_in_the_pane(make_app, monkeypatch):
    import threading

    import labeltui.tui.widgets.projector as projector_module

    release = threading.Event()
    real = projector_module.projection_for

    def slow(run, config, method, *, progress=None, key=None):
        progress("PCA of 1,000 x 32 embeddings", 0.1)
        assert release.wait(10)
        return real(run, None, method)

    monkeypatch.setattr(projector_module, "projection_for", slow)
    app = make_app("classification")

    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await wait_ready(pilot)
            await pilot.press("p")
            pane = screen.query_one(ProjectorPane)
            for _ in range(100):
                if "PCA of 1,000" in widget_text(pane):
                    break
                await pilot.pause(0.02)
            text = widget_text(pane)
            assert pane.state == "computing"
            assert "computing the projection (PCA)" in text and "PCA of 1,000 x 32 embeddings" in text
            await pilot.press("escape", "j")  # the app stays responsive meanwhile
            assert screen.suspects.cursor == 1
            release.set()
            for _ in range(200):
                if pane.state == "ready":
                    break
                await pilot.pause(0.02)
            assert pane.state == "ready" and "1,000 points" in widget_text(pane).splitlines()[0]

    asyncio.run(main())
