"""Process faults: SIGTERM, SIGHUP (terminal closed), Ctrl-C and SIGKILL of a real ``labeltui open`` in tmux,
and a review store on a read-only location.

A triage session is hours of work: a signal must never lose a verdict the
screen showed, and a clean stop must leave the terminal as it found it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from labeltui.review import ReviewStore
from labeltui.tui.screens.review import ReviewScreen
from tests.helpers.read_only import deny_writes_in
from tests.helpers.tmux import RESTORED, Pane, copy_demo
from tests.tui.conftest import drive, make_app, settle  # noqa: F401  (make_app is a fixture)

def _demo(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the NER demo (its store is written next to it): (config, store)."""
    return copy_demo(tmp_path, "ner"), tmp_path / "ner" / "labeltui-review.sqlite"


def _review_three(pane: Pane) -> None:
    """x, o, x on the first three rows, each acknowledged in the header before the next key."""
    pane.wait_for("│ 0 rev │")
    for key, shown in (("x", "✗1 ✓0"), ("o", "✗1 ✓1"), ("x", "✗2 ✓1")):
        pane.keys(key)
        pane.wait_for(shown)


def _stored(store: Path) -> dict[str, str]:
    with ReviewStore.open(store, run_name="demo-news-entities", reviewer="check") as s:
        frame = s.verdicts()
    return {row: verdict for row, verdict in zip(frame["data_row_id"], frame["verdict"]) if verdict is not None}


def _assert_clean_exit(pane: Pane, store: Path, status: int) -> None:
    assert pane.exit_status() == status, pane.screen()
    assert pane.modes() == RESTORED
    # the store was closed: SQLite checkpointed the WAL into the file and removed it
    assert not store.with_name(store.name + "-wal").exists()
    with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as conn:
        rows = dict(conn.execute("SELECT data_row_id, verdict FROM verdicts").fetchall())
    assert sorted(rows.values()) == ["error", "error", "ok"]


def test_sigterm_exits_cleanly_with_the_store_closed(tmp_path):
    config, store = _demo(tmp_path)
    pane = Pane(tmp_path, config)
    try:
        _review_three(pane)
        cursor_row = next(line for line in pane.screen().splitlines() if "▶" in line).split()[3]
        os.kill(pane.app_pid(), signal.SIGTERM)
        _assert_clean_exit(pane, store, 128 + signal.SIGTERM)
    finally:
        pane.close()
    with ReviewStore.open(store, run_name="demo-news-entities", reviewer="ana") as s:
        assert s.load_state("tui")["row"] == cursor_row  # the position was saved on the way out


def test_sighup_exits_cleanly_with_the_store_closed(tmp_path):
    config, store = _demo(tmp_path)
    pane = Pane(tmp_path, config)
    try:
        _review_three(pane)
        os.kill(pane.app_pid(), signal.SIGHUP)
        _assert_clean_exit(pane, store, 128 + signal.SIGHUP)
    finally:
        pane.close()


def test_terminal_closed_under_the_app_closes_the_store(tmp_path):
    """The SSH connection drops or the terminal window closes: tmux kill-session
    hangs the pane's terminal up (SIGHUP, then every write fails)."""
    config, store = _demo(tmp_path)
    pane = Pane(tmp_path, config)
    try:
        _review_three(pane)
        cursor_row = next(line for line in pane.screen().splitlines() if "▶" in line).split()[3]
        pid = pane.app_pid()
        pane.tmux("kill-session")
        deadline = time.monotonic() + 15
        while Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text():
            assert time.monotonic() < deadline, "the app outlived its terminal"
            time.sleep(0.05)
    finally:
        pane.close()
    assert not store.with_name(store.name + "-wal").exists()  # closed: WAL checkpointed and removed
    assert sorted(_stored(store).values()) == ["error", "error", "ok"]
    with ReviewStore.open(store, run_name="demo-news-entities", reviewer="ana") as s:
        assert s.load_state("tui")["row"] == cursor_row


def test_sigterm_while_loading_restores_the_terminal(tmp_path):
    pane = Pane(tmp_path, copy_demo(tmp_path, "detection"), "--no-cache")
    try:
        pane.wait_for("opening")
        os.kill(pane.app_pid(), signal.SIGTERM)
        assert pane.exit_status() == 128 + signal.SIGTERM
        assert pane.modes() == RESTORED
    finally:
        pane.close()


def test_ctrl_c_quits_cleanly_and_loses_nothing(tmp_path):
    config, store = _demo(tmp_path)
    pane = Pane(tmp_path, config)
    try:
        _review_three(pane)
        pane.keys("C-c")
        _assert_clean_exit(pane, store, 0)
    finally:
        pane.close()


def test_sigkill_keeps_every_verdict_the_screen_acknowledged(tmp_path):
    config, store = _demo(tmp_path)
    pane = Pane(tmp_path, config)
    try:
        _review_three(pane)
        pane.keys("j", "space")
        pane.wait_for("●1")
        os.kill(pane.app_pid(), signal.SIGKILL)
        assert pane.exit_status() == 128 + signal.SIGKILL
    finally:
        pane.close()
    verdicts = _stored(store)
    assert sorted(verdicts.values()) == ["error", "error", "ok"]
    with ReviewStore.open(store, run_name="demo-news-entities", reviewer="ana") as s:
        assert s.counts()["selected"] == 1


def test_store_on_a_read_only_location_opens_read_only_and_says_why(make_app, tmp_path, monkeypatch):
    folder = tmp_path / "readonly"
    store = folder / "review.sqlite"
    app = make_app("ner", store=store)
    config, scored = app.config, app.scored
    reviewed = str(scored.scores["data_row_id"].iloc[1])
    with ReviewStore.open(store, run_name=config.name, reviewer="bob") as s:
        s.set_verdict([reviewed], "error")
    before = store.read_bytes()
    deny_writes_in(monkeypatch, folder)

    async def script(pilot, screen: ReviewScreen):
        session = screen.session
        assert session.read_only and session.counts()["reviewed"] == 1  # earlier verdicts still show
        header = screen.query_one("#status").render().plain
        assert "read-only" in header and "✗1" in header.replace(" ", "")
        titles = [n.title for n in app._notifications]
        assert "review store is read-only" in titles
        for key in ("x", "o", "space", "backspace", "u", "a", "X"):
            await pilot.press(key)
            await settle(pilot)
        assert session.counts()["reviewed"] == 1 and session.counts()["selected"] == 0
        refused = [str(n.message) for n in app._notifications if n.title == "not saved"]
        assert refused and all("read-only" in m and "not writable" in m for m in refused)
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("q")

    drive(app, script, size=(120, 30))
    assert app.return_code == 0
    assert store.read_bytes() == before
