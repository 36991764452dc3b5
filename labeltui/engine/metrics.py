"""Per-row metrics from object outcomes, and the per-class rates the score uses.

``row_metrics`` turns object outcomes (boxes or spans, see ``labeltui.engine``)
into one row of counts and ratios per data row. The helpers below it estimate
how often the model is right, per class, from the run itself: ``Calibration``
(a share of successes as a function of confidence or of box size) and
``smoothed_rate``. Both shrink a
class's estimate toward the all-class estimate with ``PRIOR_COUNT``
pseudo-observations, so a rare class borrows strength and a class the model is
bad at keeps its own (low) rate once it has enough evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labeltui.run import ModelRun

#: Pseudo-observations pulling a per-class estimate toward the all-class one.
PRIOR_COUNT = 10.0
#: Equal-width bins of a ``Calibration`` curve (of confidence, or of a box's size rank).
CALIBRATION_BINS = 10

#: Columns of ``row_metrics``, in order.
METRIC_COLUMNS = (
    "tp", "fp", "fn", "precision", "recall", "f1", "iou", "max_fp_confidence", "n_gt", "n_pred",
)


def confidences(annotations: pd.DataFrame) -> np.ndarray:
    """Prediction confidences as float64, a missing (NaN) confidence read as 1.0.

    Tools that export no scores produce hard predictions; treating them as
    certain keeps every threshold meaningful (they all pass).
    """
    conf = annotations["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isnan(conf), 1.0, conf)


def flag(series: pd.Series, value: str) -> np.ndarray:
    """Boolean array ``series == value`` (fast for categoricals and strings alike)."""
    return (series == value).to_numpy(dtype=bool, na_value=False)


def row_metrics(run: ModelRun, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per-row metrics from object outcomes, aligned to ``run.rows``.

    - ``tp``: matched predictions; ``fp``: confident unmatched predictions;
      ``fn``: unmatched ground truth. Predictions below the confidence
      threshold (outcome ``low``) count in none of them.
    - ``precision = tp / (tp + fp)``, 1.0 when the row has no confident
      prediction (nothing wrong was claimed); ``recall = tp / (tp + fn)``, 1.0
      when the row has no ground truth (nothing was missed);
      ``f1 = 2 tp / (2 tp + fp + fn)``, 1.0 when all three are 0. So an empty
      row scores 1/1/1 and never NaN.
    - ``iou``: mean overlap of the matched pairs, NaN when the row has none.
    - ``max_fp_confidence``: highest confidence of a false positive, 0 when none.
    - ``n_gt``: ground-truth objects; ``n_pred``: all predictions, including
      those below the confidence threshold.
    """
    ann = run.annotations
    n = run.n_rows
    row = ann["row"].to_numpy(dtype=np.int64)
    is_pred = flag(ann["source"], "pred")
    tp_m = flag(outcomes["outcome"], "tp") & is_pred
    fp_m = flag(outcomes["outcome"], "fp")
    fn_m = flag(outcomes["outcome"], "fn")
    tp = np.bincount(row[tp_m], minlength=n)
    fp = np.bincount(row[fp_m], minlength=n)
    fn = np.bincount(row[fn_m], minlength=n)
    iou_sum = np.bincount(row[tp_m], weights=outcomes["iou"].to_numpy(dtype=np.float64)[tp_m], minlength=n)
    max_fp = np.zeros(n)
    np.maximum.at(max_fp, row[fp_m], confidences(ann)[fp_m])
    return pd.DataFrame(
        {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "iou": _ratio(iou_sum, tp, empty=np.nan),
            "max_fp_confidence": max_fp,
            "n_gt": np.bincount(row[~is_pred], minlength=n),
            "n_pred": np.bincount(row[is_pred], minlength=n),
        },
        index=run.rows.index,
    )


