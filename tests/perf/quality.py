"""Does our suspicion score find real label mistakes better than the baselines?

For each task, seeded runs with injected label mistakes (``quality_data``)
are ranked by:

* ``labeltui``: ``labeltui.engine.score.score_run`` (default config);
* ``labelbox``: Labelbox's filter-and-sort. Detection/NER: rows with
  ``fp >= 1`` sorted by ``max_fp_confidence`` (our matching at the default
  thresholds), the other rows after them, tied at 0. Classification: rows where
  the prediction disagrees with the label, sorted by the prediction's
  confidence, the agreeing rows after them, tied at 0;
* ``cleanlab`` (when installed; ``pip install cleanlab``, the ``perf`` extra):
  ``1 - quality`` from
  ``cleanlab.object_detection.rank.get_label_quality_scores`` (all predicted
  boxes, low-confidence ones included),
  ``cleanlab.token_classification.rank.get_label_quality_scores`` and
  ``cleanlab.rank.get_label_quality_scores``, each with default settings.
  NER needs token probabilities; two versions are run:
  ``cleanlab (span->token)`` builds them from the span predictions the other
  methods see: ``p(type | token)`` is the highest confidence of a predicted
  span of that type covering the token, ``p(O) = 1 - sum of those`` (types
  rescaled to sum 1 if they exceed it), then mixed with 1% uniform so no class
  is impossible. ``cleanlab (token probs)`` gets the simulated model's own
  softmax per token (from which the spans were decoded): more information than
  any span-based method has. Classification adds ``cleanlab (adjusted)``:
  ``adjust_pred_probs=True`` (per-class thresholds subtracted, confident
  learning style).

Metrics (mean ± sd over seeds): precision@k with k = number of corrupted rows,
average precision (AUPRC) and AUROC (scikit-learn); ties are broken fairly
(precision@k counts a tied block at the cut by its mean). Per mistake type:
recall@k (share of that type's rows in the top k) and AUROC of that type's rows
against the clean rows. A calibration table shows, per band of our score, the
share of rows and how many of them are corrupted (the README says what a score
means; this checks it). Wall time is the method's scoring call only (for
``labelbox``: our matching + per-row metrics + the sort; for cleanlab: its
call, not the format conversion).

    python tests/perf/quality.py [--seeds 5] [--scale 1.0] [--tasks detection ner classification]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from quality_data import CASES, Case  # noqa: E402

from labeltui.config import Config, Source  # noqa: E402
from labeltui.engine import metrics as engine_metrics  # noqa: E402
from labeltui.engine.score import score_run  # noqa: E402

SIZES = {"detection": 2000, "ner": 3000, "classification": 5000}


def default_config(task: str) -> Config:
    """The default settings, as a run with an empty config would get them."""
    return Config(path=None, name=f"quality-{task}", task=task,
                  ground_truth=Source(format="table", path=Path("."), key="ground_truth"), predictions=None)


# --------------------------------------------------------------------------- metrics

def _top_k_counts(score: np.ndarray, member: np.ndarray, k: int) -> float:
    """Expected number of ``member`` rows among the top ``k`` by ``score``,
    a tied block at the cut contributing its mean."""
    if k <= 0:
        return 0.0
    cut = np.sort(score)[::-1][min(k, len(score)) - 1]
    above = score > cut
    tied = score == cut
    return float(member[above].sum() + (k - above.sum()) * member[tied].mean())


def precision_at_k(score: np.ndarray, truth: np.ndarray) -> float:
    """Precision among the top k rows, k = number of true mistakes (fair ties)."""
    k = int(truth.sum())
    return _top_k_counts(score, truth, k) / k


def ranking_metrics(score: np.ndarray, case: Case) -> dict[str, float]:
    """P@k, AUPRC, AUROC overall, and per mistake type ``R@k:<type>`` / ``AUROC:<type>``."""
    truth = case.truth
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=0.0)
    out = {
        "P@k": precision_at_k(score, truth),
        "AUPRC": float(average_precision_score(truth, score)),
        "AUROC": float(roc_auc_score(truth, score)),
    }
    k = int(truth.sum())
    for kind in sorted(set(case.mistake[truth])):
        member = case.mistake == kind
        out[f"R@k:{kind}"] = _top_k_counts(score, member, k) / member.sum()
        keep = member | ~truth
        out[f"AUROC:{kind}"] = float(roc_auc_score(member[keep], score[keep]))
    return out


#: Score bins of the calibration table.
CALIBRATION_EDGES = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def calibration_counts(score: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Rows (``calib_n:i``) and corrupted rows (``calib_m:i``) per score bin."""
    b = np.clip(np.searchsorted(CALIBRATION_EDGES, score, side="right") - 1, 0, len(CALIBRATION_EDGES) - 2)
    n = np.bincount(b, minlength=len(CALIBRATION_EDGES) - 1)
    m = np.bincount(b, weights=truth.astype(np.float64), minlength=len(CALIBRATION_EDGES) - 1)
    out = {f"calib_n:{i}": float(v) for i, v in enumerate(n)}
    out.update({f"calib_m:{i}": float(v) for i, v in enumerate(m)})
    return out


