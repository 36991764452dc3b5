"""Detection matching (vs pycocotools), per-row metrics and detection issue types."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from labeltui.config import Matching, Scoring
from labeltui.engine.detection import match_objects
from labeltui.engine.metrics import row_metrics
from labeltui.formats.base import make_annotations, make_rows
from labeltui.run import build_run


def make_run(n_rows: int, gt: list[tuple], pred: list[tuple], classes: list[str] | None = None):
    """gt: (row, label, x0, y0, x1, y1); pred: (row, label, x0, y0, x1, y1, confidence)."""
    ids = [f"r{i}" for i in range(n_rows)]
    rows = make_rows(ids, ids, [f"{i}.jpg" for i in ids], [100.0] * n_rows, [100.0] * n_rows)

    def ann(items, source):
        cols = list(zip(*items)) if items else [[]] * 7
        return make_annotations(
            source=source,
            data_row_id=[ids[r] for r in cols[0]],
            label=list(cols[1]),
            x0=list(cols[2]), y0=list(cols[3]), x1=list(cols[4]), y1=list(cols[5]),
            confidence=list(cols[6]) if source == "pred" else None,
            annotation_id=[f"{source}{i}" for i in range(len(items))],
        )

    annotations = pd.concat([ann(gt, "gt"), ann(pred, "pred")], ignore_index=True)
    return build_run("test", "detection", rows, annotations, classes=classes)


def outcomes(run, iou=0.5, conf=0.5, **scoring):
    return match_objects(run, Matching(iou_threshold=iou, confidence_threshold=conf), Scoring(**scoring))


# --- agreement with pycocotools -------------------------------------------------


def _random_case(rng: np.random.Generator, n_images: int, n_classes: int):
    """Boxes on a coarse integer grid (many overlaps, exact IoU ties), scores
    from a few values (score ties), some images without GT or predictions."""
    gt, pred = [], []
    for img in range(n_images):
        n_gt = int(rng.integers(0, 9)) if rng.random() > 0.1 else 0
        n_pred = int(rng.integers(0, 13)) if rng.random() > 0.1 else 0
        for items, count in ((gt, n_gt), (pred, n_pred)):
            for _ in range(count):
                x0, y0 = (int(v) for v in rng.integers(0, 8, 2))
                w, h = (int(v) for v in rng.integers(0, 6, 2))  # w or h 0: a zero-area box
                box = (img, f"c{int(rng.integers(0, n_classes))}", x0, y0, x0 + w, y0 + h)
                items.append(box + ((float(rng.choice([0.2, 0.4, 0.5, 0.7, 0.9, 1.0])),) if items is pred else ()))
        if pred and rng.random() < 0.3 and gt and gt[-1][0] == img:  # an exact copy of a GT box
            pred.append(gt[-1] + (0.9,))
    return gt, pred


def _coco_matches(n_images, gt, pred, iou_thr, conf_thr):
    """pycocotools' per-detection and per-GT matches: {('pred', i): gt index or -1, ('gt', j): ...}."""
    classes = sorted({a[1] for a in gt} | {a[1] for a in pred})
    cat = {c: k + 1 for k, c in enumerate(classes)}
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i + 1, "width": 100, "height": 100} for i in range(n_images)],
        "categories": [{"id": k, "name": c} for c, k in cat.items()],
        "annotations": [
            {"id": j + 1, "image_id": r + 1, "category_id": cat[c], "bbox": [x0, y0, x1 - x0, y1 - y0],
             "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}
            for j, (r, c, x0, y0, x1, y1) in enumerate(gt)
        ],
    }
    kept = [i for i, p in enumerate(pred) if p[6] >= conf_thr]
    results = [
        {"image_id": pred[i][0] + 1, "category_id": cat[pred[i][1]],
         "bbox": [pred[i][2], pred[i][3], pred[i][4] - pred[i][2], pred[i][5] - pred[i][3]], "score": pred[i][6]}
        for i in kept
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        dets = coco.loadRes(results)
        ev = COCOeval(coco, dets, "bbox")
        ev.params.iouThrs = np.array([iou_thr])
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.params.maxDets = [10_000]
        ev.evaluate()
    found = {("pred", i): -1 for i in kept} | {("gt", j): -1 for j in range(len(gt))}
    for e in ev.evalImgs:
        if e is None:
            continue
        for det_id, gt_id in zip(e["dtIds"], e["dtMatches"][0]):
            found[("pred", kept[det_id - 1])] = int(gt_id) - 1
        for gt_id, det_id in zip(e["gtIds"], e["gtMatches"][0]):
            found[("gt", gt_id - 1)] = kept[int(det_id) - 1] if det_id > 0 else -1
    return found


def _our_matches(run, out, conf_thr):
    ids = run.annotations["annotation_id"].to_numpy()
    index = {a: int(a[4:] if a.startswith("pred") else a[2:]) for a in ids}
    found = {}
    for pos, (aid, partner, conf) in enumerate(zip(ids, out["partner"], run.annotations["confidence"])):
        kind = "pred" if aid.startswith("pred") else "gt"
        if kind == "pred" and conf < conf_thr:
            assert out["outcome"][pos] == "low" and partner == -1
            continue
        found[(kind, index[aid])] = index[ids[partner]] if partner >= 0 else -1
    return found


@pytest.mark.parametrize("iou_thr,conf_thr", [(0.5, 0.5), (0.3, 0.0), (0.75, 0.4)])
def test_matching_agrees_with_pycocotools(iou_thr, conf_thr):
    rng = np.random.default_rng(int(iou_thr * 100 + conf_thr * 10))
    total_tp = 0
    for _ in range(12):
        n_images = 30
        gt, pred = _random_case(rng, n_images, n_classes=3)
        if not any(p[6] >= conf_thr for p in pred):
            continue
        run = make_run(n_images, gt, pred)
        out = outcomes(run, iou=iou_thr, conf=conf_thr)
        ours = _our_matches(run, out, conf_thr)
        assert ours == _coco_matches(n_images, gt, pred, iou_thr, conf_thr)
        tp = out["outcome"] == "tp"
        total_tp += int(tp.sum())
        # partners point at each other, and the reported IoU is the pair's.
        partner = out["partner"].to_numpy()
        matched = np.flatnonzero(partner >= 0)
        assert (partner[partner[matched]] == matched).all()
        assert (out["iou"].to_numpy()[matched] >= min(iou_thr, 1 - 1e-10)).all()
    assert total_tp > 100  # the cases really exercise matching (both sides of a pair count)


def test_greedy_order_confidence_then_input_order_and_last_gt_on_iou_tie():
    # Two GT boxes with the same IoU against the top prediction: COCO picks the later one.
    gt = [(0, "a", 0, 0, 10, 10), (0, "a", 0, 0, 10, 10)]
    pred = [(0, "a", 0, 0, 10, 10, 0.8), (0, "a", 0, 0, 10, 10, 0.9), (0, "a", 0, 0, 10, 10, 0.9)]
    run = make_run(1, gt, pred)
    out = outcomes(run)
    pos = {a: i for i, a in enumerate(run.annotations["annotation_id"])}
    # pred1 (0.9, first in input) takes gt1 (the later of the tied GTs), pred2 takes gt0.
    assert out["partner"][pos["pred1"]] == pos["gt1"]
    assert out["partner"][pos["pred2"]] == pos["gt0"]
    assert out["outcome"][pos["pred0"]] == "fp"


# --- outcomes, overlaps and per-row metrics ---------------------------------------


def test_outcomes_best_partner_and_row_metrics():
    gt = [
        (0, "car", 0, 0, 10, 10),      # matched by pred0
        (0, "car", 50, 50, 60, 60),    # missed
        (2, "dog", 0, 0, 10, 10),      # row 2: matched
    ]
    pred = [
        (0, "car", 0, 0, 10, 8, 0.9),     # IoU 0.8 with gt0
        (0, "person", 20, 20, 30, 30, 0.7),  # fp, no overlap
        (0, "car", 0, 0, 10, 5, 0.3),     # below the confidence threshold: low
        (1, "car", 0, 0, 10, 10, 0.6),    # row 1 has no GT: fp
        (2, "dog", 0, 0, 10, 10, float("nan")),  # NaN confidence counts as 1.0
    ]
    run = make_run(4, gt, pred)
    out = outcomes(run)
    pos = {a: i for i, a in enumerate(run.annotations["annotation_id"])}
    assert list(out["outcome"][[pos[k] for k in ("gt0", "gt1", "gt2", "pred0", "pred1", "pred2", "pred3", "pred4")]]) == [
        "tp", "fn", "tp", "tp", "fp", "low", "fp", "tp"]
    assert out["iou"][pos["pred0"]] == pytest.approx(0.8)
    assert np.isnan(out["iou"][pos["gt1"]])
    assert out["best_partner"][pos["pred1"]] == -1 and out["best_iou"][pos["pred1"]] == 0.0
    # GT0's best overlap over any prediction >= low_confidence: pred0 (0.8) beats pred2 (0.5).
    assert out["best_partner"][pos["gt0"]] == pos["pred0"]
    assert out["best_iou"][pos["gt0"]] == pytest.approx(0.8)
    assert out["best_partner"][pos["pred2"]] == pos["gt0"] and out["best_iou"][pos["pred2"]] == pytest.approx(0.5)

    m = row_metrics(run, out)
    assert m.columns.tolist() == ["tp", "fp", "fn", "precision", "recall", "f1", "iou", "max_fp_confidence", "n_gt", "n_pred"]
    assert m.loc[0, ["tp", "fp", "fn", "n_gt", "n_pred"]].tolist() == [1, 1, 1, 2, 3]
    assert m.loc[0, "precision"] == 0.5 and m.loc[0, "recall"] == 0.5 and m.loc[0, "f1"] == 0.5
    assert m.loc[0, "iou"] == pytest.approx(0.8) and m.loc[0, "max_fp_confidence"] == pytest.approx(0.7)
    # Row 1: predictions only; row 2: perfect; row 3: empty.
    assert m.loc[1, ["precision", "recall", "f1"]].tolist() == [0.0, 1.0, 0.0]
    assert m.loc[1, "max_fp_confidence"] == pytest.approx(0.6) and np.isnan(m.loc[1, "iou"])
    assert m.loc[2, ["precision", "recall", "f1", "iou"]].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert m.loc[3, ["tp", "fp", "fn", "n_gt", "n_pred"]].tolist() == [0, 0, 0, 0, 0]
    assert m.loc[3, ["precision", "recall", "f1", "max_fp_confidence"]].tolist() == [1.0, 1.0, 1.0, 0.0]


# --- issue types ------------------------------------------------------------------


def _background(n_rows: int, start: int = 0):
    """Rows where the model agrees with the labels (for calibration): 3 boxes each."""
    gt, pred = [], []
    for r in range(start, start + n_rows):
        for k, cls in enumerate(("car", "person", "dog")):
            x = 30 * k
            gt.append((r, cls, x, 0, x + 20, 20))
            pred.append((r, cls, x, 0, x + 20, 19, 0.95))
    return gt, pred


def test_each_issue_type_is_found_on_the_right_object():
    gt, pred = _background(40, start=4)
    gt += [
        (0, "car", 0, 0, 20, 20),                       # row 0: fine...
        (1, "dog", 0, 0, 20, 20),                       # row 1: labelled dog, model says car
        (2, "car", 0, 0, 20, 20),                       # row 2: label box off
        (3, "person", 60, 60, 80, 80),                  # row 3: nothing there
        (3, "car", 0, 0, 20, 20),
    ]
    pred += [
        (0, "car", 0, 0, 20, 20, 0.97),
        (0, "person", 50, 50, 70, 70, 0.97),            # ...but a person nobody labelled
        (0, "person", 51, 50, 71, 70, 0.96),            # a duplicate of it
        (1, "car", 0, 0, 20, 20, 0.97),
        (2, "car", 8, 0, 28, 20, 0.97),                 # IoU 12/28 = 0.43 with the label
        (3, "car", 0, 0, 20, 20, 0.97),
    ]
    run = make_run(44, gt, pred)
    out = outcomes(run)
    ann = run.annotations
    issues = out[out["issue"] != ""]
    got = {(int(ann["row"][i]), ann["source"][i], out["issue"][i]) for i in issues.index}
    assert got == {
        (0, "pred", "missing_label"),
        (1, "pred", "wrong_class"),
        (2, "pred", "bad_location"),
        (3, "gt", "spurious_label"),
    } | {(0, "pred", "missing_label")}
    assert (out["issue"] == "missing_label").sum() == 2
    # The duplicate of the unlabelled person adds no evidence.
    missing = out.index[out["issue"] == "missing_label"]
    assert sorted(out["suspicion"][missing] > 0) == [False, True]
    wc = out.index[out["issue"] == "wrong_class"][0]
    assert ann["label"][out["issue_partner"][wc]] == "dog" and ann["row"][out["issue_partner"][wc]] == 1
    bl = out.index[out["issue"] == "bad_location"][0]
    assert ann["row"][out["issue_partner"][bl]] == 2 and out["best_iou"][bl] == pytest.approx(12 / 28)
    assert (out["suspicion"][issues.index] > 0.3).sum() == 4
    assert (out["suspicion"][out["issue"] == ""] == 0).all()
    assert ((out["suspicion"] >= 0) & (out["suspicion"] <= 1)).all()


def test_no_issue_when_model_weakly_supports_a_label_or_duplicates_a_match():
    gt, pred = _background(30, start=2)
    gt += [(0, "car", 0, 0, 20, 20), (1, "car", 0, 0, 20, 20)]
    pred += [
        (0, "car", 0, 0, 20, 20, 0.3),   # below the threshold but supports the label
        (1, "car", 0, 0, 20, 20, 0.95),  # match
        (1, "car", 1, 0, 21, 20, 0.9),   # duplicate detection of the same car
        (1, "dog", 0, 0, 20, 20, 0.6),   # and a second opinion on its class
    ]
    run = make_run(32, gt, pred)
    out = outcomes(run)
    assert (out["issue"] == "").all()
    assert out["outcome"].value_counts()["fn"] == 1


def test_weak_class_and_mediocre_row_rank_below_a_real_mistake():
    gt, pred = _background(60, start=3)
    # "bird": a class the model hallucinates at high confidence in half the background rows.
    pred += [(r, "bird", 70, 70, 90, 90, 0.95) for r in range(3, 63, 2)]
    gt += [(r, "bird", 0, 50, 20, 70) for r in range(33, 63)]
    pred += [(r, "bird", 0, 50, 20, 70, 0.95) for r in range(33, 63)]
    pred += [
        (0, "person", 50, 50, 70, 70, 0.97),    # row 0: a person nobody labelled
        (1, "bird", 50, 50, 70, 70, 0.97),      # row 1: a "bird" nobody labelled
    ]
    # Row 2: a row full of mediocre-confidence boxes on nothing.
    pred += [(2, cls, 10 * k, 60, 10 * k + 8, 68, 0.55) for k, cls in enumerate(["car", "dog", "person"] * 2)]
    run = make_run(63, gt, pred)
    out = outcomes(run)
    row = run.annotations["row"].to_numpy()
    s = out["suspicion"].to_numpy()
    person, bird = s[(row == 0)].max(), s[(row == 1)].max()
    weak_row = 1 - np.prod(1 - s[row == 2])
    assert person > 0.5
    assert bird < person / 2
    assert weak_row < person / 2


def test_spurious_label_in_a_row_the_model_fails_on_counts_less():
    gt, pred = _background(30, start=2)
    gt += [(0, "car", 0, 0, 20, 20), (0, "dog", 30, 0, 50, 20), (0, "person", 60, 0, 80, 20), (0, "car", 60, 60, 80, 80)]
    pred += [(0, "car", 0, 0, 20, 20, 0.9), (0, "dog", 30, 0, 50, 20, 0.9), (0, "person", 60, 0, 80, 20, 0.9)]
    gt += [(1, "car", 0, 0, 20, 20), (1, "dog", 30, 0, 50, 20), (1, "person", 60, 0, 80, 20), (1, "car", 60, 60, 80, 80)]
    run = make_run(32, gt, pred)
    out = outcomes(run)
    row = run.annotations["row"].to_numpy()
    spurious = out["issue"].to_numpy() == "spurious_label"
    assert spurious[row == 0].sum() == 1 and spurious[row == 1].sum() == 4
    s = out["suspicion"].to_numpy()
    assert s[(row == 0) & spurious][0] > 3 * s[(row == 1) & spurious].max()


# --- degenerate input ---------------------------------------------------------------


def test_degenerate_inputs_give_defined_results_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = make_run(0, [], [])
        out = outcomes(empty)
        assert len(out) == 0 and "suspicion" in out
        assert len(row_metrics(empty, out)) == 0

        no_ann = make_run(3, [], [])
        m = row_metrics(no_ann, outcomes(no_ann))
        assert m["f1"].tolist() == [1.0, 1.0, 1.0]

        nan_conf = make_run(2, [(0, "a", 0, 0, 10, 10)], [(0, "a", 0, 0, 10, 10, float("nan")), (1, "a", 0, 0, 5, 5, float("nan"))])
        out = outcomes(nan_conf)
        assert out["outcome"].tolist() == ["tp", "tp", "fp"]

        zero_area = make_run(
            2,
            [(0, "a", 5, 5, 5, 5), (1, "a", 0, 0, 0, 10), (1, "a", 0, 0, 10, 10)],
            [(0, "a", 5, 5, 5, 5, 0.9), (1, "a", 0, 0, 0, 10, 0.9), (1, "a", float("nan"), 0, 10, 10, 0.9)],
        )
        out = outcomes(zero_area)
        assert (out["outcome"] != "tp").all() and np.isfinite(out["suspicion"]).all()
        assert row_metrics(zero_area, out)["iou"].isna().all()

        single = make_run(1, [(0, "only", 0, 0, 10, 10)], [(0, "only", 0, 0, 10, 10, 0.9)])
        assert outcomes(single)["outcome"].tolist() == ["tp", "tp"]

        gt_only = make_run(2, [(0, "a", 0, 0, 10, 10), (1, "b", 0, 0, 10, 10)], [])
        out = outcomes(gt_only)
        assert out["issue"].tolist() == ["spurious_label"] * 2
        preds_only = make_run(1, [], [(0, "a", 0, 0, 10, 10, 1.0)])
        assert outcomes(preds_only)["issue"].tolist() == ["missing_label"]


def test_unknown_labels_match_by_name():
    run = make_run(1, [(0, "x", 0, 0, 10, 10)], [(0, "x", 0, 0, 10, 10, 0.9), (0, "y", 0, 0, 10, 10, 0.9)], classes=["a"])
    assert (run.annotations["class_id"] == -1).all()
    out = outcomes(run)
    pos = {a: i for i, a in enumerate(run.annotations["annotation_id"])}
    assert out["partner"][pos["gt0"]] == pos["pred0"]
    assert out["outcome"][pos["pred1"]] == "fp"
