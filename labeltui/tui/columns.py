"""Columns of the suspect list: which ones fit a width, and the text of each cell.

Cells are formatted one visible line at a time from numpy arrays pulled out of
the scores table once, so drawing a screenful costs the same at 60 rows or a
million.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rich.cells import cell_len, set_cell_size

from labeltui.engine import ISSUE_TYPES
from labeltui.render.palette import ISSUE_MARKS
from labeltui.tui.session import Session


@dataclass(frozen=True)
class Column:
    """A list column: the table column it shows (or a derived one), title, width, alignment."""

    name: str
    title: str
    width: int
    right: bool = False
    min_width: int = 0  # it may shrink to this when space is short (0: never)


def fit(text: str, width: int, right: bool = False) -> str:
    """``text`` cut or padded to exactly ``width`` cells (an ellipsis marks a cut)."""
    if text.isascii():
        if len(text) > width:
            return text[: max(0, width - 1)] + "…" if width > 0 else ""
        return text.rjust(width) if right else text.ljust(width)
    size = cell_len(text)
    if size > width:
        return set_cell_size(text, max(0, width - 1)) + "…" if width > 0 else ""
    pad = " " * (width - size)
    return pad + text if right else text + pad


def _number(value: float | int, digits: int = 3) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "-"
        if value == int(value) and abs(value) < 1e6 and digits == 0:
            return str(int(value))
        return f"{value:.{digits}f}"
    return str(value)


class RowCells:
    """The text of every cell of a row, by column name."""

    def __init__(self, session: Session) -> None:
        self.session = session
        scores = session.scores
        self._arrays: dict[str, np.ndarray | pd.Series] = {}
        self.task = session.task
        self.issue_object = scores["issue_object"].to_numpy(dtype=np.int64) if "issue_object" in scores else None
        run = session.run
        ann = run.annotations if run is not None else None
        # per-object lookups happen for visible lines only: keep the columns, convert nothing
        self.ann_label = ann["label"] if ann is not None and len(ann) else None
        self.ann_conf = ann["confidence"].to_numpy(dtype=np.float64) if self.ann_label is not None else None
        objects = session.objects
        partner_col = "issue_partner" if objects is not None and "issue_partner" in objects else "partner"
        self.partner = (
            objects[partner_col].to_numpy(dtype=np.int64)
            if objects is not None and len(objects) and partner_col in objects
            else None
        )

    def array(self, name: str) -> np.ndarray | pd.Series:
        """A column for cell lookups: numbers as a numpy array (a view), text as the Series."""
        arr = self._arrays.get(name)
        if arr is None:
            if name in self.session.scores.columns:
                series = self.session.scores[name]
                if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype):
                    arr = series.to_numpy()
                elif pd.api.types.is_numeric_dtype(series.dtype):
                    arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
                else:
                    arr = series
            else:
                arr = self._review_array(name)
            self._arrays[name] = arr
        return arr

    def value(self, name: str, pos: int):
        """One cell's raw value (None for missing text)."""
        arr = self.array(name)
        if isinstance(arr, pd.Series):
            value = arr.iat[pos]
            return None if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else value
        return arr[pos]

    def _review_array(self, name: str) -> np.ndarray:
        column = self.session.column_values(name)
        return np.asarray(column, dtype=object) if name in ("verdict", "reviewer") else np.asarray(column)

    def forget_review_columns(self) -> None:
        """Drop cached review columns (after verdicts change)."""
        for name in ("verdict", "reviewed", "selected", "noted", "reviewer"):
            if name not in self.session.scores.columns:
                self._arrays.pop(name, None)

    def _text(self, name: str, pos: int) -> str:
        value = self.value(name, pos) if name in self.session.scores.columns else None
        return "" if value is None else str(value)

    def classes(self, pos: int) -> str:
        """The class(es) involved: ``car``, ``car→truck`` (label → model), ``given→predicted``."""
        if self.task == "classification":
            given, pred = self._text("label", pos), self._text("pred_label", pos)
            return given if not pred or pred == given else f"{given}→{pred}"
        obj = int(self.issue_object[pos]) if self.issue_object is not None else -1
        if obj < 0 or self.ann_label is None or obj >= len(self.ann_label):
            return self._text("label", pos)
        label = str(self.ann_label.iat[obj])
        partner = int(self.partner[obj]) if self.partner is not None and obj < len(self.partner) else -1
        if partner >= 0:
            other = str(self.ann_label.iat[partner])
            if other != label:
                return f"{other}→{label}"
        return label

    def confidence(self, pos: int) -> float:
        """Confidence of the object behind the issue (detection/NER) or of the predicted class."""
        if self.task == "classification":
            return float(self.value("pred_confidence", pos)) if "pred_confidence" in self.session.scores else math.nan
        obj = int(self.issue_object[pos]) if self.issue_object is not None else -1
        if obj >= 0 and self.ann_conf is not None and obj < len(self.ann_conf):
            return float(self.ann_conf[obj])
        if "max_fp_confidence" in self.session.scores:
            value = float(self.value("max_fp_confidence", pos))
            return value if value > 0 else math.nan
        return math.nan

    def text(self, column: Column, pos: int) -> str:
        """The cell of ``column`` for row ``pos``, exactly ``column.width`` cells."""
        name = column.name
        if name == "data_row_id":
            value = self.session.id_text(pos)
        elif name == "issue":
            issue = self._text("issue", pos)
            value = f"{ISSUE_MARKS.get(issue, '!')} {issue}" if issue else ""
        elif name == "classes":
            value = self.classes(pos)
        elif name == "fp/fn":
            value = f"{int(self.value('fp', pos))}/{int(self.value('fn', pos))}"
        elif name == "conf":
            value = _number(self.confidence(pos), 2)
        else:
            raw = self.value(name, pos)
            if isinstance(raw, (float, np.floating)):
                value = _number(raw, 3)
            elif isinstance(raw, (bool, np.bool_)):
                value = "yes" if raw else "no"
            elif raw is None:
                value = "-"
            else:
                value = str(raw)
        return fit(value, column.width, column.right)


