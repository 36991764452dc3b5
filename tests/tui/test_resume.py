"""A killed session loses nothing: verdicts, filter, sort and position come back."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from labeltui.tui import LabelTuiApp
from tests.tui.conftest import DEMO, wait_ready

ROOT = Path(__file__).resolve().parents[2]

# Review in a headless app, print what was done, then die by SIGKILL (no clean shutdown).
CHILD = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from labeltui.tui import LabelTuiApp
    from labeltui.tui.screens import review
    from tests.tui.conftest import wait_ready

    review.SAVE_DELAY = 0.1  # the position is saved this long after the last move

    async def main():
        app = LabelTuiApp(sys.argv[1], reviewer="ana")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await wait_ready(pilot)
            s = screen.session
            await pilot.press("x", "o", "j", "x")
            await pilot.press("slash")
            screen.filter_bar.input.value = "fn >= 1"
            await pilot.press("enter", "r", "j")
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            verdicts = {str(s.ids[p]): s.verdict_of(int(p)) for p in (s.verdict >= 0).nonzero()[0]}
            print(json.dumps({"verdicts": verdicts, "row": str(s.ids[screen.suspects.cursor_pos])}), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


def test_killed_session_resumes_with_verdicts_filter_sort_and_position(tmp_path):
    shutil.copytree(DEMO / "ner", tmp_path / "ner")
    config = tmp_path / "ner" / "run.yaml"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(config)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == -9, child.stderr[-2000:]
    done = json.loads(child.stdout.strip().splitlines()[-1])
    assert sorted(done["verdicts"].values()) == ["error", "error", "ok"]

    app = LabelTuiApp(config, reviewer="ana")

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await wait_ready(pilot)
            s = screen.session
            again = {str(s.ids[p]): s.verdict_of(int(p)) for p in (s.verdict >= 0).nonzero()[0]}
            assert again == done["verdicts"]
            assert s.filter_expr == "fn >= 1" and s.sort_key == "score" and not s.descending
            assert screen.filter_bar.input.value == "fn >= 1"
            assert str(s.ids[screen.suspects.cursor_pos]) == done["row"]
            await pilot.press("u")  # undo still reaches the last change made before the kill
            assert sum(v == "error" for v in (s.verdict_of(int(p)) for p in range(s.n_rows))) == 1

    asyncio.run(main())
