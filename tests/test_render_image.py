"""Image preview: decoding (modes, EXIF orientation, failures), box outlines, zoom, half blocks."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from rich.console import Console, Group
from rich.panel import Panel

from labeltui.render import image as rimg
from labeltui.render.image import (
    DecodedImage,
    HalfBlockImage,
    PreviewError,
    compose_image,
    decode_image,
    draw_boxes,
    placeholder,
    render_image,
    zoom_region,
)
from labeltui.render.palette import GT_FOCUS_RGB, GT_RGB, HALO_RGB, PRED_FOCUS_RGB, PRED_RGB
from labeltui.render.preview_store import PreviewStore
from tests.helpers.exif import exif_with_thumbnail, save_with_thumbnail

RED = (220, 20, 20)


def boxes(*rows) -> pd.DataFrame:
    """rows: (source, label, x0, y0, x1, y1[, confidence[, issue]])."""
    recs = []
    for r in rows:
        src, label, x0, y0, x1, y1 = r[:6]
        recs.append(
            {
                "source": src,
                "label": label,
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
                "confidence": r[6] if len(r) > 6 else np.nan,
                "issue": r[7] if len(r) > 7 else "",
            }
        )
    return pd.DataFrame(recs)


def color_at(buf: np.ndarray, x: int, y: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in buf[y, x])


def oriented_scene() -> Image.Image:
    """60x40 black image (as a viewer shows it) with a red block at (10,5)-(30,15)."""
    a = np.zeros((40, 60, 3), np.uint8)
    a[5:15, 10:30] = RED
    return Image.fromarray(a)


# ------------------------------------------------------------------ decoding


def test_decode_jpeg_downscales_and_reports_original_size(tmp_path):
    p = tmp_path / "a.jpg"
    Image.new("RGB", (400, 300), (10, 200, 30)).save(p, quality=95)
    d = decode_image(p, (100, 100))
    assert d.image.mode == "RGB"
    assert d.image.size == (100, 75)
    assert d.source_size == (400, 300)
    assert d.scale == pytest.approx(0.25)
    assert d.region == (0.0, 0.0, 400.0, 300.0)
    r, g, b = d.image.getpixel((50, 37))
    assert g > 180 and r < 40 and b < 60


def test_decode_large_jpeg_uses_draft_and_fits(tmp_path):
    p = tmp_path / "big.jpg"
    Image.new("RGB", (2400, 1600), (128, 128, 128)).save(p, quality=80)
    d = decode_image(p, (150, 150))
    assert d.image.size == (150, 100)
    assert d.source_size == (2400, 1600)


def test_decode_small_image_is_not_enlarged(tmp_path):
    p = tmp_path / "s.png"
    Image.new("RGB", (20, 10), (1, 2, 3)).save(p)
    d = decode_image(p, (200, 200))
    assert d.image.size == (20, 10) and d.scale == 1.0


def test_decode_cmyk_jpeg_to_rgb(tmp_path):
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(p, quality=95)  # red ink
    d = decode_image(p, (32, 32))
    assert d.image.mode == "RGB" and d.image.size == (32, 32)
    r, g, b = d.image.getpixel((16, 16))
    assert r > 200 and g < 60 and b < 60


def test_decode_16bit_grey_is_stretched(tmp_path):
    p = tmp_path / "deep.png"
    a = np.tile(np.linspace(1000, 5000, 64).astype(np.uint16), (16, 1))
    Image.fromarray(a).save(p)
    assert Image.open(p).mode.startswith("I")
    d = decode_image(p, (64, 64))
    row = np.asarray(d.image)[8, :, 0].astype(int)
    assert d.image.mode == "RGB"
    assert row[0] <= 5 and row[-1] >= 250  # full range used, not clipped to white
    assert (np.diff(row) >= 0).all()


def test_decode_palette_with_and_without_transparency(tmp_path):
    plain = tmp_path / "p.png"
    img = Image.new("P", (8, 8), 1)
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    img.save(plain)
    assert decode_image(plain, (8, 8)).image.getpixel((3, 3)) == (0, 0, 255)
    trans = tmp_path / "pt.png"
    img.save(trans, transparency=1)
    px = decode_image(trans, (8, 8)).image.getpixel((3, 3))
    assert px in (rimg._CHECKER[0], rimg._CHECKER[1])


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_decode_alpha_over_dark_checker(tmp_path, mode):
    p = tmp_path / "alpha.png"
    a = np.zeros((32, 32, 4), np.uint8)
    a[:, 16:] = (250, 250, 250, 255)  # right half opaque white, left half transparent
    Image.fromarray(a, "RGBA").convert(mode).save(p)
    d = decode_image(p, (32, 32))
    left = {d.image.getpixel((x, y)) for x in range(0, 14) for y in range(32)}
    assert left <= {rimg._CHECKER[0], rimg._CHECKER[1]} and len(left) == 2
    assert d.image.getpixel((24, 10)) == (250, 250, 250)


def test_mode_without_an_rgb_conversion_is_a_preview_error():
    with pytest.raises(PreviewError, match="unsupported image mode La"):
        rimg._to_rgb_or_rgba(Image.new("La", (4, 4)))


INVERSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(INVERSE))
def test_exif_orientation_boxes_land_on_the_object(tmp_path, orientation):
    scene = oriented_scene()
    stored = scene.transpose(INVERSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "o.png"
    stored.save(p, exif=exif)
    d = decode_image(p, (200, 200))
    assert d.source_size == (60, 40)
    assert np.array_equal(np.asarray(d.image), np.asarray(scene))
    buf, view = compose_image(d, boxes(("gt", "car", 10, 5, 30, 15)), cells=(60, 20))
    assert view.size == (60, 40) and view.scale == (1.0, 1.0)
    assert color_at(buf, 10, 5) == GT_RGB and color_at(buf, 29, 14) == GT_RGB
    assert color_at(buf, 20, 5) == GT_RGB and color_at(buf, 10, 10) == GT_RGB
    assert color_at(buf, 20, 10) == RED  # inside the box: the red object itself
    assert color_at(buf, 9, 4) == (0, 0, 0) and color_at(buf, 31, 16) == (0, 0, 0)


def test_exif_rotated_jpeg_reports_oriented_size(tmp_path):
    scene = oriented_scene().resize((600, 400))
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "cam.jpg"
    scene.transpose(Image.Transpose.ROTATE_90).save(p, exif=exif, quality=95)
    d = decode_image(p, (60, 60))
    assert d.source_size == (600, 400)
    assert d.image.size == (60, 40)
    r, g, b = d.image.getpixel((20, 10))
    assert r > 150 and g < 80


def test_decode_region_covers_only_that_part(tmp_path):
    a = np.zeros((300, 400, 3), np.uint8)
    a[150:, 200:] = (0, 0, 255)
    p = tmp_path / "q.png"
    Image.fromarray(a).save(p)
    d = decode_image(p, (100, 100), region=(200, 150, 400, 300))
    assert d.region == (200.0, 150.0, 400.0, 300.0)
    assert d.image.size == (100, 75) and d.scale == pytest.approx(0.5)
    assert (np.asarray(d.image)[2:-2, 2:-2] == (0, 0, 255)).all()
    buf, view = compose_image(d, boxes(("gt", "x", 300, 200, 340, 240)), cells=(100, 38))
    assert view.region == d.region
    sx, sy = view.scale
    assert color_at(buf, int(np.floor((300 - 200) * sx)), int(np.floor((200 - 150) * sy))) == GT_RGB


# ------------------------------------------------------------------ EXIF thumbnails, preview store


def photo(size=(1280, 960)) -> Image.Image:
    """A camera-like photo: the demo's aerial scene enlarged, with sensor noise."""
    demo = Path(__file__).resolve().parents[1] / "demo" / "detection" / "images" / "lot_009.jpg"
    big = Image.open(demo).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    a = np.asarray(big, np.float32) + np.random.default_rng(0).normal(0, 6, (size[1], size[0], 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def marked_thumbnail(img: Image.Image, size=(160, 120), right: bool = True) -> Image.Image:
    """``img`` reduced, with a pure green block in its bottom-right (or -left) corner,
    outside the band that is checked: it shows whether a preview came from the thumbnail."""
    thumb = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    a = np.array(thumb)
    a[-30:, slice(-40, None) if right else slice(0, 40)] = (0, 255, 0)
    return Image.fromarray(a)


def green_corner(d: DecodedImage, right: bool = True) -> bool:
    w, h = d.image.size
    r, g, b = d.image.getpixel((w - 3 if right else 2, h - 3))
    return g > 200 and r < 60 and b < 60


def test_exif_thumbnail_serves_a_small_preview(tmp_path):
    img = photo()
    p = save_with_thumbnail(img, tmp_path / "cam.jpg", thumbnail=marked_thumbnail(img))
    d = decode_image(p, (128, 128))
    assert green_corner(d)  # from the thumbnail
    assert d.source_size == (1280, 960) and d.image.size == (128, 96) and d.scale == pytest.approx(0.1)
    assert d.region == (0.0, 0.0, 1280.0, 960.0)
    assert not green_corner(decode_image(p, (320, 320)))  # bigger than the thumbnail: the image itself


def test_exif_thumbnail_follows_the_orientation_and_boxes_line_up(tmp_path):
    scene = np.zeros((960, 1280, 3), np.uint8)
    scene[100:300, 200:600] = RED
    scene = Image.fromarray(scene)
    thumb = marked_thumbnail(scene, right=False)  # bottom left: stays out of the stored frame's top band
    p = tmp_path / "rot.jpg"
    save_with_thumbnail(
        scene.transpose(INVERSE[6]), p, thumbnail=thumb.transpose(INVERSE[6]), orientation=6
    )
    d = decode_image(p, (128, 128))
    assert green_corner(d, right=False) and d.source_size == (1280, 960) and d.image.size == (128, 96)
    buf, view = compose_image(d, boxes(("gt", "car", 200, 100, 600, 300)), cells=(128, 48))
    assert view.scale == (pytest.approx(0.1), pytest.approx(0.1))
    assert color_at(buf, 20, 10) == GT_RGB and color_at(buf, 59, 29) == GT_RGB
    r, g, b = color_at(buf, 40, 20)  # inside the box: the red object
    assert r > 180 and g < 60 and b < 60


@pytest.mark.parametrize(
    "stale",
    [
        pytest.param(lambda img: img.crop((32, 24, 1248, 936)), id="cropped-5%"),
        pytest.param(lambda img: img.transpose(Image.Transpose.FLIP_TOP_BOTTOM), id="flipped"),
        pytest.param(lambda img: img.crop((0, 0, 960, 960)), id="other-aspect"),
    ],
)
def test_stale_exif_thumbnail_is_not_shown(tmp_path, stale):
    img = photo()
    p = save_with_thumbnail(img, tmp_path / "edited.jpg", thumbnail=marked_thumbnail(stale(img)))
    d = decode_image(p, (128, 128))
    assert not green_corner(d)
    assert np.abs(np.asarray(d.image, np.int16) - np.asarray(img.resize((128, 96)), np.int16)).mean() < 8


def test_broken_exif_thumbnail_falls_back_to_the_image(tmp_path):
    img = photo((640, 480))
    exif = exif_with_thumbnail(b"\xff\xd8 not a jpeg at all")
    p = tmp_path / "junk.jpg"
    img.save(p, quality=90, exif=exif[:-10])  # the IFD1 length points past the end, too
    d = decode_image(p, (64, 64))
    assert d.image.size == (64, 48) and d.source_size == (640, 480)


def test_jpeg_layout_finds_the_frame_height_and_scan_and_stops_on_broken_markers(tmp_path):
    good = tmp_path / "g.jpg"
    Image.new("RGB", (32, 16)).save(good, exif=exif_with_thumbnail(b"\xff\xd8\xff\xda thumbnail bytes"))
    data = good.read_bytes()
    height_at, scan_at = rimg._jpeg_layout(good)
    assert int.from_bytes(data[height_at : height_at + 2], "big") == 16
    sos = data.rfind(b"\xff\xda", 0, scan_at)
    assert sos > data.find(b"\xff\xc0") and scan_at == sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    broken = tmp_path / "b.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0\x00\x00" + b"\x00" * 10)  # a segment length of 0
    assert rimg._jpeg_layout(broken) is None


def test_store_keeps_a_reduced_copy_and_serves_it(tmp_path, monkeypatch):
    monkeypatch.setattr(rimg, "MIN_SOURCE_PIXELS", 1)
    img = photo((1280, 960))
    p = tmp_path / "a.jpg"
    img.save(p, quality=90)
    store = PreviewStore(tmp_path / "previews")
    first = decode_image(p, (128, 128), store=store)
    store.flush()
    entries = list((tmp_path / "previews").glob("*.jpg"))
    assert len(entries) == 1 and Image.open(entries[0]).size == (160, 120)  # the 1/8 draft decode

    decodes = []
    real_decode = rimg._decode
    monkeypatch.setattr(rimg, "_decode", lambda *a: decodes.append(a[1]) or real_decode(*a))
    again = decode_image(p, (128, 128), store=store)
    smaller = decode_image(p, (64, 64), store=store)
    assert decodes == []
    assert again.image.size == (128, 96) and again.source_size == (1280, 960) and again.scale == pytest.approx(0.1)
    assert np.abs(np.asarray(again.image, np.int16) - np.asarray(first.image, np.int16)).mean() < 3
    assert smaller.image.size == (64, 48) and smaller.scale == pytest.approx(0.05)
    decode_image(p, (400, 400), store=store)  # more pixels than stored, or a zoom region: decoded
    decode_image(p, (64, 64), region=(0, 0, 100, 100), store=store)
    assert decodes == [(400, 400), (64, 64)]
    store.flush()
    assert Image.open(entries[0]).size == (512, 384)  # the larger (1/2 draft) decode, cut to MAX_SIDE, replaced it


def test_store_entry_follows_edits_and_orientation(tmp_path, monkeypatch):
    monkeypatch.setattr(rimg, "MIN_SOURCE_PIXELS", 1)
    store = PreviewStore(tmp_path / "previews")
    p = tmp_path / "a.png"
    scene = oriented_scene().resize((600, 400), Image.Resampling.NEAREST)
    exif = Image.Exif()
    exif[0x0112] = 8
    scene.transpose(INVERSE[8]).save(p, exif=exif)
    decode_image(p, (120, 120), store=store)
    store.flush()
    d = decode_image(p, (120, 120), store=store)
    assert d.source_size == (600, 400) and d.image.size == (120, 80)
    r, g, b = d.image.getpixel((40, 20))
    assert r > 180 and g < 60  # the red block where the viewer sees it
    Image.new("RGB", (300, 300), (0, 0, 255)).save(p)  # edited: a new size and mtime
    d = decode_image(p, (120, 120), store=store)
    assert d.source_size == (300, 300) and d.image.getpixel((60, 60)) == (0, 0, 255)


def test_store_skips_small_images_and_transparency(tmp_path):
    store = PreviewStore(tmp_path / "previews")
    small = tmp_path / "s.jpg"
    Image.new("RGB", (400, 300), (9, 9, 9)).save(small)
    decode_image(small, (64, 64), store=store)
    store.close()  # waits for the writer
    assert not (tmp_path / "previews").exists()


def test_a_closed_store_skips_writes(tmp_path, monkeypatch):
    """The warmer thread may still decode while the app exits: the store is closed by then."""
    monkeypatch.setattr(rimg, "MIN_SOURCE_PIXELS", 1)
    store = PreviewStore(tmp_path / "previews")
    store.close()
    p = tmp_path / "a.jpg"
    Image.new("RGB", (300, 200), (9, 9, 9)).save(p)
    assert decode_image(p, (64, 64), store=store).source_size == (300, 200)
    assert not store.has(p, p.stat())


def test_store_that_cannot_be_written_or_read_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(rimg, "MIN_SOURCE_PIXELS", 1)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = PreviewStore(blocker / "previews")
    p = tmp_path / "a.jpg"
    photo((640, 480)).save(p)
    assert decode_image(p, (64, 64), store=store).image.size == (64, 48)
    store.flush()
    assert decode_image(p, (64, 64), store=store).image.size == (64, 48)
    folder = tmp_path / "previews"
    store = PreviewStore(folder)
    decode_image(p, (64, 64), store=store)
    store.flush()
    for entry in folder.glob("*.jpg"):
        entry.write_bytes(b"garbage")
    assert decode_image(p, (64, 64), store=store).image.size == (64, 48)


def test_store_prunes_least_recently_used(tmp_path, monkeypatch):
    monkeypatch.setattr(rimg, "MIN_SOURCE_PIXELS", 1)
    folder = tmp_path / "previews"
    store = PreviewStore(folder)
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.jpg"
        photo((320, 240)).save(p)
        decode_image(p, (64, 64), store=store)
        store.flush()
        paths.append(p)
    store.max_bytes = sum(e.stat().st_size for e in folder.glob("*.jpg")) - 1
    names = {p: store._entry(p, p.stat()).name for p in paths}
    os.utime(folder / names[paths[0]], ns=(1, 1))  # the first image: least recently used
    store.prune()
    assert sorted(e.name for e in folder.glob("*.jpg")) == sorted([names[paths[1]], names[paths[2]]])


# ------------------------------------------------------------------ failures


def reason(path, **kw) -> str:
    with pytest.raises(PreviewError) as err:
        decode_image(path, (64, 64), **kw)
    return err.value.reason


def png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_missing_file(tmp_path):
    assert reason(tmp_path / "images" / "a.jpg") == f"image not found: {tmp_path / 'images' / 'a.jpg'}"


def test_directory(tmp_path):
    assert "directory" in reason(tmp_path)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "z.jpg"
    p.write_bytes(b"")
    assert reason(p).startswith("empty file")


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("hello, I am text\n" * 10)
    assert reason(p).startswith("not an image file")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image(tmp_path, fmt):
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buf, fmt)
    p = tmp_path / f"cut.{fmt.lower()}"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert reason(p).startswith("truncated or corrupt image")


