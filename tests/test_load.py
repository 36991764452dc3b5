"""Run assembly: cross-file references and the central checks shared by all formats."""

import json
from pathlib import Path

import numpy as np
import pytest

from labeltui.config import load_config
from labeltui.errors import LoadError
from labeltui.load import load_run


def coco_run(tmp_path: Path, images, anns, preds, cats=({"id": 1, "name": "car"}, {"id": 2, "name": "truck"}), extra="") -> Path:
    (tmp_path / "gt.json").write_text(json.dumps({"images": list(images), "annotations": list(anns), "categories": list(cats)}))
    (tmp_path / "preds.json").write_text(json.dumps(list(preds)))
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "task: detection\nground_truth: {format: coco, path: gt.json}\n"
        "predictions: {format: coco-results, path: preds.json}\n" + extra
    )
    return cfg


IMAGES = [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}, {"id": 2, "file_name": "b.jpg", "width": 100, "height": 50}]


def ann(i, img, bbox, cat=1):
    return {"id": i, "image_id": img, "category_id": cat, "bbox": bbox}


def pred(img, bbox, score, cat=1):
    return {"image_id": img, "category_id": cat, "bbox": bbox, "score": score}


def test_coco_run_assembles_rows_and_annotations(tmp_path):
    run = load_run(load_config(coco_run(tmp_path, IMAGES, [ann(1, 1, [10, 10, 20, 20])], [pred(2, [0, 0, 5, 5], 0.9)])))
    assert list(run.rows["data_row_id"]) == ["1", "2"]
    assert run.rows["asset"].iloc[0] == str(tmp_path.resolve() / "a.jpg")
    a = run.annotations
    assert list(a["source"]) == ["gt", "pred"] and list(a["row"]) == [0, 1]
    assert a.iloc[0][["x0", "y0", "x1", "y1"]].tolist() == [10, 10, 30, 30]
    assert run.warnings == []


def test_assets_folder_resolves_image_paths(tmp_path):
    run = load_run(load_config(coco_run(tmp_path, IMAGES, [], [], extra="assets: imgs/\n")))
    assert run.rows["asset"].iloc[1] == str(tmp_path.resolve() / "imgs" / "b.jpg")


def test_predictions_for_unknown_rows_are_dropped_and_counted(tmp_path):
    run = load_run(load_config(coco_run(tmp_path, IMAGES, [], [pred(7, [0, 0, 5, 5], 0.9), pred(8, [0, 0, 5, 5], 0.9), pred(1, [0, 0, 5, 5], 0.9)])))
    assert (run.annotations["source"] == "pred").sum() == 1
    assert any("2 predictions for unknown data rows dropped (e.g. '7')" in w for w in run.warnings)


def test_boxes_outside_the_image_are_clipped_and_degenerate_ones_dropped(tmp_path):
    anns = [ann(1, 1, [90, 40, 20, 20]), ann(2, 1, [5, 5, 0, 10]), ann(3, 1, [200, 200, 5, 5])]
    run = load_run(load_config(coco_run(tmp_path, IMAGES, anns, [pred(1, [-5, 0, 10, 10], 0.9)])))
    gt = run.annotations[run.annotations["source"] == "gt"]
    assert len(gt) == 1 and gt.iloc[0][["x0", "y0", "x1", "y1"]].tolist() == [90, 40, 100, 50]
    p = run.annotations[run.annotations["source"] == "pred"].iloc[0]
    assert p[["x0", "x1"]].tolist() == [0, 5]
    text = " | ".join(run.warnings)
    assert "1 ground-truth box with zero or negative size dropped" in text
    assert "3 boxes extending outside the image clipped to it" in text
    assert "1 box entirely outside the image dropped" in text


def test_confidence_out_of_range_is_clipped_and_reported(tmp_path):
    run = load_run(load_config(coco_run(tmp_path, IMAGES, [], [pred(1, [0, 0, 5, 5], 1.7), pred(1, [0, 0, 5, 5], -0.2)])))
    assert sorted(run.annotations["confidence"]) == [0.0, 1.0]
    assert any("2 predictions with confidence outside [0, 1] clipped" in w for w in run.warnings)


def test_unknown_prediction_class_is_kept_and_reported(tmp_path):
    run = load_run(load_config(coco_run(tmp_path, IMAGES, [ann(1, 1, [0, 0, 5, 5])], [pred(1, [0, 0, 5, 5], 0.9, cat=9)])))
    assert "category_9" in run.classes
    assert any("appear only in predictions" in w and "category_9" in w for w in run.warnings)


def spans_run(tmp_path: Path, lines: list[dict], task: str = "ner") -> Path:
    (tmp_path / "spans.jsonl").write_text("\n".join(json.dumps(l) for l in lines) + "\n")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"task: {task}\nground_truth: {{format: jsonl, path: spans.jsonl}}\npredictions: {{format: jsonl, path: spans.jsonl}}\n")
    return cfg


