"""The facts about one row for the detail pane: score, issue, metrics, objects, verdict, note."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rich.console import Group
from rich.text import Text

from labeltui.render.palette import (
    FOCUS_GLYPH,
    GT_GLYPH,
    GT_STYLE,
    ISSUE_MARKS,
    ISSUE_STYLE,
    PRED_GLYPH,
    PRED_STYLE,
    VERDICT_MARKS,
    VERDICT_STYLES,
)
from labeltui.tui.session import Session

_SKIP = {"data_row_id", "global_key", "score", "issue", "issue_object", "label", "pred_label"}
_SHORT = {"max_fp_confidence": "max fp conf", "knn_disagreement": "knn", "pred_confidence": "pred conf"}


def _fmt(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return "-" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return str(value)


class RowFacts:
    """Looks up one row's objects and numbers fast: columns are pulled out once
    (numbers as numpy views, text left in its Series and read cell by cell)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        run = session.run
        self.annotations = run.annotations if run is not None and session.task != "classification" else None
        self.ann_rows = self.annotations["row"].to_numpy() if self.annotations is not None else None
        objects = session.objects
        aligned = objects is not None and self.annotations is not None and len(objects) == len(self.annotations)
        self.objects = objects[[c for c in ("outcome", "issue", "suspicion") if c in objects]] if aligned else None
        scores = session.scores
        self.issue_object = scores["issue_object"].to_numpy(dtype=np.int64) if "issue_object" in scores else None
        self.columns: dict[str, np.ndarray | pd.Series] = {}
        for name in scores.columns:
            series = scores[name]
            numeric = pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)
            self.columns[str(name)] = series.to_numpy() if numeric else series

    def value(self, name: str, pos: int):
        column = self.columns[name]
        return column[pos] if isinstance(column, np.ndarray) else column.iat[pos]

    def objects_of(self, pos: int) -> tuple[pd.DataFrame, int]:
        """The row's annotations (with outcome, issue, suspicion when scored) and the
        position among them of the object behind the row's issue (-1); without the
        run, what the session fetched for the row (nothing until it did)."""
        if self.annotations is None:
            data = self.session.fetched_row(pos)
            return (data.boxes, data.first) if data is not None else (pd.DataFrame(), -1)
        lo, hi = (int(i) for i in np.searchsorted(self.ann_rows, [pos, pos + 1]))
        boxes = self.annotations.iloc[lo:hi]
        if self.objects is not None:
            extra = self.objects.iloc[lo:hi]
            boxes = boxes.assign(**{c: extra[c].to_numpy() for c in extra.columns})
        obj = int(self.issue_object[pos]) if self.issue_object is not None else -1
        local = obj - lo if lo <= obj < hi else -1
        return boxes.reset_index(drop=True), local


def object_order(boxes: pd.DataFrame, first: int) -> list[int]:
    """Order to cycle through a row's objects: the issue object, other objects
    with issues (most suspicious first), then the rest."""
    if boxes.empty:
        return []
    n = len(boxes)
    susp = boxes["suspicion"].to_numpy(dtype=np.float64) if "suspicion" in boxes else np.zeros(n)
    has = (boxes["issue"].astype(str).to_numpy() != "") if "issue" in boxes else np.zeros(n, dtype=bool)
    order = np.lexsort((np.arange(n), -susp, ~has))
    out = [int(i) for i in order if i != first]
    return ([first] if first >= 0 else []) + out


def describe_object(boxes: pd.DataFrame, i: int, focused: bool) -> Text:
    """One line: ``★ pred car 0.93 · ≠ wrong_class 0.81``."""
    row = boxes.iloc[i]
    pred = row["source"] == "pred"
    glyph, style = (PRED_GLYPH, PRED_STYLE) if pred else (GT_GLYPH, GT_STYLE)
    text = Text(f"{FOCUS_GLYPH} " if focused else "  ", ISSUE_STYLE)
    text.append(f"{glyph} {'pred' if pred else 'GT  '}", style)
    text.append(f" {row['label']}")
    conf = row.get("confidence")
    if pred and conf is not None and not pd.isna(conf):
        text.append(f" {float(conf):.2f}")
    if "start" in boxes and row["start"] >= 0:
        text.append(f" [{int(row['start'])}:{int(row['end'])}]", "dim")
    outcome = row.get("outcome", "")
    if outcome:
        text.append(f" {outcome}", "dim")
    issue = row.get("issue", "")
    if issue:
        text.append(f" · {ISSUE_MARKS.get(issue, '!')} {issue} {float(row.get('suspicion', 0.0)):.2f}", ISSUE_STYLE)
    return text


def pack(items: list[Text], width: int) -> list[Text]:
    """Lay items out in lines of at most ``width`` cells, two spaces apart, never
    breaking an item (one longer than a line is cut with an ellipsis)."""
    lines: list[Text] = []
    for item in items:
        if lines and lines[-1].cell_len + 2 + item.cell_len <= width:
            lines[-1].append("  ")
            lines[-1].append_text(item)
        else:
            lines.append(item.copy())
    for line in lines:
        line.no_wrap = True
        line.truncate(width, overflow="ellipsis")
    return lines


def row_info(facts: RowFacts, pos: int, boxes: pd.DataFrame, focus: int, *, width: int = 80, max_objects: int = 6) -> Group:
    """The detail pane's text for row ``pos`` in lines of ``width`` cells: id, score,
    issue, verdict, metrics, the row's objects with issues (``focus`` marked), the note."""
    session = facts.session
    columns = facts.columns

    def text(name: str) -> str:
        value = facts.value(name, pos) if name in columns else None
        return "" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else str(value)

    head = [Text(str(session.ids[pos]), style="bold"), Text.assemble("score ", (f"{float(facts.value('score', pos)):.3f}", "bold"))]
    issue = text("issue")
    if issue:
        head.append(Text(f"{ISSUE_MARKS.get(issue, '!')} {issue}", ISSUE_STYLE))
    if session.task == "classification":
        head.append(Text(f"given {text('label') or '?'} → model {text('pred_label') or '?'}"))
    verdict = session.verdict_of(pos)
    if verdict:
        head.append(Text(f"{VERDICT_MARKS[verdict]} {verdict}", VERDICT_STYLES[verdict]))
    else:
        head.append(Text("· unreviewed", "dim"))
    if session.selected[pos]:
        head.append(Text(f"{VERDICT_MARKS['selected']} selected", VERDICT_STYLES["selected"]))
    metrics = []
    for name, column in columns.items():
        if name in _SKIP or not isinstance(column, np.ndarray):
            continue
        value = column[pos]
        metrics.append(Text.assemble((_SHORT.get(name, name) + " ", "dim"), _fmt(value)))
    parts: list = [*pack(head, width), *pack(metrics, width)]
    if not boxes.empty:
        order = object_order(boxes, focus)
        has_issue = boxes["issue"].astype(str).to_numpy() != "" if "issue" in boxes else np.zeros(len(boxes), bool)
        shown = [i for i in order if i == focus or has_issue[i]][:max_objects]
        if focus >= 0 and focus not in shown:
            shown = [focus] + shown[: max_objects - 1]
        parts.extend(pack([describe_object(boxes, i, i == focus)], width)[0] for i in shown)
        n_gt = int((boxes["source"] == "gt").sum())
        parts.append(Text(f"{len(boxes)} objects ({n_gt} GT, {len(boxes) - n_gt} pred); tab [ ] cycle", "dim"))
    note = session.notes.get(pos)
    if note:
        parts.append(Text.assemble(("✎ note: ", "bold"), note))
    return Group(*parts)
