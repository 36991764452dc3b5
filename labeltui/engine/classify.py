"""Classification scoring: agreement, confidences, margin, confident-learning issues.

With class probabilities ``p`` (row ``x`` labeled ``i``):

* per-class thresholds ``t_j`` = mean ``p(j|x)`` over rows labeled ``j``
  (confident learning; a class never used as a label gets the mean over all
  labeled rows);
* ``wrong_label`` when, among the classes with ``p(j|x) >= t_j``, the most
  probable one is not ``i`` (the row would leave the diagonal of cleanlab's
  confident joint) and the model's prediction is not ``i`` either;
* ``score = e u_alt / (e u_alt + (1 - e) u_i)`` with ``u_k = p(k|x) / t_k``,
  ``u_alt = max_{k != i} u_k`` and ``e = scoring.label_error_rate``: the prior
  odds of a wrong label times the model's evidence ratio between the best
  alternative and the given label, each measured against what the model
  usually gives that class, so a class the model is always unsure of (low
  ``t``) does not flood the list. With ``e = 0.5`` it is the normalised margin
  ``u_alt / (u_alt + u_i)`` (0.5 = a tie); with the default 0.05 a tie scores
  0.05 and 0.5 needs the alternative 19 times the label;
* ``ambiguous`` when the top-2 probability margin is below
  ``scoring.ambiguous_margin`` and the row is not ``wrong_label``.

Without probabilities (only a predicted label and its confidence ``c``),
``t_j`` is the mean confidence of predictions of ``j`` that agree with the
label, the label's probability is taken as ``1 - c`` on a disagreement (and the
alternative's as ``1 - c`` on an agreement), and the same ``score`` follows;
``wrong_label`` when the prediction disagrees and ``c >= t_pred`` (or ``c`` is
unknown). ``ambiguous`` needs probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labeltui.config import Matching, Scoring
from labeltui.run import ModelRun

_EPS = 1e-9
COLUMNS = ("agree", "confidence", "pred_label", "pred_confidence", "margin", "score", "issue", "issue_object")


def _posterior(alt: np.ndarray, label: np.ndarray, e: float) -> np.ndarray:
    """``e alt / (e alt + (1 - e) label)``: prior odds ``e / (1 - e)`` times the
    evidence ratio ``alt / label``; 0 where both are 0."""
    num = e * alt
    den = num + (1.0 - e) * label
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _class_means(labels: np.ndarray, values: np.ndarray, k: int, default: float) -> tuple[np.ndarray, float]:
    """Mean of ``values`` per class id and overall; classes without values get
    the overall mean, which is ``default`` when there are no values at all."""
    count = np.bincount(labels, minlength=k).astype(np.float64)
    total = np.bincount(labels, weights=values, minlength=k)
    overall = total.sum() / count.sum() if count.sum() > 0 else default
    return np.where(count > 0, total / np.where(count > 0, count, 1.0), overall), overall


def _take(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``a[mask]``, without copying when the mask selects every row."""
    return a if mask.all() else a[mask]


def score_classification(run: ModelRun, matching: Matching, scoring: Scoring) -> pd.DataFrame:
    """Per-row classification metrics and suspicion, aligned to ``run.rows``.

    Columns: ``agree`` (int8: 1 agree, 0 disagree, -1 no label or no
    prediction), ``confidence`` (model probability of the given label, NaN when
    unknown), ``pred_label`` (class name, "" none), ``pred_confidence``,
    ``margin`` (top-1 minus top-2 probability, NaN without probabilities),
    ``score`` in [0, 1], ``issue`` (``wrong_label`` | ``ambiguous`` | ""),
    ``issue_object`` (always -1). Formulas in the module docstring.
    """
    matched = prepare_classification(run)
    return finish_classification(matched, fit_classification(classification_features(matched)), scoring)


@dataclass
class ClassifiedRows:
    """Per-row facts of a classification run or part (no run-wide statistics)."""

    classes: list[str]
    gt: np.ndarray
    pred: np.ndarray
    pc: np.ndarray
    probs: np.ndarray
    has_probs: np.ndarray
    top: np.ndarray
    agree: np.ndarray
    confidence: np.ndarray
    margin: np.ndarray


def prepare_classification(run: ModelRun) -> ClassifiedRows:
    """Labels, predictions, agreement, the label's probability and the margin per row."""
    n = run.n_rows
    k = len(run.classes)
    rows = np.arange(n)

    def ids(a: np.ndarray | None) -> np.ndarray:
        if a is None:
            return np.full(n, -1, np.int64)
        a = np.asarray(a, dtype=np.int64)
        return np.where((a >= 0) & (a < k), a, -1)

    gt = ids(run.gt_label)
    pred = ids(run.pred_label)
    pc = np.full(n, np.nan) if run.pred_confidence is None else np.asarray(run.pred_confidence, np.float64).copy()

    if run.probs is not None and k > 0 and n > 0:
        probs = np.asarray(run.probs, dtype=np.float64)
        if not (np.isfinite(probs).all() and probs.min() >= 0.0 and probs.max() <= 1.0):
            finite = np.isfinite(probs)
            probs = np.clip(np.where(finite, probs, 0.0), 0.0, 1.0)
            has_probs = finite.any(axis=1) & (probs.sum(axis=1) > 0)
        else:
            has_probs = probs.sum(axis=1) > 0
    else:
        has_probs = np.zeros(n, bool)
        probs = np.zeros((n, max(k, 1)))
    top = probs.argmax(axis=1)
    fill = has_probs & (pred < 0)
    pred[fill] = top[fill]
    fill = has_probs & (pred >= 0) & ~np.isfinite(pc)
    pc[fill] = probs[rows[fill], pred[fill]]

    labeled = gt >= 0
    both = labeled & (pred >= 0)
    agree = np.where(both, (pred == gt).astype(np.int8), np.int8(-1)).astype(np.int8)
    confidence = np.full(n, np.nan)
    with_p = has_probs & labeled
    confidence[with_p] = probs[rows[with_p], gt[with_p]]
    known_agree = ~with_p & (agree == 1)
    confidence[known_agree] = pc[known_agree]

    margin = np.full(n, np.nan)
    if k >= 2 and has_probs.any():
        rest = _take(probs, has_probs).copy()
        at = (np.arange(len(rest)), top[has_probs])
        top1 = rest[at]
        rest[at] = -np.inf
        margin[has_probs] = top1 - rest.max(axis=1)
    elif k == 1:
        margin[has_probs] = probs[has_probs, 0]

    return ClassifiedRows(list(run.classes), gt, pred, pc, probs, has_probs, top, agree, confidence, margin)