def test_decompression_bomb_is_refused_quickly(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(png_header(50000, 50000))
    assert reason(p) == "image too large (2,500,000,000 pixels)"


def test_large_image_over_the_decode_limit_is_refused_without_warning(tmp_path):
    p = tmp_path / "big.png"
    p.write_bytes(png_header(10000, 10000))  # 100M pixels: past the full-decode limit
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert reason(p) == "image too large (10000x10000)"
    assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]


def test_url_asset():
    assert reason("https://example.com/a.jpg").startswith("remote image not fetched")


def test_permission_denied(tmp_path, monkeypatch):
    p = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(p)

    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(rimg.Image, "open", deny)
    assert reason(p) == f"permission denied: {p}"


# ------------------------------------------------------------------ box drawing


def test_gt_box_is_a_solid_outline_on_the_right_pixels():
    buf = np.zeros((50, 50, 3), np.uint8)
    draw_boxes(buf, boxes(("gt", "car", 10, 10, 20, 30)), 1.0)
    drawn = (buf == GT_RGB).all(axis=2)
    expect = np.zeros((50, 50), bool)
    expect[10, 10:20] = expect[29, 10:20] = True
    expect[10:30, 10] = expect[10:30, 19] = True
    assert np.array_equal(drawn, expect)


def test_pred_box_is_dashed_with_corners():
    buf = np.zeros((60, 60, 3), np.uint8)
    draw_boxes(buf, boxes(("pred", "car", 5, 5, 45, 45, 0.9)), 1.0)
    drawn = (buf == PRED_RGB).all(axis=2)
    top = drawn[5, 5:45]
    assert 0.4 < top.mean() < 0.7  # dashes and gaps
    assert drawn[5, 5] and drawn[5, 44] and drawn[44, 5] and drawn[44, 44]
    assert not drawn[6:44, 6:44].any()
    assert not (buf == GT_RGB).all(axis=2).any()


