"""`labeltui demo`: the other demos are one key (or a palette command) away."""

from __future__ import annotations

import asyncio
import dataclasses

from labeltui.demo import TASKS
from labeltui.tui import LabelTuiApp
from tests.tui.conftest import scored_demo, wait_ready


def demo_app(tmp_path, task: str, demos=TASKS) -> LabelTuiApp:
    config, scored = scored_demo(task)
    config = dataclasses.replace(config, review_store=tmp_path / f"{task}.sqlite", export_dir=tmp_path / "batches")
    return LabelTuiApp(config=config, scored=scored, reviewer="tester", demos=demos)


def test_d_closes_this_demo_and_names_the_next(tmp_path):
    app = demo_app(tmp_path, "detection")

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_ready(pilot)
            await pilot.press("x")
            await pilot.press("d")
            await pilot.pause()

    asyncio.run(main())
    assert app.next_demo == "ner" and app.return_code == 0
    assert (tmp_path / "detection.sqlite").exists()  # the verdict was kept


def test_the_palette_opens_any_other_demo(tmp_path):
    app = demo_app(tmp_path, "ner")

    async def main():
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_ready(pilot)
            commands = {c.title: c for c in app.get_system_commands(app.screen)}
            assert "Open the detection demo" in commands and "Open the ner demo" not in commands
            await commands["Open the classification demo"].callback()
            await pilot.pause()

    asyncio.run(main())
    assert app.next_demo == "classification"


def test_d_does_nothing_outside_demo_mode(tmp_path):
    app = demo_app(tmp_path, "detection", demos=())

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_ready(pilot)
            await pilot.press("d")
            await pilot.pause()
            assert app.is_running

    asyncio.run(main())
    assert app.next_demo is None