def classification_features(m: ClassifiedRows) -> dict[str, np.ndarray]:
    """The per-row values the run-wide thresholds need, in row order."""
    with_p = m.has_probs & (m.gt >= 0)
    agreed = (m.agree == 1) & np.isfinite(m.pc)
    return {
        "n_classes": np.array([len(m.classes)]),
        "label_class": m.gt[with_p],
        "label_prob": m.confidence[with_p],
        "agreed_class": m.gt[agreed],
        "agreed_conf": m.pc[agreed],
    }


@dataclass
class ClassFits:
    """Run-wide per-class thresholds (confident learning)."""

    t_probs: np.ndarray  # mean probability of the label over rows labeled with it
    t_agreed: np.ndarray  # without probabilities: mean confidence of agreeing predictions
    t_all: float


def fit_classification(features: dict[str, np.ndarray]) -> ClassFits:
    """Per-class thresholds from the features of the whole run."""
    k = int(features["n_classes"].max()) if len(features["n_classes"]) else 0
    t_probs = np.maximum(_class_means(features["label_class"], features["label_prob"], k, 1.0)[0], _EPS)
    t, t_all = _class_means(features["agreed_class"], features["agreed_conf"], k, 1.0)
    return ClassFits(t_probs=t_probs, t_agreed=np.maximum(t, _EPS), t_all=max(t_all, _EPS))


def finish_classification(m: ClassifiedRows, fits: ClassFits, scoring: Scoring) -> pd.DataFrame:
    """Scores and issues per row from the row facts and the run-wide thresholds."""
    gt, pred, pc, probs, has_probs, top = m.gt, m.pred, m.pc, m.probs, m.has_probs, m.top
    agree, confidence, margin = m.agree, m.confidence, m.margin
    n, k = len(gt), len(m.classes)
    labeled = gt >= 0
    both = labeled & (pred >= 0)
    with_p = has_probs & labeled
    e = float(np.clip(scoring.label_error_rate, 0.0, 1.0))
    score = np.zeros(n)
    wrong = np.zeros(n, bool)
    ambiguous = np.zeros(n, bool)

    if with_p.any():
        p = _take(probs, with_p)
        g = gt[with_p]
        at = (np.arange(len(g)), g)
        p_i = p[at]
        t = fits.t_probs
        work = p / t  # u_k = p(k|x) / t_k
        u_i = work[at]
        work[at] = -np.inf
        u_alt = np.maximum(work.max(axis=1), 0.0) if k >= 2 else np.zeros(len(g))
        score[with_p] = _posterior(u_alt, u_i, e)
        np.copyto(work, p)  # then: p where p >= t, else -1
        work[p < t] = -1.0
        best_above = work.max(axis=1)
        label_wins = (p_i >= t[g]) & (p_i >= best_above)
        wrong[with_p] = (best_above >= 0.0) & ~label_wins & (pred[with_p] != g)
        ambiguous[with_p] = ~wrong[with_p] & (margin[with_p] < scoring.ambiguous_margin) & (k >= 2)

    fallback = ~has_probs & both
    if fallback.any():
        t, t_all = fits.t_agreed, fits.t_all
        c = pc[fallback]
        f_pred, f_gt = pred[fallback], gt[fallback]
        c = np.clip(np.where(np.isfinite(c), c, np.minimum(t[f_pred], 1.0)), 0.0, 1.0)
        same = f_pred == f_gt
        u_pred = c / t[f_pred]
        u_rest = (1.0 - c) / np.where(same, t_all, t[f_gt])
        score[fallback] = np.where(same, _posterior(u_rest, u_pred, e), _posterior(u_pred, u_rest, e))
        wrong[fallback] = ~same & (c >= t[f_pred])

    issue = np.full(n, "", dtype=object)
    issue[ambiguous] = "ambiguous"
    issue[wrong] = "wrong_label"
    names = np.array(list(m.classes) + [""], dtype=object)
    return pd.DataFrame(
        {
            "agree": agree,
            "confidence": confidence,
            "pred_label": names[pred],
            "pred_confidence": pc,
            "margin": margin,
            "score": np.clip(score, 0.0, 1.0),
            "issue": issue,
            "issue_object": np.full(n, -1, np.int64),
        },
        index=pd.RangeIndex(n),
    )
