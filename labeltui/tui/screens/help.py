"""Help: every key of the review screen (after the user's remapping), by group."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from labeltui.tui.keys import PROJECTOR_KEYS, REVIEW_KEYS, display_keys, effective_keys
from labeltui.tui.session import Session


def help_table(keymap: dict[str, str], presets: list[tuple[int, str, str]]) -> Table:
    """The keys table: keys, what they do and, dimmed, the binding id (for remapping), by group."""
    keys = effective_keys(keymap)
    table = Table(box=None, show_header=True, header_style="bold", expand=True, pad_edge=False)
    table.add_column("key", style="bold", no_wrap=True, max_width=16)
    table.add_column(Text("does   [binding id]"), ratio=1)
    group = None
    for key in REVIEW_KEYS + PROJECTOR_KEYS:
        if key.group != group:
            group = key.group
            table.add_row(Text(group, style="bold underline"), "")
        description = key.description
        if key.id.startswith("preset-"):
            number = int(key.id.split("-")[1])
            match = [p for p in presets if p[0] == number]
            if match:
                description = f"Preset {number}: {match[0][1]}  ({match[0][2]})"
        table.add_row(display_keys(keys[key.id]), Text.assemble(description, (f"  [{key.id}]", "dim")))
    table.add_row(Text("Anywhere", style="bold underline"), "")
    table.add_row("ctrl+p", "Command palette: every action by name")
    table.add_row("mouse", "Click a row to move there, a column title to sort by it; wheel scrolls")
    return table


class HelpScreen(ModalScreen[None]):
    """Every key; escape, q or ? closes."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help-close"),
        Binding("j,down", "scroll(1)", "Scroll down", show=False, id="help-down"),
        Binding("k,up", "scroll(-1)", "Scroll up", show=False, id="help-up"),
        Binding("space,pagedown", "scroll(10)", "Page down", show=False, id="help-page-down"),
        Binding("pageup", "scroll(-10)", "Page up", show=False, id="help-page-up"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        keymap = dict(self.session.config.keys)
        presets = [(p.key, p.name, p.expression) for p in self.session.presets]
        with VerticalScroll(classes="dialog", id="help-dialog"):
            yield Static(Text("Keys  (j/k scroll, escape closes; remap: keys: {id: key} in the config)", style="bold"))
            yield Static(help_table(keymap, presets))

    def action_scroll(self, lines: int) -> None:
        self.query_one("#help-dialog", VerticalScroll).scroll_relative(y=lines, animate=False)
