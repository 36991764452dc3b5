"""What the preview pane draws for a row, built off the UI thread.

:func:`build_preview` turns a :class:`PreviewRequest` into a Rich renderable:
the image with its boxes (decoded through a small shared LRU cache), the NER
text with its spans, or the classification bars. It runs in a worker thread;
nothing here touches Textual.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.align import Align
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from labeltui.cache import cache_dir
from labeltui.render.bars import NAME_MAX, render_class_bars
from labeltui.render.image import DecodedImage, PreviewError, decode_image, placeholder, render_image, zoom_region
from labeltui.render.preview_store import PreviewStore
from labeltui.render.spans import GUTTER, render_spans, window_around
from labeltui.tui.session import LOADING, Session

SOURCES = ("both", "gt", "pred")  # what `t` cycles through


@dataclass(frozen=True)
class PreviewRequest:
    """Everything needed to draw one row's preview at one size."""

    pos: int
    kind: str  # "image" | "text" | "none"
    asset: str
    cells: tuple[int, int]
    boxes: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, hash=False)
    focus: int = -1
    zoom: bool = False
    sources: str = "both"
    overlays: bool = True
    legend: bool = True  # the legend lines under an image (thumbnails go without)
    task: str = "detection"
    classes: tuple[str, ...] = ()
    probs: np.ndarray | None = field(default=None, compare=False, hash=False)
    given: int = -1
    predicted: int = -1
    pred_confidence: float = float("nan")

    @property
    def key(self) -> tuple:
        message = self.asset if self.kind == "none" else ""  # a placeholder's text (e.g. loading, then an error)
        return (self.pos, self.kind, self.cells, self.focus, self.zoom, self.sources, self.overlays, self.legend, message)


def preview_store(session: Session) -> PreviewStore:
    """The on-disk store of reduced previews of the session's run, beside its score cache."""
    return PreviewStore(cache_dir(session.config) / "previews")


