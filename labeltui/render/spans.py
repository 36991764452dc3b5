"""NER preview: the text with ground-truth and predicted spans, marks and a legend.

Each wrapped line of text gets up to two aligned tag rows::

      gt ORG━━━━          PER━━━━━━━━━
         Nairobi hosted Maria Santos today.
    pred ≠LOC┅┅┅          PER┅┅┅┅┅┅┅┅┅

Ground truth: the text is tinted with the entity type's color and a solid tag
row (``━``) sits above. Predictions: the text is underlined and a dashed tag
row (``┅``) sits below. An object carrying an issue starts its tag with the
issue's mark (``+`` missing, ``−`` spurious, ``≠`` wrong type, ``↔``
boundary) in bold; the focus object is shown reversed. So source, type and
issue all read without color too.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
from rich.cells import get_character_cell_size
from rich.console import Group
from rich.style import Style
from rich.text import Text

from labeltui.render.palette import (
    FOCUS_GLYPH,
    GT_GLYPH,
    GT_STYLE,
    ISSUE_MARKS,
    ISSUE_NAMES,
    ISSUE_STYLE,
    PRED_GLYPH,
    PRED_STYLE,
    Palette,
    pack_legend,
)

GUTTER = 5  # cells before each row: "  gt ", "     ", "pred "
_FOCUS = Style(reverse=True, bold=True)
_ISSUE_TEXT = Style(bold=True)
_LOW = Style(dim=True)


def window_around(text: str, start: int, end: int, max_chars: int) -> tuple[int, str]:
    """A window of at most ``max_chars`` of ``text`` centred on ``[start, end)``.

    Returns ``(offset, window)`` with ``window == text[offset:offset + len(window)]``;
    the window starts at a word boundary when one is near. Pass ``offset`` to
    ``render_spans`` so span offsets stay in the original text's frame.
    """
    n = len(text)
    max_chars = max(1, int(max_chars))
    if n <= max_chars:
        return 0, text
    start, end = min(max(int(start), 0), n), min(max(int(end), 0), n)
    end = max(end, start)
    lo = max(0, min(start - (max_chars - (end - start)) // 2, n - max_chars))
    lo = min(lo, start)
    if lo > 0:
        space = text.rfind(" ", lo, min(start, lo + max_chars // 8) + 1)
        if space >= lo:
            lo = space + 1
    return lo, text[lo : lo + max_chars]


def _clean(text: str) -> str:
    """Same length, but tabs and control characters shown as single cells."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else ("·" if c != "\t" else " ") for c in text)


def _widths(text: str) -> np.ndarray:
    if text.isascii():
        return np.ones(len(text), dtype=np.int64)
    return np.fromiter((get_character_cell_size(c) for c in text), dtype=np.int64, count=len(text))


def _wrap(text: str, widths: np.ndarray, width: int) -> list[tuple[int, int]]:
    """Line ``(start, end)`` char ranges: hard breaks at newlines, soft at spaces."""
    lines: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    cum = np.concatenate([[0], np.cumsum(widths)])
    while pos <= n:
        nl = text.find("\n", pos)
        stop = n if nl < 0 else nl
        while True:
            fit = int(np.searchsorted(cum, cum[pos] + width, side="right")) - 1
            fit = max(fit, pos + 1)
            if fit >= stop:
                lines.append((pos, stop))
                break
            space = text.rfind(" ", pos, fit + 1)
            cut = space + 1 if space > pos else fit
            lines.append((pos, min(cut, fit)))  # a breaking space past the width is not shown
            pos = cut
        pos = stop + 1
        if nl < 0:
            break
    return lines


class _Span(NamedTuple):
    pos: int  # position in the caller's spans table
    source: str
    label: str
    start: int  # clipped to the shown text
    end: int
    confidence: float
    issue: str
    low: bool
    cut: bool  # the span started before the window


