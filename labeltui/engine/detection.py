"""Detection: COCO-style box matching, overlap facts and per-object issues.

``match_objects`` returns the object outcomes of ``labeltui.engine`` for a
detection run. Matching is the COCO one (``COCOeval.evaluateImg`` at one IoU
threshold, all areas, no detection cap, no crowd): per data row and class,
predictions at or above ``matching.confidence_threshold`` are taken in
descending confidence (ties in input order), and each takes the unmatched
ground-truth box of its class with the highest IoU >= the threshold (ties go
to the later box, as in COCO).

Everything is computed on (ground truth, prediction) pairs of the same row,
generated in blocks; the greedy assignment runs in rounds, one prediction per
(row, class) group each round, vectorised across groups. Predictions below
``min(scoring.low_confidence, matching.confidence_threshold)`` take no part in
overlaps (their ``best_partner`` is -1); for ground truth, ``best_partner``
is the most-overlapping prediction with confidence >= ``low_confidence``.

The issue types and their suspicion are described in ``labeltui.engine.score``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from labeltui.config import Matching, Scoring
from labeltui.engine import ISSUE_TYPES
from labeltui.run import ModelRun
from labeltui.engine.metrics import (
    CALIBRATION_BINS,
    Calibration,
    confidences,
    flag,
    group_best,
    smoothed_rate,
)

OUTCOMES = ("tp", "fp", "fn", "low")
ISSUES = ("", *ISSUE_TYPES["detection"])
_TP, _FP, _FN, _LOW = range(4)
_MISSING, _WRONG_CLASS, _BAD_LOCATION, _SPURIOUS = range(1, 5)  # issue codes, 0 = none
#: Pairs per vectorised block (bounds memory; a row larger than this is one block).
_BLOCK = 1 << 20


def match_objects(run: ModelRun, matching: Matching, scoring: Scoring) -> pd.DataFrame:
    """Match predicted to ground-truth boxes and find each object's issue.

    Returns the object outcomes (see ``labeltui.engine``), aligned to
    ``run.annotations``, plus ``issue_partner``: the ground-truth box a
    ``wrong_class`` or ``bad_location`` prediction disagrees with (-1 otherwise).
    The three steps below are what a partitioned run calls per part
    (``prepare_objects``, ``object_features``) and once for the whole run
    (``fit_objects`` on the parts' features joined in row order).
    """
    matched = prepare_objects(run, matching, scoring)
    return finish_objects(matched, fit_objects(object_features(matched), matching, scoring), scoring)


@dataclass
class MatchedObjects:
    """Matching and issue types of one run or one part of it: everything that
    needs no statistics of the whole run."""

    n_rows: int
    box: "_Boxes"
    thr: float
    outcome: np.ndarray
    partner: np.ndarray
    iou: np.ndarray
    best_partner: np.ndarray
    best_iou: np.ndarray
    issue: np.ndarray
    issue_partner: np.ndarray
    bl_iou: np.ndarray  # the bad_location overlap, where issue is bad_location
    own_conf: np.ndarray  # per GT box: best confidence of an own-class prediction at IoU >= T
    supported: np.ndarray  # per GT box: some prediction >= low_confidence overlaps it at >= overlap_iou


def prepare_objects(run: ModelRun, matching: Matching, scoring: Scoring) -> MatchedObjects:
    """COCO matching, overlap facts and issue types (no run-wide statistics)."""
    ann = run.annotations
    n = len(ann)
    box = _Boxes(ann)
    thr = min(matching.iou_threshold, 1.0 - 1e-10)  # as COCOeval
    conf_thr = matching.confidence_threshold
    gt = np.flatnonzero(~box.is_pred)
    pred = np.flatnonzero(box.is_pred & (box.conf >= min(scoring.low_confidence, conf_thr)))
    pg, pp, piou = _overlaps(box, gt, pred, run.n_rows, keep_zero=thr <= 0)
    same = box.cls[pg] == box.cls[pp]
    pconf = box.conf[pp]

    cand = same & (piou >= thr) & (pconf >= conf_thr)
    partner, iou = _greedy(pp[cand], pg[cand], piou[cand], box, n)
    confident = box.is_pred & (box.conf >= conf_thr)
    outcome = np.where(box.is_pred, np.where(confident, np.where(partner >= 0, _TP, _FP), _LOW), np.where(partner >= 0, _TP, _FN))

    support = pconf >= scoring.low_confidence
    best_iou_g, arg_g = group_best(pg[support], piou[support], n)
    best_iou_p, arg_p = group_best(pp, piou, n)
    best_partner = np.where(box.is_pred, _take(pg, arg_p), _take(pp[support], arg_g))
    best_iou = np.where(box.is_pred, best_iou_p, best_iou_g)
    best_partner[best_iou <= 0] = -1
    best_iou = np.where(best_partner >= 0, best_iou, 0.0)

    is_fp, is_fn = outcome == _FP, outcome == _FN
    fp_pair, fn_pair = is_fp[pp], is_fn[pg]
    wc = fp_pair & fn_pair & ~same & (piou >= thr)
    bl = fp_pair & fn_pair & same & (piou >= scoring.overlap_iou) & (piou < thr)
    _, wc_arg = group_best(pp[wc], piou[wc], n)
    bl_iou, bl_arg = group_best(pp[bl], piou[bl], n)
    wc_partner, bl_partner = _take(pg[wc], wc_arg), _take(pg[bl], bl_arg)
    is_wc = wc_partner >= 0
    is_bl = (bl_partner >= 0) & ~is_wc
    is_missing = is_fp & ~is_wc & ~is_bl & ~((best_partner >= 0) & (best_iou >= thr))
    issue = np.zeros(n, dtype=np.int8)
    issue[is_missing], issue[is_wc], issue[is_bl] = _MISSING, _WRONG_CLASS, _BAD_LOCATION
    supported = (best_partner >= 0) & (best_iou >= scoring.overlap_iou)
    issue[~box.is_pred & ~supported] = _SPURIOUS

    own = same & (piou >= thr)
    own_conf = np.zeros(n)
    np.maximum.at(own_conf, pg[own], np.clip(pconf[own], 0.0, 1.0))
    return MatchedObjects(
        n_rows=run.n_rows,
        box=box,
        thr=thr,
        outcome=outcome,
        partner=partner,
        iou=iou,
        best_partner=best_partner,
        best_iou=best_iou,
        issue=issue,
        issue_partner=np.where(is_wc, wc_partner, np.where(is_bl, bl_partner, -1)),
        bl_iou=np.where(is_bl, bl_iou, np.nan),
        own_conf=own_conf,
        supported=supported,
    )


def object_features(m: MatchedObjects) -> dict[str, np.ndarray]:
    """The per-object values the run-wide fits need, in annotation order (a few
    bytes per object: what a partitioned run gathers from every part)."""
    box = m.box
    tp_pred = box.is_pred & (m.outcome == _TP)
    sample = np.flatnonzero(tp_pred | ((m.issue >= _MISSING) & (m.issue <= _BAD_LOCATION)))
    gt = np.flatnonzero(~box.is_pred)
    return {
        "n_classes": np.array([box.n_classes]),
        "pred_class": box.cls[sample],
        "pred_conf": box.conf[sample],
        "pred_tp": tp_pred[sample],
        "pred_issue": m.issue[sample],
        "bl_iou": m.bl_iou[m.issue == _BAD_LOCATION],
        "gt_class": box.cls[gt],
        "gt_area": box.area[gt],
        "gt_supported": m.supported[gt],
        "gt_found": m.outcome[gt] == _TP,
    }


@dataclass
class ObjectFits:
    """Run-wide statistics of a detection run (see ``labeltui.engine.score``)."""

    calibration: dict[int, Calibration]  # per prediction issue: P(class, confidence)
    bl_counts: np.ndarray  # histogram of bad_location IoUs over [overlap_iou, T)
    sorted_area: np.ndarray  # every GT box's area, sorted (size ranks)
    size_calibration: Calibration  # P(class, size rank) of a GT box being supported
    recall: np.ndarray  # per class: smoothed share of GT boxes matched


def fit_objects(features: dict[str, np.ndarray], matching: Matching, scoring: Scoring) -> ObjectFits:
    """Fit the run-wide statistics from the features of the whole run."""
    n_classes = int(features["n_classes"].max()) if len(features["n_classes"]) else 0
    cls, conf, tp, issue = features["pred_class"], features["pred_conf"], features["pred_tp"], features["pred_issue"]
    calibration = {}
    for kind in (_MISSING, _WRONG_CLASS, _BAD_LOCATION):
        sample = np.flatnonzero(tp | (issue == kind))
        calibration[kind] = Calibration.fit(cls[sample], conf[sample], tp[sample], n_classes, matching.confidence_threshold)
    thr = min(matching.iou_threshold, 1.0 - 1e-10)
    sorted_area = np.sort(features["gt_area"], kind="stable")
    gt_cls = features["gt_class"]
    size_rank = _mid_rank(sorted_area, features["gt_area"])
    return ObjectFits(
        calibration=calibration,
        bl_counts=np.bincount(_overlap_bin(features["bl_iou"], scoring.overlap_iou, thr), minlength=CALIBRATION_BINS),
        sorted_area=sorted_area,
        size_calibration=Calibration.fit(gt_cls, size_rank, features["gt_supported"], n_classes, 0.0),
        recall=smoothed_rate(features["gt_found"], gt_cls, n_classes),
    )


def finish_objects(m: MatchedObjects, fits: ObjectFits, scoring: Scoring) -> pd.DataFrame:
    """Object outcomes with suspicions, from a matched run (or part) and the run-wide fits."""
    issue, issue_partner, suspicion = _suspicions(m, fits, scoring)
    return pd.DataFrame(
        {
            "outcome": pd.Categorical.from_codes(m.outcome, categories=OUTCOMES),
            "partner": m.partner,
            "iou": m.iou,
            "best_partner": m.best_partner,
            "best_iou": m.best_iou,
            "issue": pd.Categorical.from_codes(issue, categories=ISSUES),
            "suspicion": suspicion,
            "issue_partner": issue_partner,
        }
    )


class _Boxes:
    """The annotation columns matching needs, as arrays."""

    def __init__(self, ann: pd.DataFrame) -> None:
        self.is_pred = flag(ann["source"], "pred")
        self.row = ann["row"].to_numpy(dtype=np.int64)
        cls = ann["class_id"].to_numpy(dtype=np.int64)
        if (cls < 0).any():  # labels outside run.classes: compare by name
            cls = pd.factorize(ann["label"].astype(str))[0].astype(np.int64)
        self.cls = cls
        self.n_classes = int(cls.max()) + 1 if len(cls) else 0
        self.conf = confidences(ann)
        xy = [ann[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in ("x0", "y0", "x1", "y1")]
        self.x0, self.y0, self.x1, self.y1 = xy
        with np.errstate(invalid="ignore"):
            self.area = np.fmax(self.x1 - self.x0, 0.0) * np.fmax(self.y1 - self.y0, 0.0)


def row_pairs(a_row: np.ndarray, b_row: np.ndarray, n_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (a, b) of the same row, in blocks: yields index arrays into the
    ``a`` and ``b`` lists (each sorted by row), ordered by row, a, then b."""
    nb = np.bincount(b_row, minlength=n_rows)
    b_start = np.cumsum(nb) - nb
    width = nb[a_row]  # pairs of each a
    if not width.any():
        return
    end = np.cumsum(width)
    block = (end - width) // _BLOCK
    edges = np.r_[0, np.flatnonzero(np.diff(block)) + 1, len(a_row)]
    for lo, hi in zip(edges[:-1], edges[1:]):
        w = width[lo:hi]
        first = end[lo] - width[lo]
        ia = np.repeat(np.arange(lo, hi), w)
        ib = np.arange(first, end[hi - 1]) + np.repeat(b_start[a_row[lo:hi]] - (end[lo:hi] - w), w)
        yield ia, ib


def box_iou(box: _Boxes, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a[i]`` and ``b[i]`` (positions), computed as pycocotools does
    (0 when the boxes do not overlap or a coordinate is NaN)."""
    w = np.minimum(box.x1[a], box.x1[b])
    w -= np.maximum(box.x0[a], box.x0[b])
    h = np.minimum(box.y1[a], box.y1[b])
    h -= np.maximum(box.y0[a], box.y0[b])
    np.fmax(w, 0.0, out=w)
    np.fmax(h, 0.0, out=h)
    w *= h  # intersection
    union = box.area[b] + box.area[a]
    union -= w
    np.maximum(union, np.finfo(np.float64).tiny, out=union)  # 0 / tiny = 0 when both boxes are empty
    w /= union
    return w


def _overlaps(box: _Boxes, gt: np.ndarray, pred: np.ndarray, n_rows: int, keep_zero: bool):
    """(gt position, pred position, IoU) of the same-row pairs that overlap
    (IoU > 0), plus same-class non-overlapping pairs when ``keep_zero``."""
    out_g, out_p, out_iou = [], [], []
    for ig, ip in row_pairs(box.row[gt], box.row[pred], n_rows):
        g, p = gt[ig], pred[ip]
        iou = box_iou(box, g, p)
        keep = iou > 0
        if keep_zero:
            keep |= box.cls[g] == box.cls[p]
        out_g.append(g[keep])
        out_p.append(p[keep])
        out_iou.append(iou[keep])
    if not out_g:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_g), np.concatenate(out_p), np.concatenate(out_iou)


def _greedy(cp: np.ndarray, cg: np.ndarray, ciou: np.ndarray, box: _Boxes, n: int) -> tuple[np.ndarray, np.ndarray]:
    """COCO greedy assignment over candidate pairs (same class, IoU >= threshold,
    confident prediction). Returns partner position and IoU per annotation."""
    partner = np.full(n, -1, dtype=np.int64)
    iou = np.full(n, np.nan)
    # A pair whose prediction and GT have no other candidate always matches.
    alone = (np.bincount(cp, minlength=n)[cp] == 1) & (np.bincount(cg, minlength=n)[cg] == 1)
    p, g = cp[alone], cg[alone]
    partner[p], partner[g] = g, p
    iou[p] = iou[g] = ciou[alone]
    cp, cg, ciou = cp[~alone], cg[~alone], ciou[~alone]
    if not len(cp):
        return partner, iou
    # Rank of each contested prediction in its (row, class) group: descending
    # confidence, then input order.
    is_cand = np.zeros(n, dtype=bool)
    is_cand[cp] = True
    preds = np.flatnonzero(is_cand)
    order = preds[np.lexsort((preds, -box.conf[preds], box.cls[preds], box.row[preds]))]
    new_group = np.r_[True, (box.row[order][1:] != box.row[order][:-1]) | (box.cls[order][1:] != box.cls[order][:-1])]
    idx = np.arange(len(order))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = idx - np.maximum.accumulate(np.where(new_group, idx, 0))
    k = rank[cp]
    # Round r resolves the r-th prediction of every group; its pairs are sorted
    # by IoU then GT order, so its last free pair is its COCO match.
    o = np.lexsort((cg, ciou, cp, k))
    cp, cg, ciou, k = cp[o], cg[o], ciou[o], k[o]
    bounds = np.searchsorted(k, np.arange(int(k[-1]) + 2))
    taken = np.zeros(n, dtype=bool)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        free = ~taken[cg[lo:hi]]
        p, g, v = cp[lo:hi][free], cg[lo:hi][free], ciou[lo:hi][free]
        if not len(p):
            continue
        last = np.r_[p[1:] != p[:-1], True]
        p, g, v = p[last], g[last], v[last]
        taken[g] = True
        partner[p], partner[g] = g, p
        iou[p] = iou[g] = v
    return partner, iou


def _take(values: np.ndarray, arg: np.ndarray) -> np.ndarray:
    """``values[arg]`` where ``arg >= 0``, else -1."""
    out = np.full(len(arg), -1, dtype=np.int64)
    ok = np.flatnonzero(arg >= 0)
    out[ok] = values[arg[ok]]
    return out


def _mid_rank(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rank in [0, 1] of each ``x`` among ``sorted_values`` (ties share the
    middle of their run)."""
    left = np.searchsorted(sorted_values, x, side="left")
    right = np.searchsorted(sorted_values, x, side="right")
    return (left + (right - left) / 2.0) / max(len(sorted_values), 1)


def _suspicions(m: MatchedObjects, fits: ObjectFits, scoring: Scoring) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Issue type, issue partner and suspicion per object (see ``score``)."""
    from labeltui.engine.score import object_suspicion

    box, issue = m.box, m.issue
    n = len(issue)
    p_right = np.zeros(n)
    # Prediction issues: P = the share of this class's predictions at this
    # confidence that match a label, among those that match or show this issue.
    for kind in (_MISSING, _WRONG_CLASS, _BAD_LOCATION):
        at = np.flatnonzero(issue == kind)
        p_right[at] = fits.calibration[kind](box.cls[at], box.conf[at])

    # wrong_class: the model half-agrees with the label when it also predicts its class there.
    is_wc = issue == _WRONG_CLASS
    p_right[is_wc] *= 1.0 - m.own_conf[m.issue_partner[is_wc]]

    # bad_location: an overlap at which the model's own near-misses are common
    # is weaker evidence. The IoU's likelihood ratio is that of a shift that
    # lands anywhere in [overlap_iou, T) against the overlaps of all
    # bad_location predictions (a histogram, one pseudo-count per bin).
    at = np.flatnonzero(issue == _BAD_LOCATION)
    lr = _overlap_lr(fits.bl_counts, _overlap_bin(m.bl_iou[at], scoring.overlap_iou, m.thr), scoring.overlap_iou, m.thr)
    p_right[at] = _with_odds_factor(p_right[at], lr)

    # spurious_label: a ground-truth box no prediction supports; P = the share of
    # this class's boxes of this size that are supported.
    gt = np.flatnonzero(~box.is_pred)
    spur = gt[issue[gt] == _SPURIOUS]
    p_right[spur] = fits.size_calibration(box.cls[spur], _mid_rank(fits.sorted_area, box.area[spur]))

    # A row where the model also misses the other labelled boxes is a weak row,
    # not a label mistake: P is scaled by the model's recall on them.
    found = m.outcome[gt] == _TP
    n_gt_row = np.bincount(box.row[gt], minlength=m.n_rows)
    found_row = np.bincount(box.row[gt], weights=found, minlength=m.n_rows)
    r, c = box.row[spur], box.cls[spur]
    p_right[spur] *= _row_reliability(found_row[r], n_gt_row[r] - 1, fits.recall[c])

    flagged = np.flatnonzero(issue)
    suspicion = np.zeros(n)
    suspicion[flagged] = object_suspicion(p_right[flagged], scoring.label_error_rate)
    _keep_strongest(suspicion, m.issue_partner, n)
    _suppress_duplicates(suspicion, np.flatnonzero(issue == _MISSING), box, m.thr, m.n_rows)
    return issue, m.issue_partner, suspicion


def _overlap_bin(iou: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Histogram bin of each bad_location IoU over [lo, hi)."""
    if hi <= lo:
        return np.zeros(len(iou), dtype=np.int64)
    return np.clip(np.floor((iou - lo) / (hi - lo) * CALIBRATION_BINS), 0, CALIBRATION_BINS - 1).astype(np.int64)


def _overlap_lr(counts: np.ndarray, b: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Uniform density on [lo, hi) over the histogram density (``counts``) at bins ``b``."""
    nb = CALIBRATION_BINS
    if hi <= lo or not len(b):
        return np.ones(len(b))
    return (counts.sum() + nb) / (nb * (counts[b] + 1.0))


def _with_odds_factor(p: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """The probability whose odds are ``odds(p) * factor``."""
    return p * factor / (p * factor + 1.0 - p)


def _row_reliability(found: np.ndarray, n_boxes: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """How much to trust the model in a row, in (0, 1]: its recall on the row's
    other labelled boxes (plus one pseudo-box at its usual ``recall``), relative
    to that usual recall; capped at 1 (a good row earns no bonus)."""
    return np.minimum(1.0, (found + recall) / ((n_boxes + 1.0) * recall))


def _keep_strongest(suspicion: np.ndarray, issue_partner: np.ndarray, n: int) -> None:
    """Several predictions disputing the same ground-truth box are one piece of
    evidence: only the most suspicious keeps its suspicion."""
    has = np.flatnonzero(issue_partner >= 0)
    _, arg = group_best(issue_partner[has], suspicion[has], n, last=False)
    keep = np.zeros(n, dtype=bool)
    keep[has[arg[arg >= 0]]] = True
    suspicion[has[~keep[has]]] = 0.0


def _suppress_duplicates(suspicion: np.ndarray, missing: np.ndarray, box: _Boxes, thr: float, n_rows: int) -> None:
    """Overlapping ``missing_label`` predictions (IoU >= threshold, any class)
    are one unlabelled object: a weaker one (or a later equal one) gets 0."""
    drop = []
    for ia, ib in row_pairs(box.row[missing], box.row[missing], n_rows):
        first = ia < ib
        a, b = missing[ia[first]], missing[ib[first]]
        dup = box_iou(box, a, b) >= thr
        a, b = a[dup], b[dup]
        drop.append(np.where(suspicion[b] <= suspicion[a], b, a))
    if drop:
        suspicion[np.concatenate(drop)] = 0.0