class StoreWarmer:
    """A thread of its own, at the lowest CPU priority, that decodes the images of the
    rows ahead of the cursor which the preview store lacks, so those rows open from
    the store (2-3 ms to read instead of 40-80 ms to decode a large JPEG). Only the
    latest :meth:`want` counts; small images (never stored) are decoded once."""

    def __init__(self, store: PreviewStore) -> None:
        self.store = store
        self.decoded = 0
        self._tried: set[str] = set()
        self._wanted: tuple[list[str], tuple[int, int]] | None = None
        self._generation = 0
        self._closed = False
        self._busy = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def want(self, paths: list[str], size: tuple[int, int]) -> None:
        """Fill the store for ``paths`` (decoded at ``size``), dropping any earlier wish."""
        paths = [p for p in paths if p not in self._tried]
        if not paths:
            return
        with self._cond:
            self._wanted = (paths, size)
            self._generation += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="preview-warmer", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Stop after the image being decoded."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def idle(self, timeout: float) -> bool:
        """Wait until the last wish is done (for tests); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._wanted is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        _lowest_priority()
        while True:
            with self._cond:
                while self._wanted is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                (paths, size), generation = self._wanted, self._generation
                self._wanted, self._busy = None, True
            for path in paths:
                if self._closed or self._generation != generation:
                    break
                self._warm(path, size)
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _warm(self, path: str, size: tuple[int, int]) -> None:
        if path in self._tried:
            return
        self._tried.add(path)
        try:
            st = os.stat(path)
            if self.store.has(path, st):
                return
            decode_image(path, size, store=self.store)
        except (OSError, ValueError, PreviewError):  # shown as a placeholder when the row is reached
            return
        self.decoded += 1


def _lowest_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux: threads have their own nice value)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: run as is
        pass


class ImageCache:
    """A thread-safe LRU of decoded images keyed by (path, size, region); misses
    of large images go through ``store`` (reduced copies on disk) when given."""

    def __init__(self, size: int = 24, store: PreviewStore | None = None) -> None:
        self.size = size
        self.store = store
        self._items: OrderedDict[tuple, DecodedImage | PreviewError] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str, max_size: tuple[int, int], region: tuple | None = None) -> DecodedImage:
        """The decoded image (decoding it on a miss); raises PreviewError, also cached."""
        key = (path, max_size, region)
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
        if item is None:
            try:
                item = decode_image(path, max_size, region=region, store=self.store)
            except PreviewError as err:
                item = err
            with self._lock:
                self._items[key] = item
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        if isinstance(item, PreviewError):
            raise item
        return item

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._items


def preview_request(
    session: Session,
    pos: int,
    cells: tuple[int, int],
    boxes: pd.DataFrame,
    focus: int,
    *,
    zoom: bool = False,
    sources: str = "both",
    overlays: bool = True,
    legend: bool = True,
) -> PreviewRequest:
    """What to draw for row ``pos`` of a session: its asset (image or text), objects and
    classes, from the model run or the row's data read on demand; a placeholder
    saying why while neither is there."""
    if pos < 0:
        return PreviewRequest(pos, "none", "no row", cells)
    run = session.run
    data = session.fetched_row(pos) if run is None else None
    if run is None and data is None:
        return PreviewRequest(pos, "none", session.waiting(pos) or "the model run is not loaded", cells)
    asset = asset_of(session, pos)
    if not asset:
        return PreviewRequest(pos, "none", "the row has no asset (image path or text)", cells)
    kind = "image" if is_image_path(asset) else "text"
    common = dict(
        cells=cells,
        boxes=boxes,
        focus=focus,
        zoom=zoom,
        sources=sources,
        overlays=overlays,
        legend=legend,
        task=session.task,
        classes=tuple(session.classes),
    )
    if session.task != "classification":
        return PreviewRequest(pos, kind, asset, **common)
    if run is not None:
        probs = run.probs[pos] if run.probs is not None else None
        conf = float(run.pred_confidence[pos]) if run.pred_confidence is not None else float("nan")
        given = int(run.gt_label[pos]) if run.gt_label is not None else -1
        predicted = int(run.pred_label[pos]) if run.pred_label is not None else -1
    else:
        probs, conf, given, predicted = data.probs, data.pred_confidence, data.given, data.predicted
    return PreviewRequest(
        pos,
        kind,
        asset,
        probs=None if probs is None else np.asarray(probs),
        given=given,
        predicted=predicted,
        pred_confidence=conf,
        **common,
    )


def asset_of(session: Session, pos: int) -> str | None:
    """Row ``pos``'s asset when it is at hand (the run, or data fetched on demand; "" when
    the row has none), else None."""
    run = session.run
    if run is not None:
        asset = run.rows["asset"].iat[pos] if "asset" in run.rows else None
    else:
        data = session.fetched_row(pos)
        if data is None:
            return None
        asset = data.asset
    return "" if asset is None or (isinstance(asset, float) and math.isnan(asset)) else str(asset)


def decode_size(cells: tuple[int, int]) -> tuple[int, int]:
    """Pixels to decode for a pane of ``cells``: two pixels per cell row, rounded up to
    a multiple of 64 so small resizes reuse the cache."""
    w, h = cells[0], cells[1] * 2
    return ((w + 63) // 64 * 64, (h + 63) // 64 * 64)


def is_image_path(asset: str) -> bool:
    """True when the asset names an image file (not inline text)."""
    return len(asset) < 4096 and "\n" not in asset and Path(asset).suffix.lower() in {
        ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
    }


def build_preview(request: PreviewRequest, cache: ImageCache) -> RenderableType:
    """The renderable for ``request`` (never raises for a bad asset: shows a placeholder)."""
    w, h = request.cells
    if request.kind == "none" and request.asset == LOADING:  # not an error: the annotations are on their way
        body = Text.assemble(("⋯ ", "bold"), LOADING, justify="center")
        return Panel(Align.center(body, vertical="middle"), width=max(10, w), height=max(3, h), border_style="dim")
    if request.kind == "none":
        return placeholder(request.asset or "no data for this row", (w, h))
    if request.task == "classification":
        return _classification(request, cache)
    if request.kind == "text":
        return _ner(request)
    return _image(request, cache, (w, h))


def _image(request: PreviewRequest, cache: ImageCache, cells: tuple[int, int]) -> RenderableType:
    try:
        decoded = cache.get(request.asset, decode_size(cells))
    except PreviewError as err:
        return placeholder(err.reason, cells)
    boxes = request.boxes if request.overlays else None
    focus = request.focus if request.focus >= 0 else None
    zoom = None
    if request.zoom and focus is not None and not request.boxes.empty:
        row = request.boxes.iloc[focus]
        zoom = (float(row["x0"]), float(row["y0"]), float(row["x1"]), float(row["y1"]))
        region = zoom_region(decoded, zoom, (cells[0], cells[1] * 2))
        try:
            decoded = cache.get(request.asset, decode_size(cells), tuple(round(v, 1) for v in region))
        except PreviewError as err:
            return placeholder(err.reason, cells)
    return render_image(
        decoded,
        boxes,
        cells=cells,
        focus=focus,
        zoom=zoom,
        show_gt=request.sources in ("both", "gt"),
        show_pred=request.sources in ("both", "pred"),
        labels=request.overlays and request.legend,
    )


def _ner(request: PreviewRequest) -> RenderableType:
    w, h = request.cells
    focus = request.focus if request.focus >= 0 and request.overlays else None
    spans = request.boxes if request.overlays else request.boxes.iloc[:0]
    text, offset = request.asset, 0
    # a text line takes up to three rows (GT tags, text, predicted tags); the legend a few more
    room = max(1, (h - (4 if request.legend else 0)) // 3) * max(8, w - GUTTER)
    if len(text) > room:
        if focus is not None:
            start, end = int(spans["start"].iat[focus]), int(spans["end"].iat[focus])
        else:
            start = end = 0
        offset, text = window_around(text, start, end, room)
    return render_spans(
        text,
        spans,
        focus=focus,
        show_gt=request.sources in ("both", "gt"),
        show_pred=request.sources in ("both", "pred"),
        width=w,
        offset=offset,
        classes=request.classes or None,
        legend=request.legend,
    )


def _classification(request: PreviewRequest, cache: ImageCache) -> RenderableType:
    w, h = request.cells
    bars = render_class_bars(
        list(request.classes),
        request.probs,
        given=request.given,
        predicted=request.predicted,
        pred_confidence=request.pred_confidence,
        width=max(4, min(40, w - NAME_MAX - 10)),
    )
    n_bar_lines = min(len(request.classes), 5) + 3
    if request.kind == "image":
        return Group(bars, _image(request, cache, (w, max(3, h - n_bar_lines))))
    return Group(bars, Text(""), Text(request.asset, overflow="fold"))
