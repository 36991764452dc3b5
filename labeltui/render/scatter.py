"""Braille scatter: points rasterised with numpy into 2x4 dots per terminal cell.

``rasterize`` bins all points at once (``np.bincount`` over (dot, category));
a cell's pattern is the OR of its dots and its color the majority category
(``rasterize_values``: the mean of a numeric column on a color ramp).
``render_scatter`` turns a ``Raster`` into Rich lines with a legend, the
current row's marker (``◉``, reversed) and a selection frame. Data ``y`` grows
upwards (row 0 is the top of the canvas).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from rich.console import Group
from rich.style import Style
from rich.text import Span, Text

from labeltui.render.palette import VALUE_RAMP, Palette, pack_legend

# braille bit of the dot at (row 0..3, column 0..1) inside a cell
_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)
_COMBINED_MAX_BINS = 1 << 22  # above this, bin dots and categories separately
MARKER = "◉"
UNKNOWN_COLOR = "#7A8794"

Rect = tuple[float, float, float, float]


@dataclass
class Raster:
    """A rasterised scatter: per cell (``rows x cols`` arrays) the braille dot
    bits, the number of points and the color index (-1 for an empty cell; the
    majority category, ``n_categories`` for unknown ones, or a ramp level).
    ``mean`` holds the per-cell mean in ``values`` mode (NaN where empty)."""

    cells: tuple[int, int]
    bounds: Rect
    dots: np.ndarray
    counts: np.ndarray
    category: np.ndarray
    n_categories: int
    mean: np.ndarray | None = None
    value_range: tuple[float, float] | None = None

    def cell_of(self, x: float, y: float) -> tuple[int, int] | None:
        """(column, row) of the cell holding data point (x, y), or None outside
        (the same binning as the rasteriser)."""
        x0, y0, x1, y1 = self.bounds
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            return None
        return self._col(x), self._row(y)

    def _col(self, x: float) -> int:
        w = self.cells[0]
        x0, _, x1, _ = self.bounds
        return int(np.clip(np.floor((x - x0) * (2 * w) / (x1 - x0)), 0, 2 * w - 1)) // 2

    def _row(self, y: float) -> int:
        h = self.cells[1]
        _, y0, _, y1 = self.bounds
        return int(np.clip(np.floor((y1 - y) * (4 * h) / (y1 - y0)), 0, 4 * h - 1)) // 4

    def cell_center(self, col: int, row: int) -> tuple[float, float]:
        """Data coordinates of the centre of cell (col, row)."""
        x0, y0, x1, y1 = self.bounds
        w, h = self.cells
        return x0 + (col + 0.5) * (x1 - x0) / w, y1 - (row + 0.5) * (y1 - y0) / h


def data_bounds(x: np.ndarray, y: np.ndarray) -> Rect:
    """Finite min/max of the points (a unit box around a single value)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not (np.isfinite(x.sum()) and np.isfinite(y.sum())):
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
    if x.size == 0:
        return (0.0, 0.0, 1.0, 1.0)
    x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 <= y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    return (float(x0), float(y0), float(x1), float(y1))


def _dot_index(x, y, cells, bounds, k: int = 1, extra: np.ndarray | None = None) -> tuple[np.ndarray, Rect]:
    """(key per point, bounds). key = dot * k + extra, where dot indexes a
    padded (4h + 1) x (2w + 1) dot grid (row * (2w + 1) + col; the extra row and
    column hold points exactly on the upper bounds, folded back by ``_fold``,
    so no clamp pass is needed); points outside ``bounds`` or not finite get
    dot ``(4h + 1)(2w + 1)``, a trash bin. Computed in place in float64 (exact
    for these integers) so only three point-sized arrays are allocated."""
    w, h = cells
    x = np.asarray(x)
    y = np.asarray(y)
    clean = bounds is None and np.isfinite(x.sum()) and np.isfinite(y.sum())
    bounds = data_bounds(x, y) if bounds is None else tuple(float(b) for b in bounds)
    x0, y0, x1, y1 = bounds
    px = np.subtract(x, x0, dtype=np.float64)
    px *= (2 * w) / (x1 - x0)
    py = np.subtract(y1, y, dtype=np.float64)
    py *= (4 * h) / (y1 - y0)
    inside = None if clean else (px >= 0) & (px <= 2 * w) & (py >= 0) & (py <= 4 * h)
    np.floor(px, out=px)
    np.floor(py, out=py)
    py *= 2 * w + 1
    py += px
    if inside is not None:
        np.putmask(py, ~inside, (4 * h + 1) * (2 * w + 1))
    if k != 1:
        py *= k
    if extra is not None:
        py += extra
    return py.astype(np.int64), bounds


