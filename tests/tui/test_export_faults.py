"""The export dialog when the export folder is missing, full, not writable or not a folder:
the folder is created and named, or the error shows in the dialog; the app keeps
running and no verdict is lost."""

from __future__ import annotations

import dataclasses
import errno

import pytest

from labeltui import exporting, manifest
from labeltui.manifest import load_manifest
from labeltui.tui.screens.export import ExportScreen
from tests.tui.conftest import drive, settle, widget_text


def test_missing_export_folder_is_created_and_named(make_app, tmp_path):
    app = make_app()
    folder = tmp_path / "exports" / "2026" / "nov"
    app.config = dataclasses.replace(app.config, export_dir=folder)

    async def script(pilot, screen):
        await pilot.press("x", "x", "e")
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        dialog.query_one("#export-name").value = "fix"
        await pilot.pause()
        assert "(a new folder)" in widget_text(dialog.query_one("#export-target"))
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        written = folder / "fix.json"
        assert len(load_manifest(written).rows) == 2
        messages = [str(n.message) for n in app._notifications]
        assert any(f"wrote 2 rows to {written} (created the folder {folder})" in m for m in messages), messages

    drive(app, script, size=(120, 40))


def _full(fd, data):
    raise OSError(errno.ENOSPC, "No space left on device")


def _deny_under(folder):
    real_open = manifest.os.open

    def deny(path, *args, **kwargs):
        if str(path).startswith(str(folder)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    return deny


def _io_error(config):
    raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize(
    "fault, shown",
    [
        ("full", "(No space left on device); the disk is full: free some space or export to another disk"),
        ("read-only", "(Permission denied); no permission to write there"),
        ("a file", "the output folder cannot be created: check the path"),
        ("io", "Input/output error"),
    ],
)
def test_export_failure_shows_in_the_dialog_and_loses_nothing(make_app, tmp_path, monkeypatch, fault, shown):
    app = make_app()
    folder = tmp_path / "batches"
    folder.mkdir()
    if fault == "full":
        monkeypatch.setattr(manifest, "_write_all", _full)
    elif fault == "read-only":
        monkeypatch.setattr(manifest.os, "open", _deny_under(folder))
    elif fault == "a file":
        (tmp_path / "taken").write_text("a file where the export folder should be")
        app.config = dataclasses.replace(app.config, export_dir=tmp_path / "taken" / "batches")
    else:
        monkeypatch.setattr(exporting, "review_table", _io_error)

    async def script(pilot, screen):
        s = screen.session
        await pilot.press("x", "o", "x", "e")
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog  # still open, the error in place of the target line
        line = widget_text(dialog.query_one("#export-target"))
        assert line.startswith("not written: ") and shown in " ".join(line.split()), line
        assert list(folder.iterdir()) == []  # no half-written or temporary file left
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("o")  # the review goes on
        await settle(pilot)
        stored = s.store.verdicts().dropna(subset=["verdict"])
        expected = {str(s.ids[p]): v for p, v in zip(s.view[:4], ("error", "ok", "error", "ok"))}
        assert dict(zip(stored["data_row_id"].astype(str), stored["verdict"])) == expected

    drive(app, script, size=(120, 40))
