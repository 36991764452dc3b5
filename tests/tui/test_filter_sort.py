"""The filter input, presets, the sort picker and the sort direction."""

from __future__ import annotations

import asyncio

import numpy as np

from labeltui.tui.widgets.filter_bar import ColumnSuggester
from tests.tui.conftest import drive, settle, widget_text


def test_filter_input_applies_an_expression(make_app):
    app = make_app()

    async def script(pilot, screen):
        s = screen.session
        await pilot.press("slash")
        assert screen.filter_bar.input.has_focus
        screen.filter_bar.input.value = 'fp >= 1 and label == "car"'
        await pilot.press("enter")
        expect = np.flatnonzero((s.scores["fp"] >= 1) & (s.scores["label"] == "car"))
        assert sorted(s.view.tolist()) == expect.tolist()
        assert screen.suspects.has_focus
        assert screen.suspects.row_count == len(expect)
        assert f"{len(expect)}/60" in screen.query_one("#status").render().plain
        await pilot.press("0")
        assert len(s.view) == 60 and s.filter_expr == ""

    drive(app, script)


def test_bad_filter_shows_the_error_with_a_caret_and_keeps_the_view(make_app):
    app = make_app()

    async def script(pilot, screen):
        before = screen.session.view.copy()
        await pilot.press("slash")
        screen.filter_bar.input.value = "fp >= 1 and lable"
        await pilot.press("enter")
        error = screen.query_one("#filter-error")
        text = str(error.render())
        assert error.display
        assert "unknown column 'lable'" in text and "did you mean 'label'" in text
        # the caret sits under the bad column: "/ " prompt + 12 characters
        assert text.index("^") == 2 + len("fp >= 1 and ")
        assert np.array_equal(screen.session.view, before)
        assert screen.filter_bar.input.has_focus
        await pilot.press("escape")
        assert not error.display and screen.suspects.has_focus

    drive(app, script)


def test_filter_completes_column_names_and_values():
    suggester = ColumnSuggester(["score", "max_fp_confidence", "issue", "fp"], {"issue": ["missing_label", "wrong_class"]})

    async def run():
        return [
            await suggester.get_suggestion("fp >= 1 and max_f"),
            await suggester.get_suggestion("sco"),
            await suggester.get_suggestion('issue == "wr'),
            await suggester.get_suggestion("fp >= 1 an"),
            await suggester.get_suggestion("fp >= 1 "),
        ]

    assert asyncio.run(run()) == [
        "fp >= 1 and max_fp_confidence",
        "score",
        'issue == "wrong_class"',
        "fp >= 1 and",
        None,
    ]


def test_presets_one_key_away_and_toggle_off(make_app):
    app = make_app()

    async def script(pilot, screen):
        s = screen.session
        scores = s.scores
        await pilot.press("1")
        assert s.filter_expr == "fp >= 1" and len(s.view) == int((scores["fp"] >= 1).sum())
        await pilot.press("2")
        assert set(scores["issue"].iloc[s.view]) == {"missing_label"}
        await pilot.press("3")
        assert set(scores["issue"].iloc[s.view]) == {"wrong_class"}
        await pilot.press("3")
        assert s.filter_expr == "" and len(s.view) == 60
        await pilot.press("x", "x", "4")
        assert len(s.view) == 58 and (s.verdict[s.view] < 0).all()
        await pilot.press("5")
        assert len(s.view) == 2 and (s.verdict[s.view] == 0).all()

    drive(app, script)


def test_sort_picker_and_direction(make_app):
    app = make_app()

    async def script(pilot, screen):
        s = screen.session
        await pilot.press("S")
        await settle(pilot)
        pilot.app.screen.query_one("#sort-search").value = "n_gt"
        await pilot.pause()
        await pilot.press("enter")
        assert s.sort_key == "n_gt" and s.descending
        values = s.scores["n_gt"].to_numpy()[s.view]
        assert (np.diff(values) <= 0).all()
        assert "n_gt" in screen.query_one("#sort-indicator").render().plain
        await pilot.press("r")
        values = s.scores["n_gt"].to_numpy()[s.view]
        assert not s.descending and (np.diff(values) >= 0).all()
        header = screen.suspects.render_line(0).text
        assert "gt▲" in header  # the sort column shows, with its direction
        await pilot.press("S", "escape")
        assert s.sort_key == "n_gt"

    drive(app, script)


def test_filter_matching_nothing_shows_an_empty_list(make_app):
    app = make_app()

    async def script(pilot, screen):
        await pilot.press("slash")
        screen.filter_bar.input.value = "score > 2"
        await pilot.press("enter")
        await settle(pilot)
        assert screen.suspects.row_count == 0
        assert "no rows match" in widget_text(screen.query_one("#row-info"))
        await pilot.press("j", "x", "space")  # nothing to act on: no crash, nothing stored
        assert screen.session.counts()["reviewed"] == 0

    drive(app, script)