# --------------------------------------------------------------------------- methods

def ours(case: Case) -> np.ndarray:
    """Our suspicion score."""
    return score_run(case.run, default_config(case.run.task)).scores["score"].to_numpy(np.float64)


def labelbox(case: Case) -> np.ndarray:
    """Labelbox's filter-and-sort (see module docstring)."""
    run = case.run
    config = default_config(run.task)
    if run.task == "classification":
        disagree = (run.pred_label >= 0) & (run.pred_label != run.gt_label)
        return np.where(disagree, run.pred_confidence, 0.0)
    if run.task == "ner":
        from labeltui.engine.spans import match_spans

        objects = match_spans(run, config.matching, config.scoring)
    else:
        from labeltui.engine.detection import match_objects

        objects = match_objects(run, config.matching, config.scoring)
    m = engine_metrics.row_metrics(run, objects)
    return np.where(m["fp"].to_numpy() >= 1, m["max_fp_confidence"].to_numpy(np.float64), 0.0)


def _cleanlab_detection_inputs(case: Case) -> tuple[list, list]:
    """Our tables in cleanlab's per-image format (x0, y0, x1, y1 boxes, class ids)."""
    run = case.run
    ann = run.annotations
    k, n = len(run.classes), run.n_rows
    is_pred = (ann["source"] == "pred").to_numpy()
    row = ann["row"].to_numpy(np.int64)
    cls = ann["class_id"].to_numpy(np.int64)
    box = ann[["x0", "y0", "x1", "y1"]].to_numpy(np.float64)
    g = ~is_pred
    g_split = np.searchsorted(row[g], np.arange(1, n))
    labels = [{"bboxes": b, "labels": c} for b, c in zip(np.split(box[g], g_split), np.split(cls[g], g_split))]
    key = row[is_pred] * k + cls[is_pred]
    order = np.argsort(key, kind="stable")
    p = np.column_stack([box[is_pred], ann["confidence"].to_numpy(np.float64)[is_pred]])[order]
    per_class = np.split(p, np.searchsorted(key[order], np.arange(1, n * k)))
    predictions = [per_class[i * k:(i + 1) * k] for i in range(n)]
    return labels, predictions


def cleanlab_detection(inputs: tuple[list, list]) -> np.ndarray:
    from cleanlab.object_detection.rank import get_label_quality_scores

    labels, predictions = inputs
    return 1.0 - get_label_quality_scores(labels, predictions, verbose=False)


