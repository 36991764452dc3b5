"""The gallery: a page of suspects as small previews, scanned and judged from the keyboard."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from labeltui.errors import LoadError
from labeltui.render.palette import ISSUE_MARKS, ISSUE_STYLE, VERDICT_MARKS, VERDICT_STYLES
from labeltui.tui.previews import ImageCache, preview_request
from labeltui.tui.rowinfo import RowFacts
from labeltui.tui.session import Session
from labeltui.tui.widgets.detail import Preview

TILE = (26, 11)  # cells per tile: the picture plus a caption line


class Tile(Vertical):
    """One row of the page: its preview (drawn in a worker) and a caption with its marks."""

    def __init__(self, slot: int) -> None:
        super().__init__(classes="tile")
        self.slot = slot
        self.pos = -1

    def compose(self) -> ComposeResult:
        yield Preview()
        yield Static("", classes="caption")

    def on_preview_resized(self, message: Preview.Resized) -> None:
        message.stop()
        screen = self.screen
        if isinstance(screen, GalleryScreen):
            screen.draw_tile(self)

    def on_click(self, event: events.Click) -> None:
        screen = self.screen
        if isinstance(screen, GalleryScreen):
            screen.move_to(screen.page_start + self.slot)
            if event.chain == 2:
                screen.action_open()


class GalleryScreen(Screen[int | None]):
    """A grid of the current page of the list. Dismisses with the view index to open, or None."""

    BINDINGS = [
        Binding("left,h", "move(-1, 0)", "Left", show=False, id="gallery-left"),
        Binding("right,l", "move(1, 0)", "Right", show=False, id="gallery-right"),
        Binding("up,k", "move(0, -1)", "Up", show=False, id="gallery-up"),
        Binding("down,j", "move(0, 1)", "Down", show=False, id="gallery-down"),
        Binding("pagedown", "page(1)", "Next page", show=False, id="gallery-page-down"),
        Binding("pageup", "page(-1)", "Previous page", show=False, id="gallery-page-up"),
        Binding("x", "verdict('error')", "error", id="gallery-error"),
        Binding("o", "verdict('ok')", "ok", id="gallery-ok"),
        Binding("s", "verdict('skip')", "skip", id="gallery-skip"),
        Binding("space", "toggle_select", "select", id="gallery-select"),
        Binding("u", "undo", "undo", show=False, id="gallery-undo"),
        Binding("enter", "open", "open", id="gallery-open"),
        Binding("escape,w,q", "close", "back", id="gallery-close"),
    ]

    def __init__(self, session: Session, cursor: int, cache: ImageCache) -> None:
        super().__init__()
        self.session = session
        self.facts = RowFacts(session)
        self.cache = cache
        self.cursor = cursor
        self.columns = 1
        self.rows = 1
        self.page_start = 0

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def compose(self) -> ComposeResult:
        yield Static("", id="gallery-title")
        yield Grid(id="gallery-grid")
        yield Footer(compact=True, show_command_palette=False)

    def on_resize(self, event: events.Resize) -> None:
        columns = max(1, event.size.width // TILE[0])
        rows = max(1, (event.size.height - 2) // TILE[1])
        if (columns, rows) != (self.columns, self.rows) or not self.query(Tile):
            self.columns, self.rows = columns, rows
            grid = self.query_one(Grid)
            grid.styles.grid_size_columns = columns
            grid.styles.grid_size_rows = rows
            grid.remove_children()
            grid.mount_all([Tile(i) for i in range(self.per_page)])
            self.call_after_refresh(self.show_page)

    def run_arrived(self) -> None:
        """The model run was read in the background: look the rows up again and redraw."""
        self.facts = RowFacts(self.session)
        self.show_page()

    # ------------------------------------------------------------ drawing
    def show_page(self) -> None:
        """Fill the tiles with the page holding the cursor."""
        view = self.session.view
        self.page_start = self.cursor // self.per_page * self.per_page if len(view) else 0
        for tile in self.query(Tile):
            index = self.page_start + tile.slot
            tile.pos = int(view[index]) if index < len(view) else -1
            tile.display = tile.pos >= 0
            self.draw_tile(tile)
        self.refresh_captions()
        missing = self.session.needs_fetch([tile.pos for tile in self.query(Tile)])
        if missing:
            self._fetch(missing)

    @work(thread=True, exclusive=True, group="gallery-fetch", exit_on_error=False, description="read annotations")
    def _fetch(self, rows: list[int]) -> None:
        """Read the page's annotations (a scores folder without its run in memory), then redraw."""
        try:
            self.session.fetch(rows)
        except LoadError as err:
            self.app.call_from_thread(self.notify, str(err), title="no previews", severity="error")
            return
        self.app.call_from_thread(self._redraw_tiles)

    def _redraw_tiles(self) -> None:
        for tile in self.query(Tile):
            self.draw_tile(tile)

    def draw_tile(self, tile: Tile) -> None:
        """Ask for a tile's preview (once it has a size)."""
        preview = tile.query_one(Preview)
        cells = (preview.size.width, preview.size.height)
        if tile.pos < 0 or cells[0] < 4 or cells[1] < 2:
            preview.want(None)
            return
        boxes, focus = self.facts.objects_of(tile.pos)
        request = preview_request(self.session, tile.pos, cells, boxes, focus, zoom=focus >= 0, legend=False)
        preview.want(request.key)
        if preview.stale:
            preview.draw(request, self.cache, preview.rich_style)

    def refresh_captions(self) -> None:
        """Marks, ids, scores and issues under the tiles; the cursor tile is highlighted."""
        s = self.session
        for tile in self.query(Tile):
            tile.set_class(self.page_start + tile.slot == self.cursor, "-cursor")
            if tile.pos < 0:
                continue
            code = int(s.verdict[tile.pos])
            verdict = s.verdict_of(tile.pos)
            caption = Text(no_wrap=True, overflow="ellipsis")
            caption.append(VERDICT_MARKS[verdict] if verdict else "·", VERDICT_STYLES[verdict] if code >= 0 else "dim")
            caption.append(VERDICT_MARKS["selected"] if s.selected[tile.pos] else " ", VERDICT_STYLES["selected"])
            caption.append(f" {s.ids[tile.pos]} {float(self.facts.value('score', tile.pos)):.2f}")
            issue = str(self.facts.value("issue", tile.pos) or "") if "issue" in self.facts.columns else ""
            if issue:
                caption.append(f" {ISSUE_MARKS.get(issue, '!')} {issue}", ISSUE_STYLE)
            tile.query_one(".caption", Static).update(caption)
        shown = len(s.view)
        last = min(shown, self.page_start + self.per_page)
        title = f" gallery │ rows {self.page_start + 1:,}–{last:,} of {shown:,} │ arrows, PgUp/PgDn; enter opens; u undo"
        self.query_one("#gallery-title", Static).update(Text(title, style="bold", no_wrap=True, overflow="ellipsis"))

    # ------------------------------------------------------------ keys
    def move_to(self, index: int) -> None:
        if not len(self.session.view):
            return
        index = max(0, min(index, len(self.session.view) - 1))
        page = index // self.per_page != self.cursor // self.per_page
        self.cursor = index
        if page:
            self.show_page()
        else:
            self.refresh_captions()

    def action_move(self, dx: int, dy: int) -> None:
        self.move_to(self.cursor + dx + dy * self.columns)

    def action_page(self, step: int) -> None:
        self.move_to(self.cursor + step * self.per_page)

    def _change(self, change) -> bool:
        try:
            change()
        except LoadError as err:
            self.notify(str(err), title="not saved", severity="error", timeout=8)
            return False
        return True

    def action_verdict(self, verdict: str) -> None:
        if not len(self.session.view):
            return
        pos = np.array([self.session.view[self.cursor]])
        if self._change(lambda: self.session.set_verdict(pos, verdict)):
            self.move_to(self.cursor + 1)
            self.refresh_captions()

    def action_toggle_select(self) -> None:
        if not len(self.session.view):
            return
        pos = int(self.session.view[self.cursor])
        if self._change(lambda: self.session.set_selected(np.array([pos]), not self.session.selected[pos])):
            self.move_to(self.cursor + 1)
            self.refresh_captions()

    def action_undo(self) -> None:
        if self._change(self.session.undo):
            self.refresh_captions()

    def action_open(self) -> None:
        self.dismiss(self.cursor)

    def action_close(self) -> None:
        self.dismiss(None)
