"""Benchmark filter + sort on a 1M-row scores table (a script, not a pytest test).

Builds a seeded table like the per-row scores (1M rows x 15 columns: ids,
score, issue, '|'-joined classes, split, counts and float metrics with NaN),
then times ``apply_query`` (compile + filter + sort -> index view) for a set
of typical filters and sorts, against the same query done the plain pandas
way in the same run (``DataFrame.query`` + stable ``sort_values``, which
copies the table), and checks that both give the same rows in the same order.

    python tests/perf/bench_query.py                  # 1M rows, 7 repeats
    python tests/perf/bench_query.py --rows 200000 --repeats 3 --strings object

Target: filter + sort of 1M rows <= 200 ms (median) for every case.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from labeltui.engine.query import apply_query  # noqa: E402

TARGET_MS = 200.0
CLASSES = ("car", "bus", "truck", "person", "bicycle", "motorcycle", "dog", "cat",
           "plane", "ship", "train", "boat", "bird", "horse", "sheep")
ISSUES = ("", "missing_label", "wrong_class", "bad_location", "spurious_label")

# (our filter, our sort, pandas query or None for a full-table sort, pandas sort column, descending)
CASES = [
    ("fp >= 1 and max_fp_confidence > 0.8", "score", "fp >= 1 and max_fp_confidence > 0.8", "score", True),
    ('issue == "missing_label" and 0.2 < score <= 0.9', "max_fp_confidence:asc",
     'issue == "missing_label" and 0.2 < score <= 0.9', "max_fp_confidence", False),
    ('label == "car" and fp >= 1', "score", None, "score", True),  # membership: pandas via str.contains
    ("", "score", "", "score", True),  # no filter: sort all 1M rows by a float
    ('split in ["val", "test"] and not (fn == 0)', "issue:asc",
     'split in ["val", "test"] and not (fn == 0)', "issue", False),
    ("score > 0.1", "fp", "score > 0.1", "fp", True),  # integer sort with many ties
    ("recall < 0.5 or precision < 0.5", "data_row_id:asc",
     "recall < 0.5 or precision < 0.5", "data_row_id", False),  # 1M distinct strings
]


def make_table(n: int, strings: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_gt = rng.poisson(3, n)
    tp = rng.binomial(n_gt, 0.8)
    fn = n_gt - tp
    fp = rng.poisson(0.6, n)
    n_pred = tp + fp
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), np.nan)
        recall = np.where(n_gt > 0, tp / np.maximum(n_gt, 1), np.nan)
        f1 = 2 * precision * recall / (precision + recall)
    score = rng.beta(0.7, 3.0, n)
    score[rng.random(n) < 0.02] = np.nan
    mfc = np.where(fp > 0, rng.uniform(0.3, 1.0, n), np.nan)
    iou = np.where(tp > 0, rng.uniform(0.5, 0.95, n), np.nan)
    combos = np.array(["|".join(sorted(set(rng.choice(CLASSES, k)))) for k in rng.integers(1, 4, 4000)])
    classes = combos[rng.integers(0, len(combos), n)]
    issue = np.array(ISSUES)[rng.choice(len(ISSUES), n, p=[0.6, 0.15, 0.1, 0.1, 0.05])]
    split = np.array(["train", "val", "test"])[rng.choice(3, n, p=[0.8, 0.1, 0.1])]
    ids = np.char.add("row-", rng.permutation(n).astype(str))
    df = pd.DataFrame({
        "data_row_id": ids, "score": score, "issue": issue, "classes": classes, "split": split,
        "tp": tp, "fp": fp, "fn": fn, "n_gt": n_gt, "n_pred": n_pred,
        "precision": precision, "recall": recall, "f1": f1, "iou": iou, "max_fp_confidence": mfc,
    })
    text = ["data_row_id", "issue", "classes", "split"]
    if strings == "object":
        df[text] = df[text].astype(object)
    else:
        df[text] = df[text].astype(str)  # the pandas default string dtype
    return df


def pandas_way(df: pd.DataFrame, query: str | None, sort: str, descending: bool) -> np.ndarray:
    if query is None:  # label == "car" and fp >= 1, written the pandas way
        sub = df[("|" + df["classes"] + "|").str.contains("|car|", regex=False) & (df["fp"] >= 1)]
    else:
        sub = df.query(query) if query else df
    out = sub.sort_values(sort, ascending=not descending, kind="stable", na_position="last")
    return out.index.to_numpy()


def median_ms(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--strings", choices=("default", "object"), default="default")
    args = ap.parse_args()

    t = time.perf_counter()
    df = make_table(args.rows, args.strings)
    print(f"table: {len(df):,} rows x {df.shape[1]} columns ({args.strings} strings: {df['issue'].dtype}), "
          f"built in {time.perf_counter() - t:.1f} s; median of {args.repeats} runs\n")
    header = f"{'filter':<48} {'sort':<22} {'rows':>9} {'ours ms':>8} {'pandas ms':>10} {'speedup':>8}  ok"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for ours_filter, ours_sort, pd_query, pd_sort, desc in CASES:
        ours_ms, view = median_ms(lambda: apply_query(df, ours_filter, ours_sort), args.repeats)
        base_ms, ref = median_ms(lambda: pandas_way(df, pd_query, pd_sort, desc), args.repeats)
        same = np.array_equal(view, ref)
        worst = max(worst, ours_ms)
        print(f"{ours_filter or '(none)':<48.48} {ours_sort:<22} {len(view):>9,} {ours_ms:>8.1f} {base_ms:>10.1f} "
              f"{base_ms / ours_ms:>7.1f}x  {'same' if same else 'DIFFERENT'}")
        if not same:
            return 1
    verdict = "OK" if worst <= TARGET_MS else "OVER TARGET"
    print(f"\nslowest case: {worst:.1f} ms (target {TARGET_MS:.0f} ms): {verdict}")
    return 0 if worst <= TARGET_MS else 2


if __name__ == "__main__":
    sys.exit(main())