def test_scale_and_offset_map_original_pixels():
    buf = np.zeros((30, 30, 3), np.uint8)
    draw_boxes(buf, boxes(("gt", "car", 110, 210, 130, 230)), 0.5, (100, 200))
    drawn = (buf == GT_RGB).all(axis=2)
    ys, xs = np.nonzero(drawn)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (5, 14, 5, 14)


def test_focus_gets_a_bright_ring_and_halo_and_shows_when_hidden():
    buf = np.zeros((40, 40, 3), np.uint8)
    b = boxes(("gt", "car", 10, 10, 20, 20), ("pred", "car", 25, 25, 35, 35, 0.9))
    draw_boxes(buf, b, 1.0, focus=0, show_gt=False, show_pred=False)
    assert color_at(buf, 15, 10) == GT_RGB and color_at(buf, 15, 9) == GT_FOCUS_RGB  # its outline + a bright ring
    assert color_at(buf, 15, 8) == HALO_RGB  # dark halo outside
    assert color_at(buf, 15, 11) == (0, 0, 0)  # the object inside stays visible
    assert not (buf == PRED_RGB).all(axis=2).any()  # predictions hidden
    buf2 = np.zeros((40, 40, 3), np.uint8)
    draw_boxes(buf2, b, 1.0, focus=1)
    assert color_at(buf2, 25, 25) == PRED_RGB and color_at(buf2, 24, 24) == PRED_FOCUS_RGB
    assert color_at(buf2, 23, 23) == HALO_RGB
    assert color_at(buf2, 10, 10) == GT_RGB


