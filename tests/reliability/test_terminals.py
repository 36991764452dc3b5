"""Terminals: tiny to huge sizes, resizing while loading and while a preview decodes,
NO_COLOR and 16-color terminals. The app must stay usable, never raise."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from labeltui.review import ReviewStore
from labeltui.tui.screens.loading import LoadingScreen
from labeltui.tui.screens.review import ReviewScreen
from labeltui.tui.widgets import detail
from tests.helpers.tmux import Pane, copy_demo
from tests.tui.conftest import drive, make_app, settle, wait_ready, widget_text  # noqa: F401  (make_app is a fixture)

SIZES = [(40, 12), (80, 24), (120, 40), (200, 60), (300, 100)]
TASKS = ["detection", "ner", "classification"]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _assert_usable(screen: ReviewScreen) -> None:
    """The header shows the counts and the suspect list shows the cursor row."""
    session, suspects = screen.session, screen.suspects
    counts = session.counts()
    header = widget_text(screen.query_one("#status"))
    assert f"{counts['shown']:,}/{counts['total']:,}" in header, header
    assert f"✗{counts['error']:,}" in header.replace(" ", ""), header
    line = next((line for line in widget_text(suspects).splitlines() if "▶" in line), None)
    assert line is not None, widget_text(suspects)
    assert line.split()[1] == str(suspects.cursor + 1)
    if screen.app.size.width >= 80:
        assert str(session.ids[suspects.cursor_pos]) in line


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_size_shows_the_cursor_row_and_the_counts(make_app, task, size):
    app = make_app(task)

    async def script(pilot, screen):
        _assert_usable(screen)
        await pilot.press("x")
        await settle(pilot)
        assert screen.session.counts()["error"] == 1 and screen.suspects.cursor == 1
        _assert_usable(screen)

    drive(app, script, size=size)


def test_resizing_while_the_run_loads(make_app, monkeypatch):
    app = make_app("ner")
    entered, release = threading.Event(), threading.Event()
    real_open = ReviewStore.open

    def slow_open(*args, **kwargs):
        entered.set()
        release.wait(10)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(ReviewStore, "open", slow_open)

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            while not entered.is_set():
                await pilot.pause(0.01)
            for size in SIZES + [(40, 12), (300, 100), (40, 12)]:
                await pilot.resize_terminal(*size)
                await pilot.pause()
                assert isinstance(app.screen, LoadingScreen)
            release.set()
            screen = await wait_ready(pilot)
            _assert_usable(screen)
            await pilot.resize_terminal(120, 40)
            await settle(pilot)
            _assert_usable(screen)
            assert screen.suspects.size.width < 120  # the detail pane came back beside the list

    asyncio.run(main())


def test_resizing_while_a_preview_decodes(make_app, monkeypatch):
    app = make_app("detection")
    entered, release = threading.Event(), threading.Event()
    real_build = detail.build_preview

    def slow_build(request, cache):
        entered.set()
        release.wait(10)
        return real_build(request, cache)

    monkeypatch.setattr(detail, "build_preview", slow_build)

    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            while not entered.is_set():
                await pilot.pause(0.01)
            screen = app.screen
            assert isinstance(screen, ReviewScreen) and screen.detail.preview.stale
            for size in [(40, 12), (300, 100), (80, 24), (200, 60)]:
                await pilot.resize_terminal(*size)
                await pilot.pause()
            await pilot.press("j")
            release.set()
            await settle(pilot)
            preview = screen.detail.preview
            assert not preview.stale
            assert preview._strips and preview._strips[0].cell_length == preview.size.width
            assert screen.suspects.cursor == 1
            _assert_usable(screen)

    asyncio.run(main())


def _sgr_colors(ansi: str) -> tuple[list[tuple[int, int, int]], list[int], list[int]]:
    """The colors ``ansi`` sets: 24-bit (r, g, b), 256-color indices and 16-color codes (30-37, 40-47, 90-97, 100-107)."""
    rgb, indexed, basic = [], [], []
    for params in SGR.findall(ansi):
        codes = [int(c) for c in params.split(";") if c]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in (38, 48, 58) and i + 1 < len(codes) and codes[i + 1] == 2:
                rgb.append(tuple(codes[i + 2 : i + 5]))
                i += 5
                continue
            if code in (38, 48, 58) and i + 1 < len(codes) and codes[i + 1] == 5:
                indexed.append(codes[i + 2])
                i += 3
                continue
            if 30 <= code <= 37 or 40 <= code <= 47 or 90 <= code <= 97 or 100 <= code <= 107:
                basic.append(code)
            i += 1
    return rgb, indexed, basic


def _recorded_session(tmp_path, env: dict[str, str | None]) -> tuple[str, str]:
    """The real app on the detection demo in tmux at 120x30 with ``env``: one verdict, then
    (every byte it wrote, the screen)."""
    record = tmp_path / "output"
    pane = Pane(tmp_path, copy_demo(tmp_path, "detection"), size=(120, 30), record=record, env=env)
    try:
        pane.wait_for(" 0 reviewed")
        pane.keys("x")
        pane.wait_for(" 1 reviewed")
        pane.keys("j")
        time.sleep(0.5)  # the preview of the next row is drawn
        screen = pane.screen()
        return record.read_bytes().decode("utf-8", "replace"), screen
    finally:
        pane.close()


def test_no_color_renders_grey_with_verdict_glyphs(tmp_path):
    ansi, screen = _recorded_session(tmp_path, {"NO_COLOR": "1", "TERM": "xterm-256color", "COLORTERM": "truecolor"})
    rows = [line for line in screen.splitlines() if "0.961" in line]
    assert "✗" in rows[0]  # the mark is a glyph, not only a color
    rgb, indexed, basic = _sgr_colors(ansi)
    assert rgb and all(r == g == b for r, g, b in rgb)  # the image preview too
    assert not indexed
    assert set(basic) <= {30, 37, 90, 97, 40, 47, 100, 107}  # black, white and greys


def test_a_16_color_terminal_gets_only_16_color_codes(tmp_path):
    ansi, screen = _recorded_session(tmp_path, {"TERM": "xterm", "COLORTERM": None, "TEXTUAL_COLOR_SYSTEM": None})
    rgb, indexed, basic = _sgr_colors(ansi)
    assert not rgb and not indexed  # no 24-bit or 256-color codes
    assert len(set(basic)) >= 6  # colors, in the 16 the terminal has
    assert "✗ 1 errors" in screen
