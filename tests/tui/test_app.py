"""Opening a run from its config (progress, errors in the app) and screenshots of the
three demos at 80x24 and 200x60 (checked for content, not bytes)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from labeltui.tui import LabelTuiApp
from labeltui.tui.screens.loading import LoadingScreen
from labeltui.tui.screens.review import ReviewScreen
from tests.tui.conftest import DEMO, drive, settle, wait_ready, widget_text

# set LABELTUI_SNAPSHOTS=folder to keep the SVGs (convert with rsvg-convert to look at them)
SNAPSHOTS = os.environ.get("LABELTUI_SNAPSHOTS")


def test_open_from_a_config_path_with_progress(tmp_path, monkeypatch):
    shutil.copytree(DEMO / "ner", tmp_path / "ner")
    app = LabelTuiApp(tmp_path / "ner" / "run.yaml", reviewer="tester")
    seen: list[str] = []
    original = LoadingScreen.progress
    monkeypatch.setattr(LoadingScreen, "progress", lambda self, message, fraction: (seen.append(message), original(self, message, fraction)))

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await wait_ready(pilot)
            assert screen.session.n_rows == 300
            await pilot.press("x")
        assert (tmp_path / "ner" / "labeltui-review.sqlite").exists()  # the store sits with the config

    asyncio.run(main())
    assert len(seen) >= 3 and seen[-1] == "opening the review store"  # reading steps, then the store


@pytest.mark.parametrize(
    "yaml, expect",
    [
        ("task: detection\nground_truth: {format: coco, path: missing.json}\n", "ground_truth.path: file not found"),
        ("name: [unclosed\n", "malformed YAML"),
    ],
)
def test_load_errors_show_in_the_app_not_as_a_traceback(tmp_path, yaml, expect):
    config = tmp_path / "run.yaml"
    config.write_text(yaml)
    app = LabelTuiApp(config)

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                await pilot.pause(0.02)
                if app.load_error:
                    break
            await pilot.pause()
            assert isinstance(app.screen, LoadingScreen)
            text = widget_text(app.screen.query_one("#loading-error"))
            assert expect in text and "q quits" in text
            await pilot.press("q")

    asyncio.run(main())
    assert app.return_code == 1 and expect in app.load_error


EXPECT = {
    # task: (run name, words in the list header)
    "detection": ("demo-parking-lots", ("score", "issue", "class", "fp/fn")),
    "ner": ("demo-news-entities", ("score", "issue", "class")),
    "classification": ("demo-aerial-scenes", ("score", "issue", "given→pred")),
}


@pytest.mark.parametrize("task", sorted(EXPECT))
def test_screenshots_at_80x24_and_200x60(make_app, tmp_path, task):
    name, titles = EXPECT[task]
    app = make_app(task)
    folder = Path(SNAPSHOTS) if SNAPSHOTS else tmp_path

    async def script(pilot, screen):
        s = screen.session
        top, issue = str(s.ids[s.view[0]]), str(s.scores["issue"].iat[int(s.view[0])])
        assert issue  # the most suspicious row has an issue
        for width, height in ((80, 24), (200, 60)):
            await pilot.resize_terminal(width, height)
            await settle(pilot)
            assert screen.has_class("-narrow") == (width < 120)
            path = Path(app.save_screenshot(f"{task}-{width}x{height}.svg", path=str(folder)))
            svg = path.read_text().replace("&#160;", " ")
            assert name in svg and top in svg and issue in svg
            for title in titles:
                assert title in svg
            assert "▶" in svg  # the cursor is a mark, not only a color
            list_lines = widget_text(screen.suspects).splitlines()
            assert len(list_lines) == screen.suspects.size.height
            assert list_lines[1].split()[:3] == ["▶", "1", "·"] and top in list_lines[1]
            if task != "classification":
                assert "★" in widget_text(screen.detail.preview)  # the issue object is emphasised

    drive(app, script)