_TITLES = {
    "data_row_id": "id",
    "score": "score",
    "issue": "issue",
    "classes": "class",
    "fp/fn": "fp/fn",
    "conf": "conf",
    "margin": "margin",
    "knn_disagreement": "knn",
    "iou": "iou",
    "f1": "f1",
    "n_gt": "gt",
    "n_pred": "pred",
}


def candidate_columns(session: Session) -> list[Column]:
    """All columns the list could show for this run, most important first."""
    scores = session.scores
    have = set(scores.columns)
    sample = session.ids[: min(len(session.ids), 5000)]
    id_width = max(6, min(24, max((cell_len(str(i)) for i in sample), default=6)))
    cols = [Column("data_row_id", "id", id_width), Column("score", "score", 6, True)]
    issues = ISSUE_TYPES.get(session.task, ()) or ("",)
    cols.append(Column("issue", "issue", max(8, max(len(i) for i in issues) + 2)))
    names = session.classes
    pair = max((len(c) for c in names), default=6) * 2 + 1
    if session.task == "classification":
        cols.append(Column("classes", "given→pred", max(10, min(32, pair)), min_width=12))
        cols.append(Column("conf", "conf", 4, True))
        if "margin" in have:
            cols.append(Column("margin", "margin", 6, True))
    else:
        cols.append(Column("classes", "class", max(8, min(18, pair)), min_width=8))
        if {"fp", "fn"} <= have:
            cols.append(Column("fp/fn", "fp/fn", 5, True))
        cols.append(Column("conf", "conf", 4, True))
        for name in ("iou", "f1", "n_gt", "n_pred"):
            if name in have:
                cols.append(Column(name, _TITLES[name], 5, True))
    if "knn_disagreement" in have:
        cols.append(Column("knn_disagreement", "knn", 5, True))
    shown = {c.name for c in cols}
    custom = [c for c in session.run.metrics.columns] if session.run is not None else []
    for name in custom:
        if name in have and name not in shown and pd.api.types.is_numeric_dtype(scores[name].dtype):
            cols.append(Column(name, fit(str(name), 8).rstrip(), max(5, min(8, cell_len(str(name)))), True))
    return cols


def sort_column(session: Session, name: str) -> Column:
    """A column showing the sort key (when it is not among the shown ones)."""
    title = _TITLES.get(name, name)
    width = max(5, min(12, cell_len(title)))
    right = name in session.scores.columns and pd.api.types.is_numeric_dtype(session.scores[name].dtype)
    return Column(name, title, width, right)


def layout(candidates: list[Column], width: int, sort_key: str, session: Session) -> list[Column]:
    """The columns that fit ``width`` cells (one space between columns), in display order.

    The id, score and issue columns always show (the id shrinks first); the
    sort column comes right after the score so it shows at any width.
    """
    cols = list(candidates)
    shown_as = "fp/fn" if sort_key in ("fp", "fn") else sort_key
    if shown_as not in ("data_row_id", "score", "issue"):
        match = [c for c in cols if c.name == shown_as]
        sorted_col = match[0] if match else sort_column(session, sort_key)
        # room for the direction arrow after the title
        sorted_col = dataclasses.replace(sorted_col, width=max(sorted_col.width, cell_len(sorted_col.title) + 1))
        cols = [c for c in cols if c.name != shown_as]
        cols.insert(2, sorted_col)
    keep: list[Column] = []
    used = 0
    for i, col in enumerate(cols):
        need = (col.min_width or col.width) + 1
        if used + need <= width or i < 3:
            keep.append(col)
            used += need
    spare = width - used
    for i, col in enumerate(keep):  # give shrunk columns their room back
        if col.min_width and col.min_width < col.width and spare > 0:
            grow = min(spare, col.width - col.min_width)
            keep[i] = dataclasses.replace(col, width=col.min_width + grow)
            spare -= grow
        elif col.min_width:
            keep[i] = dataclasses.replace(col, width=col.min_width)
    over = -spare
    if over > 0 and keep:
        keep[0] = dataclasses.replace(keep[0], width=max(4, keep[0].width - over))
    return keep
