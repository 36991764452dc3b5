"""The suspicion score: how likely a data row's labels are wrong, in [0, 1].

What a score means
------------------
Every disagreement between model and label (an object with an issue) is turned
into the probability that the label is wrong, from two numbers:

* ``P``: how often the model is right when it disagrees *this way*, measured on
  this run (per class and confidence for predictions, per class and size for
  ground truth; see "Evidence" below), and
* ``e = scoring.label_error_rate``: the share of labels assumed wrong before
  looking at the model (default 0.05).

Bayes' rule with the model's odds as the likelihood ratio gives the object's
suspicion::

    s = e * P / (e * P + (1 - e) * (1 - P))        (0 for an object with no issue)

i.e. ``odds(s) = odds(e) * odds(P)``. With ``e = 0.5`` the score is ``P``
itself ("0.9: a model that is right 90% of the time when it disagrees like
this, for this class at this confidence, disagrees with the label"). With the
default ``e = 0.05``, ``s = 0.5`` needs ``P = 0.95`` and ``s = 0.9`` needs
``P = 0.994``: mediocre evidence stays small instead of adding up. A row's
score combines its objects' suspicions as independent evidence with a
noisy-OR, ``1 - prod(1 - s_i)`` (no issue: 0; one ``s_i = 1``: 1). When the run
has embeddings and ``scoring.knn_weight > 0``, the share ``k`` of the row's
``scoring.knn_k`` nearest embedding neighbours (cosine) whose label differs
(classification: the row's label; detection and NER: the row's most frequent
ground-truth class) joins the same way: ``1 - (1 - score) * (1 - knn_weight * k)``.
A row's ``issue`` and ``issue_object`` name its most suspicious object and
``label`` that object's class.

Evidence per detection issue (``labeltui.engine.detection``)
------------------------------------------------------------
T = ``matching.iou_threshold``; "confident" = confidence >=
``matching.confidence_threshold`` (a missing confidence counts as 1.0).
Matching is COCO's (see ``detection``); TP = a matched prediction.

* ``missing_label`` (on the prediction): a confident unmatched prediction that
  no ground-truth box overlaps at IoU >= T and that is neither of the next two.
* ``wrong_class`` (on the prediction; ``issue_partner`` = the box): a
  confident unmatched prediction overlapping at IoU >= T an unmatched box of
  another class.
* ``bad_location`` (on the prediction; ``issue_partner`` = the box): a
  confident unmatched prediction overlapping an unmatched box of its class at
  ``scoring.overlap_iou <= IoU < T``.

For each of these three, ``P = TP / (TP + flagged)`` among this class's
predictions at this confidence: the flagged ones being those with this issue.
A class the model is bad at (many confident false positives of this kind) or
a confidence where the model often disagrees this way gets a low ``P``, so it
cannot flood the list. Then:

* ``wrong_class``: ``P *= 1 - c``, ``c`` the highest confidence of a
  prediction of the box's own class overlapping it at IoU >= T (the model
  half-agrees with the label; 0 when none).
* ``bad_location``: ``odds(P) *= u / f(IoU)``, ``f`` the histogram density
  (10 bins, one pseudo-count each) of the IoU of all ``bad_location``
  predictions over ``[overlap_iou, T)`` and ``u`` the uniform density there:
  an overlap at which the model's own near-misses pile up is weak evidence.
* ``spurious_label`` (on the ground-truth box): no prediction with confidence
  >= ``scoring.low_confidence`` overlaps it at IoU >= ``scoring.overlap_iou``.
  ``P`` = the share of this class's boxes of this size that are so supported,
  times the row's reliability ``min(1, (found + r) / ((n + 1) r))``: ``found``
  of the row's ``n`` other boxes are matched, ``r`` is the class's usual
  matched share. A row where the model misses everything (a hard image) is
  not a label mistake.

Curves ``P(class, x)`` use 10 bins of ``x`` (confidence: equal width from the
confidence threshold to 1; size: equal-count bins of box area), per-class
counts shrunk toward the all-class curve with 10 pseudo-observations per bin,
made non-decreasing in ``x`` (weighted isotonic fit) and interpolated
(``labeltui.engine.metrics.Calibration``).
Several predictions disputing one box count once (the most suspicious keeps
its suspicion), and overlapping ``missing_label`` predictions (IoU >= T, any
class) are one unlabelled object (only the most suspicious counts).

NER and classification supply their own object or row evidence
(``labeltui.engine.spans``, ``labeltui.engine.classify``), combined here the
same way.

Settings used: ``matching.iou_threshold``, ``matching.confidence_threshold``,
``scoring.overlap_iou``, ``scoring.low_confidence``,
``scoring.label_error_rate``, ``scoring.knn_k``, ``scoring.knn_weight``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labeltui.config import Config
from labeltui.engine import metrics
from labeltui.run import ModelRun

#: Per-row columns every task has, first in ``ScoredRun.scores``.
HEAD_COLUMNS = ("data_row_id", "score", "issue", "issue_object", "label")


@dataclass
class ScoredRun:
    """Per-row scores (aligned to ``run.rows``) and per-object outcomes
    (aligned to ``run.annotations``)."""

    scores: pd.DataFrame
    objects: pd.DataFrame


def object_suspicion(p_right: np.ndarray, label_error_rate: float) -> np.ndarray:
    """Probability that a label is wrong when a model right with probability
    ``p_right`` disagrees with it, a priori ``label_error_rate`` of labels
    being wrong: ``e P / (e P + (1 - e)(1 - P))``, in [0, 1]."""
    p = np.clip(np.asarray(p_right, dtype=np.float64), 0.0, 1.0)
    e = float(np.clip(label_error_rate, 0.0, 1.0))
    num = e * p
    den = num + (1.0 - e) * (1.0 - p)
    out = p.copy()  # 0/0 happens only for e in {0, 1}: fall back to P
    np.divide(num, den, out=out, where=den > 0)
    return out


def score_run(run: ModelRun, config: Config) -> ScoredRun:
    """Score every row of ``run`` with ``config.matching`` and ``config.scoring``."""
    prepared = prepare(run, config)
    return finish(prepared, fit(run.task, features(prepared), config), config, knn=_knn(run, config.scoring))


@dataclass
class PreparedRun:
    """A run, or one part of it (a range of rows), matched and with its issue
    types found: everything that needs no statistics of the whole run."""

    run: ModelRun
    matched: Any


def prepare(run: ModelRun, config: Config) -> PreparedRun:
    """Match objects (or read the classification rows) of ``run``; per row, so
    the parts of a run can be prepared independently."""
    if run.task == "classification":
        from labeltui.engine.classify import prepare_classification

        return PreparedRun(run, prepare_classification(run))
    if run.task == "ner":
        from labeltui.engine.spans import prepare_spans

        return PreparedRun(run, prepare_spans(run, config.matching, config.scoring))
    from labeltui.engine.detection import prepare_objects

    return PreparedRun(run, prepare_objects(run, config.matching, config.scoring))


def features(prepared: PreparedRun) -> dict[str, np.ndarray]:
    """The few values per object (or row) the run-wide fits need; the features
    of a run's parts, joined in row order (``join_features``), equal the run's."""
    if prepared.run.task == "classification":
        from labeltui.engine.classify import classification_features

        return classification_features(prepared.matched)
    if prepared.run.task == "ner":
        from labeltui.engine.spans import span_features

        return span_features(prepared.matched)
    from labeltui.engine.detection import object_features

    return object_features(prepared.matched)


def join_features(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The features of consecutive parts of a run, as those of the whole run."""
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}


