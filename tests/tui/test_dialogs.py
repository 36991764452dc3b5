"""Help, the command palette and the export dialog."""

from __future__ import annotations

from labeltui.manifest import load_manifest
from labeltui.tui.keys import REVIEW_KEYS
from labeltui.tui.screens.export import ExportScreen
from labeltui.tui.screens.help import HelpScreen
from tests.tui.conftest import drive, settle, widget_text


def test_help_lists_every_key_with_its_binding_id(make_app):
    app = make_app(keys={"verdict-error": "m"})

    async def script(pilot, screen):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = widget_text(app.screen.query_one("#help-dialog").query("Static").last())
        for key in REVIEW_KEYS:
            assert key.id in text, key.id
        assert "fp >= 1" in text  # presets spelled out
        line = next(line for line in text.splitlines() if "verdict-error" in line)
        assert line.lstrip().startswith("m ")  # the remapped key
        await pilot.press("escape")
        assert app.screen is screen

    drive(app, script, size=(120, 60))


def test_command_palette_runs_every_action_by_name(make_app):
    app = make_app()

    async def script(pilot, screen):
        titles = [c.title for c in app.get_system_commands(screen)]
        for key in REVIEW_KEYS:
            if key.id not in ("cancel", "quit"):
                assert any(t.startswith(key.description) for t in titles), key.id
        await pilot.press("ctrl+p")
        await settle(pilot)
        pilot.app.screen.query_one("CommandInput").value = "Mark the label as ok"
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.session.verdict_of(int(screen.session.view[0])) == "ok"

    drive(app, script)


def test_export_dialog_writes_the_errors_and_says_where(make_app, tmp_path):
    app = make_app()

    async def script(pilot, screen):
        s = screen.session
        marked = [str(s.ids[p]) for p in s.view[:2]]
        await pilot.press("x", "x", "space", "e")
        assert isinstance(app.screen, ExportScreen)
        dialog = app.screen
        assert dialog.scope() == "errors"
        assert "2 rows" in widget_text(dialog.query_one("#export-target"))
        dialog.query_one("#export-name").value = "relabel me"
        dialog.query_one("#export-priority").value = 2
        await pilot.press("enter")  # the Export button has focus
        await settle(pilot)
        assert app.screen is screen
        written = tmp_path / "batches" / "relabel-me.json"
        manifest = load_manifest(written)
        assert list(manifest.rows["data_row_id"]) == marked
        assert manifest.priority == 2 and manifest.name == "relabel-me"
        assert any(f"wrote 2 rows to {written}" in str(n.message) for n in app._notifications)
        # the selected row, as a Labelbox batch file
        await pilot.press("e")
        dialog = app.screen
        dialog.query_one("#export-scope").value = "selected"
        dialog.query_one("#export-format").value = "labelbox"
        dialog.query_one("#export-name").value = "picked"
        await pilot.pause()
        assert "1 row →" in widget_text(dialog.query_one("#export-target"))
        await pilot.click("#export-go")
        await settle(pilot)
        assert (tmp_path / "batches" / "picked.labelbox.json").exists()
        # an empty selection is refused in the dialog, which stays open
        await pilot.press("A", "e")
        dialog = app.screen
        dialog.query_one("#export-scope").value = "selected"
        await pilot.pause()
        await pilot.click("#export-go")
        assert app.screen is dialog
        assert "not written" in widget_text(dialog.query_one("#export-target"))
        await pilot.press("escape", "e", "escape", "e", "escape")  # closing at once is safe too
        await settle(pilot)
        assert app.screen is screen

    drive(app, script, size=(120, 40))


def test_summary_tables_filter_the_list(make_app):
    from textual.widgets import DataTable

    from labeltui.tui.screens.summary import SummaryScreen

    app = make_app()

    async def script(pilot, screen):
        s = screen.session
        await pilot.press("m")
        summary = app.screen
        assert isinstance(summary, SummaryScreen)
        classes = summary.query_one("#summary-classes", DataTable)
        assert sorted(str(classes.get_row_at(i)[0]) for i in range(classes.row_count)) == sorted(s.run.classes)
        confusions = summary.query_one("#summary-confusions", DataTable)
        assert [str(c) for c in confusions.get_row_at(0)[:2]] == ["car", "truck"]  # the planted truck-labeled-car
        await pilot.press("tab", "enter")
        assert app.screen is screen and s.filter_expr == 'issue == "wrong_class" and label == "truck"'
        assert len(s.view) and set(s.scores["issue"].iloc[s.view]) == {"wrong_class"}
        await pilot.press("m", "tab", "tab", "enter")  # the top histogram bin: the most suspicious rows
        assert s.filter_expr == "score >= 0.95 and score <= 1"
        assert (s.scores["score"].to_numpy()[s.view] >= 0.95).all()

    drive(app, script, size=(120, 40))
