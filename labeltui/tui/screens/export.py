"""The export dialog: which rows, flavour, batch name and priority; shows what was written."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from labeltui.errors import LoadError, one_line
from labeltui.tui.session import VERDICT_CODE, Session

FLAVOURS = {"json": ".json", "csv": ".csv", "labelbox": ".labelbox.json"}
SCOPES = ("errors", "selected", "shown")


def safe_name(text: str) -> str:
    """A batch name usable as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "batch"


class ExportScreen(ModalScreen[str | None]):
    """Write a batch manifest with :func:`labeltui.exporting.export_batch`; dismisses with
    a "wrote N rows to PATH" message, or None when cancelled."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="dialog-cancel")]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
        self.default_name = safe_name(f"{session.config.name}-errors-{stamp}")

    def counts(self) -> dict[str, int]:
        s = self.session
        return {
            "errors": int((s.verdict == VERDICT_CODE["error"]).sum()),
            "selected": int(s.selected.sum()),
            "shown": len(s.view),
        }

    def compose(self) -> ComposeResult:
        counts = self.counts()
        first = "errors" if counts["errors"] else ("selected" if counts["selected"] else "shown")
        scopes = [
            (f"rows marked as errors ({counts['errors']:,})", "errors"),
            (f"selected rows ({counts['selected']:,})", "selected"),
            (f"every row the filter shows ({counts['shown']:,})", "shown"),
        ]
        with Vertical(classes="dialog", id="export-dialog"):
            yield Label("[b]Export a batch manifest[/b]  (enter exports, escape cancels)", markup=True)
            with Horizontal(classes="field"):
                yield Label("rows", classes="field-label")
                yield Select(scopes, value=first, allow_blank=False, compact=True, id="export-scope")
            with Horizontal(classes="field"):
                yield Label("flavour", classes="field-label")
                yield Select([(f, f) for f in FLAVOURS], value="json", allow_blank=False, compact=True, id="export-format")
                yield Label("priority", id="priority-label")
                yield Select([(str(p), p) for p in range(1, 6)], value=5, allow_blank=False, compact=True, id="export-priority")
            with Horizontal(classes="field"):
                yield Label("name", classes="field-label")
                yield Input(self.default_name, compact=True, id="export-name")
            yield Static("", id="export-target")
            with Horizontal(classes="buttons"):
                yield Button("Export", variant="primary", compact=True, id="export-go")
                yield Button("Cancel", compact=True, id="export-cancel")

    def on_mount(self) -> None:
        self._show_target()
        self.query_one("#export-go", Button).focus()  # enter exports the defaults; tab reaches the fields

    def scope(self) -> str:
        return str(self.query_one("#export-scope", Select).value)

    def target(self) -> Path:
        fmt = str(self.query_one("#export-format", Select).value)
        name = safe_name(self.query_one("#export-name", Input).value)
        return Path(self.session.config.export_dir) / f"{name}{FLAVOURS[fmt]}"

    def _show_target(self) -> None:
        if not self.query("#export-scope"):  # a change event arriving after the dialog closed
            return
        n = self.counts()[self.scope()]
        target = self.target()
        new = "" if target.parent.is_dir() else "  (a new folder)"
        self.query_one("#export-target", Static).update(f"{n:,} row{'s' if n != 1 else ''} → {target}{new}")

    def on_select_changed(self) -> None:
        self._show_target()

    def on_input_changed(self) -> None:
        self._show_target()

    def on_input_submitted(self) -> None:
        self.export()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "export-go":
            self.export()
        else:
            self.dismiss(None)

    def export(self) -> None:
        """Write the manifest (creating the export folder if needed); on success
        dismiss with where it went, else show the error in the dialog, which stays open."""
        from labeltui.exporting import export_batch

        s = self.session
        scope = self.scope()
        if scope == "shown":
            view, filter_expr = s.view, s.filter_expr or None
        else:  # the rows this session marked, in list order (a scores folder holds no full ranking)
            marked = s.verdict == VERDICT_CODE["error"] if scope == "errors" else s.selected
            view, filter_expr = s.ranked(np.flatnonzero(marked)), None
        table, view = s.export_rows(view)
        name = safe_name(self.query_one("#export-name", Input).value)
        fmt = str(self.query_one("#export-format", Select).value)
        output = self.target()
        new_folder = not output.parent.is_dir()
        try:
            written, n = export_batch(
                s.config,
                table,
                view,
                output=output,
                fmt=fmt,
                name=name,
                priority=int(self.query_one("#export-priority", Select).value),
                verdict="error" if scope == "errors" else None,
                selected=scope == "selected",
                filter_expr=filter_expr,
                sort=f"{s.sort_key}:{'desc' if s.descending else 'asc'}",
                force=False,
            )
        except (LoadError, OSError) as err:  # disk full, no permission, a file where the folder goes ...
            reason = str(err) if isinstance(err, LoadError) else f"{output}: {err.strerror or err}"
            self.query_one("#export-target", Static).update(Text.assemble(("not written: ", "bold"), one_line(reason)))
            return
        where = ", ".join(str(p) for p in written)
        created = f" (created the folder {output.parent})" if new_folder else ""
        self.dismiss(f"wrote {n:,} rows to {where}{created}")
