"""Shared harness for the TUI tests: demo runs scored once, apps driven by Pilot."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Awaitable, Callable

import pytest
from textual.worker import WorkerCancelled

from labeltui.config import load_config
from labeltui.pipeline import scores_for
from labeltui.tui import LabelTuiApp
from labeltui.tui.screens.review import ReviewScreen

DEMO = Path(__file__).resolve().parents[2] / "demo"
_SCORED: dict[str, tuple] = {}


def scored_demo(task: str):
    """(config, scored) of a demo run, scored once per test session (no cache written)."""
    if task not in _SCORED:
        config = load_config(DEMO / task / "run.yaml")
        _SCORED[task] = (config, scores_for(config, None, use_cache=False, need_run=True))
    return _SCORED[task]


@pytest.fixture
def make_app(tmp_path):
    """``make_app(task, keys=None)``: an app on a scored demo run whose review store
    and export folder live in ``tmp_path``."""

    def make(task: str = "detection", keys: dict[str, str] | None = None, store: Path | None = None) -> LabelTuiApp:
        config, scored = scored_demo(task)
        config = dataclasses.replace(
            config,
            review_store=store or tmp_path / f"{task}-review.sqlite",
            export_dir=tmp_path / "batches",
            keys=keys or {},
        )
        return LabelTuiApp(config=config, scored=scored, reviewer="tester")

    return make


async def settle(pilot) -> None:
    """Let timers fire and workers (previews, state saves) finish, up to 3 s."""
    for _ in range(100):
        await pilot.pause(0.03)
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # a newer preview (e.g. the run arrived) replaced one being drawn: wait again
            continue
        await pilot.pause()
        screen = pilot.app.screen
        if not isinstance(screen, ReviewScreen):
            return
        detail = screen.detail
        if detail._timer is None and not detail.preview.stale:
            return


async def wait_ready(pilot) -> ReviewScreen:
    app = pilot.app
    for _ in range(300):
        if isinstance(app.screen, ReviewScreen) and app.screen.is_mounted:
            break
        await pilot.pause(0.02)
    assert isinstance(app.screen, ReviewScreen), f"still on {type(app.screen).__name__}"
    await settle(pilot)
    return app.screen


def drive(app: LabelTuiApp, script: Callable[[object, ReviewScreen], Awaitable[None]], size=(80, 24)) -> None:
    """Run ``app`` headless at ``size`` and await ``script(pilot, screen)`` once the review screen is up."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            screen = await wait_ready(pilot)
            await script(pilot, screen)

    asyncio.run(main())


def widget_text(widget) -> str:
    """The text a widget shows now, line by line."""
    from textual.geometry import Region

    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, *widget.size)))


def preview_text(screen) -> str:
    """The text of the review screen's preview pane, line by line."""
    preview = screen.detail.preview
    return "\n".join(preview.render_line(y).text for y in range(preview.size.height))