def test_one_file_serves_both_sources(tmp_path):
    cfg = spans_run(tmp_path, [{"id": "s1", "text": "John lives in Paris", "labels": [[0, 4, "PER"]], "predictions": [[0, 4, "PER", 0.9], [14, 19, "LOC", 0.8]]}])
    run = load_run(load_config(cfg))
    assert sorted(run.annotations["source"]) == ["gt", "pred", "pred"]
    text = run.rows["asset"].iloc[0]
    spans = run.annotations[run.annotations["source"] == "pred"]
    assert sorted(text[s:e] for s, e in zip(spans["start"], spans["end"])) == ["John", "Paris"]


def test_spans_outside_the_text_are_dropped_with_a_warning(tmp_path):
    cfg = spans_run(tmp_path, [{"id": "s1", "text": "short", "labels": [[0, 5, "PER"], [3, 40, "LOC"]], "predictions": []}])
    run = load_run(load_config(cfg))
    assert len(run.annotations) == 1
    assert any("1 span outside the text or empty dropped" in w and "'s1'" in w for w in run.warnings)


def test_duplicate_data_row_ids_are_an_error(tmp_path):
    line = {"id": "s1", "text": "John", "labels": [], "predictions": []}
    with pytest.raises(LoadError, match="ground_truth: 1 duplicate data_row_id value.*'s1'"):
        load_run(load_config(spans_run(tmp_path, [line, line])))


def test_task_mismatch_is_explained(tmp_path):
    cfg = spans_run(tmp_path, [{"id": "s1", "text": "John", "labels": [[0, 4, "PER"]], "predictions": []}], task="detection")
    with pytest.raises(LoadError, match="set task: ner"):
        load_run(load_config(cfg))


def test_classification_table_and_embeddings(tmp_path):
    (tmp_path / "t.csv").write_text("data_row_id,label,prob_a,prob_b,extra\nr1,a,0.9,0.1,3\nr2,b,0.8,0.2,4\n")
    np.save(tmp_path / "e.npy", np.eye(2, 4, dtype=np.float32))
    (tmp_path / "ids.txt").write_text("r2\nr9\n")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "task: classification\nground_truth: {format: table, path: t.csv}\npredictions: {format: table, path: t.csv}\n"
        "embeddings: {format: npy, path: e.npy, ids: ids.txt}\n"
    )
    run = load_run(load_config(cfg))
    assert run.classes == ["a", "b"]
    assert run.gt_label.tolist() == [0, 1] and run.pred_label.tolist() == [0, 0]
    np.testing.assert_allclose(run.probs, [[0.9, 0.1], [0.8, 0.2]])
    assert run.metrics["extra"].tolist() == [3, 4]
    assert run.embedding_mask.tolist() == [False, True]
    assert run.embeddings[1, 0] == 1.0
    assert any("1 embedding for unknown data rows ignored" in w for w in run.warnings)


def test_reader_errors_name_the_file(tmp_path):
    (tmp_path / "gt.json").write_text('{"images": [}')
    (tmp_path / "preds.json").write_text("[]")
    cfg = tmp_path / "run.yaml"
    cfg.write_text("task: detection\nground_truth: {format: coco, path: gt.json}\npredictions: {format: coco-results, path: preds.json}\n")
    with pytest.raises(LoadError) as err:
        load_run(load_config(cfg))
    assert str(tmp_path / "gt.json") in str(err.value) and err.value.line == 1


def test_spans_with_a_negative_start_are_dropped():
    """A reader that lets start < 0 through (no box either) must not leave an object that is neither."""
    import pandas as pd

    from labeltui.formats.base import make_annotations, make_rows
    from labeltui.load import _clean_spans, _Notes

    spans = make_annotations(source="gt", data_row_id=["d"] * 3, label=["PER"] * 3, start=[-1, 0, -5], end=[3, 4, -2])
    box = make_annotations(source="gt", data_row_id=["d"], label=["car"], x0=[0.0], y0=[0.0], x1=[1.0], y1=[1.0])
    ann = pd.concat([spans, box], ignore_index=True).assign(row=0)
    notes = _Notes()
    kept = _clean_spans(ann, make_rows(["d"], [None], ["John"], [np.nan], [np.nan]), notes)
    assert kept["start"].tolist() == [0, -1] and kept["label"].tolist() == ["PER", "car"]
    assert notes.warnings == ["2 spans outside the text or empty dropped (first: row 'd' [-1, 3) in a text of 4 characters)"]


@pytest.mark.parametrize(
    "line, needle",
    [
        ('{"id": "d", "text": "John", "labels": [[-5, 2, "PER"]]}', "spans.jsonl:1: labels[0][0]: expected a non-negative"),
        ('{"id": "\\ud800", "text": "John"}', "spans.jsonl:1: invalid string escape \\ud800"),
    ],
)
def test_bad_spans_file_is_a_load_error(tmp_path, line, needle):
    cfg = spans_run(tmp_path, [])
    (tmp_path / "spans.jsonl").write_text(line + "\n")
    with pytest.raises(LoadError) as err:
        load_run(load_config(cfg))
    assert needle in str(err.value)
