"""NER preview: span styles, tag rows aligned with the text, marks, legend, wrapping, windows."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from rich.console import Console, Group
from rich.text import Text

from labeltui.render.palette import Palette
from labeltui.render.spans import GUTTER, render_spans, window_around

CLASSES = ["LOC", "MISC", "ORG", "PER"]
PAL = Palette.for_classes(CLASSES)
TEXT = "Maria Santos visited Nairobi today."


def spans(*rows) -> pd.DataFrame:
    """rows: (source, label, start, end[, confidence[, issue[, outcome]]])."""
    recs = []
    for r in rows:
        recs.append(
            {
                "source": r[0],
                "label": r[1],
                "start": r[2],
                "end": r[3],
                "confidence": r[4] if len(r) > 4 else np.nan,
                "issue": r[5] if len(r) > 5 else "",
                "outcome": r[6] if len(r) > 6 else ("tp" if r[0] == "pred" else "fn"),
            }
        )
    return pd.DataFrame(recs)


def lines_of(group: Group) -> list[Text]:
    return list(group.renderables)


def style_at(line: Text, index: int):
    """The combined style of one character of a Text."""
    return line.get_style_at_offset(Console(), index)


def find(lines: list[Text], needle: str) -> Text:
    hits = [t for t in lines if needle in t.plain]
    assert hits, f"{needle!r} not in {[t.plain for t in lines]}"
    return hits[0]


BASIC = spans(
    ("gt", "PER", 0, 12),
    ("pred", "PER", 0, 12, 0.95),
    ("gt", "ORG", 21, 28),
    ("pred", "LOC", 21, 28, 0.97, "wrong_type"),
)


def test_text_row_styles_gt_tint_and_pred_underline():
    lines = lines_of(render_spans(TEXT, BASIC, width=60, classes=CLASSES))
    row = find(lines, TEXT)
    at = row.plain.index("Maria")
    assert at == GUTTER
    s = style_at(row, at)
    assert s.bgcolor.name == PAL.color("PER").lower() and s.underline
    s = style_at(row, row.plain.index("Nairobi"))
    assert s.bgcolor.name == PAL.color("ORG").lower()  # GT type as tint
    assert s.underline and s.bold  # predicted (underline) and carrying an issue (bold)
    plain = style_at(row, row.plain.index("visited"))
    assert not plain.underline and plain.bgcolor is None


def test_tag_rows_are_aligned_and_carry_marks():
    lines = lines_of(render_spans(TEXT, BASIC, width=60, classes=CLASSES))
    row = find(lines, TEXT)
    i = lines.index(row)
    gt_row, pred_row = lines[i - 1], lines[i + 1]
    assert gt_row.plain.startswith("  gt ") and pred_row.plain.startswith("pred ")
    n = row.plain.index("Nairobi")
    assert gt_row.plain[n : n + 7] == "ORG━━━━"
    assert pred_row.plain[n : n + 7] == "≠LOC┅┅┅"
    assert pred_row.plain[GUTTER : GUTTER + 12] == "PER┅┅┅┅┅┅┅┅┅"
    mark = style_at(pred_row, n)
    assert mark.bold and mark.color.name == "#d9453d"  # issue mark style
    assert style_at(pred_row, n + 1).color.name == PAL.color("LOC").lower()  # tag in the pred type color
    assert style_at(gt_row, 0).dim and not style_at(gt_row, n).dim  # only the gutter label is dim


def test_focus_is_reversed_and_explained_in_the_legend():
    lines = lines_of(render_spans(TEXT, BASIC, focus=3, width=70, classes=CLASSES))
    row = find(lines, TEXT)
    assert style_at(row, row.plain.index("Nairobi")).reverse
    assert not style_at(row, row.plain.index("Maria")).reverse
    pred_row = lines[lines.index(row) + 1]
    assert style_at(pred_row, row.plain.index("Nairobi") + 1).reverse
    focus = find(lines, "★")
    assert focus.plain == "★ ┅ pred LOC 0.97 “Nairobi” · ≠ wrong_type"
    assert "≠ wrong type" in find(lines, "marks:").plain
    types = find(lines, "types:")
    assert " LOC " in types.plain and " ORG " in types.plain and " PER " in types.plain
    swatch = style_at(types, types.plain.index(" ORG ") + 1)
    assert swatch.bgcolor.name == PAL.color("ORG").lower() and not swatch.dim


def test_each_issue_gets_its_mark():
    s = spans(
        ("pred", "PER", 0, 12, 0.9, "missing_entity"),
        ("gt", "LOC", 21, 28, np.nan, "spurious_entity"),
        ("gt", "PER", 6, 12),
        ("pred", "MISC", 29, 34, 0.8, "boundary"),
    )
    lines = lines_of(render_spans(TEXT, s, width=60, classes=CLASSES))
    row = find(lines, TEXT)
    i = lines.index(row)
    assert lines[i + 1].plain[GUTTER] == "+"
    assert lines[i - 1].plain[row.plain.index("Nairobi")] == "−"
    assert lines[i + 1].plain[row.plain.index("today")] == "↔"
    marks = " ".join(t.plain for t in lines[lines.index(find(lines, "marks:")) :])
    assert all(t.cell_len <= 60 for t in lines)
    assert "missing (pred, no GT)" in marks and "spurious (GT, no pred)" in marks and "boundary" in marks


def test_hidden_sources_and_low_confidence():
    lines = lines_of(render_spans(TEXT, BASIC, show_pred=False, width=60, classes=CLASSES))
    row = find(lines, TEXT)
    assert not any(t.plain.startswith("pred ") for t in lines)
    assert not style_at(row, row.plain.index("Maria")).underline
    assert "┅ pred hidden" in find(lines, "━ gt").plain
    low = spans(("pred", "PER", 0, 12, 0.2, "", "low"))
    lines = lines_of(render_spans(TEXT, low, width=60, classes=CLASSES))
    row = find(lines, TEXT)
    assert style_at(row, GUTTER).dim and style_at(lines[lines.index(row) + 1], GUTTER).dim


def test_wrapping_keeps_width_and_continues_spans():
    text = "The delegation from the Democratic Republic of the Congo arrived in Rio de Janeiro on Monday."
    start = text.index("Democratic")
    end = text.index(" arrived")
    s = spans(("gt", "LOC", start, end), ("pred", "LOC", start, end, 0.9))
    lines = lines_of(render_spans(text, s, width=40, classes=CLASSES))
    assert all(t.cell_len <= 40 for t in lines)
    body = [t for t in lines if not t.plain.startswith(("  gt", "pred")) and t.plain.startswith("     ")]
    assert "".join(t.plain[GUTTER:] for t in body).replace(" ", "") == text.replace(" ", "")
    pred_rows = [t.plain[GUTTER:].strip() for t in lines if t.plain.startswith("pred ")]
    assert pred_rows[0].startswith("LOC┅") and set(pred_rows[1]) == {"┅"}  # continued, not re-labelled


def test_wide_characters_stay_aligned():
    text = "東京 hosts ACME."
    s = spans(("gt", "LOC", 0, 2), ("pred", "ORG", 9, 13, 0.9))
    lines = lines_of(render_spans(text, s, width=40, classes=CLASSES))
    row = find(lines, "東京")
    gt_row = lines[lines.index(row) - 1]
    pred_row = lines[lines.index(row) + 1]
    assert gt_row.plain[GUTTER : GUTTER + 4] == "LOC━"  # 2 wide chars = 4 cells
    col = Text(row.plain[: row.plain.index("ACME")]).cell_len
    assert Text(pred_row.plain[: pred_row.plain.index("ORG")]).cell_len == col


def test_window_and_offset_keep_original_coordinates():
    text = ("lorem ipsum " * 60) + "Nairobi" + (" dolor sit" * 60)
    start = text.index("Nairobi")
    offset, window = window_around(text, start, start + 7, 80)
    assert len(window) <= 80 and text[offset : offset + len(window)] == window
    assert offset <= start and start + 7 <= offset + len(window)
    assert offset == 0 or text[offset - 1] == " "
    s = spans(("gt", "ORG", start, start + 7), ("gt", "PER", 0, 5), ("gt", "MISC", offset - 4, offset + 5))
    lines = lines_of(render_spans(window, s, width=100, offset=offset, classes=CLASSES))
    row = find(lines, "Nairobi")
    assert style_at(row, row.plain.index("Nairobi")).bgcolor.name == PAL.color("ORG").lower()
    gt_rows = [t.plain for t in lines if t.plain.startswith("  gt")]
    assert "PER" not in "".join(gt_rows)  # outside the window
    assert gt_rows[0][GUTTER : GUTTER + 5] == "━" * 5  # cut by the window: no label, just the line
    assert window_around("short", 0, 2, 80) == (0, "short")


def test_empty_and_messy_inputs():
    out = render_spans("", None)
    assert "(empty text)" in "".join(t.plain for t in lines_of(out))
    s = spans(("gt", "PER", 0, 5), ("pred", "PER", 3, 3, 0.5))  # zero-length prediction
    s["issue"] = pd.Categorical([np.nan, "boundary"])
    lines = lines_of(render_spans("Ann\tB\x00ob left", s, width=30))
    row = find(lines, "Ann B·ob")
    assert style_at(row, GUTTER).bgcolor is not None
    console = Console(width=30, file=io.StringIO())
    console.print(render_spans("x" * 200, s, width=30))
