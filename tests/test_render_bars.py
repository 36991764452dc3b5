"""Classification preview bars and the shared palette."""

from __future__ import annotations

import numpy as np
import pytest
from labeltui.render.bars import bar, render_class_bars
from labeltui.render.palette import CLASS_COLORS, VALUE_RAMP, Palette, contrast_text, relative_luminance

CLASSES = ["parking_lot", "tennis_court", "basketball_court", "ground_track_field", "harbor", "forest"]
PROBS = np.array([0.02, 0.05, 0.01, 0.03, 0.03, 0.86])


def plain_lines(group) -> list[str]:
    return [t.plain for t in group.renderables]


def test_bar_uses_eighth_blocks():
    assert bar(0.5, 8) == "████    "
    assert bar(1 / 16, 2) == "▏ "
    assert bar(0.99, 4) == "████"
    assert bar(1.7, 3) == "███" and bar(-1, 3) == "   " and bar(np.nan, 2) == "  "
    assert bar(0.3, 10) == "███" + " " * 7


def test_top_classes_sorted_with_given_and_predicted_marks():
    lines = plain_lines(render_class_bars(CLASSES, PROBS, given=1, predicted=5, pred_confidence=0.86, top=3, width=20))
    assert lines[0] == "◆ given tennis_court  ▶ model forest 0.86  ✗ disagree"
    assert lines[1].startswith(" ▶ forest ") and lines[1].endswith(" 0.86")
    assert lines[2].startswith("◆  tennis_court ") and lines[2].endswith(" 0.05")
    assert "ground_track_field" in lines[3] or "harbor" in lines[3]
    assert len(lines) == 4
    bar_cells = lines[1].split("forest")[1].strip().split(" ")[0]
    assert bar_cells.startswith("█" * 17)  # 0.86 * 20 = 17.2 cells


def test_given_outside_top_is_appended_with_its_rank():
    group = render_class_bars(CLASSES, PROBS, given=2, predicted=5, pred_confidence=0.86, top=3)
    lines = plain_lines(group)
    assert lines[-2].strip() == "⋮"
    assert lines[-1].startswith("◆  basketball_court") and lines[-1].endswith("0.01  #6")
    at = lines[-1].index("▎")  # 0.01 * 30 cells = 2 eighths
    colored = [s for s in group.renderables[-1].spans if s.start <= at < s.end and s.style.color is not None]
    assert colored[0].style.color.name == Palette.for_classes(CLASSES).color(2).lower()


def test_agreement_and_missing_probabilities():
    lines = plain_lines(render_class_bars(CLASSES, PROBS, given=5, predicted=5, pred_confidence=0.86))
    assert lines[0].endswith("✓ agree") and lines[1].startswith("◆▶ forest")
    lines = plain_lines(render_class_bars(CLASSES, None, given=1, predicted=5, pred_confidence=0.86))
    assert len(lines) == 3 and lines[1].startswith(" ▶ forest") and lines[2].endswith("?")
    lines = plain_lines(render_class_bars(CLASSES, np.full(6, np.nan), given=-1, predicted=5, pred_confidence=np.nan))
    assert lines[0].startswith("◆ given (none)") and "agree" not in lines[0]


@pytest.mark.parametrize("color", CLASS_COLORS + VALUE_RAMP)
def test_palette_colors_read_on_dark_and_light(color):
    y = relative_luminance(color)
    assert 1.05 / (y + 0.05) >= 3.0  # on white
    assert (y + 0.05) / 0.05 >= 3.0  # on black


def test_palette_is_stable_by_index_and_tints_contrast():
    pal = Palette.for_classes(["car", "truck"])
    assert pal.color("car") == CLASS_COLORS[0] and pal.color(1) == CLASS_COLORS[1]
    assert pal.color(len(CLASS_COLORS)) == CLASS_COLORS[0]
    assert pal.color("unknown") == "#7A8794"
    assert contrast_text("#FFFFFF") == "black" and contrast_text("#000000") == "white"
    tint = pal.tint("truck")
    assert tint.bgcolor.name == CLASS_COLORS[1].lower() and tint.color.name in ("black", "white")
    style = pal.style("car", bold=True)
    assert style.bold and style.color.name == CLASS_COLORS[0].lower()