def fit(task: str, feats: dict[str, np.ndarray], config: Config) -> Any:
    """The run-wide statistics of a ``task`` run (calibration curves, class
    thresholds, size ranks) from the features of the whole run."""
    if task == "classification":
        from labeltui.engine.classify import fit_classification

        return fit_classification(feats)
    if task == "ner":
        from labeltui.engine.spans import fit_spans

        return fit_spans(feats, config.matching)
    from labeltui.engine.detection import fit_objects

    return fit_objects(feats, config.matching, config.scoring)


def finish(prepared: PreparedRun, fits: Any, config: Config, knn: np.ndarray | None = None) -> ScoredRun:
    """Suspicions, row scores and metrics of a prepared run (or part) from the
    run-wide ``fits``; ``knn`` is the rows' embedding-neighbour disagreement."""
    run, scoring = prepared.run, config.scoring
    if run.task == "classification":
        from labeltui.engine.classify import finish_classification

        table = finish_classification(prepared.matched, fits, scoring).reset_index(drop=True)
        objects = _no_objects(len(run.annotations))
        if "issue_object" not in table:
            table["issue_object"] = -1
        if "label" not in table:
            table["label"] = _class_names(run, row_labels(run))
    else:
        if run.task == "ner":
            from labeltui.engine.spans import finish_spans

            objects = finish_spans(prepared.matched, fits, scoring)
        else:
            from labeltui.engine.detection import finish_objects

            objects = finish_objects(prepared.matched, fits, scoring)
        table = _combine(run, objects)
    table.insert(0, "data_row_id", run.rows["data_row_id"].to_numpy())
    if knn is not None:
        weighted = scoring.knn_weight * np.nan_to_num(np.clip(knn, 0.0, 1.0), nan=0.0)
        table["score"] = 1.0 - (1.0 - table["score"].to_numpy(dtype=np.float64)) * (1.0 - weighted)
        table["knn_disagreement"] = knn
    head = [c for c in HEAD_COLUMNS if c in table]
    table = table[head + [c for c in table.columns if c not in head]]
    return ScoredRun(scores=_with_custom_metrics(table, run.metrics), objects=objects)


