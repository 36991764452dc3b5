"""Half-block cells: equal neighbours written as one run, exactly where the terminal shows them alike."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from rich.color import Color, ColorSystem
from PIL import Image
from rich.console import Console
from rich.segment import Segment, Segments
from rich.style import Style

from labeltui.render import halfblock
from labeltui.render.halfblock import LEVEL_OF, LEVEL_VALUE, HalfBlockImage, downgrade

DEMO_IMAGE = Path(__file__).resolve().parents[1] / "demo" / "detection" / "images" / "lot_001.jpg"
SYSTEMS = [ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT, ColorSystem.STANDARD]


def _photo(seed: int, h: int = 40, w: int = 60) -> np.ndarray:
    """Smooth gradients with noise and a flat patch: runs of near and exactly equal colors."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h) + 60], axis=-1)
    buf = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    buf[5:15, 10:40] = (40, 120, 200)
    return buf


def _shown(lines, system: ColorSystem) -> list[list[tuple]]:
    """What each cell shows on a terminal of ``system``: (top color, bottom color), Rich's own downgrade."""

    def number(color: Color) -> object:
        c = color.downgrade(system)
        return c.triplet if system == ColorSystem.TRUECOLOR else c.number

    rows = []
    for line in lines:
        row = []
        for seg in line:
            bottom = number(seg.style.bgcolor)
            top = number(seg.style.color) if seg.text[0] == "▀" else bottom
            row.extend([(top, bottom)] * len(seg.text))
        rows.append(row)
    return rows


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.name)
def test_runs_show_exactly_what_single_cells_show(system):
    for seed in range(3):
        img = HalfBlockImage(_photo(seed))
        single = img.lines(system=None)  # only identical cells joined
        joined = img.lines(system)
        assert _shown(joined, system) == _shown(single, system)
        assert all(sum(len(s.text) for s in line) == img.width for line in joined)
        if system != ColorSystem.TRUECOLOR:  # fewer segments to write
            share = {ColorSystem.EIGHT_BIT: 0.75, ColorSystem.STANDARD: 0.4}[system]
            assert sum(map(len, joined)) < share * sum(map(len, single))


def test_equal_cells_become_one_segment_and_width_cuts_cells():
    buf = np.zeros((4, 10, 3), np.uint8)
    buf[:, :] = (200, 10, 10)
    buf[0, 7:] = (10, 10, 200)
    img = HalfBlockImage(buf)
    first, second = img.lines()
    assert [(s.text, s.style.bgcolor.triplet) for s in first] == [(" " * 7, (198, 8, 8)), ("▀" * 3, (198, 8, 8))]
    assert [s.text for s in second] == [" " * 10]
    assert [s.text for s in img.lines(width=8)[0]] == [" " * 7, "▀"]


def _written(lines, color_system: str) -> int:
    """Bytes a terminal of ``color_system`` receives for ``lines``."""
    console = Console(file=io.StringIO(), color_system=color_system, width=200, force_terminal=True)
    # new Style objects: Rich keeps a style's codes for the first color system it was written in
    fresh = [
        piece
        for line in lines
        for piece in (*(Segment(seg.text, Style(color=seg.style.color, bgcolor=seg.style.bgcolor)) for seg in line), Segment.line())
    ]
    console.print(Segments(fresh), end="")
    return len(console.file.getvalue())


@pytest.mark.parametrize("color_system, share", [("256", 0.7), ("standard", 0.3)])
def test_a_photo_takes_fewer_bytes_on_a_256_or_16_color_terminal(color_system, share):
    photo = Image.open(DEMO_IMAGE).convert("RGB")
    photo.thumbnail((106, 94))  # the preview's size at 200x60
    img = HalfBlockImage(np.array(photo))
    system = ColorSystem.EIGHT_BIT if color_system == "256" else ColorSystem.STANDARD
    per_cell, joined = _written(img.lines(system=None), color_system), _written(img.lines(system), color_system)
    assert joined < share * per_cell, (joined, per_cell)


def test_downgrade_is_richs():
    rng = np.random.default_rng(1)
    levels = np.concatenate([rng.integers(0, 64, (4000, 3)), np.repeat(np.arange(64)[:, None], 3, axis=1)])
    packed = ((levels[:, 0] << 12) | (levels[:, 1] << 6) | levels[:, 2]).astype(np.uint64)
    for system in (ColorSystem.EIGHT_BIT, ColorSystem.STANDARD):
        ours = downgrade(packed, system)
        rich = [Color.from_rgb(*(int(v) for v in LEVEL_VALUE[lv])).downgrade(system).number for lv in levels]
        assert ours.tolist() == rich
    assert downgrade(packed, ColorSystem.TRUECOLOR) is None
    assert (LEVEL_VALUE[LEVEL_OF] - np.arange(256)).max() <= 2  # 64 levels: within 2 of the 8-bit value


def test_an_image_renders_after_another_worker_cleared_the_caches():
    img = HalfBlockImage(_photo(4))
    expected = img.lines()
    halfblock._SEGMENTS.clear()  # what a worker decoding another image does past the cache's size
    halfblock._COLORS.clear()
    assert img.lines() == expected
