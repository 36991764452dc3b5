"""Braille scatter rasteriser and renderer."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from labeltui.render import scatter
from labeltui.render.palette import VALUE_RAMP, Palette
from labeltui.render.scatter import MARKER, Raster, data_bounds, rasterize, rasterize_values, render_scatter

CONSOLE = Console()
BITS = {(0, 0): 0x01, (1, 0): 0x02, (2, 0): 0x04, (0, 1): 0x08, (1, 1): 0x10, (2, 1): 0x20, (3, 0): 0x40, (3, 1): 0x80}


def naive(x, y, cat, cells, bounds, n_cat):
    """Per-point reference: dots OR-ed per cell, majority category (lowest on ties)."""
    w, h = cells
    x0, y0, x1, y1 = bounds
    dots = np.zeros((h, w), np.uint8)
    votes = np.zeros((h, w, n_cat + 1), np.int64)
    for xi, yi, ci in zip(x, y, cat):
        if not (np.isfinite(xi) and np.isfinite(yi) and x0 <= xi <= x1 and y0 <= yi <= y1):
            continue
        dc = min(int((xi - x0) / (x1 - x0) * 2 * w), 2 * w - 1)
        dr = min(int((y1 - yi) / (y1 - y0) * 4 * h), 4 * h - 1)
        dots[dr // 4, dc // 2] |= BITS[(dr % 4, dc % 2)]
        votes[dr // 4, dc // 2, ci if 0 <= ci < n_cat else n_cat] += 1
    counts = votes.sum(axis=2)
    return dots, np.where(counts > 0, votes.argmax(axis=2), -1), counts


def test_known_points_land_in_known_cells_and_dots():
    # 2x1 cells over (0,0)-(4,4): a 4x4 dot grid, each dot 1 x 1 data unit, y up
    x = np.array([0.1, 1.5, 3.9, 4.0])
    y = np.array([3.9, 0.1, 2.1, 0.0])
    r = rasterize(x, y, np.array([0, 1, 1, 1]), cells=(2, 1), bounds=(0, 0, 4, 4), n_categories=2)
    assert r.dots[0, 0] == 0x01 | 0x80  # (top-left dot) | (bottom-right dot of cell 0)
    assert r.dots[0, 1] == 0x10 | 0x80  # dot row 1 right column | the corner point (4, 0)
    assert r.counts.tolist() == [[2, 2]]
    assert r.category.tolist() == [[0, 1]]  # tie in cell 0 -> lowest category


def test_majority_category_and_empty_cells():
    x = np.array([0.1, 0.2, 0.3, 0.4, 9.9])
    y = np.array([0.1, 0.2, 0.3, 0.4, 9.9])
    cat = np.array([2, 2, 1, 2, 0])
    r = rasterize(x, y, cat, cells=(4, 2), bounds=(0, 0, 10, 10), n_categories=3)
    assert r.category[1, 0] == 2 and r.counts[1, 0] == 4
    assert r.category[0, 3] == 0
    assert (r.category[r.counts == 0] == -1).all() and (r.dots[r.counts == 0] == 0).all()


def test_out_of_bounds_nan_and_unknown_categories():
    x = np.array([0.5, 5.0, np.nan, 0.6, -1.0])
    y = np.array([0.5, 0.5, 0.5, np.inf, 0.5])
    cat = np.array([7, 0, 0, 0, 0])  # 7 is not a known category
    r = rasterize(x, y, cat, cells=(1, 1), bounds=(0, 0, 1, 1), n_categories=2)
    assert r.counts.sum() == 1 and r.category[0, 0] == 2  # unknown bucket
    auto = rasterize(x, y, np.zeros(5, int), cells=(3, 3), n_categories=1)
    assert auto.bounds == (-1.0, 0.5 - 0.5, 5.0, 0.5 + 0.5)
    assert auto.counts.sum() == 3  # NaN and inf dropped


@pytest.mark.parametrize("n_cat", [5, 300])  # the combined and the two-pass binning
def test_matches_a_per_point_reference(n_cat):
    rng = np.random.default_rng(n_cat)
    n = 3000
    x = rng.normal(size=n)
    y = rng.normal(size=n) * 3
    cat = rng.integers(0, n_cat, n)
    bounds = (-1.5, -4.0, 2.0, 5.0)
    r = rasterize(x, y, cat, cells=(37, 13), bounds=bounds, n_categories=n_cat)
    dots, category, counts = naive(x, y, cat, (37, 13), bounds, n_cat)
    assert np.array_equal(r.counts, counts)
    assert np.array_equal(r.dots, dots)
    assert np.array_equal(r.category, category)


def test_values_mode_means_and_levels():
    x = np.array([0.1, 0.2, 0.9, 0.95, 0.5])
    y = np.array([0.1, 0.1, 0.9, 0.9, 0.1])
    v = np.array([0.0, 0.2, 1.0, np.nan, np.nan])
    r = rasterize_values(x, y, v, cells=(2, 1), bounds=(0, 0, 1, 1), value_range=(0.0, 1.0), levels=4)
    assert r.mean[0, 0] == pytest.approx(0.1) and r.mean[0, 1] == pytest.approx(1.0)
    assert r.counts.tolist() == [[2, 3]]  # (0.5, 0.1) sits on the cell border: the upper cell
    assert r.category[0, 0] == 0 and r.category[0, 1] == 3
    only_nan = rasterize_values(np.array([0.5]), np.array([0.5]), np.array([np.nan]), cells=(1, 1), levels=4)
    assert only_nan.category[0, 0] == 4 and only_nan.dots[0, 0] != 0  # drawn, in the unknown color


def test_render_cells_colors_marker_selection_legend():
    pal = Palette.for_classes(["a", "b", "c"])
    x = np.array([0.1, 0.1, 0.1, 9.9])
    y = np.array([9.9, 9.8, 9.7, 0.1])
    r = rasterize(x, y, np.array([1, 1, 0, 2]), cells=(10, 5), bounds=(0, 0, 10, 10), n_categories=3)
    out = render_scatter(r, pal, legend=["a", "b", "c"])
    lines = list(out.renderables)
    assert len(lines) == 7  # 5 rows, the legend packed into the canvas width
    top = lines[0]
    assert top.plain[0] == chr(0x2800 + int(r.dots[0, 0])) and top.plain[1] == " "
    assert top.get_style_at_offset(CONSOLE, 0).color.name == pal.color(1).lower()  # majority "b"
    assert lines[4].get_style_at_offset(CONSOLE, 9).color.name == pal.color(2).lower()
    assert [lines[5].plain, lines[6].plain] == ["⣿ a  ⣿ b", "⣿ c"]
    marked = render_scatter(r, pal, marker=(9.9, 0.1), selection=(2, 2, 6, 8))
    rows = [t.plain for t in marked.renderables]
    assert rows[4][9] == MARKER and marked.renderables[4].get_style_at_offset(CONSOLE, 9).reverse
    c0, c1, r0, r1 = 2, 6, 1, 4  # cells of the selection rectangle
    assert rows[r0][c0] == "┌" and rows[r0][c1] == "┐" and rows[r1][c0] == "└" and rows[r1][c1] == "┘"
    assert rows[2][c0] == "│" and rows[r0][4] == "─"
    frame = marked.renderables[r0].get_style_at_offset(CONSOLE, c0)
    assert frame.bold and frame.color.is_default  # the frame is not mistaken for a class color


def test_emphasis_outlier_is_not_outvoted():
    rng = np.random.default_rng(1)
    x = np.r_[rng.uniform(0, 1, 500), 0.5]
    y = np.r_[rng.uniform(0, 1, 500), 0.5]
    cat = np.r_[np.zeros(500, int), 3]
    r = rasterize(x, y, cat, cells=(4, 4), bounds=(0, 0, 1, 1), n_categories=4)
    col, row = r.cell_of(0.5, 0.5)
    assert r.category[row, col] == 0
    suspects = rasterize(x[-1:], y[-1:], cat[-1:], cells=(4, 4), bounds=r.bounds, n_categories=4)
    pal = Palette.for_classes(list("abcd"))
    line = render_scatter(r, pal, emphasis=suspects).renderables[row]
    style = line.get_style_at_offset(CONSOLE, col)
    assert style.color.name == pal.color(3).lower() and style.bold
    other = line.get_style_at_offset(CONSOLE, (col + 1) % 4)
    assert other.color.name == pal.color(0).lower() and not other.bold


def test_values_render_uses_the_ramp_and_a_range_legend():
    r = rasterize_values(np.array([0.0, 1.0]), np.array([0.0, 0.0]), np.array([0.0, 1.0]), cells=(2, 1))
    out = render_scatter(r, None, legend=["0.00", "1.00"])
    line, legend = out.renderables
    assert line.get_style_at_offset(CONSOLE, 0).color.name == VALUE_RAMP[0].lower()
    assert line.get_style_at_offset(CONSOLE, 1).color.name == VALUE_RAMP[-1].lower()
    assert legend.plain == "0.00 " + "⣿" * len(VALUE_RAMP) + " 1.00"


def test_no_points():
    empty = np.zeros(0)
    r = rasterize(empty, empty, np.zeros(0, int), cells=(3, 2), n_categories=2)
    assert r.counts.sum() == 0 and (r.category == -1).all() and r.bounds == (0.0, 0.0, 1.0, 1.0)
    v = rasterize_values(empty, empty, empty, cells=(3, 2))
    assert v.counts.sum() == 0 and np.isnan(v.mean).all()
    assert [t.plain for t in render_scatter(r, None).renderables] == ["   ", "   "]


def test_cell_helpers_and_bounds():
    r = Raster((10, 4), (0.0, 0.0, 10.0, 4.0), *(np.zeros((4, 10), int) for _ in range(3)), 1)
    assert r.cell_of(0.0, 4.0) == (0, 0) and r.cell_of(10.0, 0.0) == (9, 3) and r.cell_of(11, 1) is None
    assert r.cell_center(0, 0) == (0.5, 3.5)
    assert data_bounds(np.array([1.0, 1.0]), np.array([2.0, np.nan])) == (0.5, 1.5, 1.5, 2.5)
    assert scatter.data_bounds(np.array([np.nan]), np.array([np.nan])) == (0.0, 0.0, 1.0, 1.0)
