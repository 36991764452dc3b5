"""Test helper: save a JPEG with an EXIF thumbnail (IFD1), as cameras write them.

Pillow writes EXIF but not the IFD1 thumbnail, so the APP1 block is built here:
a little-endian TIFF header, IFD0 with the Orientation tag, IFD1 pointing at
the thumbnail's JPEG bytes, then those bytes.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

from PIL import Image


def exif_with_thumbnail(thumbnail: bytes, orientation: int = 1) -> bytes:
    """The bytes of an EXIF block (``Exif\\0\\0`` + TIFF) holding ``thumbnail`` (JPEG bytes) in IFD1."""
    ifd0_at, ifd1_at = 8, 8 + 2 + 12 + 4
    data_at = ifd1_at + 2 + 2 * 12 + 4
    tiff = b"II*\x00" + struct.pack("<I", ifd0_at)
    tiff += struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", ifd1_at)
    tiff += struct.pack("<H", 2)
    tiff += struct.pack("<HHII", 0x0201, 4, 1, data_at) + struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail))
    tiff += struct.pack("<I", 0)
    return b"Exif\x00\x00" + tiff + thumbnail


def save_with_thumbnail(
    image: Image.Image,
    path: Path,
    *,
    thumbnail: Image.Image | None = None,
    thumb_size: tuple[int, int] = (160, 120),
    orientation: int = 1,
    quality: int = 90,
) -> Path:
    """Save ``image`` as a JPEG whose EXIF carries ``thumbnail`` (default: ``image``
    reduced to ``thumb_size``, JPEG q75 like a camera's)."""
    thumb = thumbnail if thumbnail is not None else image.resize(thumb_size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    thumb.convert("RGB").save(buf, "JPEG", quality=75)
    image.save(path, "JPEG", quality=quality, exif=exif_with_thumbnail(buf.getvalue(), orientation))
    return path