def _fold(flat: np.ndarray, w: int, h: int) -> np.ndarray:
    """Counts over the padded dot grid (trash bin and trailing per-dot axes
    allowed) -> (4h, 2w, ...) with the upper-bound row and column folded in."""
    grid = flat[: (4 * h + 1) * (2 * w + 1)].reshape(4 * h + 1, 2 * w + 1, *flat.shape[1:]).copy()
    grid[:, 2 * w - 1] += grid[:, 2 * w]
    grid[4 * h - 1] += grid[4 * h]
    return grid[: 4 * h, : 2 * w]


def _pack_dots(per_dot: np.ndarray, w: int, h: int) -> np.ndarray:
    """(4h, 2w) dot counts -> (h, w) braille bit patterns."""
    hit = per_dot.reshape(h, 4, w, 2) > 0
    return (hit * _BITS[None, :, None, :]).sum(axis=(1, 3)).astype(np.uint8)


def _to_cells(per_dot: np.ndarray, w: int, h: int) -> np.ndarray:
    """(4h, 2w, ...) per-dot sums -> (h, w, ...) per-cell sums."""
    return per_dot.reshape(h, 4, w, 2, *per_dot.shape[2:]).sum(axis=(1, 3))


def rasterize(
    x: np.ndarray,
    y: np.ndarray,
    categories: np.ndarray,
    *,
    cells: tuple[int, int],
    bounds: Rect | None = None,
    n_categories: int,
) -> Raster:
    """Bin points into ``cells`` (cols, rows) of 2x4 braille dots, each cell
    colored by the majority of ``categories`` (ints in [0, n_categories);
    others count as unknown). ``bounds`` (x0, y0, x1, y1, inclusive) defaults
    to the data's range; points outside it and non-finite points are dropped."""
    w, h = max(1, int(cells[0])), max(1, int(cells[1]))
    cat = np.asarray(categories)
    n_cat = max(1, int(n_categories))
    if cat.size and (cat.min() < 0 or cat.max() >= n_cat):
        cat = np.where((cat >= 0) & (cat < n_cat), cat, n_cat)
    k = n_cat + 1
    grid = (4 * h + 1) * (2 * w + 1)
    if grid * k <= _COMBINED_MAX_BINS:
        key, bounds = _dot_index(x, y, (w, h), bounds, k, cat)
        both = _fold(np.bincount(key, minlength=(grid + 1) * k)[: grid * k].reshape(grid, k), w, h)
        dots = _pack_dots(both.sum(axis=2), w, h)
        per_cell = _to_cells(both, w, h)
    else:
        dot, bounds = _dot_index(x, y, (w, h), bounds)
        dots = _pack_dots(_fold(np.bincount(dot, minlength=grid + 1), w, h), w, h)
        row = np.minimum(dot // (2 * w + 1), 4 * h - 1) // 4
        col = np.minimum(dot % (2 * w + 1), 2 * w - 1) // 2
        cell = np.where(dot < grid, row * w + col, w * h)
        per_cell = np.bincount(cell * k + cat, minlength=(w * h + 1) * k)[: w * h * k].reshape(h, w, k)
    counts = per_cell.sum(axis=2)
    category = np.where(counts > 0, per_cell.argmax(axis=2), -1)
    return Raster((w, h), bounds, dots, counts, category, n_cat)


def rasterize_values(
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    *,
    cells: tuple[int, int],
    bounds: Rect | None = None,
    value_range: tuple[float, float] | None = None,
    levels: int = len(VALUE_RAMP),
) -> Raster:
    """Like ``rasterize`` but each cell's color is the mean of ``values`` of its
    points, binned into ``levels`` ramp steps over ``value_range`` (default:
    the finite range of the cell means). Points with a NaN value still draw
    their dots (a cell with no finite value gets color index ``levels``)."""
    w, h = max(1, int(cells[0])), max(1, int(cells[1]))
    dot, bounds = _dot_index(x, y, (w, h), bounds)
    v = np.asarray(values, dtype=np.float64)
    has = np.isfinite(v)
    all_finite = bool(has.all())
    n = (4 * h + 1) * (2 * w + 1) + 1
    per_dot = _fold(np.bincount(dot, minlength=n), w, h)
    dots = _pack_dots(per_dot, w, h)
    counts = _to_cells(per_dot, w, h)
    n_val = counts if all_finite else _to_cells(_fold(np.bincount(dot, weights=has, minlength=n), w, h), w, h)
    weights = v if all_finite else np.where(has, v, 0.0)
    total = _to_cells(_fold(np.bincount(dot, weights=weights, minlength=n), w, h), w, h)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_val > 0, total / n_val, np.nan)
    if value_range is None:
        finite = mean[np.isfinite(mean)]
        value_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    lo, hi = value_range
    span = hi - lo if hi > lo else 1.0
    level = np.clip(np.floor((np.nan_to_num(mean, nan=lo) - lo) / span * levels), 0, levels - 1).astype(np.int64)
    category = np.where(counts > 0, np.where(n_val > 0, level, levels), -1)
    return Raster((w, h), bounds, dots, counts, category, levels, mean, (float(lo), float(hi)))