def _records(spans: pd.DataFrame | None, offset: int, n: int, show_gt: bool, show_pred: bool, focus) -> list[_Span]:
    """Visible spans clipped to the shown text (columns pulled out once: a row
    has a handful of spans, and DataFrame access is the slow part)."""
    if spans is None or len(spans) == 0:
        return []
    cols = spans.columns
    m = len(spans)

    def column(name: str, default) -> list:
        if name not in cols:
            return [default] * m
        values = spans[name].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = default
        return values.tolist()

    def floats(name: str) -> np.ndarray:
        if name not in cols:
            return np.full(m, np.nan)
        c = spans[name]
        c = c if pd.api.types.is_numeric_dtype(c.dtype) else pd.to_numeric(c, errors="coerce")
        return c.to_numpy(dtype=np.float64, na_value=np.nan)

    start, end = floats("start") - offset, floats("end") - offset
    end = np.maximum(end, start + 1)  # an empty span still gets one cell
    keep = np.isfinite(start) & np.isfinite(end) & (end > 0) & (start < n)
    source, label, issue = column("source", "gt"), column("label", "?"), column("issue", "")
    outcome, conf = column("outcome", ""), floats("confidence").tolist()
    out = []
    for i in np.flatnonzero(keep).tolist():
        src = str(source[i])
        if not (i == focus or (show_pred if src == "pred" else show_gt and src == "gt")):
            continue
        a, b = int(max(start[i], 0)), int(min(end[i], n))
        out.append(_Span(i, src, str(label[i]), a, b, conf[i], str(issue[i]), outcome[i] == "low", start[i] < 0))
    return out


def render_spans(
    text: str,
    spans: pd.DataFrame | None,
    *,
    focus: int | None = None,
    show_gt: bool = True,
    show_pred: bool = True,
    width: int | None = None,
    offset: int = 0,
    classes: Sequence[str] | None = None,
    legend: bool = True,
) -> Group:
    """The text with GT and predicted spans, issue marks and a legend, as lines.

    ``spans``: ``source`` (gt|pred), ``label``, ``start``, ``end`` (exclusive),
    ``confidence``, ``issue`` and optional ``outcome`` ("low" is dimmed).
    ``focus`` is a position in ``spans`` (shown even if its source is hidden).
    ``width`` (cells, default 80) includes the 5-cell gutter. ``offset``: the
    position of ``text`` in the original when it is a ``window_around`` window.
    ``classes`` (the run's class list) fixes each type's color.
    """
    width = max(GUTTER + 8, int(width or 80))
    shown = _clean(text)
    records = _records(spans, offset, len(shown), show_gt, show_pred, focus)
    palette = Palette.for_classes(classes if classes is not None else sorted({r.label for r in records}))
    widths = _widths(shown)
    cum = np.concatenate([[0], np.cumsum(widths)])
    out: list[Text] = []
    gt = [r for r in records if r.source != "pred"]
    pred = [r for r in records if r.source == "pred"]
    for lo, hi in _wrap(shown, widths, width - GUTTER) if shown else []:
        line = Text(shown[lo:hi], no_wrap=True, overflow="crop")
        gt_here = [r for r in gt if r.start < hi and r.end > lo]
        pred_here = [r for r in pred if r.start < hi and r.end > lo]
        for r in pred_here + gt_here:
            line.stylize(_text_style(palette, r, focus), max(r.start, lo) - lo, min(r.end, hi) - lo)
        rows = [Text.assemble("     ", line)]
        if gt_here:
            rows.insert(0, Text.assemble(("  gt ", "dim"), _tag_row(gt_here, lo, hi, cum, palette, GT_GLYPH, focus)))
        if pred_here:
            rows.append(Text.assemble(("pred ", "dim"), _tag_row(pred_here, lo, hi, cum, palette, PRED_GLYPH, focus)))
        out.extend(rows)
    if not shown:
        out.append(Text("     (empty text)", "dim"))
    if legend:
        out.extend(span_legend(shown, records, palette, focus, show_gt, show_pred, width))
    for t in out:
        t.no_wrap = True
        t.overflow = "ellipsis"
    return Group(*out)


