"""The projector pane: the run's embeddings as a braille scatter, linked to the suspect list.

The projection is computed (or read from the cache) in a worker, with its
progress drawn in the pane. The picture is rasterised once per view (size,
zoom, pan, coloring) and kept as strips; the current row's marker is patched
into one line, so a cursor move in the list redraws two lines of the pane.

The cursor is the suspect list's cursor: the pane's moves snap to the nearest
point among the list's rows in that direction and post :class:`Picked`, the
screen moves the list there, and the list's highlight moves the marker back
here (:meth:`show_marker`). A region (``v`` anchors at the cursor, moves
stretch it over whole cells, ``enter`` applies) posts :class:`RegionSelected`
with a mask over the scores' rows; the screen combines it with the filter.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

import numpy as np
from rich.console import Group
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from labeltui.errors import LoadError
from labeltui.engine.score import row_labels
from labeltui.projection import METHODS, PRECOMPUTED, Projection, align, projection_for, umap_available
from labeltui.render.palette import VALUE_RAMP, VERDICT_MARKS, VERDICT_STYLES, class_color, pack_legend
from labeltui.render.scatter import MARKER, UNKNOWN_COLOR, Raster, data_bounds, rasterize, rasterize_values
from labeltui.tui.keys import PROJECTOR_KEYS
from labeltui.tui.session import Session

Rect = tuple[float, float, float, float]

PAD = 0.02  # share of the data range left empty around the points at full view
PAN_STEP = 0.25  # share of the view a pan key moves
MAX_ZOOM = 4096.0
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
VERDICT_COLORS = ("#D9453D", "#3A9A4A", "#A88B1C", "#7A8794")  # error, ok, skip, unreviewed
VERDICT_NAMES = ("error", "ok", "skip", "unreviewed")
MODE_TITLES = {"class": "class", "score": "score", "verdict": "verdict", "knn": "kNN disagreement"}


@dataclass
class _Layer:
    """What a coloring mode draws: categories (or values) of the finite points."""

    values: np.ndarray
    numeric: bool
    n_categories: int = 0
    colors: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@dataclass
class Points:
    """A projection prepared for drawing: the finite points sorted by x (so a
    zoomed view rasterises a contiguous slice), with what colors them."""

    xy: np.ndarray  # (x, y) per scores row, NaN without a point
    pos: np.ndarray  # scores row of each point
    x: np.ndarray
    y: np.ndarray
    index_of: np.ndarray  # per scores row: its point, -1 for none
    classes: np.ndarray  # class id per point (-1 none)
    suspect: np.ndarray  # per point: the row has an issue
    by_y: np.ndarray  # point indices sorted by y
    bounds: Rect  # every point, with a margin

    @classmethod
    def prepare(cls, session: Session, projection: Projection) -> Points:
        """Align ``projection`` (rows of the run) to the session's rows and sort the points by x."""
        run = session.run
        xy = projection.xy if run is None else align(projection.xy, run.rows["data_row_id"].to_numpy(), session.ids)
        xy = np.asarray(xy, dtype=np.float32)
        finite = np.flatnonzero(np.isfinite(xy).all(axis=1))
        pos = finite[np.argsort(xy[finite, 0], kind="stable")]
        index_of = np.full(len(xy), -1, dtype=np.int64)
        index_of[pos] = np.arange(len(pos))
        scores = session.scores
        if "issue" in scores.columns:
            suspect = (scores["issue"].fillna("").to_numpy(dtype=object) != "")[pos]
        else:
            suspect = np.zeros(len(pos), dtype=bool)
        classes = row_labels(run)[pos] if run is not None else np.full(len(pos), -1, dtype=np.int64)
        x, y = np.ascontiguousarray(xy[pos, 0]), np.ascontiguousarray(xy[pos, 1])
        x0, y0, x1, y1 = data_bounds(x, y)
        dx, dy = (x1 - x0) * PAD, (y1 - y0) * PAD
        by_y = np.argsort(y, kind="stable")
        return cls(xy, pos, x, y, index_of, classes, suspect, by_y, (x0 - dx, y0 - dy, x1 + dx, y1 + dy))


