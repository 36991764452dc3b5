"""Classification scoring: confident-learning issues, calibration, fallback, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from labeltui.config import Matching, Scoring
from labeltui.engine.classify import COLUMNS, score_classification
from labeltui.formats.base import empty_annotations, make_rows
from labeltui.run import build_run

CLASSES = ["bird", "cat", "dog"]


@pytest.fixture(autouse=True)
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def make_run(gt, probs=None, pred=None, conf=None, classes=CLASSES):
    n = len(gt)
    ids = [f"r{i}" for i in range(n)]
    rows = make_rows(ids, [None] * n, [None] * n, [np.nan] * n, [np.nan] * n)
    return build_run(
        "t", "classification", rows, empty_annotations(), classes=list(classes),
        gt_label=np.asarray(gt, np.int32),
        pred_label=None if pred is None else np.asarray(pred, np.int32),
        pred_confidence=None if conf is None else np.asarray(conf, np.float64),
        probs=None if probs is None else np.asarray(probs, np.float64),
    )


def score(run, **kw):
    out = score_classification(run, Matching(), Scoring(**kw))
    assert list(out.columns) == list(COLUMNS) and len(out) == run.n_rows
    assert out["score"].between(0, 1).all() and (out["issue_object"] == -1).all()
    return out


def unsure_class_run(seed=0, n=300):
    """bird and cat: the model is sure and right. dog: it is always unsure
    (p(dog) 0.3-0.5, the rest split). Rows 0 and 1 are cats labeled bird: the
    model is sure of row 0 and leans to cat on row 1."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 3, n)
    probs = np.empty((n, 3))
    for i, g in enumerate(gt):
        if g == 2:
            p_dog = rng.uniform(0.3, 0.5)
            split = rng.uniform(0.3, 0.7)
            probs[i] = [(1 - p_dog) * split, (1 - p_dog) * (1 - split), p_dog]
        else:
            p = np.full(3, 0.0)
            p[g] = rng.uniform(0.85, 0.97)
            p[(g + 1 + rng.integers(0, 2)) % 3] = 1 - p[g]
            probs[i] = p
    gt[:2] = 0
    probs[0] = [0.04, 0.93, 0.03]
    probs[1] = [0.35, 0.60, 0.05]
    return gt, probs


def test_planted_mislabel_ranks_above_rows_of_an_unsure_class():
    gt, probs = unsure_class_run()
    out = score(make_run(gt, probs))
    dog = gt == 2
    assert out.loc[0, "issue"] == "wrong_label"
    assert out.loc[0, "score"] > 0.5  # more likely wrong than right, from a 5% prior
    assert min(out.loc[0, "score"], out.loc[1, "score"]) > out.loc[dog, "score"].max()
    assert (out.loc[dog, "issue"] != "wrong_label").all()
    assert out["score"].nlargest(2).index.tolist() == [0, 1]
    # the naive score 1 - p(label) would rank rows of the unsure class above row 1
    naive = 1 - probs[np.arange(len(gt)), gt]
    assert (naive[dog] > naive[1]).sum() > 10
    assert out.loc[0, "pred_label"] == "cat" and out.loc[0, "agree"] == 0
    assert out.loc[0, "confidence"] == pytest.approx(0.04)
    assert out.loc[0, "pred_confidence"] == pytest.approx(0.93)
    assert out.loc[0, "margin"] == pytest.approx(0.89)


def test_confident_learning_thresholds_by_hand():
    # thresholds: bird = mean(0.9, 0.7) = 0.8, cat = mean(0.6, 0.4) = 0.5, dog = 0.9
    probs = [[0.9, 0.1, 0.0], [0.7, 0.3, 0.0], [0.1, 0.6, 0.3], [0.55, 0.4, 0.05], [0.05, 0.05, 0.9]]
    gt = [0, 0, 1, 1, 2]
    out = score(make_run(gt, probs))
    # row 1: bird 0.7 < 0.8, cat 0.3 < 0.5: nothing confident, not an error
    # row 3: labeled cat, cat 0.4 < 0.5 but bird 0.55 < 0.8: not an error either
    assert out["issue"].tolist() == ["", "", "", "", ""]
    probs[3] = [0.85, 0.1, 0.05]  # now bird clears its threshold 0.8 and cat does not
    out = score(make_run(gt, probs))
    assert out.loc[3, "issue"] == "wrong_label"
    t = np.array([0.8, (0.6 + 0.1) / 2, 0.9])
    u = np.array(probs[3]) / t
    e = Scoring().label_error_rate
    assert out.loc[3, "score"] == pytest.approx(e * u[0] / (e * u[0] + (1 - e) * u[1]))
    assert score(make_run(gt, probs), label_error_rate=0.5).loc[3, "score"] == pytest.approx(u[0] / (u[0] + u[1]))
    # several classes above their thresholds: the most probable one decides;
    # dog is never a label, so its threshold is the mean over all labeled rows
    probs2 = [[0.3, 0.6, 0.1], [0.3, 0.6, 0.1], [0.5, 0.4, 0.1], [0.3, 0.6, 0.1], [0.1, 0.2, 0.7], [0.1, 0.1, 0.8]]
    out = score(make_run([0, 0, 1, 1, 1, 1], probs2))  # t = [0.3, 0.325, 0.317]
    assert out.loc[2, "issue"] == "wrong_label" and out.loc[3, "issue"] == ""
    assert out.loc[4, "issue"] == "wrong_label" and out.loc[4, "pred_label"] == "dog"
    # bird clears its low threshold but the model still predicts the label: not an error (as cleanlab)
    out = score(make_run([0, 0, 1, 1], [[0.3, 0.6, 0.1], [0.3, 0.6, 0.1], [0.1, 0.9, 0.0], [0.45, 0.5, 0.05]]))
    assert out.loc[3, "issue"] == "ambiguous"


