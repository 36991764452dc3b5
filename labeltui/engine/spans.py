"""NER span matching: exact outcomes (seqeval strict), overlaps, issue types, suspicion.

Exact matching decides TP/FP/FN: a confident predicted span is a TP when a
ground-truth span of the same row has the same ``(start, end, type)``.
Overlap matching (character IoU, any type) explains the disagreements:

* ``missing_entity``  a confident prediction overlapping no GT span
  (an unannotated name);
* ``wrong_type``      a confident prediction whose best GT overlap has another
  type and char IoU >= ``scoring.span_type_iou``;
* ``boundary``        a confident prediction overlapping a GT span with other
  boundaries (same type, or another type below ``span_type_iou``);
* ``spurious_entity`` a GT span that no prediction overlaps, not even one at
  ``scoring.low_confidence``.

The disagreement is carried by one object only (the prediction for the first
three, the GT span for the last), so a row's noisy-OR does not count it twice.

Suspicion follows ``labeltui.engine.score`` (the same meaning as for boxes):
``P``, how often the model is right when it disagrees this way, turned into a
probability with ``e = scoring.label_error_rate``::

    suspicion = e * P / (e * P + (1 - e) * (1 - P))      (0 without an issue)

* ``missing_entity``, ``wrong_type``, ``boundary``: ``P = TP / (TP + flagged)``
  among the confident predictions of the prediction's type at its confidence
  (``metrics.Calibration``: 10 confidence bins from
  ``matching.confidence_threshold`` to 1, per-type counts shrunk toward all
  types, non-decreasing in confidence); a missing confidence counts as 1.0.
  A type the model is weak on (many confident disagreements of this kind) gets
  a low ``P`` and cannot flood the list.
* ``spurious_entity``: ``P`` = the share of the type's GT spans that some
  prediction supports (smoothed), times the row's reliability
  ``min(1, (found + r) / (n * r))``: ``found`` of the row's ``n`` GT spans
  (this one included) are supported, ``r`` is the type's usual supported
  share. A sentence where the model finds nothing is hard, not mislabeled.
* When the model reported a confidence ``g`` for the disputed GT span exactly
  as labeled (any prediction of that span and type, low-confidence ones
  included; for ``wrong_type``/``boundary`` the span the prediction overlaps,
  for ``spurious_entity`` the span itself), ``odds(P)`` is multiplied by
  ``t_k / g``: ``t_k`` the model's mean confidence on its exact matches of the
  span's type (smoothed): support far below the usual raises the suspicion,
  support at the usual level leaves it, support above it lowers it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labeltui.config import Matching, Scoring
from labeltui.engine.metrics import PRIOR_COUNT, Calibration, smoothed_rate
from labeltui.run import ModelRun

OUTCOMES = np.array(["fn", "tp", "fp", "low"], dtype=object)
SPAN_ISSUES = np.array(["", "missing_entity", "wrong_type", "boundary", "spurious_entity"], dtype=object)
_NONE, _MISSING, _WRONG_TYPE, _BOUNDARY, _SPURIOUS = range(5)
_EPS = 1e-9


def empty_outcomes() -> pd.DataFrame:
    """An object-outcome table with no rows (the contract's columns and dtypes)."""
    return _frame(0, np.zeros(0, np.int8), np.full(0, -1), np.zeros(0), np.full(0, -1), np.zeros(0),
                  np.zeros(0, np.int8), np.zeros(0))


def _frame(n, outcome, partner, iou, best_partner, best_iou, issue, suspicion) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "outcome": OUTCOMES[outcome],
            "partner": np.asarray(partner, dtype=np.int64),
            "iou": np.asarray(iou, dtype=np.float64),
            "best_partner": np.asarray(best_partner, dtype=np.int64),
            "best_iou": np.asarray(best_iou, dtype=np.float64),
            "issue": SPAN_ISSUES[issue],
            "suspicion": np.asarray(suspicion, dtype=np.float64),
        },
        index=pd.RangeIndex(n),
    )


def _dense_key(cols: list[np.ndarray]) -> np.ndarray:
    """One int64 per element ordering like the tuple of ``cols`` (first column
    primary): a mixed-radix number when it fits, else a rank."""
    cols = [c.astype(np.int64) - (c.min() if len(c) else 0) for c in cols]
    sizes = [int(c.max()) + 1 if len(c) else 1 for c in cols]
    if float(np.prod(sizes, dtype=np.float64)) < 2.0**62:
        key = np.zeros(len(cols[0]), np.int64)
        for c, size in zip(cols, sizes):
            key = key * size + c
        return key
    order = np.lexsort(cols[::-1])
    new = np.ones(len(order), bool)
    new[1:] = np.logical_or.reduce([c[order][1:] != c[order][:-1] for c in cols])
    key = np.empty(len(order), np.int64)
    key[order] = np.cumsum(new) - 1
    return key


