"""Pixels as terminal cells: two vertical pixels per cell ("▀", top pixel as
foreground, bottom pixel as background), as few bytes as the terminal allows.

Cells that the terminal will show in the same colors are written as one run:
after quantising to 64 levels per channel in 24-bit color, after the terminal's
own palette in 256 and 16 colors (the mapping Rich applies when it writes a
color the terminal lacks, vectorised over the image's colors). Over SSH a
terminal usually gets 256 colors (COLORTERM is not forwarded), where a photo
has long runs of equal cells.
"""

from __future__ import annotations

import numpy as np
from rich.color import Color, ColorSystem, ColorType
from rich.color_triplet import ColorTriplet
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.palette import Palette
from rich.segment import Segment
from rich.style import Style

try:  # Rich's palettes: the colors a 16-color terminal has
    from rich._palettes import STANDARD_PALETTE
except ImportError:  # pragma: no cover - a Rich without them: runs merge only on equal colors
    STANDARD_PALETTE = None

LEVELS = 64
#: the 8-bit value of each of the 64 levels, and the level of each 8-bit value
LEVEL_VALUE = np.round(np.arange(LEVELS) * 255 / (LEVELS - 1)).astype(np.uint8)
LEVEL_OF = np.round(np.arange(256) * (LEVELS - 1) / 255).astype(np.uint32)
_CACHE_MAX = 1 << 16
_COLORS: dict[int, Color] = {}
_SEGMENTS: dict[int, Segment] = {}
_tuple = tuple.__new__  # builds the NamedTuples below without their Python-level __new__ (2x faster)
_TRUECOLOR = ColorType.TRUECOLOR