def _colors(raster: Raster, palette: Palette | Sequence[str] | None) -> list[str]:
    n = raster.n_categories
    if palette is None:
        palette = VALUE_RAMP if raster.mean is not None else Palette(tuple(str(i) for i in range(n)))
    if isinstance(palette, Palette):
        return [palette.color(i) for i in range(n)] + [UNKNOWN_COLOR]
    colors = list(palette) or [UNKNOWN_COLOR]
    return [colors[i % len(colors)] for i in range(n)] + [UNKNOWN_COLOR]


def render_scatter(
    raster: Raster,
    palette: Palette | Sequence[str] | None,
    *,
    marker: tuple[float, float] | None = None,
    legend: list[str] | None = None,
    selection: Rect | None = None,
    emphasis: Raster | None = None,
) -> Group:
    """The raster as lines of braille cells colored per cell, plus:

    ``marker``: data (x, y) of the current row, drawn as a reversed ``◉``;
    ``selection``: a data rectangle (x0, y0, x1, y1) framed with box lines;
    ``emphasis``: a raster of the suspects (same cells and bounds) whose cells
    take the suspects' majority color, in bold, so a lone outlier is not
    outvoted by its neighbours; ``legend``: category names (values mode: the
    low and high labels of the ramp). ``palette``: class palette or colors.
    """
    w, h = raster.cells
    colors = _colors(raster, palette)
    category = raster.category.copy()
    dots = raster.dots.astype(np.int64)
    bold = np.zeros((h, w), dtype=bool)
    if emphasis is not None and emphasis.cells == raster.cells:
        hot = emphasis.counts > 0
        category[hot] = emphasis.category[hot]
        dots |= emphasis.dots
        bold = hot
    code = np.where(dots > 0, 0x2800 + dots, 0x20).astype("<u4")
    overlay: dict[tuple[int, int], tuple[str, Style]] = {}
    if selection is not None:
        overlay.update(_frame(raster, selection))
    if marker is not None:
        cell = raster.cell_of(*marker)
        if cell is not None:
            c = int(category[cell[1], cell[0]])
            overlay[cell] = (MARKER, Style(color=colors[c] if c >= 0 else None, reverse=True, bold=True))
    styles = [Style(color=c) for c in colors]
    bold_styles = [Style(color=c, bold=True) for c in colors]
    by_row: dict[int, list[tuple[int, str, Style]]] = {}
    for (col, row), (glyph, style) in overlay.items():
        by_row.setdefault(row, []).append((col, glyph, style))
    lines: list[Text] = []
    for r in range(h):
        row_code = code[r].copy()
        for col, glyph, _ in by_row.get(r, ()):
            row_code[col] = ord(glyph)
        plain = row_code.tobytes().decode("utf-32-le")
        cat = category[r] * 2 + bold[r]
        edges = np.flatnonzero(np.diff(cat)) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [w]])
        spans = [
            Span(int(a), int(b), (bold_styles if cat[a] & 1 else styles)[cat[a] >> 1])
            for a, b in zip(starts.tolist(), ends.tolist())
            if cat[a] >= 0
        ]
        spans.extend(Span(col, col + 1, style) for col, _, style in by_row.get(r, ()))
        lines.append(Text(plain, spans=spans, no_wrap=True, overflow="crop"))
    if legend:
        lines.extend(_legend(raster, legend, colors, w))
    return Group(*lines)


def _frame(raster: Raster, rect: Rect) -> dict[tuple[int, int], tuple[str, Style]]:
    """Box-drawing cells along the border of a data rectangle (clipped to the canvas)."""
    rx0, rx1 = sorted((rect[0], rect[2]))
    ry0, ry1 = sorted((rect[1], rect[3]))
    c0, c1 = raster._col(rx0), raster._col(rx1)
    r0, r1 = raster._row(ry1), raster._row(ry0)
    style = Style(color="default", bold=True)
    out = {}
    for c in range(c0, c1 + 1):
        out[(c, r0)] = ("─", style)
        out[(c, r1)] = ("─", style)
    for r in range(r0, r1 + 1):
        out[(c0, r)] = ("│", style)
        out[(c1, r)] = ("│", style)
    out.update({(c0, r0): ("┌", style), (c1, r0): ("┐", style), (c0, r1): ("└", style), (c1, r1): ("┘", style)})
    return out


def _legend(raster: Raster, names: list[str], colors: list[str], width: int) -> list[Text]:
    if raster.mean is not None:
        line = Text(f"{names[0]} ")
        for c in colors[:-1]:
            line.append("⣿", Style(color=c))
        line.append(f" {names[-1]}")
        return [line]
    entries = [
        Text.assemble(("⣿ ", Style(color=colors[min(i, len(colors) - 1)])), str(name)) for i, name in enumerate(names)
    ]
    return pack_legend(entries, width)