def exact_pairs(
    row: np.ndarray, start: np.ndarray, end: np.ndarray, cls: np.ndarray, gt: np.ndarray, pred: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pair GT positions ``gt`` with prediction positions ``pred`` on identical
    ``(row, start, end, cls)``, one to one (the j-th duplicate GT with the j-th
    duplicate prediction). Returns (gt positions, pred positions)."""
    if len(gt) == 0 or len(pred) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    idx = np.concatenate([gt, pred])
    is_pred = np.concatenate([np.zeros(len(gt), bool), np.ones(len(pred), bool)])
    key = _dense_key([row[idx], start[idx], end[idx], cls[idx]])
    order = np.lexsort((is_pred, key))
    idx, is_pred, key = idx[order], is_pred[order], key[order]
    pos = np.arange(len(idx))
    new = np.ones(len(idx), bool)
    new[1:] = key[1:] != key[:-1]
    group_start = np.maximum.accumulate(np.where(new, pos, 0))
    gts_before = np.concatenate([[0], np.cumsum(~is_pred)])
    n_gt = gts_before[pos + 1] - gts_before[group_start]  # GTs of the group up to pos (all of them, for a pred)
    j = pos - group_start - n_gt  # a prediction's rank among its group's predictions
    hit = is_pred & (j < n_gt)
    return idx[group_start[hit] + j[hit]].astype(np.int64), idx[hit].astype(np.int64)


def overlap_pairs(
    row: np.ndarray, start: np.ndarray, end: np.ndarray, gt: np.ndarray, pred: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (GT, prediction) pairs of the same row sharing at least one character.

    GT spans are sorted by (row, start) once; a running maximum of their ends
    bounds, per prediction, the contiguous run of GT spans that can overlap it
    (two binary searches), so the work is linear in the overlaps found.
    Returns (gt positions, pred positions, character IoU).
    """
    gt = gt[(start[gt] >= 0) & (end[gt] > start[gt])]
    pred = pred[(start[pred] >= 0) & (end[pred] > start[pred])]
    if len(gt) == 0 or len(pred) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    both = np.concatenate([gt, pred])
    s_key, e_key = start, end
    m = int(end[both].max()) + 2
    if float(m) * (int(row[both].max()) + 1) >= 2.0**62:  # huge offsets: rank them (keeps every < and >)
        coords, inv = np.unique(np.concatenate([start[both], end[both]]), return_inverse=True)
        s_key, e_key = start.copy(), end.copy()
        s_key[both], e_key[both] = inv[: len(both)], inv[len(both):]
        m = len(coords) + 2
    m = np.int64(m)
    key_start = row[gt] * m + s_key[gt]
    order = np.argsort(key_start, kind="stable")
    gt, key_start = gt[order], key_start[order]
    run_end = np.maximum.accumulate(row[gt] * m + e_key[gt])
    base_p = row[pred] * m
    hi = np.searchsorted(key_start, base_p + e_key[pred], side="left")
    lo = np.searchsorted(run_end, base_p + s_key[pred], side="right")
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    p = np.repeat(pred, counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    g = gt[np.repeat(lo, counts) + offsets]
    inter = np.minimum(end[g], end[p]) - np.maximum(start[g], start[p])
    keep = inter > 0
    g, p, inter = g[keep], p[keep], inter[keep]
    union = (end[g] - start[g]) + (end[p] - start[p]) - inter
    return g.astype(np.int64), p.astype(np.int64), inter / union


def _best(owner: np.ndarray, other: np.ndarray, iou: np.ndarray, tiebreak: np.ndarray):
    """For each distinct ``owner``, the ``other`` with the highest IoU (ties:
    larger ``tiebreak`` first). Returns (owners, others, ious). Only owners
    with several candidates are sorted (most spans overlap one other span)."""
    several = np.bincount(owner)[owner] > 1
    order = np.flatnonzero(several)
    order = order[np.lexsort((-tiebreak[order], -iou[order], owner[order]))]
    first = np.ones(len(order), bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    keep = np.concatenate([np.flatnonzero(~several), order[first]])
    return owner[keep], other[keep], iou[keep]


def match_spans(run: ModelRun, matching: Matching, scoring: Scoring) -> pd.DataFrame:
    """Object outcomes for an NER run, aligned to ``run.annotations`` (see
    ``labeltui.engine`` for the columns and this module for issues and suspicion).

    As for boxes (``detection.match_objects``), a partitioned run calls
    ``prepare_spans`` and ``span_features`` per part and ``fit_spans`` once on
    the joined features."""
    matched = prepare_spans(run, matching, scoring)
    return finish_spans(matched, fit_spans(span_features(matched), matching), scoring)


@dataclass
class MatchedSpans:
    """Span matching and issue types of one run or part (no run-wide statistics)."""

    n_rows: int
    row: np.ndarray
    cls: np.ndarray  # class_id + 1 (0: a type outside the run's classes)
    conf: np.ndarray
    known: np.ndarray  # the confidence is stated
    is_pred: np.ndarray
    tp: np.ndarray
    outcome: np.ndarray
    partner: np.ndarray
    iou: np.ndarray
    best_partner: np.ndarray
    best_iou: np.ndarray
    given: np.ndarray
    issue: np.ndarray


def prepare_spans(run: ModelRun, matching: Matching, scoring: Scoring) -> MatchedSpans:
    """Exact and overlap matching and issue types."""
    ann = run.annotations
    n = len(ann)
    if n == 0:
        z, e = np.zeros(0, np.int64), np.zeros(0)
        return MatchedSpans(run.n_rows, z, z, e, z.astype(bool), z.astype(bool), z.astype(bool),
                            z.astype(np.int8), z, e, z, e, e, z.astype(np.int8))
    row = ann["row"].to_numpy(np.int64)
    start = ann["start"].to_numpy(np.int64)
    end = ann["end"].to_numpy(np.int64)
    cls = ann["class_id"].to_numpy(np.int64) + 1  # -1 (unknown class) -> 0, so bincount works
    conf = ann["confidence"].to_numpy(np.float64)
    is_pred = (ann["source"] == "pred").to_numpy(dtype=bool)
    known = np.isfinite(conf)
    confident = is_pred & (~known | (conf >= matching.confidence_threshold))
    supports = is_pred & (~known | (conf >= scoring.low_confidence))
    gt_idx = np.flatnonzero(~is_pred)
    pred_idx = np.flatnonzero(is_pred)

    partner = np.full(n, -1, np.int64)
    tg, tpp = exact_pairs(row, start, end, cls, gt_idx, np.flatnonzero(confident))
    partner[tg] = tpp
    partner[tpp] = tg
    tp = partner >= 0
    iou = np.where(tp, 1.0, np.nan)
    outcome = np.where(is_pred, np.where(confident, np.where(tp, 1, 2), 3), np.where(tp, 1, 0)).astype(np.int8)

    g, p, piou = overlap_pairs(row, start, end, gt_idx, pred_idx)
    same = cls[g] == cls[p]
    best_partner = np.full(n, -1, np.int64)
    best_iou = np.zeros(n)
    owners, others, ious = _best(p, g, piou, same.astype(np.float64))
    best_partner[owners], best_iou[owners] = others, ious
    # a GT span's best prediction: same type, then supporting, then more confident
    tiebreak = 4.0 * same + 2.0 * supports[p] + np.clip(np.nan_to_num(conf[p], nan=1.0), 0.0, 1.0)
    owners, others, ious = _best(g, p, piou, tiebreak)
    best_partner[owners], best_iou[owners] = others, ious
    supported = np.zeros(n, bool)
    supported[g[supports[p]]] = True
    # g: the model's own confidence in a GT span as labeled: its best prediction of
    # exactly that span and type, at any confidence (0 when it made none; 1 if unstated)
    given = np.zeros(n)
    exact = same & (piou == 1.0)
    np.maximum.at(given, g[exact], np.nan_to_num(conf[p[exact]], nan=1.0))

    issue = np.zeros(n, np.int8)
    fp = confident & ~tp
    bp = best_partner
    has_bp = bp >= 0
    bp_same = np.zeros(n, bool)
    bp_same[has_bp] = cls[bp[has_bp]] == cls[has_bp]
    issue[fp & ~has_bp] = _MISSING
    conflict = fp & has_bp
    issue[conflict & ~bp_same & (best_iou >= scoring.span_type_iou)] = _WRONG_TYPE
    issue[conflict & (issue == _NONE)] = _BOUNDARY
    issue[~is_pred & ~tp & ~supported] = _SPURIOUS

    return MatchedSpans(run.n_rows, row, cls, conf, known, is_pred, tp, outcome, partner, iou, best_partner, best_iou, given, issue)


def span_features(m: MatchedSpans) -> dict[str, np.ndarray]:
    """The per-span values the run-wide fits need, in annotation order."""
    conf1 = np.where(m.known, m.conf, 1.0)  # a missing confidence counts as 1.0
    sample = np.flatnonzero((m.is_pred & m.tp) | ((m.issue >= _MISSING) & (m.issue <= _BOUNDARY)))
    gt = np.flatnonzero(~m.is_pred)
    tp_known = np.flatnonzero(m.is_pred & m.tp & m.known)
    return {
        "n_classes": np.array([int(m.cls.max()) + 1 if len(m.cls) else 0]),
        "pred_class": m.cls[sample],
        "pred_conf": conf1[sample],
        "pred_tp": m.tp[sample],
        "pred_issue": m.issue[sample],
        "gt_class": m.cls[gt],
        "gt_supported": m.issue[gt] != _SPURIOUS,
        "tp_class": m.cls[tp_known],
        "tp_conf": m.conf[tp_known],
    }


@dataclass
class SpanFits:
    """Run-wide statistics of an NER run (module docstring)."""

    calibration: dict[int, Calibration]  # per prediction issue present in the run: P(type, confidence)
    supported_share: np.ndarray  # per type: smoothed share of GT spans some prediction supports
    typical_conf: np.ndarray  # per type: smoothed mean confidence of exact matches


def fit_spans(features: dict[str, np.ndarray], matching: Matching) -> SpanFits:
    """Fit the run-wide statistics from the features of the whole run."""
    k = int(features["n_classes"].max()) if len(features["n_classes"]) else 0
    cls, conf, tp, issue = features["pred_class"], features["pred_conf"], features["pred_tp"], features["pred_issue"]
    calibration = {}
    for code in (_MISSING, _WRONG_TYPE, _BOUNDARY):
        flagged = issue == code
        if flagged.any():
            pop = tp | flagged
            calibration[code] = Calibration.fit(cls[pop], conf[pop], tp[pop], k, matching.confidence_threshold)
    return SpanFits(
        calibration=calibration,
        supported_share=smoothed_rate(features["gt_supported"], features["gt_class"], k),
        typical_conf=np.clip(smoothed_mean(features["tp_conf"], features["tp_class"], k), _EPS, 1.0),
    )


def finish_spans(m: MatchedSpans, fits: SpanFits, scoring: Scoring) -> pd.DataFrame:
    """Object outcomes with suspicions, from matched spans and the run-wide fits."""
    if len(m.issue) == 0:
        return empty_outcomes()
    suspicion = _suspicion(m, fits, scoring)
    return _frame(len(m.issue), m.outcome, m.partner, m.iou, m.best_partner, m.best_iou, m.issue, suspicion)


def _suspicion(m: MatchedSpans, fits: SpanFits, scoring: Scoring) -> np.ndarray:
    """Per-object suspicion (module docstring); 0 without an issue."""
    cls, issue = m.cls, m.issue
    n = len(cls)
    conf1 = np.where(m.known, m.conf, 1.0)
    p_right = np.zeros(n)
    for code, curve in fits.calibration.items():
        flagged = issue == code
        p_right[flagged] = curve(cls[flagged], conf1[flagged])

    gt = np.flatnonzero(~m.is_pred)
    spur = issue == _SPURIOUS
    if spur.any():
        supported = issue[gt] != _SPURIOUS
        share = fits.supported_share
        n_gt_row = np.bincount(m.row[gt], minlength=m.n_rows)
        found_row = np.bincount(m.row[gt], weights=supported.astype(np.float64), minlength=m.n_rows)
        r, c = m.row[spur], cls[spur]
        reliability = np.minimum(1.0, (found_row[r] + share[c]) / (n_gt_row[r] * share[c]))
        p_right[spur] = share[c] * reliability

    # the model's own confidence g in the GT span exactly as labeled, where it reported one
    t = fits.typical_conf
    disputed = np.where((issue == _WRONG_TYPE) | (issue == _BOUNDARY), m.best_partner, np.where(spur, np.arange(n), -1))
    has = np.flatnonzero((disputed >= 0) & (m.given[np.maximum(disputed, 0)] > 0))
    d = disputed[has]
    factor = t[cls[d]] / np.maximum(m.given[d], _EPS)
    p_right[has] = p_right[has] * factor / (p_right[has] * factor + 1.0 - p_right[has])

    e = scoring.label_error_rate
    num = e * p_right
    den = num + (1.0 - e) * (1.0 - p_right)
    out = np.divide(num, den, out=p_right.copy(), where=den > 0)
    return np.where(issue == _NONE, 0.0, np.clip(out, 0.0, 1.0))


def smoothed_mean(values: np.ndarray, group: np.ndarray, n_groups: int, prior: float = PRIOR_COUNT) -> np.ndarray:
    """Per-group mean of ``values`` shrunk toward the overall mean (1.0 with no values)."""
    total = np.bincount(group, weights=values, minlength=n_groups)
    counts = np.bincount(group, minlength=n_groups).astype(np.float64)
    overall = total.sum() / counts.sum() if counts.sum() > 0 else 1.0
    return (total + prior * overall) / (counts + prior)