def test_focus_does_not_hide_a_coincident_partner():
    buf = np.zeros((60, 60, 3), np.uint8)
    b = boxes(("gt", "car", 10, 10, 50, 30), ("pred", "truck", 10, 10, 50, 30, 0.95, "wrong_class"))
    for focus in (0, 1):
        draw_boxes(buf, b, 1.0, focus=focus)
        top = buf[10, 10:50]
        assert (top == GT_RGB).all(axis=1).any() and (top == PRED_RGB).all(axis=1).any()


def test_polygon_outline_replaces_the_box():
    buf = np.zeros((40, 40, 3), np.uint8)
    b = boxes(("gt", "roof", 5, 5, 35, 35))
    b["polygon"] = [[5, 35, 20, 5, 35, 35]]
    draw_boxes(buf, b, 1.0)
    drawn = (buf == GT_RGB).all(axis=2)
    assert drawn[35, 5] and drawn[5, 20] and drawn[35, 35]  # the vertices
    assert drawn[35, 20]  # base of the triangle
    assert not drawn[5, 5] and not drawn[5, 34]  # the bbox's top corners are not drawn


def test_boxes_partly_or_fully_outside_are_clipped():
    buf = np.zeros((30, 30, 3), np.uint8)
    b = boxes(("gt", "a", -10, -10, 20, 20), ("gt", "b", 500, 500, 900, 900), ("gt", "c", np.nan, 1, 2, 3))
    draw_boxes(buf, b, 1.0)
    drawn = (buf == GT_RGB).all(axis=2)
    assert drawn[0:20, 19].all() and drawn[19, 0:20].all()
    assert not drawn[0, 0:19].any()  # the clipped top edge is not faked at the border
    assert drawn.sum() == 39


