"""The ranked suspect list: a virtual list that draws only the visible lines.

Line 0 is the column header; line ``y`` shows view index ``scroll_y + y - 1``.
Each drawn line is cached as a Strip keyed by everything it shows, so a cursor
move redraws two lines and a verdict one.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from labeltui.render.palette import ISSUE_STYLE, VALUE_RAMP, VERDICT_MARKS, VERDICT_STYLES
from labeltui.review import VERDICTS
from labeltui.tui.columns import Column, RowCells, candidate_columns, fit, layout
from labeltui.tui.session import Session

_RAMP_STYLES = tuple(Style(color=c) for c in VALUE_RAMP)
_VERDICT_SEGMENTS = tuple(Segment(VERDICT_MARKS[v], VERDICT_STYLES[v]) for v in VERDICTS)


class SuspectList(ScrollView, can_focus=True, inherit_bindings=False):
    """Rows of the session's view, most suspicious first; the cursor is a view index."""

    COMPONENT_CLASSES = {"suspects--header", "suspects--cursor", "suspects--range", "suspects--dim"}

    DEFAULT_CSS = """
    SuspectList {
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    """

    class Highlighted(Message):
        """The cursor moved to view index ``index`` (row ``pos`` of the scores, -1 when empty)."""

        def __init__(self, index: int, pos: int) -> None:
            self.index = index
            self.pos = pos
            super().__init__()

    class HeaderClicked(Message):
        """A column title was clicked: sort by ``column``."""

        def __init__(self, column: str) -> None:
            self.column = column
            super().__init__()

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.cells = RowCells(session)
        self.candidates = candidate_columns(session)
        self.columns: list[Column] = []
        self.cursor = 0
        self.anchor: int | None = None  # range mode: the view index where `v` was pressed
        self._cache: LRUCache[tuple, Strip] = LRUCache(4096)
        self._styles: dict[str, Style] = {}
        self._gutter = len(str(max(1, session.n_rows))) + 1
        self._layout_width = -1

    # ------------------------------------------------------------ geometry
    @property
    def page_rows(self) -> int:
        """How many rows fit below the header."""
        return max(1, self.scrollable_content_region.height - 1)

    @property
    def row_count(self) -> int:
        return len(self.session.view)

    def reset_view(self, cursor: int = 0) -> None:
        """The session's view changed: redraw everything, put the cursor at ``cursor``."""
        self._cache.clear()
        self.cells.forget_review_columns()
        self._layout_width = -1
        self.anchor = None
        self.virtual_size = Size(self.size.width, self.row_count + 1)
        self.cursor = max(0, min(cursor, self.row_count - 1))
        self._scroll_to_cursor()
        self.refresh()
        self._post_highlight()

    def on_mount(self) -> None:
        self.virtual_size = Size(self.size.width, self.row_count + 1)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, self.row_count + 1)
        self._cache.clear()
        self._scroll_to_cursor()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()

    def _relayout(self, width: int) -> None:
        if width != self._layout_width:
            room = width - self._gutter - 5
            self.columns = layout(self.candidates, room, self.session.sort_key, self.session)
            self._layout_width = width

    # ------------------------------------------------------------ cursor
    def move_cursor(self, index: int) -> None:
        """Put the cursor on view index ``index`` (clamped); redraw only the changed lines."""
        if self.row_count == 0:
            return
        index = max(0, min(index, self.row_count - 1))
        if index == self.cursor:
            return
        old = self.cursor
        self.cursor = index
        if self.anchor is not None:
            lo, hi = sorted((old, index))
            self.refresh_lines(lo + 1, hi - lo + 1)
        else:
            self.refresh_line(old + 1)
            self.refresh_line(index + 1)
        self._scroll_to_cursor()
        self._post_highlight()

    def _scroll_to_cursor(self) -> None:
        """Keep the cursor visible. When it leaves the view the list jumps half a
        page (the cursor lands mid-view), so a held key redraws the whole list
        once per half page instead of on every move: fewer bytes over SSH."""
        top = round(self.scroll_y)
        rows = self.page_rows
        if top <= self.cursor < top + rows:
            return
        self.scroll_to(y=max(0, self.cursor - rows // 2), animate=False)

    def _post_highlight(self) -> None:
        pos = int(self.session.view[self.cursor]) if self.row_count else -1
        self.post_message(self.Highlighted(self.cursor if self.row_count else -1, pos))

    @property
    def cursor_pos(self) -> int:
        """Row position (in the scores) under the cursor, -1 when the view is empty."""
        return int(self.session.view[self.cursor]) if self.row_count else -1

    def range_indices(self) -> tuple[int, int] | None:
        """(first, last) view indices of the range being selected, or None."""
        if self.anchor is None:
            return None
        return min(self.anchor, self.cursor), max(self.anchor, self.cursor)

    def refresh_rows(self, indices: list[int] | None = None) -> None:
        """Redraw rows whose verdict or selection changed (all visible rows when None)."""
        self.cells.forget_review_columns()
        if indices is None:
            self.refresh()
            return
        for index in indices:
            self.refresh_line(index + 1)

    # ------------------------------------------------------------ mouse
    def on_click(self, event: events.Click) -> None:
        y = event.y
        if y == 0:
            x = event.x - self._gutter - 5
            for col in self.columns:
                if 0 <= x < col.width + 1:
                    self.post_message(self.HeaderClicked(col.name))
                    return
                x -= col.width + 1
            return
        self.move_cursor(round(self.scroll_y) + y - 1)

    # ------------------------------------------------------------ drawing
    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        self._relayout(width)
        if y == 0:
            key = ("header", width, self.session.sort_key, self.session.descending)
            strip = self._cache.get(key)
            if strip is None:
                strip = self._cache[key] = self._header(width)
            return strip
        index = round(self.scroll_y) + y - 1
        if index >= self.row_count:
            return Strip.blank(width, self.rich_style)
        pos = int(self.session.view[index])
        span = self.range_indices()
        in_range = span is not None and span[0] <= index <= span[1]
        session = self.session
        key = (
            index,
            pos,
            width,
            index == self.cursor,
            in_range,
            int(session.verdict[pos]),
            bool(session.selected[pos]),
            bool(session.noted[pos]),
        )
        strip = self._cache.get(key)
        if strip is None:
            strip = self._cache[key] = self._line(index, pos, width, key[3], in_range)
        return strip

    def _header(self, width: int) -> Strip:
        style = self._style("suspects--header")
        arrow = "▼" if self.session.descending else "▲"
        parts = [fit("#", self._gutter, right=True), "     "]
        for col in self.columns:
            title = col.title + (arrow if col.name == self.session.sort_key else "")
            if self.session.sort_key in ("fp", "fn") and col.name == "fp/fn":
                title = col.title + arrow
            parts.append(fit(title, col.width, col.right) + " ")
        return Strip([Segment("".join(parts), style)]).adjust_cell_length(width, style)

    def _line(self, index: int, pos: int, width: int, is_cursor: bool, in_range: bool) -> Strip:
        session = self.session
        base = self.rich_style
        if is_cursor:
            base = base + self._style("suspects--cursor")
        elif in_range:
            base = base + self._style("suspects--range")
        dim = base + Style(color=self._style("suspects--dim").color)
        code = int(session.verdict[pos])
        pointer = "▶" if is_cursor else ("┃" if in_range else " ")
        segments = [Segment(pointer + fit(str(index + 1), self._gutter - 1, right=True) + " ", dim)]
        segments.append(Segment(_VERDICT_SEGMENTS[code].text, base + _VERDICT_SEGMENTS[code].style) if code >= 0 else Segment("·", dim))
        if session.selected[pos]:
            segments.append(Segment(VERDICT_MARKS["selected"], base + VERDICT_STYLES["selected"]))
        else:
            segments.append(Segment(" ", base))
        segments.append(Segment("✎ " if session.noted[pos] else "  ", dim))
        cells = self.cells
        for col in self.columns:
            text = cells.text(col, pos) + " "
            if col.name == "score":
                score = float(cells.value("score", pos))
                ramp = _RAMP_STYLES[min(len(_RAMP_STYLES) - 1, max(0, int(score * len(_RAMP_STYLES))))] if score == score else None
                segments.append(Segment(text, base + ramp if ramp else base))
            elif col.name == "issue" and text.strip():
                segments.append(Segment(text, base + ISSUE_STYLE))
            else:
                segments.append(Segment(text, base))
        return Strip(segments).adjust_cell_length(width, base)