class ProjectorPane(Widget, can_focus=True):
    """The embedding scatter of a session's run; see the module docstring."""

    BINDINGS = [k.binding() for k in PROJECTOR_KEYS]
    COMPONENT_CLASSES = {"projector--header", "projector--header-focus", "projector--region", "projector--anchor", "projector--dim"}

    DEFAULT_CSS = """
    ProjectorPane { height: 1fr; width: 1fr; }
    ProjectorPane > .projector--header { background: $panel; text-style: bold; }
    ProjectorPane > .projector--header-focus { background: $primary 60%; text-style: bold; }
    ProjectorPane > .projector--region { background: $primary-muted; }
    ProjectorPane > .projector--anchor { background: $secondary-muted; }
    ProjectorPane > .projector--dim { color: $text-muted; }
    """

    class Picked(Message):
        """The pane's cursor snapped to view index ``index`` (row ``pos`` of the scores)."""

        def __init__(self, index: int, pos: int) -> None:
            self.index = index
            self.pos = pos
            super().__init__()

    class RegionSelected(Message):
        """Filter the list to the rows inside ``rect``: ``mask`` over the scores' rows."""

        def __init__(self, mask: np.ndarray, rect: Rect) -> None:
            self.mask = mask
            self.rect = rect
            super().__init__()

    class RegionCleared(Message):
        """The region filter was cleared (escape)."""

    class Leave(Message):
        """Escape with nothing to cancel: give the focus back to the list."""

    class ProjectionProgress(Message):
        """A stage of the projection worker."""

        def __init__(self, text: str) -> None:
            self.text = text
            super().__init__()

    class ProjectionReady(Message):
        """The worker finished: a projection, or an error to show."""

        def __init__(self, projection: Projection | None, points: Points | None, error: str | None) -> None:
            self.projection = projection
            self.points = points
            self.error = error
            super().__init__()

    def __init__(self, session: Session, *, method: str = "pca", id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.method = method
        self.state = "idle"  # idle | computing | ready | failed
        self.message = ""
        self.started = 0.0
        self.projection: Projection | None = None
        self.xy = np.zeros((0, 2), dtype=np.float32)  # aligned to the scores' rows
        self.full_bounds: Rect = (0.0, 0.0, 1.0, 1.0)
        self.bounds: Rect = self.full_bounds
        self.modes: list[str] = ["class"]
        self.mode = "class"
        self.show_suspects = True
        self.marker_pos = -1
        self.anchor_point: tuple[float, float] | None = None
        self.region_rect: Rect | None = None
        self.region_count = 0
        self.raster: Raster | None = None
        self.points: Points | None = None
        self._layers: dict[str, _Layer] = {}
        self._raster_key: tuple | None = None
        self._emphasis: Raster | None = None
        self._lines: list[Strip] = []
        self._canvas: tuple[int, int, int] = (0, 0, 0)  # first line, width, height
        self._marker_line: tuple[int, Strip] | None = None
        self._dirty = True
        self._view_ref: np.ndarray | None = None
        self._sorted: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # axis -> (view indices, 2 x n coordinates)
        self._ticker: Timer | None = None
        self._plain: list[str] = []  # canvas glyphs, a string per line
        self._sid = np.zeros((0, 0), dtype=np.int64)  # style id per canvas cell (0: empty)
        self._cell_styles: list[Style] = [Style()]
        self._combined: dict[int, Style] = {}
        self._backgrounds: list[tuple[tuple[int, int, int, int] | None, Style] | None] = [None]

    # ------------------------------------------------------------ projection
    def start(self) -> None:
        """Compute (or load) the projection unless it is ready or on its way."""
        if self.state in ("computing", "ready"):
            return
        self.state = "computing"
        self.message = "starting"
        self.started = time.monotonic()
        self._ticker = self.set_interval(0.1, self._tick)
        self._invalidate()
        self._compute(self.method)

    def _tick(self) -> None:
        if self.state == "computing":
            self._invalidate()

    @work(thread=True, exclusive=True, group="projection", exit_on_error=False, description="project embeddings")
    def _compute(self, method: str) -> None:
        session = self.session
        try:
            if session.run is None:
                raise LoadError(session.run_missing(), field="embeddings")
            projection = projection_for(
                session.run, session.config, method, progress=lambda text, _f: self.post_message(self.ProjectionProgress(text))
            )
            self.post_message(self.ProjectionProgress("preparing the points"))
            points = Points.prepare(session, projection)
        except LoadError as err:
            self.post_message(self.ProjectionReady(None, None, str(err)))
            return
        except Exception as err:  # a bug must show in the pane, not kill the app
            self.log.error(traceback.format_exc())
            self.post_message(self.ProjectionReady(None, None, f"projection failed ({type(err).__name__}: {err})"))
            return
        self.post_message(self.ProjectionReady(projection, points, None))

    def on_projector_pane_projection_progress(self, message: ProjectionProgress) -> None:
        message.stop()
        self.message = message.text
        self._invalidate()

    def on_projector_pane_projection_ready(self, message: ProjectionReady) -> None:
        message.stop()
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if message.projection is None:
            self.state, self.message = "failed", message.error or "projection failed"
            self._invalidate()
            return
        self.set_projection(message.projection, message.points)

    def set_projection(self, projection: Projection, points: Points | None = None) -> None:
        """Show ``projection`` (rows of the run; ``points``: already prepared): resets the view."""
        self.projection = projection
        self.method = projection.method if projection.method != PRECOMPUTED else self.method
        self.points = points or Points.prepare(self.session, projection)
        self.xy = self.points.xy
        self._layers = {}
        self.modes = ["class", "score", "verdict"] + (["knn"] if "knn_disagreement" in self.session.scores.columns else [])
        if self.mode not in self.modes:
            self.mode = "class"
        self.full_bounds = self.bounds = self.points.bounds
        self.anchor_point = None
        if self.region_rect is not None:  # drawn on the previous picture: meaningless now
            self.clear_region()
            self.post_message(self.RegionCleared())
        self.state = "ready"
        self._view_ref = None
        self._raster_key = None
        self._invalidate()

    def action_cycle_method(self) -> None:
        if self.projection is not None and self.projection.method == PRECOMPUTED:
            self.notify("the input gives its own 2-D projection", timeout=3)
            return
        methods = [m for m in METHODS if m == "pca" or umap_available()]
        if len(methods) < 2:
            self.notify("UMAP needs the umap-learn package: pip install umap-learn", timeout=4)
            return
        if self.state == "computing":
            return
        self.method = methods[(methods.index(self.method) + 1) % len(methods)]
        self.state = "idle"
        self.start()

    # ------------------------------------------------------------ links with the list
    def show_marker(self, pos: int) -> None:
        """The list's cursor is on scores row ``pos`` (-1: none): move the marker there."""
        old = self.marker_pos
        self.marker_pos = pos
        if self.state != "ready" or self._dirty:
            return
        if not self.display:  # hidden: draw afresh when shown again
            self._dirty = True
            return
        if self.anchor_point is not None:
            self._invalidate()
            return
        point = self._point(pos)
        if point is not None and not _inside(self.bounds, point) and self.bounds != self.full_bounds:
            self._center_on(point)
            return
        if old != pos:
            self._update_marker()

    def reviews_changed(self) -> None:
        """Verdicts changed: recolor when coloring by verdict."""
        self._layers.pop("verdict", None)
        if self.mode == "verdict":
            self._raster_key = None
            self._invalidate()

    # ------------------------------------------------------------ geometry
    def _point(self, pos: int) -> tuple[float, float] | None:
        if pos < 0 or pos >= len(self.xy):
            return None
        x, y = float(self.xy[pos, 0]), float(self.xy[pos, 1])
        return (x, y) if np.isfinite(x) and np.isfinite(y) else None

    def _cell_size(self) -> tuple[float, float]:
        _, w, h = self._canvas
        x0, y0, x1, y1 = self.bounds
        return (x1 - x0) / max(1, w), (y1 - y0) / max(1, h)

    def _cell_index(self, x: float, y: float) -> tuple[int, int]:
        """(col, row) of a data point in the current canvas (not clipped)."""
        cw, ch = self._cell_size()
        return int(np.floor((x - self.bounds[0]) / cw)), int(np.floor((self.bounds[3] - y) / ch))

    def _cells_rect(self, a: tuple[float, float], b: tuple[float, float]) -> Rect:
        """Data rectangle covering the whole cells of points ``a`` and ``b`` and all between."""
        (ca, ra), (cb, rb) = self._cell_index(*a), self._cell_index(*b)
        cw, ch = self._cell_size()
        x0, _, _, y1 = self.bounds
        c0, c1, r0, r1 = min(ca, cb), max(ca, cb), min(ra, rb), max(ra, rb)
        return (x0 + c0 * cw, y1 - (r1 + 1) * ch, x0 + (c1 + 1) * cw, y1 - r0 * ch)

    def rows_in(self, rect: Rect) -> np.ndarray:
        """Mask over the scores' rows: points inside ``rect`` (x0, y0, x1, y1), bounds included."""
        x0, y0, x1, y1 = rect
        x, y = self.xy[:, 0], self.xy[:, 1]
        return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)

    def _visible_cells(self, rect: Rect) -> tuple[int, int, int, int] | None:
        """(c0, c1, r0, r1) of the canvas cells a data rectangle covers, clipped; None if off-canvas."""
        _, w, h = self._canvas
        cw, ch = self._cell_size()
        x0, _, _, y1 = self.bounds
        c0 = int(np.floor((rect[0] - x0) / cw + 1e-6))
        c1 = int(np.ceil((rect[2] - x0) / cw - 1e-6)) - 1
        r0 = int(np.floor((y1 - rect[3]) / ch + 1e-6))
        r1 = int(np.ceil((y1 - rect[1]) / ch - 1e-6)) - 1
        c0, c1, r0, r1 = max(c0, 0), min(c1, w - 1), max(r0, 0), min(r1, h - 1)
        return (c0, c1, r0, r1) if c0 <= c1 and r0 <= r1 else None

    def _by_axis(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """The list's points sorted along x (0) or y (1): (view index of each,
        2 x n coordinates), cached per view array. O(n): the points are kept
        sorted by x and by y, the view only masks them."""
        view = self.session.view
        if self._view_ref is not view:
            self._view_ref, self._sorted = view, {}
        if axis not in self._sorted:
            points = self.points
            view_index = np.full(len(points.index_of), -1, dtype=np.int64)
            view_index[view] = np.arange(len(view))
            order = np.arange(len(points.pos)) if axis == 0 else points.by_y
            index = view_index[points.pos[order]]
            keep = index >= 0
            order, index = order[keep], index[keep]
            self._sorted[axis] = (index, np.vstack([points.x[order], points.y[order]]).astype(np.float64))
        return self._sorted[axis]

    def _pick(self, index: int) -> None:
        view = self.session.view
        self.post_message(self.Picked(index, int(view[index])))

    def action_step(self, dx: int, dy: int) -> None:
        """Move the cursor to the nearest list row at least half a cell in direction (dx, dy)
        on screen: the least ``along + 2 * across`` (in cells), points inside the 45° cone first."""
        if self.state != "ready":
            return
        if len(self._by_axis(0)[0]) == 0:
            self.notify("no row of the list has a point", timeout=2)
            return
        here = self._point(self.marker_pos)
        if here is None:
            x0, y0, x1, y1 = self.bounds
            self._snap_to(((x0 + x1) / 2, (y0 + y1) / 2))
            return
        best = self._nearest_in_direction(here, 0 if dx else 1, dx if dx else -dy)
        if best is not None:
            self._pick(best)

    def _nearest_in_direction(self, here: tuple[float, float], axis: int, sign: int) -> int | None:
        """View index of the best point beyond ``here`` along ``axis`` (data direction ``sign``).

        Searches windows of growing depth over the points sorted along the axis;
        a window's best is final once its cost is within the window's depth
        (nothing deeper can cost less, as cost >= along)."""
        index, coords = self._by_axis(axis)
        keys = coords[axis]
        cells = self._cell_size()
        size, other = cells[axis], cells[1 - axis]
        depth = 4.0
        total = max(abs(keys[-1] - here[axis]), abs(keys[0] - here[axis])) / size + 1.0
        while True:
            near, far = here[axis] + sign * 0.5 * size, here[axis] + sign * depth * size
            lo, hi = sorted((near, far))
            i0, i1 = np.searchsorted(keys, lo, "left"), np.searchsorted(keys, hi, "right")
            if i1 > i0:
                along = (keys[i0:i1] - here[axis]) * (sign / size)
                across = np.abs(coords[1 - axis, i0:i1] - here[1 - axis]) / other
                cost = along + 2.0 * across + np.where(across > along, 1e9, 0.0)
                k = int(np.argmin(cost))
                if cost[k] <= depth or depth >= total:
                    return int(index[i0 + k])
            elif depth >= total:
                return None
            depth *= 4.0

    def _snap_to(self, point: tuple[float, float]) -> None:
        """Pick the list row nearest to a data point (distance in cells)."""
        index, coords = self._by_axis(0)
        if len(index) == 0:
            return
        cw, ch = self._cell_size()
        d = ((coords[0] - point[0]) / cw) ** 2 + ((coords[1] - point[1]) / ch) ** 2
        self._pick(int(index[int(np.argmin(d))]))

    def action_pan(self, dx: int, dy: int) -> None:
        if self.state != "ready":
            return
        x0, y0, x1, y1 = self.bounds
        sx, sy = (x1 - x0) * PAN_STEP * dx, -(y1 - y0) * PAN_STEP * dy
        self._set_bounds((x0 + sx, y0 + sy, x1 + sx, y1 + sy))

    def action_zoom(self, factor: float) -> None:
        """Zoom by ``factor`` (> 1 in) around the cursor's point (else the view's centre)."""
        if self.state != "ready":
            return
        x0, y0, x1, y1 = self.bounds
        fx0, fy0, fx1, fy1 = self.full_bounds
        w = min(max((x1 - x0) / factor, (fx1 - fx0) / MAX_ZOOM), fx1 - fx0)
        h = min(max((y1 - y0) / factor, (fy1 - fy0) / MAX_ZOOM), fy1 - fy0)
        centre = self._point(self.marker_pos)
        if centre is None or not _inside(self.bounds, centre):
            centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        if w >= fx1 - fx0 and h >= fy1 - fy0:
            self._set_bounds(self.full_bounds)
            return
        self._set_bounds((centre[0] - w / 2, centre[1] - h / 2, centre[0] + w / 2, centre[1] + h / 2))

    def action_fit(self) -> None:
        if self.state == "ready":
            self._set_bounds(self.full_bounds)

    def _center_on(self, point: tuple[float, float]) -> None:
        x0, y0, x1, y1 = self.bounds
        w, h = x1 - x0, y1 - y0
        self._set_bounds((point[0] - w / 2, point[1] - h / 2, point[0] + w / 2, point[1] + h / 2))

    def _set_bounds(self, bounds: Rect) -> None:
        if bounds != self.bounds:
            self.bounds = bounds
            self._invalidate()

    @property
    def zoom_level(self) -> float:
        return (self.full_bounds[2] - self.full_bounds[0]) / (self.bounds[2] - self.bounds[0])

    # ------------------------------------------------------------ coloring
    def action_cycle_color(self) -> None:
        if self.state != "ready":
            return
        self.mode = self.modes[(self.modes.index(self.mode) + 1) % len(self.modes)]
        self._invalidate()
        self.notify(f"color: {MODE_TITLES[self.mode]}", timeout=1.5)

    def action_toggle_suspects(self) -> None:
        self.show_suspects = not self.show_suspects
        self._invalidate()
        self.notify("flagged rows emphasised" if self.show_suspects else "no emphasis", timeout=1.5)

    def _layer(self, mode: str) -> _Layer:
        layer = self._layers.get(mode)
        if layer is not None:
            return layer
        session, points = self.session, self.points
        if mode == "class":
            classes = list(session.run.classes) if session.run is not None else []
            n = max(1, len(classes))
            layer = _Layer(points.classes, False, n, tuple(class_color(i) for i in range(n)), tuple(classes))
        elif mode == "verdict":
            codes = session.verdict[points.pos].astype(np.int64)
            codes[codes < 0] = len(VERDICT_NAMES) - 1
            layer = _Layer(codes, False, len(VERDICT_NAMES), VERDICT_COLORS, VERDICT_NAMES)
        else:
            column = "score" if mode == "score" else "knn_disagreement"
            values = session.scores[column].to_numpy(dtype=np.float64, na_value=np.nan)[points.pos]
            layer = _Layer(values, True)
        self._layers[mode] = layer
        return layer

    def _emphasised(self) -> np.ndarray | None:
        """Points drawn over the majority of their cell (sorted indices), or None."""
        if self.mode == "verdict":
            return np.flatnonzero(self._layer("verdict").values < len(VERDICT_NAMES) - 1)
        return np.flatnonzero(self.points.suspect) if self.show_suspects else None

    def _rasterize(self, cells: tuple[int, int]) -> None:
        """Rasters of the points in view (a slice: points are sorted by x) and of the emphasised ones."""
        layer = self._layer(self.mode)
        key = (cells, self.bounds, self.mode, self.show_suspects, id(layer))
        if key == self._raster_key:
            return
        points = self.points
        i0 = int(np.searchsorted(points.x, self.bounds[0], side="left"))
        i1 = int(np.searchsorted(points.x, self.bounds[2], side="right"))

        def draw(x: np.ndarray, y: np.ndarray, v: np.ndarray) -> Raster:
            if layer.numeric:
                return rasterize_values(x, y, v, cells=cells, bounds=self.bounds, value_range=(0.0, 1.0))
            return rasterize(x, y, v, cells=cells, bounds=self.bounds, n_categories=layer.n_categories)

        self.raster = draw(points.x[i0:i1], points.y[i0:i1], layer.values[i0:i1])
        hot = self._emphasised()
        if hot is not None:
            hot = hot[np.searchsorted(hot, i0) : np.searchsorted(hot, i1)]
        self._emphasis = draw(points.x[hot], points.y[hot], layer.values[hot]) if hot is not None and len(hot) else None
        self._raster_key = key
        self._cell_grid(layer)

    def _cell_grid(self, layer: _Layer) -> None:
        """Glyph and style id of every canvas cell, drawn as ``render_scatter`` draws
        them (majority color; emphasised points' majority in bold where they are),
        kept as arrays so lines become strips without Rich's text layout."""
        raster, emphasis = self.raster, self._emphasis
        category = raster.category.copy()
        dots = raster.dots.astype(np.int64)
        bold = np.zeros(category.shape, dtype=bool)
        if emphasis is not None:
            bold = emphasis.counts > 0
            category[bold] = emphasis.category[bold]
            dots |= emphasis.dots
        code = np.where(dots > 0, 0x2800 + dots, 0x20).astype("<u4")
        self._plain = [line.tobytes().decode("utf-32-le") for line in code]
        palette = self._palette(layer)
        colors = [palette[i % len(palette)] for i in range(raster.n_categories)] + [UNKNOWN_COLOR]
        self._cell_styles = [Style()] + [Style(color=c, bold=b) for c in colors for b in (False, True)]
        self._sid = np.where(category >= 0, 1 + category * 2 + bold, 0)

    def _palette(self, layer: _Layer) -> tuple[str, ...]:
        return VALUE_RAMP if layer.numeric else layer.colors

    def _row_color(self, pos: int) -> str | None:
        """The color of row ``pos``'s own point in the current mode."""
        i = int(self.points.index_of[pos]) if self.points is not None and 0 <= pos < len(self.points.index_of) else -1
        if i < 0:
            return None
        layer = self._layer(self.mode)
        value = layer.values[i]
        if layer.numeric:
            if not np.isfinite(value):
                return None
            return VALUE_RAMP[min(len(VALUE_RAMP) - 1, max(0, int(value * len(VALUE_RAMP))))]
        return layer.colors[int(value)] if 0 <= value < len(layer.colors) else None

    # ------------------------------------------------------------ region
    def action_anchor(self) -> None:
        """Anchor a region at the cursor's point (again: drop the anchor)."""
        if self.state != "ready":
            return
        point = self._point(self.marker_pos)
        if self.anchor_point is not None:
            self.anchor_point = None
        elif point is None:
            self.notify("put the cursor on a point first (h j k l)", timeout=2)
            return
        else:
            self.anchor_point = point
            self.notify("region: move the cursor, enter filters the list, escape cancels", timeout=3)
        self._invalidate()

    def pending_rect(self) -> Rect | None:
        """The region being drawn (anchor to cursor, whole cells), or None."""
        point = self._point(self.marker_pos)
        if self.anchor_point is None or point is None:
            return None
        return self._cells_rect(self.anchor_point, point)

    def action_apply(self) -> None:
        rect = self.pending_rect()
        if rect is None:
            self.post_message(self.Leave())
            return
        self.apply_region(rect)

    def apply_region(self, rect: Rect) -> None:
        """Filter the list to the rows inside a data rectangle."""
        mask = self.rows_in(rect)
        self.anchor_point = None
        self.region_rect = rect
        self.region_count = int(mask.sum())
        self._invalidate()
        self.post_message(self.RegionSelected(mask, rect))

    def clear_region(self) -> None:
        """Forget the region (the screen restores the list)."""
        self.region_rect = None
        self.region_count = 0
        self._invalidate()

    def action_cancel(self) -> None:
        if self.anchor_point is not None:
            self.anchor_point = None
            self._invalidate()
        elif self.region_rect is not None:
            self.clear_region()
            self.post_message(self.RegionCleared())
        else:
            self.post_message(self.Leave())

    # ------------------------------------------------------------ mouse
    def on_click(self, event: events.Click) -> None:
        top, w, h = self._canvas
        if self.state != "ready" or not (top <= event.y < top + h and 0 <= event.x < w):
            return
        cw, ch = self._cell_size()
        x0, _, _, y1 = self.bounds
        self._snap_to((x0 + (event.x + 0.5) * cw, y1 - (event.y - top + 0.5) * ch))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_zoom(1.25)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_zoom(0.8)

    # ------------------------------------------------------------ drawing
    def on_resize(self) -> None:
        self._invalidate()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._invalidate()  # a theme change: the cached strips carry the old colors

    def on_focus(self) -> None:
        self._invalidate()

    def on_blur(self) -> None:
        self._invalidate()

    def _invalidate(self) -> None:
        self._dirty = True
        self.refresh()

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name)

    def _header(self, width: int) -> Text:
        style = self._style("projector--header-focus" if self.has_focus else "projector--header")
        parts = [" ⠿ projector"]
        if self.state == "ready" and self.projection is not None:
            method = "2-D input" if self.projection.method == PRECOMPUTED else self.projection.method.upper()
            parts += [method, MODE_TITLES[self.mode], f"{len(self.points.pos):,} points"]
            if self.zoom_level > 1.001:
                parts.append(f"×{self.zoom_level:.3g}")
            rect = self.pending_rect()
            if rect is not None:
                parts.append(f"region {int(self.rows_in(rect).sum()):,} rows: enter filters, esc cancels")
            elif self.region_rect is not None:
                parts.append(f"region filter {self.region_count:,} rows (esc clears)")
        text = Text(" · ".join(parts), style=style, no_wrap=True, overflow="ellipsis")
        text.truncate(width, overflow="ellipsis", pad=True)
        return text

    def _legend(self, width: int, max_lines: int) -> list[Text]:
        layer = self._layer(self.mode)
        extras = [Text.assemble((MARKER, Style(reverse=True, bold=True)), " cursor row")]
        if self.mode == "verdict":
            extras.append(Text("bold: reviewed", style="bold"))
        elif self.show_suspects and self.points.suspect.any():
            extras.append(Text("bold: flagged rows", style="bold"))
        if layer.numeric:
            ramp = Text(f"{MODE_TITLES[self.mode]} 0 ")
            for color in VALUE_RAMP:
                ramp.append("⣿", Style(color=color))
            ramp.append(" 1")
            entries = [ramp]
        else:
            marks = {"error": VERDICT_MARKS["error"], "ok": VERDICT_MARKS["ok"], "skip": VERDICT_MARKS["skip"]}
            entries = [
                Text.assemble(("⣿ ", Style(color=color)), (marks.get(name, "") + " ") if name in marks else "", name)
                for name, color in zip(layer.names, layer.colors)
            ]
        lines = pack_legend(entries + extras, width)
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = Text.assemble(lines[-1], " …")
            lines[-1].truncate(width, overflow="ellipsis")
        return lines

    def _hint(self, width: int) -> Text:
        text = Text(
            "hjkl move · HJKL pan · +/- zoom · f fit · c color · i flagged · v region · M method · esc list",
            style=self._style("projector--dim"),
            no_wrap=True,
            overflow="ellipsis",
        )
        text.truncate(width, overflow="ellipsis")
        return text

    def _message_lines(self, height: int) -> list[Text]:
        if self.state == "computing":
            spin = SPINNER[int((time.monotonic() - self.started) * 10) % len(SPINNER)]
            body = [
                Text(f"{spin} computing the projection ({self.method.upper()})", style="bold"),
                Text(f"{self.message} · {time.monotonic() - self.started:.1f} s"),
            ]
        elif self.state == "failed":
            body = [Text("no projection", style="bold"), Text(self.message, style=VERDICT_STYLES["error"])]
        else:
            body = [Text("press p to compute the projection")]
        top = max(0, (height - len(body)) // 2)
        return [Text("")] * top + body

    def _rebuild(self) -> None:
        """Lay out header, canvas, legend and hint for the current size and state."""
        self._dirty = False
        width, height = self.size.width, self.size.height
        self._marker_line = None
        if width < 4 or height < 2:
            self._lines, self._canvas = [], (0, 0, 0)
            return
        texts = [self._header(width)]
        if self.state != "ready":
            texts += self._message_lines(height - 1)
            self._canvas = (1, 0, 0)
            self._lines = self._to_strips(texts, width)
            return
        legend = self._legend(width, 2 if height >= 16 else 1)
        hint = [self._hint(width)] if height >= 14 else []
        canvas_h = height - 1 - len(legend) - len(hint)
        if canvas_h < 2:
            legend, hint = [], []
            canvas_h = height - 1
        self._canvas = (1, width, canvas_h)
        self._rasterize((width, canvas_h))
        self._combined.clear()
        self._backgrounds = [None] + [
            (self._visible_cells(rect) if rect is not None else None, Style(bgcolor=self._style(name).bgcolor))
            for rect, name in ((self.region_rect, "projector--region"), (self.pending_rect(), "projector--anchor"))
        ]
        canvas = [self._canvas_strip(row) for row in range(canvas_h)]
        self._lines = self._to_strips(texts, width) + canvas + self._to_strips(legend + hint, width)
        self._update_marker(refresh=False)

    def _canvas_strip(self, row: int, marker: tuple[int, Style] | None = None) -> Strip:
        """Canvas line ``row`` as a Strip: runs of equal style over region backgrounds,
        the marker (column, style) patched in."""
        plain = self._plain[row]
        width = len(plain)
        key = self._sid[row] * 4
        for level, background in enumerate(self._backgrounds[1:], start=1):
            cells = background[0]
            if cells is not None and cells[2] <= row <= cells[3]:
                key[cells[0] : cells[1] + 1] += level
        if marker is not None:
            col, style = marker
            plain = plain[:col] + MARKER + plain[col + 1 :]
            key[col] = -1
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        ends = np.append(starts[1:], width)
        segments = [
            Segment(plain[a:b], self._combine(k) if k >= 0 else self.rich_style + marker[1])
            for a, b, k in zip(starts.tolist(), ends.tolist(), key[starts].tolist())
        ]
        return Strip(segments, width)

    def _combine(self, key: int) -> Style:
        """The widget's style + a span style + a region background (``key = style id * 4 + background``)."""
        style = self._combined.get(key)
        if style is None:
            style = self.rich_style + self._cell_styles[key // 4]
            background = self._backgrounds[key % 4]
            if background is not None:
                style += background[1]
            self._combined[key] = style
        return style

    def _to_strips(self, texts: list[Text], width: int) -> list[Strip]:
        if not texts:
            return []
        console = self.app.console
        options = console.options.update(width=width, height=len(texts), highlight=False)
        lines = console.render_lines(Group(*texts), options, pad=True)
        base = self.rich_style
        return [Strip(line).adjust_cell_length(width, base).apply_style(base) for line in lines]

    def _update_marker(self, refresh: bool = True) -> None:
        """Patch the marker into its canvas line (and redraw the lines it left and entered)."""
        old = self._marker_line[0] if self._marker_line is not None else None
        self._marker_line = None
        point = self._point(self.marker_pos)
        top = self._canvas[0]
        if point is not None and self.raster is not None and self._plain:
            cell = self.raster.cell_of(*point)
            if cell is not None:
                col, row = cell
                style = Style(color=self._row_color(self.marker_pos), reverse=True, bold=True)
                self._marker_line = (top + row, self._canvas_strip(row, (col, style)))
        if refresh:
            new = self._marker_line[0] if self._marker_line is not None else None
            for y in {old, new} - {None}:
                self.refresh(Region(0, y, self.size.width, 1))

    def render_line(self, y: int) -> Strip:
        if self._dirty:
            self._rebuild()
        if self._marker_line is not None and y == self._marker_line[0]:
            return self._marker_line[1]
        if y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width, self.rich_style)


def _inside(rect: Rect, point: tuple[float, float]) -> bool:
    return rect[0] <= point[0] <= rect[2] and rect[1] <= point[1] <= rect[3]