def _ratio(num: np.ndarray, den: np.ndarray, empty: float = 1.0) -> np.ndarray:
    out = np.full(len(num), empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def group_best(group: np.ndarray, value: np.ndarray, n: int, *, last: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per group (ids in ``range(n)``): the largest value and the index of the
    element holding it (the last such element, or the first if ``last`` is
    False). Groups with no element get ``-inf`` and ``-1``."""
    best = np.full(n, -np.inf)
    np.maximum.at(best, group, value)
    hit = np.flatnonzero(value == best[group])
    arg = np.full(n, -1, dtype=np.int64)
    if last:
        np.maximum.at(arg, group[hit], hit)
    else:
        arg[:] = np.iinfo(np.int64).max
        np.minimum.at(arg, group[hit], hit)
        arg[arg == np.iinfo(np.int64).max] = -1
    return best, arg


def smoothed_rate(hit: np.ndarray, group: np.ndarray, n_groups: int, prior: float = PRIOR_COUNT) -> np.ndarray:
    """Per-group success rate shrunk toward the overall rate.

    ``(hits_g + prior * overall) / (n_g + prior)`` with
    ``overall = (hits + 1) / (n + 2)`` (add-one, so it is defined with no data).
    """
    hits = np.bincount(group, weights=hit.astype(np.float64), minlength=n_groups)
    counts = np.bincount(group, minlength=n_groups).astype(np.float64)
    overall = (hits.sum() + 1.0) / (counts.sum() + 2.0)
    return (hits + prior * overall) / (counts + prior)


def _isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted non-decreasing fit of each row of ``y`` (weights > 0), by the
    max-min formula ``f(i) = max_{j<=i} min_{k>=i} mean_w(y[j..k])``."""
    n_bins = y.shape[1]
    if n_bins == 0:
        return y
    zero = np.zeros((y.shape[0], 1))
    cw = np.concatenate([zero, np.cumsum(w, axis=1)], axis=1)
    cwy = np.concatenate([zero, np.cumsum(w * y, axis=1)], axis=1)
    num = cwy[:, None, 1:] - cwy[:, :-1, None]  # [class, j, k]: sum over bins j..k
    den = cw[:, None, 1:] - cw[:, :-1, None]
    upper = np.triu(np.ones((n_bins, n_bins), dtype=bool))  # j <= k
    mean = np.full(num.shape, np.inf)
    np.divide(num, den, out=mean, where=upper & (den > 0))
    tail_min = np.minimum.accumulate(mean[:, :, ::-1], axis=2)[:, :, ::-1]  # min over k >= i
    return np.where(upper, tail_min, -np.inf).max(axis=1)


@dataclass(frozen=True)
class Calibration:
    """Per-class share of successes as a function of ``x`` in ``[lo, 1]``
    (a confidence, or a size rank), fitted on the run.

    Items fall in ``CALIBRATION_BINS`` equal-width bins of ``x`` over
    ``[lo, 1]``; ``xs`` holds the mean ``x`` of each non-empty bin and
    ``curve[c, i]`` the estimated success share of class ``c`` items in that
    bin: the class's counts shrunk toward the all-class share with
    ``PRIOR_COUNT`` pseudo-observations, then made non-decreasing in ``x``
    (weighted isotonic fit). Calling it interpolates linearly between the
    ``xs`` (constant beyond them).
    """

    xs: np.ndarray
    curve: np.ndarray

    @classmethod
    def fit(cls, class_id: np.ndarray, conf: np.ndarray, correct: np.ndarray, n_classes: int, lo: float) -> "Calibration":
        """Fit from items with ``x = conf`` (clipped to ``[lo, 1]``) and success flags ``correct``."""
        nb = CALIBRATION_BINS
        conf = np.clip(conf, lo, 1.0)
        span = 1.0 - lo
        b = np.clip(np.floor((conf - lo) / span * nb), 0, nb - 1).astype(np.int64) if span > 0 else np.zeros(len(conf), np.int64)
        ok = correct.astype(np.float64)
        n_all = np.bincount(b, minlength=nb).astype(np.float64)
        used = np.flatnonzero(n_all)
        remap = np.cumsum(n_all > 0) - 1
        b, nu = remap[b], len(used)
        n_all = n_all[used]
        xs = np.bincount(b, weights=conf, minlength=nu) / n_all
        glob = _isotonic(((np.bincount(b, weights=ok, minlength=nu) + 1.0) / (n_all + 2.0))[None, :], (n_all + 2.0)[None, :])[0]
        key = class_id * nu + b
        tp_c = np.bincount(key, weights=ok, minlength=n_classes * nu).reshape(n_classes, nu)
        n_c = np.bincount(key, minlength=n_classes * nu).reshape(n_classes, nu).astype(np.float64)
        y = (tp_c + PRIOR_COUNT * glob) / (n_c + PRIOR_COUNT)
        return cls(xs=xs, curve=_isotonic(y, n_c + PRIOR_COUNT))

    def __call__(self, class_id: np.ndarray, conf: np.ndarray) -> np.ndarray:
        if len(self.xs) == 0:
            return np.zeros(len(conf))
        last = len(self.xs) - 1
        right = np.clip(np.searchsorted(self.xs, conf), 0, last)
        left = np.maximum(right - 1, 0)
        gap = self.xs[right] - self.xs[left]
        frac = np.zeros(len(conf))
        np.divide(conf - self.xs[left], gap, out=frac, where=gap > 0)
        frac = np.clip(frac, 0.0, 1.0)
        return self.curve[class_id, left] * (1.0 - frac) + self.curve[class_id, right] * frac