def _text_style(palette: Palette, r: _Span, focus) -> Style:
    style = palette.tint(r.label) if r.source == "gt" else Style(underline=True, color=palette.color(r.label))
    if r.issue:
        style += _ISSUE_TEXT
    if r.low:
        style += _LOW
    if r.pos == focus:
        style += _FOCUS
    return style


def _tag_row(part: list[_Span], lo: int, hi: int, cum: np.ndarray, palette: Palette, glyph: str, focus) -> Text:
    """The tag row of one source for the line ``[lo, hi)``: mark + type, then the
    line glyph under the rest of each span, aligned by cells."""
    ncells = int(cum[hi] - cum[lo])
    chars = [" "] * ncells
    styles: list[Style | None] = [None] * ncells
    # focus and issue spans last so they win where spans overlap
    for r in sorted(part, key=lambda r: (r.pos == focus) * 2 + bool(r.issue)):
        a, b = int(cum[max(r.start, lo)] - cum[lo]), int(cum[min(r.end, hi)] - cum[lo])
        starts_here = r.start >= lo and not r.cut
        head = ((ISSUE_MARKS.get(r.issue, "!") if r.issue else "") + r.label) if starts_here else ""
        style = palette.style(r.label, bold=True)
        if r.low:
            style += _LOW
        if r.pos == focus:
            style += _FOCUS
        chars[a:b] = list(head[: b - a].ljust(b - a, glyph))
        styles[a:b] = [style] * (b - a)
        if r.issue and starts_here:
            styles[a] = style + ISSUE_STYLE
    text = Text("".join(chars))
    start = 0
    for i in range(1, ncells + 1):
        if i == ncells or styles[i] is not styles[start]:
            if styles[start] is not None:
                text.stylize(styles[start], start, i)
            start = i
    return text


def span_legend(
    shown: str,
    records: list[_Span],
    palette: Palette,
    focus: int | None,
    show_gt: bool,
    show_pred: bool,
    width: int,
) -> list[Text]:
    """Legend lines: the focus object, entity types, source key, marks in use."""
    lines: list[Text] = []
    hit = [r for r in records if r.pos == focus]
    if hit:
        r = hit[0]
        glyph, style = (PRED_GLYPH, PRED_STYLE) if r.source == "pred" else (GT_GLYPH, GT_STYLE)
        focus_line = Text.assemble(
            (f"{FOCUS_GLYPH} ", ISSUE_STYLE), (f"{glyph} {'pred' if r.source == 'pred' else 'GT'} ", style), r.label
        )
        if r.source == "pred" and np.isfinite(r.confidence):
            focus_line.append(f" {r.confidence:.2f}")
        focus_line.append(f" “{shown[r.start : r.end]}”")
        if r.issue:
            focus_line.append(f" · {ISSUE_MARKS.get(r.issue, '!')} {r.issue}", ISSUE_STYLE)
        focus_line.truncate(width, overflow="ellipsis")
        lines.append(focus_line)
    labels = sorted({r.label for r in records})
    if labels:
        types = [Text("types:", "dim")] + [Text(f" {x} ", palette.tint(x)) for x in labels]
        lines.extend(pack_legend(types, width, gap=1))
    gt_note = ": tinted, tag above" if show_gt else " hidden"
    pred_note = ": underlined, tag below" if show_pred else " hidden"
    key = [
        Text.assemble((f"{GT_GLYPH} gt", GT_STYLE), (gt_note, "dim")),
        Text.assemble((f"{PRED_GLYPH} pred", PRED_STYLE), (pred_note, "dim")),
    ]
    lines.extend(pack_legend(key, width))
    issues = [i for i in dict.fromkeys(r.issue for r in records) if i]
    if issues:
        marks = [Text("marks:", "dim")]
        marks += [Text.assemble((f"{ISSUE_MARKS.get(i, '!')} ", ISSUE_STYLE), ISSUE_NAMES.get(i, i)) for i in issues]
        lines.extend(pack_legend(marks, width))
    return lines
