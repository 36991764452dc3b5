"""The detail pane: the row's preview (drawn in a worker) over its facts."""

from __future__ import annotations

import traceback

import pandas as pd
from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import get_current_worker

from labeltui.errors import LoadError
from labeltui.render.image import PreviewError, placeholder
from labeltui.tui.previews import (
    SOURCES,
    ImageCache,
    PreviewRequest,
    StoreWarmer,
    asset_of,
    build_preview,
    decode_size,
    is_image_path,
    preview_request,
    preview_store,
)
from labeltui.tui.rowinfo import RowFacts, object_order, row_info
from labeltui.tui.session import Session

PREVIEW_DELAY = 0.1  # seconds the cursor must rest before a preview is drawn (key repeat is faster)
PREFETCH = 3  # rows after the cursor whose images are decoded ahead
WARM_AHEAD = 40  # rows after the cursor whose large images the preview store gets in the background


def _strip(line: list[Segment], base: Style) -> Strip:
    """A Strip of a rendered line, on the pane's background where the line sets none."""
    if all(seg.style is not None and seg.style.bgcolor is not None for seg in line):
        return Strip(line)
    return Strip(list(Segment.apply_style(line, base)))


class Preview(Widget):
    """Shows lines rendered off the UI thread; blank while the next row's preview is coming
    (never a stale picture under another row's facts)."""

    DEFAULT_CSS = """
    Preview { height: 1fr; }
    """

    class Resized(Message):
        """The pane changed size: the preview must be drawn again."""

    class Ready(Message):
        def __init__(self, key: tuple, strips: list[Strip]) -> None:
            self.key = key
            self.strips = strips
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._strips: list[Strip] = []
        self._blank: Strip | None = None
        self.shown_key: tuple | None = None
        self.wanted_key: tuple | None = None

    @property
    def stale(self) -> bool:
        return self.shown_key != self.wanted_key

    def want(self, key: tuple | None) -> None:
        """The preview to show from now on (blank until it is drawn)."""
        if key != self.wanted_key:
            before = self._lines()
            self.wanted_key = key
            self._refresh_changed(before)

    def _lines(self) -> list[Strip]:
        """The lines on screen now."""
        return [self.render_line(y) for y in range(self.size.height)]

    def _refresh_changed(self, before: list[Strip]) -> None:
        """Repaint only the lines that differ from ``before``: a terminal over a slow
        link receives the new preview, not the blank lines around it again."""
        after = self._lines()
        if len(after) != len(before):
            self.refresh()
            return
        width = self.size.width
        changed = [y for y, (old, new) in enumerate(zip(before, after)) if old != new]
        runs: list[Region] = []
        for y in changed:
            if runs and runs[-1].bottom == y:
                runs[-1] = runs[-1].grow((0, 0, 1, 0))
            else:
                runs.append(Region(0, y, width, 1))
        if runs:
            self.refresh(*runs)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._blank = None

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not self.stale and y < len(self._strips):
            strip = self._strips[y]
            return strip if strip.cell_length == width else strip.adjust_cell_length(width, self.rich_style)
        if self._blank is None or self._blank.cell_length != width:
            self._blank = Strip.blank(width, self.rich_style)
        return self._blank

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False, description="draw preview")
    def draw(self, request: PreviewRequest, cache: ImageCache, base: Style) -> None:
        """Build the preview's lines in a thread and post them back."""
        worker = get_current_worker()
        try:
            renderable: RenderableType = build_preview(request, cache)
        except Exception as err:  # a renderer bug must not leave the pane blank or stop the list
            self.log.error(traceback.format_exc())
            renderable = placeholder(f"preview failed ({type(err).__name__}: {err})", request.cells)
        if worker.is_cancelled:
            return
        console = self.app.console
        options = console.options.update(width=request.cells[0], height=request.cells[1], highlight=False)
        lines = console.render_lines(renderable, options, pad=False)[: request.cells[1]]
        width = request.cells[0]
        strips = [_strip(line, base).adjust_cell_length(width, base) for line in lines]
        if not worker.is_cancelled:
            self.post_message(self.Ready(request.key, strips))

    def on_preview_ready(self, message: Ready) -> None:
        message.stop()
        if message.key != self.wanted_key:
            return
        before = self._lines()
        self._strips = message.strips
        self.shown_key = message.key
        self._refresh_changed(before)


