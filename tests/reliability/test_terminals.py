"""Terminals: tiny to huge sizes, resizing while loading and while a preview decodes,
NO_COLOR and 16-color terminals. The app must stay usable, never raise."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from rich.console import Console
from textual import constants

from labeltui.review import ReviewStore
from labeltui.tui.screens.loading import LoadingScreen
from labeltui.tui.screens.review import ReviewScreen
from labeltui.tui.widgets import detail
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


def _screen_bytes(app, console: Console) -> str:
    """What the app writes for a full redraw of the current screen to ``console``."""
    return app.screen._compositor.render_full_update().render_segments(console)


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


def _colors(ansi: str) -> list[tuple[int, int, int]]:
    """Every 24-bit foreground and background color set in ``ansi``."""
    found = []
    for params in SGR.findall(ansi):
        codes = params.split(";")
        for i, code in enumerate(codes[:-4]):
            if code in ("38", "48") and codes[i + 1] == "2":
                found.append(tuple(int(c) for c in codes[i + 2 : i + 5]))
    return found


def test_no_color_renders_grey_with_verdict_glyphs(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app("detection")

    async def script(pilot, screen):
        await pilot.press("x", "o")
        await settle(pilot)
        rows = widget_text(screen.suspects).splitlines()
        assert "✗" in rows[1] and "✓" in rows[2]  # the marks are glyphs, not only colors
        ansi = _screen_bytes(app, Console(color_system="truecolor", force_terminal=True, width=120))
        colors = _colors(ansi)
        assert colors and all(r == g == b for r, g, b in colors)
        _assert_usable(screen)

    drive(app, script, size=(120, 30))


def test_a_16_color_terminal_gets_only_16_color_codes(make_app, monkeypatch):
    monkeypatch.setattr(constants, "COLOR_SYSTEM", "standard")
    app = make_app("detection")

    async def script(pilot, screen):
        assert app.console.color_system == "standard"
        await pilot.press("x")
        await settle(pilot)
        ansi = _screen_bytes(app, app.console)
        codes = [c for params in SGR.findall(ansi) for c in params.split(";") if c]
        assert codes and "✗" in ansi
        assert not re.search(r"\x1b\[[0-9;]*(38|48);[25];", ansi)  # no 24-bit or 256-color codes
        assert any(30 <= int(c) <= 37 or 90 <= int(c) <= 97 for c in codes)
        _assert_usable(screen)

    drive(app, script, size=(120, 30))
