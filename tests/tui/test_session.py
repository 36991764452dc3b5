"""The review session and the list columns, without a terminal."""

from __future__ import annotations

import numpy as np
import pytest

from labeltui.engine.query import QueryError
from labeltui.review import ReviewStore
from labeltui.tui.columns import RowCells, candidate_columns, fit, layout
from labeltui.tui.session import Session, presets_for
from tests.tui.conftest import scored_demo


@pytest.fixture
def session(tmp_path):
    config, scored = scored_demo("detection")
    store = ReviewStore.open(tmp_path / "review.sqlite", run_name=config.name, reviewer="ana")
    s = Session(config, scored, store)
    s.query("")
    yield s
    store.close()


def test_presets_adapt_to_the_task():
    assert [p.expression for p in presets_for("detection", "ana", {"fp"})][:3] == [
        "fp >= 1", 'issue == "missing_label"', 'issue == "wrong_class"']
    ner = presets_for("ner", "ana", set())
    assert ner[1].expression == 'issue == "missing_entity"'
    cls = presets_for("classification", "ana", {"agree"})
    assert cls[0].expression == "agree == 0"
    assert cls[4].expression == 'verdict == "error" and reviewer == "ana"'


def test_review_columns_filter_and_sort(session):
    top = session.view[:3].copy()
    session.set_verdict(top[:2], "error")
    session.set_verdict(top[2:], "ok")
    session.set_selected(top[1:], True)
    assert sorted(session.query('verdict == "error"').tolist()) == sorted(top[:2].tolist())
    assert len(session.query("not reviewed")) == session.n_rows - 3
    assert sorted(session.query('selected and reviewer == "ana"').tolist()) == sorted(top[1:].tolist())
    assert session.query("verdict == None and fp >= 1").size == int((session.scores["fp"] >= 1).sum()) - int(
        (session.scores["fp"].to_numpy()[top] >= 1).sum()
    )
    view = session.query("", "verdict", False)
    assert list(session.verdict[view[:3]]) == [0, 0, 1]  # error, error, ok; unreviewed last
    assert session.counts() == {"shown": 60, "total": 60, "reviewed": 3, "error": 2, "ok": 1, "skip": 0, "selected": 2}


def test_bad_filter_keeps_the_view_and_points_at_the_column(session):
    session.query("fp >= 1")
    before = session.view.copy()
    with pytest.raises(QueryError) as err:
        session.query("fp >= 1 and lable == 'car'")
    assert err.value.position == len("fp >= 1 and ")
    assert np.array_equal(session.view, before) and session.filter_expr == "fp >= 1"


def test_undo_restores_the_arrays(session):
    pos = session.view[:2]
    session.set_verdict(pos, "error")
    session.set_note(int(pos[0]), "shifted box")
    assert session.notes[int(pos[0])] == "shifted box"
    assert sorted(session.undo().tolist()) == [int(pos[0])]
    assert int(pos[0]) not in session.notes and not session.noted[pos[0]]
    assert sorted(session.undo().tolist()) == sorted(pos.tolist())
    assert (session.verdict[pos] == -1).all()


def test_undo_shows_what_the_store_holds(session):
    """After each undo the arrays equal a session that read every verdict back from the store."""
    bob = ReviewStore.open(session.store.path, run_name=session.config.name, reviewer="bob")
    rows = session.view.copy()
    bob.set_verdict([str(i) for i in session.ids[rows[:5]]], "ok")
    bob.set_selected([str(i) for i in session.ids[rows[3:8]]], True)
    bob.close()
    fresh = Session(session.config, scored_demo("detection")[1], session.store)  # sees bob's verdicts
    fresh.set_verdict(rows, "error")  # every row, some of them bob's
    fresh.set_selected(rows[::2], True)
    fresh.set_note(int(rows[1]), "two boxes on one car")
    fresh.set_verdict(rows[10:40], "skip")
    for _ in range(5):
        fresh.undo()
        reread = Session(session.config, scored_demo("detection")[1], session.store)
        assert np.array_equal(fresh.verdict, reread.verdict)
        assert np.array_equal(fresh.selected, reread.selected)
        assert np.array_equal(fresh.noted, reread.noted) and fresh.notes == reread.notes
        assert list(fresh.column_values("reviewer")) == list(reread.column_values("reviewer"))
    assert (fresh.verdict[rows[:5]] == 1).all() and (fresh.verdict[rows[5:]] == -1).all()  # bob's ok again


def test_state_round_trip(session):
    session.query("fp >= 1", "f1", False)
    cursor_row = int(session.view[4])
    session.save_state(session.ui_state(cursor_row))
    again = Session(session.config, scored_demo("detection")[1], session.store)
    cursor, warning = again.restore_state()
    assert warning is None and again.filter_expr == "fp >= 1" and again.sort_key == "f1" and not again.descending
    assert cursor == 4


def test_fit_cuts_with_an_ellipsis_and_counts_wide_characters():
    assert fit("abcdef", 4) == "abc…"
    assert fit("ab", 4, right=True) == "  ab"
    assert fit("日本語", 5) == "日本…"
    assert fit("日本", 5) == "日本 "


def test_layout_keeps_the_sort_column_visible_and_fits(session):
    cols = candidate_columns(session)
    for width in (40, 70, 120):
        shown = layout(cols, width, "n_pred", session)
        names = [c.name for c in shown]
        assert names[:3] == ["data_row_id", "score", "n_pred"]
        assert sum(c.width + 1 for c in shown) <= max(width, sum(c.width + 1 for c in shown[:3]))
    assert "fp/fn" in [c.name for c in layout(cols, 40, "fn", session)][:3]


def test_cells_name_both_classes_of_a_wrong_class(session):
    cells = RowCells(session)
    rows = np.flatnonzero(session.scores["issue"].to_numpy() == "wrong_class")
    assert len(rows) and all(cells.classes(int(r)) == "car→truck" for r in rows)
    column = next(c for c in candidate_columns(session) if c.name == "issue")
    assert cells.text(column, int(rows[0])).startswith("≠ wrong_class")