def span_token_probs(case: Case, eps: float = 0.01) -> list[np.ndarray]:
    """Token probabilities built from the span predictions (module docstring)."""
    run = case.run
    bounds = case.extra["token_bounds"]
    k = len(case.extra["token_classes"])
    lengths = np.array([len(b) for b in bounds])
    tok_row = np.repeat(np.arange(run.n_rows), lengths)
    tb = np.concatenate(bounds)
    big = np.int64(tb[:, 1].max() + 2)
    tok_key = tok_row * big + tb[:, 0]
    ann = run.annotations
    pred = (ann["source"] == "pred").to_numpy()
    row = ann["row"].to_numpy(np.int64)[pred]
    lo = np.searchsorted(tok_key, row * big + ann["start"].to_numpy(np.int64)[pred], side="left")
    hi = np.searchsorted(tok_key, row * big + ann["end"].to_numpy(np.int64)[pred], side="left")
    count = hi - lo
    tok = np.repeat(lo, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    typ = np.repeat(ann["class_id"].to_numpy(np.int64)[pred] + 1, count)
    conf = np.repeat(ann["confidence"].to_numpy(np.float64)[pred], count)
    p = np.zeros((len(tb), k))
    np.maximum.at(p, (tok, typ), conf)
    s = p[:, 1:].sum(axis=1)
    p[:, 1:] /= np.maximum(s, 1.0)[:, None]
    p[:, 0] = 1.0 - p[:, 1:].sum(axis=1)
    p = (1.0 - eps) * p + eps / k
    return np.split(p, np.cumsum(lengths)[:-1])


def cleanlab_tokens(labels: list, token_probs: list) -> np.ndarray:
    from cleanlab.token_classification.rank import get_label_quality_scores

    scores, _ = get_label_quality_scores(labels, token_probs)
    return 1.0 - np.asarray(scores)


def cleanlab_classification(case: Case, adjust: bool = False) -> np.ndarray:
    from cleanlab.rank import get_label_quality_scores

    run = case.run
    return 1.0 - get_label_quality_scores(np.asarray(run.gt_label), run.probs, adjust_pred_probs=adjust)


def methods(case: Case, with_cleanlab: bool) -> dict[str, Callable[[], np.ndarray]]:
    """Name -> zero-argument scorer for this case (inputs converted beforehand)."""
    out: dict[str, Callable[[], np.ndarray]] = {"labeltui": lambda: ours(case), "labelbox": lambda: labelbox(case)}
    if not with_cleanlab:
        return out
    task = case.run.task
    if task == "detection":
        inputs = _cleanlab_detection_inputs(case)
        out["cleanlab"] = lambda: cleanlab_detection(inputs)
    elif task == "ner":
        labels, span_probs = case.extra["token_labels"], span_token_probs(case)
        out["cleanlab (span->token)"] = lambda: cleanlab_tokens(labels, span_probs)
        out["cleanlab (token probs)"] = lambda: cleanlab_tokens(labels, case.extra["token_probs"])
    else:
        out["cleanlab"] = lambda: cleanlab_classification(case)
        out["cleanlab (adjusted)"] = lambda: cleanlab_classification(case, adjust=True)
    return out


# --------------------------------------------------------------------------- driver

def evaluate(task: str, size: int, seed: int, with_cleanlab: bool) -> tuple[dict[str, dict], dict[str, int]]:
    """Metrics (and ``time``) per method on one generated run, and the run's
    count of rows per mistake type."""
    case = CASES[task](size, seed=seed)
    results = {}
    for name, fn in methods(case, with_cleanlab).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            score = fn()
            elapsed = time.perf_counter() - t0
        results[name] = {**ranking_metrics(score, case), "time": elapsed}
        if name == "labeltui":
            results[name].update(calibration_counts(score, case.truth))
    kinds, counts = np.unique(case.mistake[case.truth].astype(str), return_counts=True)
    return results, dict(zip(kinds.tolist(), counts.tolist()))


def _fmt(values: list[float], digits: int = 3) -> str:
    a = np.asarray(values, dtype=np.float64)
    if len(a) == 1:
        return f"{a[0]:.{digits}f}"
    return f"{a.mean():.{digits}f} ± {a.std(ddof=1):.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the default run sizes")
    ap.add_argument("--tasks", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--no-cleanlab", action="store_true")
    args = ap.parse_args(argv)
    try:
        import cleanlab

        with_cleanlab = not args.no_cleanlab
        version = f"cleanlab {cleanlab.__version__}"
    except ImportError:
        with_cleanlab, version = False, "cleanlab not installed (pip install cleanlab): its rows are left out"

    overall, per_type, calibration, notes = [], [], [], []
    for task in args.tasks:
        size = max(50, int(SIZES[task] * args.scale))
        evaluate(task, 100, 10_000, with_cleanlab)  # warm-up: lazy imports stay out of the timings
        runs = [evaluate(task, size, seed, with_cleanlab) for seed in range(args.seeds)]
        results = [r for r, _ in runs]
        counts = runs[0][1]
        names = list(results[0])
        k = np.mean([sum(c.values()) for _, c in runs])
        notes.append(f"- {task}: {size} rows per run, k = {k:.0f} corrupted rows ("
                     + ", ".join(f"{kind} {n}" for kind, n in counts.items()) + ")")

        def col(name: str, key: str) -> list[float]:
            return [r[name][key] for r in results]

        for name in names:
            overall.append([task, name, _fmt(col(name, "P@k")), _fmt(col(name, "AUPRC")),
                            _fmt(col(name, "AUROC")), _fmt(col(name, "time"), 2)])
        rows = [[kind] + [f"{np.mean(col(name, 'R@k:' + kind)):.2f} / {np.mean(col(name, 'AUROC:' + kind)):.2f}"
                          for name in names] for kind in counts]
        per_type.append(f"{task}:\n\n" + _table(["mistake type"] + names, rows))
        for i, (lo, hi) in enumerate(zip(CALIBRATION_EDGES[:-1], CALIBRATION_EDGES[1:])):
            n = sum(col("labeltui", f"calib_n:{i}"))
            m = sum(col("labeltui", f"calib_m:{i}"))
            share = f"{m / n:.3f}" if n else "-"
            label = f"[{lo:.1f}, {hi:.1f}{']' if hi == 1.0 else ')'}"
            calibration.append([task, label, f"{n / (size * len(runs)):.3f}", share])

    print(f"Label-mistake ranking quality, mean ± sd over {args.seeds} seeds (higher is better; {version})\n")
    print(_table(["task", "method", "precision@k", "AUPRC", "AUROC", "time (s)"], overall))
    print("\nPer injected mistake type: recall@k / AUROC against the clean rows (means over seeds)\n")
    print("\n\n".join(per_type))
    print("\nCalibration of our score (all seeds pooled): share of rows in each score bin, and how many of them"
          " are corrupted\n")
    print(_table(["task", "score", "rows", "corrupted"], calibration))
    print("\n" + "\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