def test_zoom_crops_to_the_object_with_context():
    a = np.zeros((200, 200, 3), np.uint8)
    a[100:, 100:] = (0, 200, 0)
    d = DecodedImage(Image.fromarray(a), (200, 200), 1.0)
    target = (140, 140, 160, 160)
    region = zoom_region(d, target, (40, 40))
    assert region[0] < 140 and region[2] > 160
    assert region[2] - region[0] == pytest.approx(40)  # 2x the object, square like the canvas
    buf, view = compose_image(d, boxes(("pred", "car", *target, 0.9)), cells=(40, 20), zoom=target, focus=0)
    assert view.region == pytest.approx((130, 130, 170, 170))
    assert view.scale == (1.0, 1.0)
    assert color_at(buf, 2, 2) == (0, 200, 0)  # the zoomed area is all inside the green quadrant
    assert color_at(buf, 10, 10) == PRED_RGB  # box corner at (140-130)*1
    assert color_at(buf, 9, 9) == PRED_FOCUS_RGB and color_at(buf, 8, 8) == HALO_RGB
    edge = zoom_region(d, (190, 190, 199, 199), (40, 40))
    assert edge[2] <= 200 and edge[3] <= 200 and edge[2] - edge[0] == pytest.approx(32)


def test_compose_keeps_aspect_and_even_height():
    d = DecodedImage(Image.new("RGB", (320, 240)), (320, 240), 1.0)
    buf, view = compose_image(d, None, cells=(80, 40))
    assert buf.shape == (60, 80, 3) and view.size == (80, 60)
    buf, _ = compose_image(d, None, cells=(100, 10))
    assert buf.shape == (20, 27, 3)  # height-bound: 240 px -> 20, width 320 * 20 / 240