class DetailPane(Vertical):
    """The row's facts, then its preview. Holds the preview state (focus object, zoom, sources).

    Without the model run in memory (a scores folder) the row's annotations are
    fetched in a worker; until they arrive the preview says so."""

    class RowFetched(Message):
        """Rows' annotations were read (``error``: why not)."""

        def __init__(self, rows: list[int], error: str | None) -> None:
            self.rows = rows
            self.error = error
            super().__init__()

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.facts = RowFacts(session)
        self.pos = -1
        self.boxes = pd.DataFrame()
        self.order: list[int] = []
        self.focus = -1
        self.zoom = False
        self.sources = "both"
        self.overlays = True
        self.cache = ImageCache(store=preview_store(session))
        self.warmer = StoreWarmer(self.cache.store)
        self._timer: Timer | None = None
        self._next_rows: list[int] = []
        self._pending_row = False

    def compose(self) -> ComposeResult:
        yield Static("", id="row-info")
        yield Preview(id="preview")

    @property
    def preview(self) -> Preview:
        return self.query_one(Preview)

    def show_row(self, pos: int, next_rows: list[int]) -> None:
        """Switch to row ``pos``: facts at once (while keys repeat: when the cursor
        rests), the preview when the cursor rests."""
        self.pos = pos
        self._next_rows = next_rows
        self.zoom = False
        resting = self._timer is None
        if resting:
            self._load_row()
        self._pending_row = not resting
        self.preview.want(None)
        self._schedule()

    def _load_row(self) -> None:
        self._pending_row = False
        if self.pos < 0:
            self.boxes, self.order, self.focus = pd.DataFrame(), [], -1
            self.query_one("#row-info", Static).update("no rows match the filter", layout=False)
            return
        self.boxes, first = self.facts.objects_of(self.pos)
        self.order = object_order(self.boxes, first)
        self.focus = self.order[0] if self.order and first >= 0 else -1
        self.refresh_info()
        if self.session.needs_fetch([self.pos]):
            self._fetch([self.pos, *self._next_rows[:PREFETCH]])

    def reload(self) -> None:
        """The model run arrived: look the row up again and redraw its preview."""
        self.facts = RowFacts(self.session)
        self._load_row()
        self.request_preview()

    @work(thread=True, exclusive=True, group="fetch-rows", exit_on_error=False, description="read annotations")
    def _fetch(self, rows: list[int]) -> None:
        """Read the annotations of the cursor's row (and the next ones) off the UI thread."""
        try:
            self.session.fetch(rows)
        except LoadError as err:
            self.post_message(self.RowFetched(rows, str(err)))
            return
        except Exception as err:  # a bug must show in the pane, not kill the app
            self.log.error(traceback.format_exc())
            self.post_message(self.RowFetched(rows, f"reading annotations failed ({type(err).__name__}: {err})"))
            return
        self.post_message(self.RowFetched(rows, None))

    def on_detail_pane_row_fetched(self, message: RowFetched) -> None:
        message.stop()
        if message.error:
            self.session.run_failed(message.error)
            self.notify(message.error, title="no previews", severity="error", timeout=8)
        if self.pos in message.rows and not self._pending_row:
            self._load_row()
            self.request_preview()

    def _rested(self) -> None:
        self._timer = None
        if self._pending_row:
            self._load_row()
        self.request_preview()

    def refresh_info(self) -> None:
        """Redraw the facts (after a verdict, note or object change)."""
        if self.pos >= 0 and not self._pending_row:
            info = self.query_one("#row-info", Static)
            width = info.content_size.width or 60
            info.update(row_info(self.facts, self.pos, self.boxes, self.focus, width=width), layout=False)

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DELAY, self._rested)

    def on_resize(self) -> None:
        self.refresh_info()

    def on_preview_resized(self, message: Preview.Resized) -> None:
        message.stop()
        self._schedule()

    # ------------------------------------------------------------ preview state
    def cycle_object(self, step: int) -> None:
        if self._pending_row:
            self._load_row()
        if not self.order:
            return
        i = self.order.index(self.focus) if self.focus in self.order else -1
        self.focus = self.order[(i + step) % len(self.order)]
        self.refresh_info()
        self.request_preview()

    def toggle_zoom(self) -> None:
        if self._pending_row:
            self._load_row()
        if self.focus < 0 and self.order:
            self.focus = self.order[0]
        self.zoom = not self.zoom and self.focus >= 0
        self.request_preview()

    def cycle_sources(self) -> str:
        self.sources = SOURCES[(SOURCES.index(self.sources) + 1) % len(SOURCES)]
        self.request_preview()
        return self.sources

    def toggle_overlays(self) -> bool:
        self.overlays = not self.overlays
        self.request_preview()
        return self.overlays

    # ------------------------------------------------------------ requests
    def request_preview(self) -> None:
        """Ask the worker for the current row's preview at the pane's size."""
        preview = self.preview
        cells = (preview.size.width, preview.size.height)
        if cells[0] < 4 or cells[1] < 2:
            return
        request = preview_request(
            self.session, self.pos, cells, self.boxes, self.focus, zoom=self.zoom, sources=self.sources, overlays=self.overlays
        )
        preview.want(request.key)
        if not preview.stale:
            return
        preview.draw(request, self.cache, preview.rich_style)
        self._prefetch(cells)

    def _prefetch(self, cells: tuple[int, int]) -> None:
        paths = [asset_of(self.session, p) for p in self._next_rows[:WARM_AHEAD]]
        paths = [p for p in paths if p and is_image_path(p)]
        if paths:
            self.prefetch(paths[:PREFETCH], decode_size(cells))
            self.warmer.want(paths[PREFETCH:], decode_size(cells))

    def on_unmount(self) -> None:
        self.warmer.close()

    @work(thread=True, exclusive=True, group="prefetch", exit_on_error=False, description="prefetch images")
    def prefetch(self, paths: list[str], size: tuple[int, int]) -> None:
        """Decode the next rows' images into the cache."""
        worker = get_current_worker()
        for path in paths:
            if worker.is_cancelled:
                return
            if (path, size, None) not in self.cache:
                try:
                    self.cache.get(path, size)
                except PreviewError:  # shown as a placeholder when the row is reached
                    continue