class HalfBlockImage:
    """A Rich renderable of an RGB pixel buffer, two pixels per cell.

    The cells are worked out at construction (in the caller's thread, e.g. a
    worker); rendering joins equal neighbours for the console's color system.
    """

    def __init__(self, buffer: np.ndarray) -> None:
        if buffer.shape[0] % 2:
            buffer = np.concatenate([buffer, np.zeros_like(buffer[:1])])
        self.buffer = buffer
        self.width = buffer.shape[1]
        self._keys, self._segments, self._cells = _cells(buffer)

    def lines(self, system: ColorSystem | None = ColorSystem.TRUECOLOR, width: int | None = None) -> list[list[Segment]]:
        """The segments of each cell row, equal neighbours joined for ``system``, cut to ``width`` cells."""
        cells = self._cells if width is None else self._cells[:, :width]
        h, w = cells.shape
        if cells.size == 0:
            return [[] for _ in range(h)]
        shown = _shown_as(self._keys, system)[cells]
        starts = np.ones(cells.shape, dtype=bool)
        starts[:, 1:] = shown[:, 1:] != shown[:, :-1]
        at = np.flatnonzero(starts)
        runs = np.diff(np.append(at, cells.size))
        table = self._segments
        first = cells.ravel()[at].tolist()
        if len(at) == cells.size:  # no neighbours alike: a segment per cell
            flat = [table[i] for i in first]
        else:
            flat = [
                table[i] if n == 1 else _tuple(Segment, (table[i].text * n, table[i].style, None))
                for i, n in zip(first, runs.tolist())
            ]
        bounds = np.concatenate([[0], np.cumsum(starts.sum(axis=1))]).tolist()
        return [flat[bounds[r] : bounds[r + 1]] for r in range(h)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        newline = Segment.line()
        for line in self.lines(console._color_system, options.max_width):
            yield from line
            yield newline

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


def _cells(buffer: np.ndarray) -> tuple[np.ndarray, list[Segment], np.ndarray]:
    """The distinct (top << 18 | bottom) level-color pairs of the buffer's cells, their
    segments (cached across frames) and each cell's index into them."""
    h, w = buffer.shape[:2]
    lv = LEVEL_OF[buffer]
    packed = ((lv[..., 0] << 12) | (lv[..., 1] << 6) | lv[..., 2]).astype(np.uint64)
    key = (packed[0::2] << 18) | packed[1::2]
    keys, inverse = np.unique(key.ravel(), return_inverse=True)
    if len(_SEGMENTS) > _CACHE_MAX:
        _SEGMENTS.clear()
    # looked up once, into a list of our own: another worker may clear the caches meanwhile
    listed = keys.tolist()
    table = [_SEGMENTS.get(k) for k in listed]
    new = [k for k, seg in zip(listed, table) if seg is None]
    if new:
        made = _add_segments(new)
        table = [made[k] if seg is None else seg for k, seg in zip(listed, table)]
    return keys, table, inverse.reshape(h // 2, w)


def _add_segments(keys: list[int]) -> dict[int, Segment]:
    """Create (and cache) the cell segments of new color pairs, and the colors they
    need, in bulk (a new detailed image has thousands)."""
    if len(_COLORS) > _CACHE_MAX:
        _COLORS.clear()
    pairs = [(k >> 18, k & 0x3FFFF) for k in keys]
    colors = {p: _COLORS.get(p) for pair in pairs for p in pair}
    wanted = np.array([p for p, c in colors.items() if c is None], dtype=np.int64)
    if len(wanted):
        made = {
            p: _tuple(Color, (f"#{r:02x}{g:02x}{b:02x}", _TRUECOLOR, None, _tuple(ColorTriplet, (r, g, b))))
            for p, (r, g, b) in zip(wanted.tolist(), _rgb(wanted).T.tolist())
        }
        colors.update(made)
        _COLORS.update(made)
    segments = {
        k: _tuple(Segment, (" ", Style.from_color(None, colors[bottom]), None))
        if top == bottom
        else _tuple(Segment, ("▀", Style.from_color(colors[top], colors[bottom]), None))
        for k, (top, bottom) in zip(keys, pairs)
    }
    _SEGMENTS.update(segments)
    return segments


def _shown_as(keys: np.ndarray, system: ColorSystem | None) -> np.ndarray:
    """For each color pair, a number equal for pairs the terminal shows alike."""
    colors, index = np.unique(np.concatenate([keys >> 18, keys & 0x3FFFF]), return_inverse=True)
    palette = downgrade(colors, system)
    if palette is None:
        return np.arange(len(keys))
    top, bottom = palette[index[: len(keys)]].astype(np.int64), palette[index[len(keys) :]]
    return (top << 8) | bottom


def downgrade(colors: np.ndarray, system: ColorSystem | None) -> np.ndarray | None:
    """The palette index each packed level color (r << 12 | g << 6 | b) becomes in a 256-
    or 16-color terminal: Rich's ``Color.downgrade``, vectorised. None for 24-bit color."""
    if system == ColorSystem.EIGHT_BIT:
        return _eight_bit(_rgb(colors))
    if system == ColorSystem.STANDARD and STANDARD_PALETTE is not None:
        return _standard(_rgb(colors), STANDARD_PALETTE)
    return None


def _rgb(colors: np.ndarray) -> np.ndarray:
    """3 x n 8-bit channel values of packed level colors."""
    return LEVEL_VALUE[np.stack([(colors >> s) & 63 for s in (12, 6, 0)]).astype(np.intp)].astype(np.int64)


def _eight_bit(rgb: np.ndarray) -> np.ndarray:
    """Rich's truecolor -> 8-bit mapping: a grey ramp below 15% saturation (HLS), else the 6x6x6 cube."""
    r, g, b = rgb / 255.0
    maxc, minc = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    lightness = (maxc + minc) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        saturation = np.where(
            maxc == minc,
            0.0,
            np.where(lightness <= 0.5, (maxc - minc) / (maxc + minc), (maxc - minc) / (2.0 - maxc - minc)),
        )
    gray = np.round(lightness * 25.0).astype(np.int64)
    grey_number = np.where(gray == 0, 16, np.where(gray == 25, 231, 231 + gray))
    six = np.where(rgb < 95, rgb / 95, 1 + (rgb - 95) / 40)
    cube = 16 + 36 * np.round(six[0]) + 6 * np.round(six[1]) + np.round(six[2])
    return np.where(saturation < 0.15, grey_number, cube).astype(np.uint8)


def _standard(rgb: np.ndarray, palette: Palette) -> np.ndarray:
    """Rich's ``Palette.match``: the nearest of the 16 colors by its weighted distance (first on ties)."""
    colors = np.array([tuple(palette[i]) for i in range(len(palette._colors))], dtype=np.int64)
    r1, g1, b1 = (c[:, None] for c in rgb)
    r2, g2, b2 = colors[:, 0], colors[:, 1], colors[:, 2]
    red_mean = (r1 + r2) // 2
    dr, dg, db = r1 - r2, g1 - g2, b1 - b2
    distance = (((512 + red_mean) * dr * dr) >> 8) + 4 * dg * dg + (((767 - red_mean) * db * db) >> 8)
    return np.argmin(distance, axis=1).astype(np.uint8)
