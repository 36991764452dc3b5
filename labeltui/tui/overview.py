"""The numbers of the summary screen: per-class TP/FP/FN, class confusions, the score
histogram, and the filter expression that shows the rows behind each (no Textual)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labeltui.tui.session import Session

_CONFUSION_ISSUE = {"detection": "wrong_class", "ner": "wrong_type", "classification": "wrong_label"}


def _quote(text: str) -> str:
    return '"' + str(text).replace('"', "'") + '"'


def class_filter(session: Session, name: str) -> str:
    """Rows involving class ``name`` (any of the row's classes when the table lists them)."""
    if "classes" in session.scores.columns:
        return f"{_quote(name)} in classes"
    return f"label == {_quote(name)}"


def class_table(session: Session) -> pd.DataFrame:
    """One line per class: tp, fp, fn, precision, recall (objects for detection and
    NER, rows for classification), most errors first."""
    run = session.run
    if run is None:
        return pd.DataFrame(columns=["class", "tp", "fp", "fn", "precision", "recall"])
    n = len(run.classes)
    if session.task == "classification":
        given = np.asarray(run.gt_label, dtype=np.int64)
        pred = np.asarray(run.pred_label, dtype=np.int64)
        both = (given >= 0) & (pred >= 0)
        tp = np.bincount(given[both & (given == pred)], minlength=n)
        fp = np.bincount(pred[both & (given != pred)], minlength=n)
        fn = np.bincount(given[both & (given != pred)], minlength=n)
    else:
        ann = run.annotations
        objects = session.objects
        cls = ann["class_id"].to_numpy(dtype=np.int64)
        outcome = objects["outcome"].astype(str).to_numpy() if objects is not None else np.full(len(ann), "")
        gt = ann["source"].astype(str).to_numpy() == "gt"
        keep = cls >= 0
        tp = np.bincount(cls[keep & gt & (outcome == "tp")], minlength=n)
        fn = np.bincount(cls[keep & gt & (outcome == "fn")], minlength=n)
        fp = np.bincount(cls[keep & ~gt & (outcome == "fp")], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
    table = pd.DataFrame(
        {"class": list(run.classes), "tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall}
    )
    order = np.lexsort((table["class"].to_numpy(), -(table["fp"] + table["fn"]).to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def confusions(session: Session, top: int = 10) -> pd.DataFrame:
    """The most frequent class confusions: ``given`` (the label) -> ``predicted`` (the
    model), ``count``, most frequent first."""
    run = session.run
    empty = pd.DataFrame(columns=["given", "predicted", "count"])
    if run is None:
        return empty
    if session.task == "classification":
        given = np.asarray(run.gt_label, dtype=np.int64)
        pred = np.asarray(run.pred_label, dtype=np.int64)
        mask = (given >= 0) & (pred >= 0) & (given != pred)
        pairs = pd.DataFrame({"given": given[mask], "predicted": pred[mask]})
    else:
        objects = session.objects
        if objects is None or not len(objects):
            return empty
        partner_col = "issue_partner" if "issue_partner" in objects else "best_partner"
        partner = objects[partner_col].to_numpy(dtype=np.int64)
        issue = objects["issue"].astype(str).to_numpy()
        cls = run.annotations["class_id"].to_numpy(dtype=np.int64)
        pred = issue == _CONFUSION_ISSUE[session.task]
        pred &= partner >= 0
        idx = np.flatnonzero(pred)
        pairs = pd.DataFrame({"given": cls[partner[idx]], "predicted": cls[idx]})
        pairs = pairs[pairs["given"] != pairs["predicted"]]
    if pairs.empty:
        return empty
    counts = pairs.value_counts().reset_index(name="count").head(top)
    names = np.array(run.classes, dtype=object)
    return pd.DataFrame(
        {"given": names[counts["given"]], "predicted": names[counts["predicted"]], "count": counts["count"].to_numpy()}
    )


def confusion_filter(session: Session, given: str, predicted: str) -> str:
    """Rows showing a confusion (for detection/NER: the issue and the model's class)."""
    if session.task == "classification":
        return f"label == {_quote(given)} and pred_label == {_quote(predicted)}"
    issue = _CONFUSION_ISSUE[session.task]
    return f'issue == "{issue}" and label == {_quote(predicted)}'


def score_histogram(session: Session, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) of the row scores over [0, 1]."""
    scores = session.scores["score"].to_numpy(dtype=np.float64)
    return np.histogram(scores[np.isfinite(scores)], bins=bins, range=(0.0, 1.0))


def bin_filter(lo: float, hi: float, last: bool) -> str:
    """Rows whose score falls in a histogram bin (the last bin includes 1)."""
    return f"score >= {lo:g} and score {'<=' if last else '<'} {hi:g}"