def _combine(run, objects: pd.DataFrame) -> pd.DataFrame:
    """Row score (noisy-OR of object suspicions), dominant issue and metrics."""
    n = run.n_rows
    row = run.annotations["row"].to_numpy(dtype=np.int64)
    s = np.clip(objects["suspicion"].to_numpy(dtype=np.float64, na_value=0.0), 0.0, 1.0)
    certain = np.bincount(row[s >= 1.0], minlength=n) > 0
    log_clean = np.bincount(row, weights=np.log1p(-np.where(s >= 1.0, 0.0, s)), minlength=n)
    score = np.where(certain, 1.0, 0.0 - np.expm1(log_clean))
    has = np.flatnonzero(s > 0)
    _, arg = metrics.group_best(row[has], s[has], n, last=False)
    hit = np.flatnonzero(arg >= 0)
    obj = np.full(n, -1, dtype=np.int64)
    obj[hit] = has[arg[hit]]
    issue = np.full(n, "", dtype=object)
    issue[hit] = objects["issue"].iloc[obj[hit]].astype(object).to_numpy()
    label = np.full(n, "", dtype=object)
    label[hit] = run.annotations["label"].iloc[obj[hit]].astype(object).to_numpy()
    table = pd.DataFrame({"score": score, "issue": issue, "issue_object": obj, "label": label})
    return pd.concat([table, metrics.row_metrics(run, objects).reset_index(drop=True)], axis=1)


def _no_objects(n: int) -> pd.DataFrame:
    """Object outcomes for a run whose annotations are not matched (classification)."""
    return pd.DataFrame(
        {
            "outcome": pd.Categorical([""] * n, categories=["", "tp", "fp", "fn", "low"]),
            "partner": np.full(n, -1, dtype=np.int64),
            "iou": np.full(n, np.nan),
            "best_partner": np.full(n, -1, dtype=np.int64),
            "best_iou": np.zeros(n),
            "issue": pd.Categorical([""] * n, categories=[""]),
            "suspicion": np.zeros(n),
        }
    )


def _class_names(run, class_id: np.ndarray) -> np.ndarray:
    names = np.array(list(run.classes) + [""], dtype=object)
    return names[np.where(class_id >= 0, class_id, len(run.classes))]


def row_labels(run: ModelRun) -> np.ndarray:
    """One class id per row for the neighbour check, -1 none: the label
    (classification) or the most frequent ground-truth class (ties: the
    smallest id)."""
    if run.task == "classification":
        return np.asarray(run.gt_label if run.gt_label is not None else np.full(run.n_rows, -1), dtype=np.int64)
    ann = run.annotations
    gt = ~metrics.flag(ann["source"], "pred")
    row = ann["row"].to_numpy(dtype=np.int64)[gt]
    cls = ann["class_id"].to_numpy(dtype=np.int64)[gt]
    keep = cls >= 0
    row, cls = row[keep], cls[keep]
    out = np.full(run.n_rows, -1, dtype=np.int64)
    if not len(row):
        return out
    width = int(cls.max()) + 1
    keys = np.sort(row * width + cls)
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[first, len(keys)]).astype(np.float64)
    keys = keys[first]
    _, arg = metrics.group_best(keys // width, counts, run.n_rows, last=False)
    ok = arg >= 0
    out[ok] = keys[arg[ok]] % width
    return out


def _knn(run: ModelRun, scoring) -> np.ndarray | None:
    """Embedding-neighbour label disagreement per row, or None when unavailable."""
    if run.embeddings is None or scoring.knn_weight <= 0 or run.n_rows == 0:
        return None
    return knn_scores(run.embeddings, run.embedding_mask, row_labels(run), scoring)


def knn_scores(embeddings: np.ndarray, mask: np.ndarray | None, labels: np.ndarray, scoring) -> np.ndarray | None:
    """Share of each row's ``scoring.knn_k`` nearest neighbours labeled
    otherwise (NaN for rows without a label); None when the neighbour module is missing."""
    if importlib.util.find_spec("labeltui.engine.neighbors") is None:
        return None
    from labeltui.engine.neighbors import knn_disagreement

    mask = np.ones(len(labels), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    knn = np.asarray(knn_disagreement(embeddings, labels, mask & (labels >= 0), scoring.knn_k), dtype=np.float64)
    knn[labels < 0] = np.nan
    return knn


def _with_custom_metrics(table: pd.DataFrame, custom: pd.DataFrame | None) -> pd.DataFrame:
    """Append the run's custom metric columns; a name already used gets ``_custom``."""
    if custom is None or custom.shape[1] == 0:
        return table
    extra = custom.reset_index(drop=True)
    extra.columns = [f"{c}_custom" if c in table.columns else c for c in extra.columns]
    return pd.concat([table, extra], axis=1)
