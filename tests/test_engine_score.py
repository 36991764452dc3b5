"""score_run: row scores (noisy-OR of object suspicions), dispatch, custom metrics, kNN."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labeltui.engine.neighbors as neighbors
from labeltui.config import Config, Matching, Scoring, Source
from labeltui.engine.score import ScoredRun, object_suspicion, score_run
from labeltui.formats.base import empty_annotations, make_annotations, make_rows
from labeltui.run import build_run
from test_engine_detection import _background, make_run

METRICS = ["tp", "fp", "fn", "precision", "recall", "f1", "iou", "max_fp_confidence", "n_gt", "n_pred"]


@pytest.fixture(autouse=True)
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def config(task="detection", **scoring) -> Config:
    return Config(path=None, name="t", task=task, ground_truth=Source(format="table", path=Path(".")),
                  predictions=None, matching=Matching(), scoring=Scoring(**scoring))


def mixed_run():
    """40 clean rows, then: 0 a missing label, 1 a class swap, 2 a row of
    mediocre-confidence boxes on nothing, 3 clean, 4 a weak model row."""
    gt, pred = _background(40, start=5)
    gt += [(0, "car", 0, 0, 20, 20), (1, "dog", 0, 0, 20, 20), (3, "car", 0, 0, 20, 20)]
    pred += [
        (0, "car", 0, 0, 20, 20, 0.96), (0, "person", 50, 50, 70, 70, 0.97),
        (1, "car", 0, 0, 20, 20, 0.97),
        (3, "car", 0, 0, 20, 19, 0.95),
    ]
    pred += [(2, c, 10 * k, 60, 10 * k + 8, 68, 0.55) for k, c in enumerate(["car", "dog", "person"] * 2)]
    gt += [(4, "car", 0, 0, 20, 20), (4, "dog", 30, 0, 50, 20), (4, "person", 60, 0, 80, 20)]
    return make_run(45, gt, pred)


def test_row_score_is_noisy_or_of_objects_and_names_the_worst_object():
    run = mixed_run()
    result = score_run(run, config())
    assert isinstance(result, ScoredRun)
    scores, objects = result.scores, result.objects
    assert list(scores.columns) == ["data_row_id", "score", "issue", "issue_object", "label", *METRICS]
    assert scores["data_row_id"].tolist() == run.rows["data_row_id"].tolist()
    assert len(objects) == len(run.annotations)
    row = run.annotations["row"].to_numpy()
    s = objects["suspicion"].to_numpy()
    expected = np.array([1 - np.prod(1 - s[row == r]) for r in range(run.n_rows)])
    np.testing.assert_allclose(scores["score"], expected, atol=1e-12)
    assert ((scores["score"] >= 0) & (scores["score"] <= 1)).all()
    for r in np.flatnonzero(scores["score"] > 0):
        obj = scores["issue_object"][r]
        assert row[obj] == r and s[obj] == s[row == r].max()
        assert scores["issue"][r] == objects["issue"][obj]
        assert scores["label"][r] == run.annotations["label"][obj]
    clean = scores["score"] == 0
    assert (scores["issue"][clean] == "").all() and (scores["issue_object"][clean] == -1).all()
    assert (scores["label"][clean] == "").all()
    assert scores.loc[0, "issue"] == "missing_label" and scores.loc[1, "issue"] == "wrong_class"
    assert scores.loc[4, "issue"] == "spurious_label"
    # The real mistakes rank first; the mediocre row, the weak row and the clean rows after them.
    order = scores.sort_values("score", ascending=False, kind="stable").index.tolist()
    assert set(order[:2]) == {0, 1}
    assert scores.loc[2, "score"] < scores.loc[[0, 1], "score"].min() / 2
    assert scores.loc[4, "score"] < scores.loc[[0, 1], "score"].min()
    assert scores.loc[3, "score"] == 0


def test_object_suspicion_is_bayes_with_the_prior():
    p = np.array([0.0, 0.2, 0.5, 0.9, 0.95, 1.0])
    np.testing.assert_allclose(object_suspicion(p, 0.5), p)
    s = object_suspicion(p, 0.05)
    assert s[0] == 0 and s[-1] == 1 and (np.diff(s) > 0).all()
    assert s[4] == pytest.approx(0.5)
    odds = s[1:-1] / (1 - s[1:-1])
    np.testing.assert_allclose(odds, (0.05 / 0.95) * p[1:-1] / (1 - p[1:-1]))
    # Degenerate priors stay defined.
    assert np.isfinite(object_suspicion(p, 0.0)).all() and np.isfinite(object_suspicion(p, 1.0)).all()


def test_label_error_rate_changes_scale_not_the_meaning_of_zero():
    run = mixed_run()
    low = score_run(run, config(label_error_rate=0.01)).scores["score"]
    high = score_run(run, config(label_error_rate=0.5)).scores["score"]
    assert ((low > 0) == (high > 0)).all()
    assert (high[low > 0] > low[low > 0]).all()


def test_custom_metrics_are_appended_and_a_clash_is_renamed():
    run = mixed_run()
    run.metrics = pd.DataFrame({"iou": np.linspace(0, 1, run.n_rows), "uploaded_conf": np.arange(run.n_rows, dtype=float)})
    scores = score_run(run, config()).scores
    assert scores.columns[-2:].tolist() == ["iou_custom", "uploaded_conf"]
    assert scores["uploaded_conf"].tolist() == list(range(run.n_rows))
    assert scores["iou"].to_numpy()[1] != scores["iou_custom"].to_numpy()[1]


def test_knn_disagreement_joins_the_score(monkeypatch):
    run = mixed_run()
    base = score_run(run, config()).scores["score"].to_numpy()
    run.embeddings = np.ones((run.n_rows, 4), dtype=np.float32)
    run.embedding_mask = np.ones(run.n_rows, dtype=bool)
    run.embedding_mask[5] = False
    seen = {}

    def fake(embeddings, labels, mask, k):
        seen.update(labels=np.asarray(labels), mask=np.asarray(mask), k=k)
        out = np.where(mask, 0.5, np.nan)
        return out

    monkeypatch.setattr(neighbors, "knn_disagreement", fake)
    scores = score_run(run, config(knn_weight=0.4, knn_k=7)).scores
    assert seen["k"] == 7
    # Labels: the row's most frequent ground-truth class (ties: the smallest id), -1 without GT.
    classes = run.classes
    assert seen["labels"][1] == classes.index("dog") and seen["labels"][2] == -1
    assert seen["labels"][5] == classes.index("car")  # car, dog, person once each
    assert not seen["mask"][2] and not seen["mask"][5] and seen["mask"][0]
    knn = scores["knn_disagreement"].to_numpy()
    used = np.isfinite(knn)
    np.testing.assert_allclose(scores["score"][used], 1 - (1 - base[used]) * (1 - 0.4 * 0.5))
    np.testing.assert_allclose(scores["score"][~used], base[~used])
    assert scores.columns[:5].tolist() == ["data_row_id", "score", "issue", "issue_object", "label"]
    # knn_weight 0 disables it.
    assert "knn_disagreement" not in score_run(run, config(knn_weight=0.0)).scores


def test_empty_and_degenerate_runs_score_without_warnings():
    empty = make_run(0, [], [])
    result = score_run(empty, config())
    assert len(result.scores) == 0 and "score" in result.scores and len(result.objects) == 0
    nothing = make_run(3, [], [])
    assert score_run(nothing, config()).scores["score"].tolist() == [0.0, 0.0, 0.0]
    nan_conf = make_run(2, [(0, "a", 0, 0, 10, 10)], [(0, "b", 0, 0, 10, 10, float("nan")), (1, "a", 0, 0, 0, 0, float("nan"))])
    scores = score_run(nan_conf, config()).scores
    assert np.isfinite(scores["score"]).all() and scores.loc[0, "issue"] == "wrong_class"


def test_dispatches_on_the_task():
    ids = [f"r{i}" for i in range(7)]
    rows = make_rows(ids, ids, [f"{i}.jpg" for i in ids], [10.0] * 7, [10.0] * 7)
    probs = np.array([[0.9, 0.1]] * 3 + [[0.1, 0.9]] * 3 + [[0.95, 0.05]])
    cls_run = build_run("c", "classification", rows, empty_annotations(), classes=["cat", "dog"],
                        gt_label=np.array([0, 0, 0, 1, 1, 1, 1], np.int32), probs=probs)
    scores = score_run(cls_run, config("classification")).scores
    assert scores.columns[:5].tolist() == ["data_row_id", "score", "issue", "issue_object", "label"]
    assert scores["data_row_id"].tolist() == ids and (scores["issue_object"] == -1).all()
    assert scores["score"].idxmax() == 6 and scores.loc[6, "issue"] == "wrong_label"

    text = "Alice met Bob"
    rows = make_rows(["s"], ["s"], [text], [np.nan], [np.nan])
    ann = pd.concat([
        make_annotations(source="gt", data_row_id=["s"], label=["PER"], start=[0], end=[5]),
        make_annotations(source="pred", data_row_id=["s", "s"], label=["PER", "PER"], start=[0, 10], end=[5, 13],
                         confidence=[0.9, 0.95]),
    ], ignore_index=True)
    ner = score_run(build_run("n", "ner", rows, ann), config("ner"))
    assert ner.scores.loc[0, ["tp", "fp", "fn", "n_gt", "n_pred"]].tolist() == [1, 1, 0, 1, 2]
    assert len(ner.objects) == 3 and ner.scores.loc[0, "score"] > 0
