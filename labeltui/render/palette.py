"""Colors and marks shared by the renderers: classes, GT vs prediction, verdicts, issues.

Every text color here has a WCAG contrast of at least 3:1 against both black
and white, so it reads on dark and light terminals. Colors are given to Rich
as styles (never raw ANSI), so Rich downgrades them for 256/16-color terminals
and drops them under ``NO_COLOR``; every meaning carried by a color is also
carried by a glyph or a line style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text

#: Qualitative class palette (mid luminance), most distinct first; cycles.
CLASS_COLORS: tuple[str, ...] = (
    "#3D85C6",  # blue
    "#D97A00",  # orange
    "#3A9A4A",  # green
    "#D9453D",  # red
    "#9A6BD1",  # purple
    "#1E9E9E",  # teal
    "#C8479B",  # magenta
    "#A88B1C",  # gold
    "#A0673F",  # brown
    "#7A8794",  # slate
    "#E0608A",  # pink
    "#6E9E1E",  # lime
)

#: Sequential ramp for numeric coloring (low -> high), constant mid luminance.
VALUE_RAMP: tuple[str, ...] = (
    "#3D85C6",
    "#1E9E9E",
    "#3A9A4A",
    "#6E9E1E",
    "#A88B1C",
    "#D97A00",
    "#D9453D",
    "#C8479B",
)

# Box overlays drawn into image pixels: bright so they pop on photos.
GT_RGB = (0, 214, 255)
PRED_RGB = (255, 146, 0)
GT_FOCUS_RGB = (150, 238, 255)
PRED_FOCUS_RGB = (255, 214, 90)
HALO_RGB = (16, 16, 16)

# The same two sources as text (legends, NER tags): readable on both backgrounds.
GT_COLOR = "#1F8FD6"
PRED_COLOR = "#D97A00"
GT_STYLE = Style(color=GT_COLOR, bold=True)
PRED_STYLE = Style(color=PRED_COLOR, bold=True)

#: Line-style glyphs naming the two sources in legends (GT solid, pred dashed).
GT_GLYPH = "━"
PRED_GLYPH = "┅"
FOCUS_GLYPH = "★"

#: Verdict marks (text glyphs; color is secondary).
VERDICT_MARKS: dict[str, str] = {"error": "✗", "ok": "✓", "skip": "–", "selected": "●"}
VERDICT_STYLES: dict[str, Style] = {
    "error": Style(color="#D9453D", bold=True),
    "ok": Style(color="#3A9A4A", bold=True),
    "skip": Style(color="#7A8794"),
    "selected": Style(color="#9A6BD1", bold=True),
}

#: One glyph per issue type (NER and detection), shown beside the object.
ISSUE_MARKS: dict[str, str] = {
    "missing_entity": "+",
    "spurious_entity": "−",
    "wrong_type": "≠",
    "boundary": "↔",
    "missing_label": "+",
    "spurious_label": "−",
    "wrong_class": "≠",
    "bad_location": "↔",
    "wrong_label": "≠",
    "ambiguous": "?",
}
#: Short human names of the issue types for legends.
ISSUE_NAMES: dict[str, str] = {
    "missing_entity": "missing (pred, no GT)",
    "spurious_entity": "spurious (GT, no pred)",
    "wrong_type": "wrong type",
    "boundary": "boundary",
    "missing_label": "missing label",
    "spurious_label": "spurious label",
    "wrong_class": "wrong class",
    "bad_location": "bad location",
    "wrong_label": "wrong label",
    "ambiguous": "ambiguous",
}
ISSUE_STYLE = Style(color="#D9453D", bold=True)


def class_color(index: int) -> str:
    """The hex color of class ``index`` (cycles through ``CLASS_COLORS``; -1 gives slate)."""
    if index < 0:
        return "#7A8794"
    return CLASS_COLORS[index % len(CLASS_COLORS)]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` -> (r, g, b)."""
    triplet = Color.parse(color).get_truecolor()
    return triplet.red, triplet.green, triplet.blue


def relative_luminance(color: str) -> float:
    """WCAG relative luminance of a hex color, in [0, 1]."""
    c = np.asarray(hex_to_rgb(color), dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_text(color: str) -> str:
    """``"black"`` or ``"white"``: whichever reads better on a ``color`` background."""
    y = relative_luminance(color)
    return "black" if (y + 0.05) / 0.05 >= 1.05 / (y + 0.05) else "white"


def pack_legend(entries: Sequence[Text], width: int, gap: int = 2) -> list[Text]:
    """Greedily pack legend entries into lines of at most ``width`` cells;
    an entry longer than a line gets its own line, ending in '…'."""
    lines: list[Text] = []
    for entry in entries:
        if lines and lines[-1].cell_len + gap + entry.cell_len <= width:
            lines[-1].append(" " * gap)
        else:
            lines.append(Text())  # a fresh line: an entry's own style must not spread to the next
        lines[-1].append_text(entry)
    for line in lines:
        line.no_wrap = True
        line.overflow = "ellipsis"
        line.truncate(width, overflow="ellipsis")
    return lines


@dataclass(frozen=True)
class Palette:
    """Class names in a fixed order, each with a stable color (by index, not by hash)."""

    names: tuple[str, ...]

    @classmethod
    def for_classes(cls, classes: Sequence[str]) -> Palette:
        """A palette for ``classes`` in the given order (the run's class list)."""
        return cls(tuple(str(c) for c in classes))

    def index(self, name: str) -> int:
        """Position of ``name`` (-1 when unknown)."""
        try:
            return self.names.index(name)
        except ValueError:
            return -1

    def color(self, key: int | str) -> str:
        """Hex color of a class given by index or name."""
        return class_color(key if isinstance(key, (int, np.integer)) else self.index(key))

    def style(self, key: int | str, **attrs: bool) -> Style:
        """A foreground style in the class color (extra attributes like ``bold=True``)."""
        return Style(color=self.color(key), **attrs)

    def tint(self, key: int | str) -> Style:
        """A background tint in the class color with a contrasting text color."""
        color = self.color(key)
        return Style(color=contrast_text(color), bgcolor=color)

    def __len__(self) -> int:
        return len(self.names)
