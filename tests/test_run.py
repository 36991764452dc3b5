"""ModelRun helpers: row_classes, row_range, concat_runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labeltui.config import load_config
from labeltui.formats.base import make_annotations, make_rows
from labeltui.load import load_run
from labeltui.run import build_run, concat_runs, row_classes, row_range

ROOT = Path(__file__).resolve().parents[1]


def _random_run(n_rows: int, n_classes: int, n_objects: int, seed: int):
    rng = np.random.default_rng(seed)
    ids = [f"r{i}" for i in range(n_rows)]
    classes = sorted(f"c{i:03d}" for i in range(n_classes))
    rows = make_rows(ids, ids, ids, [10.0] * n_rows, [10.0] * n_rows)
    owner = rng.integers(0, n_rows, n_objects)
    source = rng.choice(["gt", "pred"], n_objects)
    parts = [
        make_annotations(
            source=src,
            data_row_id=np.asarray(ids, dtype=object)[owner[source == src]],
            label=np.asarray(classes, dtype=object)[rng.integers(0, n_classes, (source == src).sum())],
            x0=0.0, y0=0.0, x1=1.0, y1=1.0,
            confidence=rng.uniform(0, 1, (source == src).sum()) if src == "pred" else None,
        )
        for src in ("gt", "pred")
    ]
    ann = pd.concat(parts, ignore_index=True)
    return build_run("r", "detection", rows, ann, classes=classes)


@pytest.mark.parametrize("n_classes", [1, 5, 63, 64, 200])
def test_row_classes_matches_a_sorted_join_per_row(n_classes):
    run = _random_run(300, n_classes, 2000, seed=n_classes)
    expected = np.full(run.n_rows, "", dtype=object)
    for r, group in run.annotations.groupby("row"):
        expected[r] = "|".join(sorted(set(group["label"])))
    got = row_classes(run)
    assert got.tolist() == expected.tolist()
    assert (got == "").sum() == run.n_rows - run.annotations["row"].nunique()


@pytest.mark.parametrize("task", ["detection", "ner", "classification"])
def test_row_ranges_concatenate_back_to_the_run(task):
    run = load_run(load_config(ROOT / "demo" / task / "run.yaml"))
    bounds = [0, 7, 8, run.n_rows // 2, run.n_rows]
    parts = [row_range(run, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    assert [p.n_rows for p in parts] == np.diff(bounds).tolist()
    for p in parts:
        assert p.classes == run.classes
        if len(p.annotations):
            assert p.annotations["row"].min() >= 0 and p.annotations["row"].max() < p.n_rows
    back = concat_runs(parts)
    pd.testing.assert_frame_equal(back.rows, run.rows)
    pd.testing.assert_frame_equal(back.annotations, run.annotations)
    pd.testing.assert_frame_equal(back.metrics, run.metrics)
    for name in ("gt_label", "pred_label", "pred_confidence", "probs", "embeddings", "embedding_mask"):
        a, b = getattr(back, name), getattr(run, name)
        assert (a is None and b is None) or np.array_equal(a, b, equal_nan=True), name
