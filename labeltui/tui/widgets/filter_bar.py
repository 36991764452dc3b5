"""The filter input (with column-name completion and an inline error) and the sort indicator."""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, Static

from labeltui.engine.query import QueryError

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORDS = ("and", "or", "not", "in")


class ColumnSuggester(Suggester):
    """Completes the word being typed with a column name (or a keyword), and a
    string value after ``column == "`` for columns with known values."""

    def __init__(self, columns: list[str], values: dict[str, list[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.columns = sorted(columns, key=lambda c: (len(c), c))
        self.values = values

    async def get_suggestion(self, value: str) -> str | None:
        if value.count('"') % 2 == 1:
            head, _, partial = value.rpartition('"')
            m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:==|!=|in\s*\[[^\]]*)\s*$", head)
            if m is None:
                return None
            for option in self.values.get(m.group(1), ()):
                if option.startswith(partial) and option != partial:
                    return value + option[len(partial):] + '"'
            return None
        m = _WORD.search(value)
        if m is None:
            return None
        word = m.group()
        for name in (*self.columns, *_KEYWORDS):
            if name.startswith(word) and name != word:
                return value + name[len(word):]
        return None


class FilterBar(Vertical):
    """``/ [expression]  sort: score ▼``, the presets, and an error line under a bad expression."""

    class Applied(Message):
        """The user pressed enter on an expression."""

        def __init__(self, expression: str) -> None:
            self.expression = expression
            super().__init__()

    def __init__(self, columns: list[str], values: dict[str, list[str]], presets: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._suggester = ColumnSuggester(columns, values)
        self._presets = presets
        self._sort_shown: tuple[str, bool] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row"):
            yield Static("/", id="filter-prompt")
            yield Input(
                placeholder='filter, e.g. fp >= 1 and label == "car"   (keys 1-5: presets, 0: all)',
                suggester=self._suggester,
                id="filter-input",
                select_on_focus=False,
            )
            yield Static("", id="sort-indicator")
        yield Static("", id="filter-error")
        yield Static(self._presets, id="presets")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def show_query(self, expression: str, sort_key: str, descending: bool) -> None:
        """Show the applied filter and sort, clear any error."""
        if self.input.value != expression:
            self.input.value = expression
        shown = (sort_key, descending)
        if shown != self._sort_shown:  # an update re-lays the screen out: only when it changes
            self._sort_shown = shown
            arrow = "▼ desc" if descending else "▲ asc"
            self.query_one("#sort-indicator", Static).update(Text.assemble("sort ", (sort_key, "bold"), f" {arrow}"))
        self.show_error(None)

    def show_error(self, error: QueryError | None) -> None:
        """Show an error under the expression, with a caret at its position (None hides it)."""
        line = self.query_one("#filter-error", Static)
        if error is None:
            if line.display:
                line.update("")
                line.display = False
            return
        if error.expression:
            caret = error.caret().splitlines()[-1]
            text = Text.assemble(("  " + caret + " ", "bold"), (error.message, "bold"))
        else:
            text = Text(error.message, style="bold")
        line.update(text)
        line.display = True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Applied(event.value))
