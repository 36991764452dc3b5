"""Image preview: decode (worker-safe), draw box outlines with numpy, half-cell blocks.

Coordinates: boxes are in the *oriented* original pixel frame (after EXIF
orientation, as annotation tools show the image). A decoded image covers a
``region`` of that frame (the whole image unless a region was asked for), so
``render_image`` can zoom into it; decode a region at a higher resolution
(``decode_image(..., region=...)``) for a sharp zoom into a large image.

Each terminal cell shows two vertical pixels ("▀", top pixel as foreground,
bottom pixel as background), so a ``(w, h)``-cell area holds ``w x 2h`` square
pixels. Ground truth is drawn solid, predictions dashed; the focus object is
ringed by a bright line and a dark halo outside its own outline.
"""

from __future__ import annotations

import io
import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from rich.align import Align
from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from labeltui.render.halfblock import HalfBlockImage
from labeltui.render.palette import (
    FOCUS_GLYPH,
    GT_FOCUS_RGB,
    GT_GLYPH,
    GT_RGB,
    GT_STYLE,
    HALO_RGB,
    ISSUE_MARKS,
    ISSUE_STYLE,
    PRED_FOCUS_RGB,
    PRED_GLYPH,
    PRED_RGB,
    PRED_STYLE,
    pack_legend,
)
from labeltui.render.preview_store import MAX_SIDE as STORE_SIDE
from labeltui.render.preview_store import MIN_SOURCE_PIXELS, PreviewStore

#: Largest image decoded at full resolution (Pillow's own warning threshold).
MAX_DECODE_PIXELS = 89_478_485
#: JPEGs decode at up to 1/8 scale (draft mode), so they may be this much larger.
MAX_JPEG_PIXELS = 2 * MAX_DECODE_PIXELS
#: An EXIF thumbnail is used when a band across the top 1/THUMB_CHECK_PART of the image
#: differs from it by at most THUMB_MAX_DIFF on average (a true one: ~5, stale after a 2% crop: > 12).
THUMB_CHECK_PART = 16
THUMB_MAX_DIFF = 9.0
#: Zoom: the object's region grows by this factor (half its size each side), to at least MIN_ZOOM_PX.
ZOOM_PAD = 2.0
MIN_ZOOM_PX = 32.0
DASH = 2  # dash and gap length of predicted boxes, in display pixels

_URL_PREFIXES = ("http://", "https://", "s3://", "gs://", "gcs://", "az://", "ftp://", "data:")
_WIDE_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_CHECKER = ((40, 40, 40), (58, 58, 58))


