"""Every review key on the detection demo: moves, verdicts, selection, range, undo, note."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labeltui.review import ReviewStore
from tests.tui.conftest import drive, settle


def stored(app) -> dict[str, str | None]:
    """Verdicts as another process sees them."""
    store = ReviewStore.open(app.config.review_store, run_name=app.config.name, reviewer="someone-else")
    try:
        frame = store.verdicts()
        return dict(zip(frame["data_row_id"], frame["verdict"]))
    finally:
        store.close()


def test_cursor_keys(make_app):
    app = make_app()

    async def script(pilot, screen):
        suspects = screen.suspects
        n = suspects.row_count
        assert suspects.cursor == 0
        await pilot.press("j", "j", "down")
        assert suspects.cursor == 3
        await pilot.press("k", "up")
        assert suspects.cursor == 1
        await pilot.press("G")
        assert suspects.cursor == n - 1
        await pilot.press("g")
        assert suspects.cursor == 0
        await pilot.press("end")
        assert suspects.cursor == n - 1
        await pilot.press("home", "pagedown")
        page = suspects.page_rows
        assert suspects.cursor == page
        await pilot.press("ctrl+f")
        assert suspects.cursor == min(2 * page, n - 1)
        await pilot.press("pageup", "ctrl+b")
        assert suspects.cursor == 0
        await pilot.press("k")
        assert suspects.cursor == 0
        await settle(pilot)
        top = screen.session.view[0]
        assert screen.detail.pos == top

    drive(app, script)


def test_verdicts_are_stored_at_once_and_the_cursor_advances(make_app):
    app = make_app()

    async def script(pilot, screen):
        s = screen.session
        view = s.view
        await pilot.press("x")
        assert screen.suspects.cursor == 1
        assert stored(app) == {str(s.ids[view[0]]): "error"}  # durable before the next key
        await pilot.press("o", "s")
        assert screen.suspects.cursor == 3
        expect = {str(s.ids[view[0]]): "error", str(s.ids[view[1]]): "ok", str(s.ids[view[2]]): "skip"}
        assert stored(app) == expect
        assert s.counts()["reviewed"] == 3 and s.counts()["error"] == 1
        await pilot.press("k", "backspace")
        assert stored(app)[str(s.ids[view[2]])] is None
        assert screen.suspects.cursor == 2  # clearing does not advance
        await pilot.press("u")  # undo the clear
        assert stored(app)[str(s.ids[view[2]])] == "skip"
        assert s.verdict_of(int(view[2])) == "skip"

    drive(app, script)


def test_verdict_marks_are_glyphs_in_the_list(make_app):
    app = make_app()

    async def script(pilot, screen):
        await pilot.press("x", "o")
        await settle(pilot)
        lines = [screen.suspects.render_line(y).text for y in range(1, 4)]
        assert "✗" in lines[0] and "✓" in lines[1] and "▶" in lines[2]

    drive(app, script)


def test_select_range_all_and_verdict_on_the_selection(make_app):
    app = make_app()

    async def script(pilot, screen):
        s = screen.session
        view = s.view
        await pilot.press("space")  # select row 0, move to 1
        assert s.selected[view[0]] and screen.suspects.cursor == 1
        await pilot.press("v", "j", "j")
        assert screen.suspects.range_indices() == (1, 3)
        await pilot.press("v")  # select the range
        assert s.selected[view[:4]].all() and not s.selected[view[4]]
        assert screen.suspects.anchor is None
        await pilot.press("X")
        assert (s.verdict[view[:4]] == 0).all() and s.counts()["error"] == 4
        await pilot.press("O")
        assert s.counts()["ok"] == 4 and s.counts()["error"] == 0
        await pilot.press("alt+s")
        assert s.counts()["skip"] == 4
        await pilot.press("A")
        assert s.counts()["selected"] == 0
        await pilot.press("a")
        assert s.counts()["selected"] == len(view)
        await pilot.press("u")
        assert s.counts()["selected"] == 0
        # a verdict key in range mode applies to the range and leaves range mode
        await pilot.press("g", "v", "j", "x")
        assert (s.verdict[view[:2]] == 0).all() and s.verdict[view[2]] == 2
        await pilot.press("v", "escape")
        assert screen.suspects.anchor is None
        assert np.count_nonzero(s.verdict >= 0) == 4

    drive(app, script)


def test_note_modal(make_app):
    app = make_app()

    async def script(pilot, screen):
        s = screen.session
        pos = int(s.view[0])
        await pilot.press("n")
        pilot.app.screen.query_one("#note-input").value = "box is on an empty stall"
        await pilot.press("enter")
        await settle(pilot)
        assert s.notes[pos] == "box is on an empty stall"
        assert "✎" in screen.suspects.render_line(1).text
        store = ReviewStore.open(app.config.review_store, run_name=app.config.name)
        assert store.get(str(s.ids[pos]))["note"] == "box is on an empty stall"
        store.close()
        await pilot.press("n", "escape")
        assert s.notes[pos] == "box is on an empty stall"

    drive(app, script)


def test_keys_can_be_remapped_by_binding_id(make_app):
    app = make_app(keys={"verdict-error": "m", "no-such-binding": "z"})

    async def script(pilot, screen):
        s = screen.session
        await pilot.press("m")
        assert s.counts()["error"] == 1
        await pilot.press("x")
        assert s.counts()["error"] == 1  # x no longer marks
        await settle(pilot)
        messages = " ".join(str(n.message) for n in app._notifications)
        assert "keys.no-such-binding" in messages

    drive(app, script)


def test_mouse_click_moves_the_cursor_and_header_click_sorts(make_app):
    app = make_app()

    async def script(pilot, screen):
        await pilot.click("#suspects", offset=(10, 4))
        assert screen.suspects.cursor == 3 + round(screen.suspects.scroll_y)
        x = screen.suspects._gutter + 5
        for col in screen.suspects.columns:
            if col.name == "data_row_id":
                break
            x += col.width + 1
        await pilot.click("#suspects", offset=(x + 1, 0))
        assert screen.session.sort_key == "data_row_id"

    drive(app, script)


def test_read_only_store_refuses_verdicts_visibly(make_app):
    app = make_app(store=Path("/proc/labeltui-cannot-write-here/review.sqlite"))

    async def script(pilot, screen):
        assert screen.session.read_only
        await pilot.press("x")
        await settle(pilot)
        assert screen.session.counts()["reviewed"] == 0
        assert screen.suspects.cursor == 0
        text = " ".join(str(n.message) for n in app._notifications)
        assert "read-only" in text
        assert "read-only" in screen.query_one("#status").render().plain

    drive(app, script)


def test_bulk_changes_are_saved_by_a_worker(make_app, monkeypatch):
    from labeltui.tui.screens import review

    monkeypatch.setattr(review, "BULK_ROWS", 10)
    app = make_app()

    async def script(pilot, screen):
        s = screen.session
        await pilot.press("a")
        await settle(pilot)
        assert s.counts()["selected"] == 60
        store = ReviewStore.open(app.config.review_store, run_name=app.config.name, reviewer="other")
        assert int(store.verdicts()["selected"].sum()) == 60
        await pilot.press("X")
        await settle(pilot)
        assert s.counts()["error"] == 60 and set(stored(app).values()) == {"error"}
        await pilot.press("u")  # undoing a bulk change is a bulk change too
        await settle(pilot)
        assert s.counts()["error"] == 0 and set(stored(app).values()) == {None}
        screen._saving = True  # while a bulk change is being written, other changes wait
        await pilot.press("x")
        assert s.counts()["reviewed"] == 0
        assert any("still saving" in str(n.message) for n in app._notifications)
        store.close()

    drive(app, script)
