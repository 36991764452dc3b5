"""Small modal dialogs: the note editor and the sort-column picker."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option


class NoteScreen(ModalScreen[str | None]):
    """Edit a row's note: enter saves (empty clears), escape cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="dialog-cancel")]

    def __init__(self, row_id: str, note: str) -> None:
        super().__init__()
        self.row_id = row_id
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="note-dialog"):
            yield Label(f"Note on [b]{self.row_id}[/b]  (enter saves, empty clears, escape cancels)", markup=True)
            yield Input(self.note, placeholder="what is wrong with this label?", compact=True, id="note-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)


class SortScreen(ModalScreen[str | None]):
    """Pick the column to sort by (enter), escape cancels; typing narrows the list."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="dialog-cancel")]

    def __init__(self, columns: list[str], current: str) -> None:
        super().__init__()
        self.columns = columns
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="sort-dialog"):
            yield Label("Sort by  (type to narrow, ↑↓ enter picks, escape cancels)")
            yield Input(placeholder="column", compact=True, id="sort-search")
            yield OptionList(*[Option(c, id=c) for c in self.columns], id="sort-options")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.columns:
            options.highlighted = self.columns.index(self.current)

    def on_input_changed(self, event: Input.Changed) -> None:
        text = event.value.strip().lower()
        options = self.query_one(OptionList)
        options.clear_options()
        shown = [c for c in self.columns if text in c.lower()]
        options.add_options([Option(c, id=c) for c in shown])
        if shown:
            options.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one(OptionList)
        if options.highlighted is not None and options.option_count:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    def on_key(self, event) -> None:
        if event.key in ("down", "up") and self.query_one(Input).has_focus:
            options = self.query_one(OptionList)
            if options.option_count:
                step = 1 if event.key == "down" else -1
                current = options.highlighted if options.highlighted is not None else -1
                options.highlighted = max(0, min(options.option_count - 1, current + step))
            event.stop()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