# ------------------------------------------------------------------ renderables


def test_half_blocks_use_top_as_foreground_and_bottom_as_background():
    buf = np.zeros((2, 2, 3), np.uint8)
    buf[0, :] = (255, 0, 0)
    buf[1, 0] = (0, 0, 255)
    buf[1, 1] = (255, 0, 0)
    img = HalfBlockImage(buf)
    (a, b), = img.lines()
    assert a.text == "▀" and a.style.color.triplet == (255, 0, 0) and a.style.bgcolor.triplet == (0, 0, 255)
    assert b.text == " " and b.style.bgcolor.triplet == (255, 0, 0)  # same colors: a plain cell


def test_render_image_fits_cells_with_legend():
    d = DecodedImage(Image.new("RGB", (320, 240), (90, 90, 90)), (320, 240), 1.0)
    b = boxes(
        ("gt", "car", 10, 10, 30, 40),
        ("pred", "car", 12, 11, 31, 40, 0.93),
        ("pred", "car", 100, 100, 120, 130, 0.88, "missing_label"),
    )
    out = render_image(d, b, cells=(60, 24), focus=2)
    assert isinstance(out, Group)
    console = Console(width=60, record=True, color_system="truecolor", file=io.StringIO())
    console.print(out)
    text = console.export_text()
    lines = text.rstrip("\n").split("\n")
    assert len(lines) <= 24
    assert "★ ┅ pred car 0.88 · + missing_label" in text
    assert "━ GT car 1" in text and "┅ pred car 2 (0.88–0.93)" in text
    assert lines[0].startswith("▀") or lines[0].startswith(" ")
    bare = render_image(d, b, cells=(60, 24), labels=False)
    console.print(bare)
    assert len(console.export_text().rstrip("\n").split("\n")) == 22  # 60x44 px -> 22 rows, no legend


def test_placeholder_names_the_reason_and_fills_cells():
    panel = placeholder("image not found: images/a.jpg", (50, 9))
    assert isinstance(panel, Panel)
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(panel)
    text = console.export_text()
    assert "no preview: image not found: images/a.jpg" in text
    assert len(text.rstrip("\n").split("\n")) == 9


def test_end_to_end_demo_image_preview(tmp_path):
    demo = Path(__file__).resolve().parents[1] / "demo" / "detection" / "images" / "lot_009.jpg"
    d = decode_image(demo, (160, 160))
    assert d.source_size == (320, 240)
    b = boxes(("gt", "car", 106, 54, 146, 68, np.nan, "wrong_class"))
    buf, view = compose_image(d, b, cells=(80, 40), zoom=(106, 54, 146, 68), focus=0)
    assert view.region[0] < 106 and view.region[2] > 146
    assert (buf == GT_FOCUS_RGB).all(axis=2).any()