def test_ambiguous_rows():
    rng = np.random.default_rng(1)
    n = 60
    gt = np.arange(n) % 3
    probs = np.full((n, 3), 0.03)
    probs[np.arange(n), gt] = 0.94
    gt[0], probs[0] = 0, [0.48, 0.47, 0.05]  # a coin flip between bird and cat
    gt[1], probs[1] = 1, [0.44, 0.50, 0.06]
    probs[2:] += rng.uniform(0, 0.01, (n - 2, 3))
    out = score(make_run(gt, probs))
    assert out.loc[0, "issue"] == "ambiguous" and out.loc[1, "issue"] == "ambiguous"
    assert (out.loc[2:, "issue"] == "").all()
    assert out.loc[0, "margin"] == pytest.approx(0.01)
    assert out.loc[0, "score"] == pytest.approx(Scoring().label_error_rate, rel=0.2)  # a tie: the prior
    out = score(make_run(gt, probs), ambiguous_margin=0.05)
    assert out.loc[0, "issue"] == "ambiguous" and out.loc[1, "issue"] == ""


def test_fallback_without_probabilities_normalises_by_predicted_class():
    # the model says "dog" at 0.99 whenever it is right, "cat" at 0.6
    gt = [2] * 20 + [1] * 20 + [0, 0, 0]
    pred = [2] * 20 + [1] * 20 + [2, 1, 0]
    conf = [0.99] * 20 + [0.6] * 20 + [0.9, 0.9, 0.95]
    out = score(make_run(gt, pred=pred, conf=conf))
    # "dog" at 0.9 is below what the model gives true dogs; "cat" at 0.9 is far above its usual
    assert out.loc[40, "issue"] == "" and out.loc[41, "issue"] == "wrong_label"
    assert out.loc[41, "score"] > out.loc[40, "score"] > max(out.loc[:39, "score"].max(), out.loc[42, "score"])
    assert out.loc[40, "agree"] == 0 and out.loc[42, "agree"] == 1
    assert np.isnan(out.loc[40, "confidence"]) and out.loc[42, "confidence"] == pytest.approx(0.95)
    assert out["margin"].isna().all()
    # labels without any confidence: disagreement alone decides
    out = score(make_run(gt, pred=pred))
    assert out.loc[40, "issue"] == "wrong_label" and out.loc[40, "score"] == 1.0
    assert out.loc[42, "score"] == 0.0


def test_bad_input_gives_defined_results():
    out = score(make_run([], probs=np.zeros((0, 3))))
    assert len(out) == 0

    single = score(make_run([0, 0, 0], probs=[[1.0], [0.2], [np.nan]], classes=["only"]))
    assert single["issue"].tolist() == ["", "", ""] and single["score"].tolist() == [0.0, 0.0, 0.0]
    assert single.loc[2, "pred_label"] == "" and single.loc[2, "agree"] == -1

    all_nan = score(make_run([0, 1, 2], probs=np.full((3, 3), np.nan)))
    assert (all_nan["score"] == 0).all() and (all_nan["issue"] == "").all()
    assert (all_nan["agree"] == -1).all() and all_nan["confidence"].isna().all()

    nan_with_pred = score(make_run([0, 1, 2], probs=np.full((3, 3), np.nan), pred=[0, 2, -1], conf=[0.9, 0.9, np.nan]))
    assert nan_with_pred["agree"].tolist() == [1, 0, -1]
    assert nan_with_pred.loc[1, "issue"] == "wrong_label"

    gt = [0, 1, -1, 2]
    probs = [[0.9, 0.05, 0.05], [np.nan] * 3, [0.1, 0.8, 0.1], [0.2, np.nan, 0.8]]
    mixed = score(make_run(gt, probs))
    assert mixed["agree"].tolist() == [1, -1, -1, 1]
    assert mixed.loc[1, "score"] == 0 and mixed.loc[2, "score"] == 0
    assert mixed["pred_label"].tolist() == ["bird", "", "cat", "dog"]
    assert mixed.loc[3, "margin"] == pytest.approx(0.6)

    no_preds = score(make_run([0, 1]))
    assert (no_preds["score"] == 0).all() and no_preds["pred_confidence"].isna().all()

    zeros = score(make_run([0, 1], probs=np.zeros((2, 3))))
    assert (zeros["score"] == 0).all() and (zeros["issue"] == "").all()