class PreviewError(Exception):
    """The preview cannot be shown; ``reason`` is a short human sentence for the pane."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class DecodedImage:
    """A decoded, downscaled RGB image and where it sits in the original frame.

    ``image`` covers ``region`` = (x0, y0, x1, y1) of the oriented original
    (``source_size`` = (w, h) after EXIF orientation); ``scale`` = decoded
    pixels per original pixel.
    """

    image: Image.Image
    source_size: tuple[int, int]
    scale: float
    region: tuple[float, float, float, float] | None = None  # None: the whole image

    def __post_init__(self) -> None:
        if self.region is None:
            self.region = (0.0, 0.0, float(self.source_size[0]), float(self.source_size[1]))


def decode_image(
    path: str | Path,
    max_size: tuple[int, int],
    *,
    region: tuple[float, float, float, float] | None = None,
    store: PreviewStore | None = None,
) -> DecodedImage:
    """Open, orient, downscale to fit ``max_size`` and convert an image to RGB.

    Safe to run in a worker thread. ``region`` (oriented original pixels)
    decodes only that part, at up to ``max_size``. A whole large image comes
    from ``store`` when it holds a big enough copy, else from the JPEG's EXIF
    thumbnail when that is big enough and agrees with the image, else from a
    (draft mode) decode, whose result ``store`` keeps in the background.
    Raises ``PreviewError`` with a short reason on any failure (missing,
    unreadable, not an image, truncated, too large, remote URL).
    """
    name = str(path)
    if name.lower().startswith(_URL_PREFIXES):
        raise PreviewError(f"remote image not fetched: {name}")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise PreviewError(f"image not found: {name}") from None
    except PermissionError:
        raise PreviewError(f"permission denied: {name}") from None
    except (OSError, ValueError) as exc:
        raise PreviewError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise PreviewError(f"a directory, not an image: {name}")
    if not stat.S_ISREG(st.st_mode):
        raise PreviewError(f"not a regular file: {name}")
    if st.st_size == 0:
        raise PreviewError(f"empty file: {name}")
    if store is not None and region is None:
        stored = _from_store(store, path, st, max_size)
        if stored is not None:
            return stored
    try:
        with warnings.catch_warnings():
            # sizes are checked below; Pillow's own error still guards the extreme cases
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise PreviewError(f"image too large ({_pixels_in(str(exc))})") from None
    except UnidentifiedImageError:
        raise PreviewError(f"not an image file: {name}") from None
    except PermissionError:
        raise PreviewError(f"permission denied: {name}") from None
    except Exception as exc:  # any other decoder failure is a broken file, not a crash
        raise PreviewError(f"cannot open image: {name} ({type(exc).__name__})") from None
    with img:
        try:
            decoded, frame = _decode(img, max_size, region, path, st.st_size)
        except PreviewError:
            raise
        except MemoryError:
            raise PreviewError(f"image too large ({img.size[0]}x{img.size[1]})") from None
        except Exception as exc:  # truncated data, bad EXIF, unsupported mode ...
            raise PreviewError(f"truncated or corrupt image: {name} ({_short(exc)})") from None
        if store is not None and frame is not None and decoded.source_size[0] * decoded.source_size[1] >= MIN_SOURCE_PIXELS:
            store.put(path, st, _store_copy(frame), decoded.source_size)
    return decoded


def _store_copy(frame: Image.Image) -> Image.Image:
    """A copy of ``frame`` for the store's writer (the original closes with its file),
    box-reduced by an integer factor towards ``STORE_SIDE`` first when it is larger."""
    factor = max(frame.size) // STORE_SIDE
    return frame.reduce(factor) if factor >= 2 else frame.copy()


def _from_store(store: PreviewStore, path, st, max_size: tuple[int, int]) -> DecodedImage | None:
    """The whole image fitted into ``max_size`` from the store's copy, if that copy is big enough."""
    hit = store.get(path, st)
    if hit is None:
        return None
    copy, (src_w, src_h) = hit
    s = min(max(1, int(max_size[0])) / src_w, max(1, int(max_size[1])) / src_h, 1.0)
    out = (max(1, round(src_w * s)), max(1, round(src_h * s)))
    if copy.size[0] < out[0] or copy.size[1] < out[1]:
        return None
    if copy.size != out:
        copy = copy.resize(out, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return DecodedImage(copy, (src_w, src_h), out[0] / src_w)


def _decode(
    img: Image.Image, max_size: tuple[int, int], region, path, file_size: int
) -> tuple[DecodedImage, Image.Image | None]:
    """The decoded image, and the whole oriented RGB frame it was reduced from
    (worth keeping in a store) or None (a region, a thumbnail, transparency)."""
    w0, h0 = img.size
    max_w, max_h = max(1, int(max_size[0])), max(1, int(max_size[1]))
    is_jpeg = img.format in ("JPEG", "MPO")
    if w0 * h0 > (MAX_JPEG_PIXELS if is_jpeg else MAX_DECODE_PIXELS):
        raise PreviewError(f"image too large ({w0}x{h0})")
    orientation = _orientation(img) if is_jpeg else 1
    if region is None:  # the whole image, in the oriented frame
        rw, rh = (h0, w0) if orientation in (5, 6, 7, 8) else (w0, h0)
    else:
        rw, rh = max(region[2] - region[0], 1.0), max(region[3] - region[1], 1.0)
    s = min(max_w / rw, max_h / rh, 1.0)
    frame = img
    if is_jpeg:
        thumb = _exif_thumbnail(img, path, file_size, s) if region is None else None
        if thumb is not None:
            frame = thumb.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else thumb
        else:
            img.draft("RGB", (max(1, math.ceil(w0 * s)), max(1, math.ceil(h0 * s))))
            if img.size[0] * img.size[1] > MAX_DECODE_PIXELS:
                raise PreviewError(f"image too large ({w0}x{h0})")
    if frame is img:
        before = img.size
        ImageOps.exif_transpose(img, in_place=True)
        swapped = img.size != before
    else:
        swapped = orientation in (5, 6, 7, 8)
    src_w, src_h = (h0, w0) if swapped else (w0, h0)
    fx, fy = frame.size[0] / src_w, frame.size[1] / src_h
    if region is None:
        rx0, ry0, rx1, ry1 = 0.0, 0.0, float(src_w), float(src_h)
    else:
        rx0, ry0 = min(max(float(region[0]), 0.0), src_w - 1.0), min(max(float(region[1]), 0.0), src_h - 1.0)
        rx1, ry1 = min(max(float(region[2]), rx0 + 1.0), src_w), min(max(float(region[3]), ry0 + 1.0), src_h)
    s = min(max_w / (rx1 - rx0), max_h / (ry1 - ry0), 1.0)
    out = (max(1, round((rx1 - rx0) * s)), max(1, round((ry1 - ry0) * s)))
    rgb = _to_rgb_or_rgba(frame)
    keep = rgb if region is None and frame is img and rgb.mode == "RGB" else None
    box = (rx0 * fx, ry0 * fy, rx1 * fx, ry1 * fy)
    if out != rgb.size or box != (0.0, 0.0, float(rgb.size[0]), float(rgb.size[1])):
        rgb = rgb.resize(out, Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)
    if rgb.mode == "RGBA":
        rgb = _over_checker(rgb)
    return DecodedImage(rgb, (src_w, src_h), out[0] / (rx1 - rx0), (rx0, ry0, rx1, ry1)), keep


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF: exif_transpose reports it if it matters
        return 1
    return value if isinstance(value, int) else 1


def _exif_thumbnail(img: Image.Image, path, file_size: int, s: float) -> Image.Image | None:
    """The JPEG's EXIF thumbnail (stored frame, RGB) when it has at least the
    ``s`` scale the preview needs, the image's aspect ratio, and a band across
    the top of the image looks the same (a stale thumbnail left by an editing
    tool is not shown); None otherwise, also when anything about it is broken."""
    exif = img.info.get("exif")
    if not isinstance(exif, bytes) or not exif.startswith(b"Exif\x00\x00"):
        return None
    try:
        ifd1 = img.getexif().get_ifd(ExifTags.IFD.IFD1)
        offset, length = ifd1.get(0x0201), ifd1.get(0x0202)
        if not isinstance(offset, int) or not isinstance(length, int) or offset <= 0 or length <= 0:
            return None
        w0, h0 = img.size
        with Image.open(io.BytesIO(exif[6 + offset : 6 + offset + length])) as thumb:
            tw, th = thumb.size
            if thumb.format != "JPEG" or tw < w0 * s - 0.5 or th < h0 * s - 0.5 or abs(tw * h0 - th * w0) > max(w0, h0):
                return None
            rgb = thumb.convert("RGB")
        return rgb if _top_band_agrees(img, path, file_size, rgb) else None
    except Exception:  # a broken thumbnail or band: decode the image itself
        return None


def _top_band_agrees(img: Image.Image, path, file_size: int, thumb: Image.Image) -> bool:
    """True when a band across the top of the image (``1/THUMB_CHECK_PART`` of
    its height, decoded at 1/8 scale from the start of the file with the frame
    height patched) matches ``thumb`` within ``THUMB_MAX_DIFF`` (mean absolute
    difference, 0-255)."""
    layout = _jpeg_layout(path)
    if layout is None:
        return False
    height_at, scan_at = layout
    w0, h0 = img.size
    band_h = min(h0, -(-h0 // THUMB_CHECK_PART // 16) * 16)  # whole 16-pixel block rows
    with open(path, "rb") as f:
        data = bytearray(f.read(scan_at + 2 * (file_size - scan_at) // THUMB_CHECK_PART))
    data[height_at : height_at + 2] = band_h.to_bytes(2, "big")
    with Image.open(io.BytesIO(bytes(data) + b"\xff\xd9")) as band:
        band.draft("RGB", (thumb.width, band_h * thumb.height // h0 + 1))
        a = np.asarray(band.convert("RGB"))
    # rows past the end of the data are exactly mid grey (no coefficients); the
    # last decoded block row may be partly filled: leave it out
    grey = (a == 128).all(axis=(1, 2))
    rows = (int(np.argmax(grey)) if grey.any() else a.shape[0]) - math.ceil(16 * a.shape[0] / band_h)
    per_row = band_h / a.shape[0]  # original pixels per band row
    t_rows = int(rows * per_row * thumb.height / h0)
    if t_rows < 2:
        return False
    box = (0.0, 0.0, float(a.shape[1]), t_rows * h0 / thumb.height / per_row)
    strip = Image.fromarray(a).resize((thumb.width, t_rows), Image.Resampling.BOX, box=box)
    diff = np.abs(np.asarray(strip, dtype=np.int16) - np.asarray(thumb, dtype=np.int16)[:t_rows])
    return float(diff.mean()) <= THUMB_MAX_DIFF


def _jpeg_layout(path) -> tuple[int, int] | None:
    """(offset of the frame height in the SOF segment, offset where the first scan's
    data starts) of a JPEG file, or None when the markers do not parse."""
    height_at = None
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            return None
        while True:
            marker = f.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            if 0xD0 <= marker[1] <= 0xD9 or marker[1] == 0x01:
                continue
            size = f.read(2)
            if len(size) < 2:
                return None
            length = int.from_bytes(size, "big")
            if length < 2:  # a broken segment: reading on would not advance
                return None
            if marker[1] in _SOF_MARKERS:
                height_at = f.tell() + 1
            if marker[1] == 0xDA:
                return None if height_at is None else (height_at, f.tell() + length - 2)
            f.seek(length - 2, os.SEEK_CUR)


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _to_rgb_or_rgba(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB, or RGBA when the image has transparency."""
    if img.mode == "RGB":
        return img
    if img.mode in _WIDE_MODES:  # 16-bit / int / float grey: stretch the finite range
        a = np.asarray(img, dtype=np.float32)
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        a = np.nan_to_num((a - lo) * (255.0 / max(hi - lo, 1e-12)), nan=0.0, posinf=255.0, neginf=0.0)
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).convert("RGB")
    try:
        if img.mode in _ALPHA_MODES or "transparency" in img.info:
            return img.convert("RGBA")
        return img.convert("RGB")
    except ValueError:  # e.g. LAB: Pillow has no conversion to RGB
        raise PreviewError(f"unsupported image mode {img.mode}") from None


def _over_checker(rgba: Image.Image) -> Image.Image:
    """Composite a transparent image over a dark checkerboard."""
    w, h = rgba.size
    cell = max(2, min(w, h) // 16)
    yy, xx = np.indices((h, w))
    dark = ((yy // cell + xx // cell) % 2).astype(bool)
    bg = np.where(dark[..., None], np.uint8(_CHECKER[1]), np.uint8(_CHECKER[0])).astype(np.uint8)
    base = Image.fromarray(bg, "RGB").convert("RGBA")
    return Image.alpha_composite(base, rgba).convert("RGB")


def _pixels_in(message: str) -> str:
    digits = [int(t.strip("(")) for t in message.split() if t.strip("(").isdigit()]
    return f"{digits[0]:,} pixels" if digits else "decompression bomb"


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:60]


# ---------------------------------------------------------------- box drawing


def _floats(column: pd.Series) -> np.ndarray:
    """A column as float64 (NaN for missing or non-numeric values)."""
    if not pd.api.types.is_numeric_dtype(column.dtype):
        column = pd.to_numeric(column, errors="coerce")
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class BoxTable:
    """The columns the image renderer reads, pulled out of a boxes table once
    (column access is the slow part of a small DataFrame)."""

    source: np.ndarray
    label: np.ndarray
    xy: np.ndarray
    confidence: np.ndarray
    issue: np.ndarray
    polygon: np.ndarray

    @classmethod
    def of(cls, boxes: pd.DataFrame | BoxTable | None) -> BoxTable:
        """``boxes`` as a BoxTable (missing columns get defaults)."""
        if isinstance(boxes, BoxTable):
            return boxes
        boxes = boxes if boxes is not None else pd.DataFrame()
        n = len(boxes)
        cols = boxes.columns
        xy = np.full((n, 4), np.nan)
        for i, col in enumerate(("x0", "y0", "x1", "y1")):
            if col in cols:
                xy[:, i] = _floats(boxes[col])
        polygon = np.full(n, None, dtype=object)
        if "polygon" in cols:
            polygon[:] = [_as_polygon(p) for p in boxes["polygon"].tolist()]
        return cls(
            source=_column(boxes, "source", "gt"),
            label=_column(boxes, "label", "?").astype(str),
            xy=xy,
            confidence=_floats(boxes["confidence"]) if "confidence" in cols else np.full(n, np.nan),
            issue=_column(boxes, "issue", "").astype(str),
            polygon=polygon,
        )

    def __len__(self) -> int:
        return len(self.xy)


def _column(boxes: pd.DataFrame, name: str, default) -> np.ndarray:
    if name not in boxes.columns:
        return np.full(len(boxes), default, dtype=object)
    values = boxes[name].to_numpy(dtype=object, copy=True)
    values[pd.isna(values)] = default
    return values


def _as_polygon(value) -> np.ndarray | None:
    if value is None or isinstance(value, (str, bytes, float, int)):
        return None
    try:
        a = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    if a.size < 6 or a.size % 2 or not np.isfinite(a).all():
        return None
    return a.reshape(-1, 2)


def draw_boxes(
    buffer: np.ndarray,
    boxes: pd.DataFrame | BoxTable,
    scale: float | tuple[float, float],
    offset: tuple[float, float] = (0.0, 0.0),
    *,
    focus: int | None = None,
    show_gt: bool = True,
    show_pred: bool = True,
) -> np.ndarray:
    """Draw box (or polygon) outlines into ``buffer`` (H x W x 3 uint8) in place.

    A point at original pixel ``(x, y)`` lands at buffer pixel
    ``((x - offset[0]) * sx, (y - offset[1]) * sy)``. Ground truth solid in
    ``GT_RGB``, predictions dashed in ``PRED_RGB``; ``focus`` (a position in
    ``boxes``) also gets a bright ring (same dash style) and a dark halo just
    outside, and is drawn even when its source is hidden. Returns ``buffer``.
    """
    table = BoxTable.of(boxes)
    n = len(table)
    if n == 0:
        return buffer
    sx, sy = (scale, scale) if np.isscalar(scale) else scale
    polys = table.polygon
    disp = (table.xy - [offset[0], offset[1], offset[0], offset[1]]) * [sx, sy, sx, sy]
    src = table.source
    is_pred = src == "pred"
    visible = np.where(is_pred, show_pred, show_gt & (src == "gt"))
    focus_mask = np.zeros(n, dtype=bool)
    if focus is not None and 0 <= focus < n:
        focus_mask[focus] = True
    shown = visible | focus_mask
    # the focus keeps its plain outline (so a coincident partner box still shows
    # through, interleaved), plus a bright ring outside it and a dark halo
    passes = [
        (shown & ~is_pred, GT_RGB, 0, False),
        (shown & is_pred, PRED_RGB, 0, True),
    ]
    if focus_mask.any():
        fp = bool(is_pred[focus_mask][0])
        passes += [
            (focus_mask, HALO_RGB, 2, False),
            (focus_mask, PRED_FOCUS_RGB if fp else GT_FOCUS_RGB, 1, fp),
        ]
    h, w = buffer.shape[:2]
    for mask, color, ring, dashed in passes:
        segs = _outline_segments(disp, polys, sx, sy, offset, mask, ring)
        if len(segs):
            _draw_segments(buffer, segs, color, dashed, w, h)
    return buffer


def _outline_segments(disp, polys, sx, sy, offset, mask, ring) -> np.ndarray:
    """Integer pixel segments (m x 4: x0, y0, x1, y1) outlining the masked objects,
    grown outward by ``ring`` pixels (polygons: shifted copies for ring 1; no ring 2)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return np.zeros((0, 4), np.int64)
    has_poly = np.array([polys[i] is not None for i in idx], dtype=bool)
    out = []
    rect = idx[~has_poly]
    rect = rect[np.isfinite(disp[rect]).all(axis=1)]
    if rect.size:
        d = disp[rect]
        left = np.floor(np.minimum(d[:, 0], d[:, 2]))
        right = np.maximum(np.ceil(np.maximum(d[:, 0], d[:, 2])) - 1, left)
        top = np.floor(np.minimum(d[:, 1], d[:, 3]))
        bottom = np.maximum(np.ceil(np.maximum(d[:, 1], d[:, 3])) - 1, top)
        lf, rt, tp, bt = left - ring, right + ring, top - ring, bottom + ring
        out.append(
            np.concatenate(
                [
                    np.stack([lf, tp, rt, tp], 1),
                    np.stack([lf, bt, rt, bt], 1),
                    np.stack([lf, tp, lf, bt], 1),
                    np.stack([rt, tp, rt, bt], 1),
                ]
            )
        )
    poly_idx = idx[has_poly]
    if poly_idx.size and ring != 2:
        pts = [polys[i] for i in poly_idx]
        starts = np.concatenate(pts)
        ends = np.concatenate([np.roll(p, -1, axis=0) for p in pts])
        seg = np.floor((np.concatenate([starts, ends], axis=1) - np.tile(offset, 2)) * np.array([sx, sy, sx, sy]))
        shifts = ((0, 0),) if ring == 0 else ((1, 0), (0, 1), (1, 1))
        out.extend(seg + [dx, dy, dx, dy] for dx, dy in shifts)
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0, 4), np.int64)


def _draw_segments(buffer, segs, color, dashed, w, h) -> None:
    """Rasterise integer segments into ``buffer``, clipped to it (vectorised)."""
    x0, y0, x1, y1 = (segs[:, k].astype(np.float64) for k in range(4))
    dx, dy = x1 - x0, y1 - y0
    n = np.maximum(np.abs(dx), np.abs(dy))
    t0, t1 = np.zeros(len(segs)), np.ones(len(segs))
    keep = np.ones(len(segs), dtype=bool)
    for p, q in ((-dx, x0), (dx, w - 1 - x0), (-dy, y0), (dy, h - 1 - y0)):
        zero = p == 0
        keep &= ~(zero & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = q / p
        t0 = np.where(~zero & (p < 0), np.maximum(t0, r), t0)
        t1 = np.where(~zero & (p > 0), np.minimum(t1, r), t1)
    i0 = np.ceil(t0 * n - 1e-9).astype(np.int64)
    i1 = np.floor(t1 * n + 1e-9).astype(np.int64)
    count = np.where(keep, np.maximum(i1 - i0 + 1, 0), 0)
    total = int(count.sum())
    if total == 0:
        return
    seg = np.repeat(np.arange(len(segs)), count)
    step = np.arange(total) - np.repeat(np.cumsum(count) - count, count) + i0[seg]
    t = step / np.maximum(n[seg], 1)
    px = np.clip(np.rint(x0[seg] + t * dx[seg]).astype(np.int64), 0, w - 1)
    py = np.clip(np.rint(y0[seg] + t * dy[seg]).astype(np.int64), 0, h - 1)
    if dashed:  # phase from the pixel position, so parallel rings and neighbours line up
        along = np.where(np.abs(dx[seg]) >= np.abs(dy[seg]), px, py)
        on = ((along // DASH) % 2 == 0) | (step == 0) | (step == n[seg])
        px, py = px[on], py[on]
    buffer[py, px] = color


# ---------------------------------------------------------------- composing


@dataclass
class View:
    """What a composed buffer shows: ``region`` of the original frame at ``scale`` (sx, sy)."""

    region: tuple[float, float, float, float]
    scale: tuple[float, float]
    size: tuple[int, int]  # buffer (width, height) in pixels


def zoom_region(
    decoded: DecodedImage,
    zoom: tuple[float, float, float, float] | None,
    pixels: tuple[int, int],
) -> tuple[float, float, float, float]:
    """The original-frame region to show: the decoded region, or ``zoom`` padded
    by ``ZOOM_PAD`` (at least ``MIN_ZOOM_PX``), stretched to the aspect of
    ``pixels`` (w, h) and shifted inside the decoded region."""
    fx0, fy0, fx1, fy1 = decoded.region
    if zoom is None or not np.isfinite(np.asarray(zoom, dtype=np.float64)).all():
        return decoded.region
    x0, y0, x1, y1 = (float(v) for v in zoom)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w = max(abs(x1 - x0) * ZOOM_PAD, MIN_ZOOM_PX)
    h = max(abs(y1 - y0) * ZOOM_PAD, MIN_ZOOM_PX)
    aspect = pixels[0] / max(pixels[1], 1)
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    w, h = min(w, fx1 - fx0), min(h, fy1 - fy0)
    rx0 = min(max(cx - w / 2, fx0), fx1 - w)
    ry0 = min(max(cy - h / 2, fy0), fy1 - h)
    return (rx0, ry0, rx0 + w, ry0 + h)


def compose_image(
    decoded: DecodedImage,
    boxes: pd.DataFrame | BoxTable | None,
    *,
    cells: tuple[int, int],
    focus: int | None = None,
    zoom: tuple[float, float, float, float] | None = None,
    show_gt: bool = True,
    show_pred: bool = True,
) -> tuple[np.ndarray, View]:
    """The pixel buffer (H x W x 3 uint8, H even) of the preview before it becomes
    text: the image (or the zoomed region) fitted into ``cells`` with the box
    outlines drawn in, and the ``View`` that maps original pixels to it."""
    cw, ch = max(1, int(cells[0])), max(1, int(cells[1]))
    region = zoom_region(decoded, zoom, (cw, 2 * ch))
    rw, rh = region[2] - region[0], region[3] - region[1]
    s = min(cw / rw, 2 * ch / rh)
    width = max(1, min(cw, round(rw * s)))
    height = 2 * max(1, min(ch, round(rh * s / 2)))
    d0x, d0y, d1x, d1y = decoded.region
    fx = decoded.image.size[0] / (d1x - d0x)
    fy = decoded.image.size[1] / (d1y - d0y)
    crop = ((region[0] - d0x) * fx, (region[1] - d0y) * fy, (region[2] - d0x) * fx, (region[3] - d0y) * fy)
    img = decoded.image.resize((width, height), Image.Resampling.BILINEAR, box=crop, reducing_gap=2.0)
    buffer = np.array(img, dtype=np.uint8)
    scale = (width / rw, height / rh)
    if boxes is not None and len(boxes):
        draw_boxes(buffer, boxes, scale, (region[0], region[1]), focus=focus, show_gt=show_gt, show_pred=show_pred)
    return buffer, View(region, scale, (width, height))


# ---------------------------------------------------------------- legend


def _describe(source: str, label: str, conf: float) -> Text:
    glyph, style = (PRED_GLYPH, PRED_STYLE) if source == "pred" else (GT_GLYPH, GT_STYLE)
    text = Text.assemble((f"{glyph} {'pred' if source == 'pred' else 'GT'}", style), f" {label}")
    if source == "pred" and np.isfinite(conf):
        text.append(f" {conf:.2f}")
    return text


def image_legend(
    boxes: pd.DataFrame | BoxTable | None,
    *,
    focus: int | None = None,
    show_gt: bool = True,
    show_pred: bool = True,
    width: int = 80,
) -> list[Text]:
    """Legend lines (each at most ``width`` cells): the focus object and its issue,
    GT and prediction counts per class (solid vs dashed glyph), other issues."""
    table = BoxTable.of(boxes)
    n = len(table)
    src, labels, conf, issues = table.source, table.label, table.confidence, table.issue
    entries: list[Text] = []
    if focus is not None and 0 <= focus < n:
        entry = Text.assemble((f"{FOCUS_GLYPH} ", ISSUE_STYLE), _describe(src[focus], labels[focus], conf[focus]))
        if issues[focus]:
            entry.append(f" · {ISSUE_MARKS.get(issues[focus], '!')} {issues[focus]}", ISSUE_STYLE)
        entries.append(entry)
    for source, shown, glyph, style, name in (
        ("gt", show_gt, GT_GLYPH, GT_STYLE, "GT"),
        ("pred", show_pred, PRED_GLYPH, PRED_STYLE, "pred"),
    ):
        mask = src == source
        entry = Text(f"{glyph} {name}", style=style)
        if not shown:
            entry.append(" hidden", "dim")
        elif not mask.any():
            entry.append(" none", "dim")
        else:
            names, counts = np.unique(labels[mask], return_counts=True)
            parts = []
            for label, count in sorted(zip(names.tolist(), counts.tolist()), key=lambda lc: -lc[1]):
                part = f"{label} {count}"
                if source == "pred":
                    c = conf[mask][labels[mask] == label]
                    c = c[np.isfinite(c)]
                    if c.size:
                        part += f" ({c.min():.2f}" + (f"–{c.max():.2f})" if c.max() > c.min() else ")")
                parts.append(part)
            entry.append(" " + ", ".join(parts))
        entries.append(entry)
    others = issues[(issues != "") & (np.arange(n) != (focus if focus is not None else -1))]
    if others.size:
        names, counts = np.unique(others, return_counts=True)
        entry = Text("issues:", ISSUE_STYLE)
        for issue, count in sorted(zip(names.tolist(), counts.tolist()), key=lambda ic: -ic[1]):
            entry.append(f" {ISSUE_MARKS.get(issue, '!')} {issue}" + (f" ×{count}" if count > 1 else ""))
        entries.append(entry)
    return pack_legend(entries, width)


def render_image(
    decoded: DecodedImage,
    boxes: pd.DataFrame | BoxTable | None,
    *,
    cells: tuple[int, int],
    focus: int | None = None,
    zoom: tuple[float, float, float, float] | None = None,
    show_gt: bool = True,
    show_pred: bool = True,
    labels: bool = True,
) -> Group:
    """The image preview in ``cells`` (width, height): the picture with box
    outlines (GT solid, predictions dashed, ``focus`` emphasised), then, when
    ``labels``, legend lines; legend and image together fit in ``cells``
    (the legend takes at most a quarter of the height)."""
    cw, ch = max(1, int(cells[0])), max(1, int(cells[1]))
    boxes = BoxTable.of(boxes)
    legend = image_legend(boxes, focus=focus, show_gt=show_gt, show_pred=show_pred, width=cw) if labels else []
    legend = legend[: max(0, min(len(legend), ch // 4))] if ch > 1 else []
    buffer, _ = compose_image(
        decoded, boxes, cells=(cw, ch - len(legend)), focus=focus, zoom=zoom, show_gt=show_gt, show_pred=show_pred
    )
    return Group(HalfBlockImage(buffer), *legend)


def placeholder(reason: str, cells: tuple[int, int]) -> Panel:
    """A panel of ``cells`` (width, height) saying there is no preview and why."""
    cw, ch = max(10, int(cells[0])), max(3, int(cells[1]))
    body = Text.assemble(("✗ ", "bold"), ("no preview: ", "bold"), reason, justify="center")
    return Panel(Align.center(body, vertical="middle"), width=cw, height=ch, border_style="dim")
