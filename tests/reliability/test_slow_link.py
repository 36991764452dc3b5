"""A terminal over a slow link: the real ``labeltui open`` in tmux, every byte it writes recorded.

A cursor move must repaint what changed (two list lines, the row's facts, the
preview), not the screen; keys that arrive faster than the preview delay (key
repeat, a laggy SSH link delivering keys in a burst) must not each paint a preview.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from tests.helpers.tmux import Pane, copy_demo

STILL = 0.4  # seconds without output that count as "the screen has settled"


def _settled(record: Path, timeout: float = 20.0) -> int:
    """Bytes recorded once the app has written nothing for STILL seconds."""
    size, since = -1, time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        now = record.stat().st_size
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= STILL:
            return size
        time.sleep(0.02)
    raise AssertionError(f"the app kept writing for {timeout} s")


def _cursor_row(screen: str) -> int:
    line = next(line for line in screen.splitlines() if "▶" in line)
    return int(line.split("▶")[1].split()[0])


@pytest.fixture
def recorded(tmp_path):
    """Open a copy of a demo at 200x60 in tmux: (pane, record of its output, first frame's bytes)."""
    panes = []

    def open_demo(task: str) -> tuple[Pane, Path, int]:
        record = tmp_path / "output"
        pane = Pane(tmp_path, copy_demo(tmp_path, task), size=(200, 60), record=record)
        panes.append(pane)
        pane.wait_for(" 0 re")  # "0 rev" or "0 reviewed", by width
        return pane, record, _settled(record)

    yield open_demo
    for pane in panes:
        pane.close()


def _moves(pane: Pane, record: Path, n: int) -> list[int]:
    """Bytes written for each of ``n`` single cursor moves, the screen settled in between."""
    sizes = []
    for _ in range(n):
        before = _settled(record)
        pane.keys("j")
        time.sleep(0.05)
        sizes.append(_settled(record) - before)
    return sizes


def test_a_cursor_move_repaints_what_changed_not_the_screen(recorded):
    pane, record, first = recorded("ner")
    moves = _moves(pane, record, 8)
    # the whole screen is ~200 KB; a move is two list lines, the facts and the new sentence (~6 KB);
    # repainting the preview's blank lines as well cost ~24 KB
    assert statistics.median(moves) < first * 0.06, (first, moves)
    assert _cursor_row(pane.screen()) == 9


def test_keys_in_a_burst_paint_one_preview(recorded):
    pane, record, first = recorded("detection")
    single = statistics.median(_moves(pane, record, 3))
    before = _settled(record)
    pane.keys(*["j"] * 30)  # delivered together, as a slow link does
    burst = _settled(record) - before
    # one image preview for the row the cursor lands on (a preview per key would be ~30x)
    assert burst < 2 * single, (single, burst)
    assert single < first, (single, first)
    assert _cursor_row(pane.screen()) == 34
