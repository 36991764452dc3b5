"""Labelbox readers: export-v2, prediction import lines, custom metric lines."""

from __future__ import annotations

import copy
import json
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeltui.errors import LoadError
from labeltui.formats import ReadContext, read_source
from labeltui.formats.base import ANNOTATION_DTYPES
from labeltui.formats.labelbox import (
    DEFAULT_METRIC_NAME,
    read_labelbox_export,
    read_labelbox_metrics,
    read_labelbox_predictions,
)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "formats"
CTX = ReadContext(role="gt", task="detection")
PRED = ReadContext(role="pred", task="detection")


def raw(name: str) -> list[dict]:
    """The sample's objects, straight from the JSON (array or NDJSON)."""
    text = (SAMPLES / name).read_text()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def values(series: pd.Series) -> list:
    """The series as a list, missing values as None (string columns hold NaN)."""
    return [None if pd.isna(v) else v for v in series]


def write(tmp_path: Path, lines: list, name: str = "in.ndjson") -> Path:
    """Write NDJSON: dicts are dumped, strings written as they are."""
    path = tmp_path / name
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))
    return path


def export_line(drid: str, objects: list, classifications: list | None = None, **extra) -> dict:
    label = {"id": f"label-{drid}", "annotations": {"objects": objects, "classifications": classifications or []}}
    return {
        "data_row": {"id": drid, "row_data": f"https://x/{drid}.jpg"},
        "projects": {"p1": {"labels": [label]}},
    } | extra


def box_obj(name: str = "car", top=10.0, left=20.0, height=30.0, width=40.0, **extra) -> dict:
    return {"name": name, "bounding_box": {"top": top, "left": left, "height": height, "width": width}} | extra


# --------------------------------------------------------------------------
# published samples


def test_registry_names_point_at_these_readers():
    path = SAMPLES / "sdk_fixture_rectangle_import.ndjson"
    loaded = read_source("labelbox-predictions", path, PRED)
    assert loaded.annotations["label"].tolist() == ["bbox"]
    assert read_source("labelbox", SAMPLES / "export_v2_image_bbox.ndjson", CTX).rows.shape[0] == 2
    metrics = read_source("labelbox-metrics", SAMPLES / "sdk_fixture_metric_import.ndjson", PRED).metrics
    assert metrics[DEFAULT_METRIC_NAME].tolist() == [0.1]


def test_export_image_bbox_rows_and_boxes_match_raw_json():
    records = raw("export_v2_image_bbox.ndjson")
    loaded = read_labelbox_export(SAMPLES / "export_v2_image_bbox.ndjson", CTX)
    rows = loaded.rows
    assert rows["data_row_id"].tolist() == [r["data_row"]["id"] for r in records]
    assert rows["global_key"].tolist() == [r["data_row"]["global_key"] for r in records]
    assert rows["asset"].tolist() == [r["data_row"]["row_data"] for r in records]
    assert rows["width"].tolist() == [640.0, 640.0]
    assert rows["height"].tolist() == [r["media_attributes"]["height"] for r in records]

    expected = {}
    for r in records:
        for o in r["projects"]["8ikpemouf4oszagoc7vlj67wq"]["labels"][0]["annotations"]["objects"]:
            b = o["bounding_box"]
            expected[o["feature_id"]] = (
                r["data_row"]["id"],
                o["name"],
                b["left"],
                b["top"],
                b["left"] + b["width"],
                b["top"] + b["height"],
            )
    ann = loaded.annotations.set_index("annotation_id")
    assert len(ann) == len(expected) == 16
    for fid, (drid, name, x0, y0, x1, y1) in expected.items():
        got = ann.loc[fid]
        assert (got["data_row_id"], got["label"]) == (drid, name)
        assert (got["x0"], got["y0"], got["x1"], got["y1"]) == (x0, y0, x1, y1)
    # one box spelled out: top 295, left 540, height 18, width 23
    dog = ann.loc["7gi2p91mabs85shl7nss9ju5z"]
    assert (dog["x0"], dog["y0"], dog["x1"], dog["y1"]) == (540.0, 295.0, 563.0, 313.0)
    assert (ann["source"] == "gt").all()
    assert (ann["start"] == -1).all() and ann["confidence"].isna().all()
    assert list(loaded.annotations.columns) == list(ANNOTATION_DTYPES)
    assert loaded.classifications.empty and loaded.embeddings is None and loaded.warnings == []


def test_export_text_ner_end_is_made_exclusive():
    [record] = raw("export_v2_text_ner_ASSEMBLED.ndjson")
    loc = record["projects"]["<project_id>"]["labels"][0]["annotations"]["objects"][0]["location"]
    loaded = read_labelbox_export(SAMPLES / "export_v2_text_ner_ASSEMBLED.ndjson", CTX)
    [span] = loaded.annotations.to_dict("records")
    assert (span["label"], span["start"], span["end"]) == ("named-entity", 112, 129)
    assert span["end"] == loc["end"] + 1
    assert span["end"] - span["start"] == len(loc["token"]) == len("research suggests")
    assert math.isnan(span["x0"])
    row = loaded.rows.iloc[0]
    assert row["asset"] == record["data_row"]["row_data"]
    assert math.isnan(row["width"]) and math.isnan(row["height"])
    warnings = "\n".join(loaded.warnings)
    assert "skipped 1 checklist classification(s)" in warnings
    assert "skipped 1 free-text classification(s)" in warnings
    assert "1 text row(s) have only a URL as row_data" in warnings


def test_annotation_fragments_file_is_not_an_export_but_its_fragments_read(tmp_path):
    """The fragments file is a JSON object of loose export pieces, not NDJSON of
    data rows: the reader refuses it cleanly; wrapped into a data row, every
    documented fragment reads as documented."""
    with pytest.raises(LoadError) as err:
        read_labelbox_export(SAMPLES / "export_v2_annotation_fragments.json", CTX)
    assert err.value.line == 1 and "malformed JSON line" in str(err.value)

    frag = json.loads((SAMPLES / "export_v2_annotation_fragments.json").read_text())
    sdk_text = frag["sdk_conftest_expected_export_v2_text__annotations"]
    objects = [
        frag["docs_export_image_annotations__bounding_box"],
        frag["docs_export_text_annotations__text_entity"],
        frag["sdk_conftest_expected_export_v2_image__bbox_object"],
        *sdk_text["objects"],
    ]
    classifications = [frag["docs_export_text_annotations__radio"], *sdk_text["classifications"]]
    path = write(tmp_path, [export_line("dr", objects, classifications)])
    loaded = read_labelbox_export(path, CTX)
    ann = loaded.annotations
    docs_box = ann[ann["annotation_id"] == "clrf5csvi6ofm07lsf9pygwvi"].iloc[0]
    assert (docs_box["x0"], docs_box["y0"], docs_box["x1"], docs_box["y1"]) == (2096.0, 1264.0, 2240.0, 1689.0)
    sdk_box = ann[ann["label"] == "bbox"].iloc[0]
    assert (sdk_box["x0"], sdk_box["y0"], sdk_box["x1"], sdk_box["y1"]) == (58.0, 48.0, 70.0, 113.0)
    entity = ann[ann["label"] == "named_entity"].iloc[0]
    token = frag["docs_export_text_annotations__text_entity"]["location"]["token"]
    assert (entity["start"], entity["end"]) == (10, 21) and entity["end"] - entity["start"] == len(token)
    assert loaded.classifications[["label", "source"]].values.tolist() == [["first_radio_answer", "gt"]]
    assert "skipped 1 checklist classification(s): only radio answers are read" in loaded.warnings


def test_notebook_predictions_by_global_key():
    records = raw("notebook_prediction_examples.ndjson")
    loaded = read_labelbox_predictions(SAMPLES / "notebook_prediction_examples.ndjson", PRED)
    ann = loaded.annotations.set_index("label")
    assert ann["data_row_id"].isna().all() and (ann["global_key"] == "<global_key>").all()
    assert (ann["source"] == "pred").all() and (ann["confidence"] == 0.5).all()
    b = records[0]["bbox"]
    box = ann.loc["bounding_box"]
    assert (
        (box["x0"], box["y0"], box["x1"], box["y1"])
        == (b["left"], b["top"], b["left"] + b["width"], b["top"] + b["height"])
        == (1690, 977, 1915, 1307)
    )
    assert ann.loc["bbox_with_radio_subclass", "x1"] == 541 + 330
    assert (ann.loc["named_entity", "start"], ann.loc["named_entity", "end"]) == (10, 21)
    cls = loaded.classifications
    assert cls[["label", "confidence", "source", "global_key"]].values.tolist() == [
        ["first_radio_answer", 0.5, "pred", "<global_key>"]
    ]
    assert cls["data_row_id"].isna().all()
    assert sorted(loaded.warnings) == [
        "ignored nested classifications on 1 prediction(s)",
        "skipped 1 checklist classification(s): only radio answers are read",
    ]
    assert loaded.metrics is None and loaded.rows.empty


SDK_IMPORTS = ["image", "rectangle", "text_entity", "text_entity_without_confidence", "classification"]
SDK_METRICS = ["custom_scalar", "custom_confusion_matrix", "metric"]


@pytest.mark.parametrize("name", SDK_IMPORTS + SDK_METRICS)
def test_sdk_fixture_json_array_and_ndjson_read_the_same(name):
    reader = read_labelbox_metrics if name in SDK_METRICS else read_labelbox_predictions
    a = reader(SAMPLES / f"sdk_fixture_{name}_import.json", PRED)
    b = reader(SAMPLES / f"sdk_fixture_{name}_import.ndjson", PRED)
    pd.testing.assert_frame_equal(a.annotations, b.annotations)
    pd.testing.assert_frame_equal(a.classifications, b.classifications)
    assert (a.metrics is None) == (b.metrics is None)
    if a.metrics is not None:
        pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.warnings == b.warnings
    assert len(a.annotations) + len(a.classifications) + (0 if a.metrics is None else len(a.metrics)) > 0


def test_sdk_image_import_box_skips_and_custom_metrics():
    records = raw("sdk_fixture_image_import.json")
    loaded = read_labelbox_predictions(SAMPLES / "sdk_fixture_image_import.ndjson", PRED)
    [box] = loaded.annotations.to_dict("records")
    bbox = records[0]["bbox"]
    assert box["annotation_id"] == records[0]["uuid"] == "b862c586-8614-483c-b5e6-82810f70cac0"
    assert (
        (box["x0"], box["y0"], box["x1"], box["y1"])
        == (bbox["left"], bbox["top"], bbox["left"] + bbox["width"], bbox["top"] + bbox["height"])
        == (2275.0, 1352.0, 2414.0, 1702.0)
    )
    assert box["confidence"] == 0.851 and box["label"] == records[0]["schemaId"]
    assert box["data_row_id"] == "ckrazctum0z8a0ybc0b0o0g0v" and "global_key" not in loaded.annotations
    for kind in ("mask", "polygon", "point"):
        assert f"skipped 1 {kind} prediction(s): only boxes, text spans and radio answers are read" in loaded.warnings
    assert "1 prediction(s) have no name; their schemaId is used as the class" in loaded.warnings
    values = [m["value"] for r in records for m in r.get("customMetrics", []) if m["name"] == "customMetric1"]
    assert values == [0.4, 0.3, 0.9]
    assert list(loaded.metrics.columns) == ["data_row_id", "customMetric1"]
    assert loaded.metrics["customMetric1"].iloc[0] == pytest.approx(np.mean(values))


def test_sdk_rectangle_and_text_entities():
    rect = read_labelbox_predictions(SAMPLES / "sdk_fixture_rectangle_import.json", PRED).annotations.iloc[0]
    assert (rect["label"], rect["x0"], rect["y0"], rect["x1"], rect["y1"]) == ("bbox", 38.0, 28.0, 81.0, 69.0)
    assert math.isnan(rect["confidence"])

    [rec] = raw("sdk_fixture_text_entity_import.json")
    loaded = read_labelbox_predictions(SAMPLES / "sdk_fixture_text_entity_import.ndjson", PRED)
    span = loaded.annotations.iloc[0]
    assert (span["label"], span["start"], span["end"], span["confidence"]) == ("some-text-entity", 67, 129, 0.53)
    assert span["end"] == rec["location"]["end"] + 1
    expected = {m["name"]: m["value"] for m in rec["customMetrics"]}
    assert (
        loaded.metrics.drop(columns="data_row_id").iloc[0].to_dict()
        == expected
        == {
            "customMetric1": 0.5,
            "customMetric2": 0.3,
        }
    )
    bare = read_labelbox_predictions(SAMPLES / "sdk_fixture_text_entity_without_confidence_import.json", PRED)
    assert math.isnan(bare.annotations["confidence"].iloc[0]) and bare.metrics is None


def test_sdk_classification_import_radio_kept_checklist_and_text_skipped():
    records = raw("sdk_fixture_classification_import.json")
    loaded = read_labelbox_predictions(SAMPLES / "sdk_fixture_classification_import.ndjson", PRED)
    assert loaded.annotations.empty
    assert loaded.classifications[["data_row_id", "label", "confidence", "source"]].values.tolist() == [
        ["ckrb1sf1i1g7i0ybcdc6oc8ct", records[0]["answer"]["schemaId"], 0.8, "pred"]
    ]
    assert "skipped 1 checklist classification(s): only radio answers are read" in loaded.warnings
    assert "skipped 1 free-text classification(s): only radio answers are read" in loaded.warnings
    # customMetrics live inside the radio answer and inside each checklist answer
    assert loaded.metrics[["customMetric1", "customMetric2"]].values.tolist() == [[0.5, 0.3]]


def test_sdk_scalar_metrics_thresholds_and_feature_sum():
    records = raw("sdk_fixture_custom_scalar_import.json")
    m = read_labelbox_metrics(SAMPLES / "sdk_fixture_custom_scalar_import.ndjson", PRED).metrics
    assert list(m.columns) == ["data_row_id", "custom_iou", "custom_iou@0.1", "custom_iou@0.2"]
    # no row-level scalar: the two feature-level lines aggregate with SUM
    assert m["custom_iou"].iloc[0] == pytest.approx(records[0]["metricValue"] + records[1]["metricValue"])
    assert m["custom_iou@0.1"].iloc[0] == records[2]["metricValue"]["0.1"]
    assert m["custom_iou@0.2"].iloc[0] == records[2]["metricValue"]["0.2"]


def test_sdk_confusion_matrix_metrics():
    records = raw("sdk_fixture_custom_confusion_matrix_import.json")
    m = read_labelbox_metrics(SAMPLES / "sdk_fixture_custom_confusion_matrix_import.json", PRED).metrics
    row = m.iloc[0]
    assert row["data_row_id"] == "ckrmdnqj4000007msh9p2a27r"
    summed = np.add(records[0]["metricValue"], records[1]["metricValue"])
    assert [row[f"50%_iou_{k}"] for k in ("tp", "fp", "tn", "fn")] == summed.tolist() == [1, 2, 4, 8]
    for thr in ("0.1", "0.2"):
        assert [row[f"50%_iou_{k}@{thr}"] for k in ("tp", "fp", "tn", "fn")] == records[2]["metricValue"][thr]


def test_sdk_metric_without_name_gets_default_name():
    loaded = read_labelbox_metrics(SAMPLES / "sdk_fixture_metric_import.json", PRED)
    assert loaded.metrics.to_dict("records") == [{"data_row_id": "ckrmdnqj4000007msh9p2a27r", "custom_metric": 0.1}]


# --------------------------------------------------------------------------
# model-run export, embeddings, inline text


def model_run_export() -> list[dict]:
    text = "Barack Obama visited Paris ."
    span = {"name": "PER", "location": {"start": 0, "end": 11, "token": "Barack Obama"}}
    radio = {"name": "sentiment", "radio_answer": {"name": "neutral"}}

    def label(objects, classifications=()):
        return {"id": "l", "annotations": {"objects": list(objects), "classifications": list(classifications)}}

    pred_span = span | {"location": {"start": 21, "end": 25}, "name": "LOC", "confidence": 0.9}
    pred_radio = {"name": "sentiment", "radio_answer": {"name": "positive", "confidence": 0.7}}
    line1 = {
        "data_row": {"id": "dr1", "global_key": "gk1", "row_data": text},
        "embeddings": [
            {"name": "CLIP", "is_custom": False, "values": [{"value": [0.5, 0.5]}]},
            {"name": "mine", "is_custom": True, "dimensions": 3, "values": [{"value": [1.0, 2.0, 3.0]}]},
        ],
        "experiments": {
            "m1": {
                "name": "ner-model",
                "runs": {
                    "r1": {
                        "labels": [label([span], [radio]), label([span | {"name": "ORG"}])],
                        "predictions": [label([pred_span], [pred_radio])],
                    },
                    "r2": {"labels": [], "predictions": [label([pred_span | {"name": "R2"}])]},
                },
            }
        },
    }
    run_box = box_obj("car", feature_id="gt-run")
    line2 = {
        "data_row": {"id": "dr2", "row_data": "https://x/dr2.jpg"},
        "media_attributes": {"width": 640, "height": 480},
        "embeddings": [
            {"name": "mine", "is_custom": True, "values": [{"value": [4.0, 5.0, 6.0]}]},
            {"name": "CLIP", "is_custom": False, "values": [{"value": [0.1, 0.2]}]},
        ],
        "projects": {"p": {"labels": [label([box_obj("truck", feature_id="gt-project")])]}},
        "experiments": {
            "m1": {
                "runs": {
                    "r1": {
                        "labels": [label([run_box])],
                        "predictions": [
                            label(
                                [
                                    box_obj("car", top=12.0, confidence=0.8, feature_id="p-box"),
                                    {"name": "x", "annotation_kind": "ImagePolygon", "polygon": [{"x": 1, "y": 2}]},
                                ]
                            )
                        ],
                    }
                }
            }
        },
    }
    line3 = export_line("dr3", [box_obj("bus", feature_id="gt-3")])
    return [line1, line2, line3]


def test_model_run_export_gt_and_predictions(tmp_path):
    loaded = read_labelbox_export(write(tmp_path, model_run_export()), CTX)
    rows = loaded.rows
    assert rows["data_row_id"].tolist() == ["dr1", "dr2", "dr3"]
    assert rows["asset"].iloc[0] == "Barack Obama visited Paris ."  # inline text kept as the asset
    assert values(rows["global_key"]) == ["gk1", None, None]
    assert math.isnan(rows["width"].iloc[0]) and rows["width"].iloc[1] == 640.0

    ann = loaded.annotations
    gt1 = ann[(ann["data_row_id"] == "dr1") & (ann["source"] == "gt")]
    assert gt1[["label", "start", "end"]].values.tolist() == [["PER", 0, 12]]  # first label only
    text = rows["asset"].iloc[0]
    assert text[gt1["start"].iloc[0] : gt1["end"].iloc[0]] == "Barack Obama"
    pred1 = ann[(ann["data_row_id"] == "dr1") & (ann["source"] == "pred")]
    assert pred1[["label", "start", "end", "confidence"]].values.tolist() == [["LOC", 21, 26, 0.9]]
    assert text[21:26] == "Paris"
    assert "R2" not in set(ann["label"])  # only the first run seen is read

    gt2 = ann[(ann["data_row_id"] == "dr2") & (ann["source"] == "gt")]
    assert gt2["annotation_id"].tolist() == ["gt-run"]  # the run's GT wins over the project label
    pred2 = ann[(ann["data_row_id"] == "dr2") & (ann["source"] == "pred")].iloc[0]
    assert (pred2["x0"], pred2["y0"], pred2["x1"], pred2["y1"], pred2["confidence"]) == (20.0, 12.0, 60.0, 42.0, 0.8)
    assert ann.loc[ann["data_row_id"] == "dr3", "annotation_id"].tolist() == ["gt-3"]

    cls = loaded.classifications
    assert cls[["data_row_id", "source", "label"]].values.tolist() == [
        ["dr1", "gt", "neutral"],
        ["dr1", "pred", "positive"],
    ]
    assert math.isnan(cls["confidence"].iloc[0]) and cls["confidence"].iloc[1] == 0.7

    ids, mat = loaded.embeddings
    assert ids.tolist() == ["dr1", "dr2"] and mat.dtype == np.float32
    np.testing.assert_array_equal(mat, [[1, 2, 3], [4, 5, 6]])
    w = loaded.warnings
    assert "skipped 1 ImagePolygon object(s): only boxes and text spans are read" in w
    assert any(s.startswith("1 data row(s) had more than one label") for s in w)
    assert any(s.startswith("1 data row(s) carried other model runs; only experiment m1 run r1") for s in w)
    assert any(s.startswith("1 data row(s) had both model-run and project labels") for s in w)
    assert "read embedding 'mine' (2 rows); ignored 'CLIP'" in w
    assert "1 data row(s) have no 'mine' embedding" in w
    assert not any("URL" in s for s in w)  # dr1's text is inline


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "e", "values": [{"value": [1.5, -2.0]}]},
        {"name": "e", "values": [1.5, -2.0]},
        {"id": "e", "value": [1.5, -2.0]},
    ],
)
def test_export_embedding_forms(tmp_path, entry):
    line = {"data_row": {"id": "a"}, "embeddings": [entry]}
    ids, mat = read_labelbox_export(write(tmp_path, [line]), CTX).embeddings
    assert ids.tolist() == ["a"] and mat.tolist() == [[1.5, -2.0]]


@pytest.mark.parametrize(
    "second, field, message",
    [
        ([1.0, 2.0, 3.0], "embeddings[0].values[0].value", "has 3 values, expected 2"),
        ([1.0, "x"], "embeddings[0].values[0].value[1]", "expected a number"),
        ("NaN-literal", "embeddings[0].values[0].value[0]", "finite"),
        ([], "embeddings[0].values[0].value", "non-empty list"),
        ([1e300, 1.0], "embeddings[0].values[0].value", "too large for float32"),
    ],
)
def test_export_bad_embeddings(tmp_path, second, field, message):
    first = json.dumps({"data_row": {"id": "a"}, "embeddings": [{"name": "e", "values": [{"value": [0.0, 1.0]}]}]})
    vec = "[NaN, 1.0]" if second == "NaN-literal" else json.dumps(second)
    line2 = '{"data_row": {"id": "b"}, "embeddings": [{"name": "e", "values": [{"value": %s}]}]}' % vec
    with pytest.raises(LoadError) as err:
        read_labelbox_export(write(tmp_path, [first, line2]), CTX)
    assert (err.value.line, err.value.field) == (2, field) and message in err.value.message


# --------------------------------------------------------------------------
# prediction lines and metric lines, synthetic


def test_skipped_kinds_are_counted_once_per_kind(tmp_path):
    polygon = {"name": "p", "polygon": [{"x": 1, "y": 2}]}
    lines = [
        {"dataRow": {"id": "a"}} | polygon,
        {"dataRow": {"id": "b"}} | polygon,
        {"dataRow": {"id": "b"}, "name": "pt", "point": {"x": 1, "y": 2}},
        {"dataRow": {"id": "b"}, "name": "l", "line": [{"x": 1, "y": 2}]},
        {"dataRow": {"id": "b"}, "name": "m", "mask": {"instanceURI": "https://x"}},
        {"dataRow": {"id": "b"}, "name": "q", "answer": [{"name": "x"}]},
        {"dataRow": {"id": "b"}, "name": "q", "answer": [{"name": "y"}]},
    ]
    loaded = read_labelbox_predictions(write(tmp_path, lines), PRED)
    assert loaded.annotations.empty and loaded.classifications.empty
    assert loaded.warnings == [
        "skipped 2 polygon prediction(s): only boxes, text spans and radio answers are read",
        "skipped 1 point prediction(s): only boxes, text spans and radio answers are read",
        "skipped 1 line prediction(s): only boxes, text spans and radio answers are read",
        "skipped 1 mask prediction(s): only boxes, text spans and radio answers are read",
        "skipped 2 checklist classification(s): only radio answers are read",
    ]


def test_predictions_custom_metrics_mean_per_row_and_global_keys(tmp_path):
    lines = [
        {
            "dataRow": {"id": "a"},
            "name": "car",
            "bbox": {"top": 0, "left": 0, "height": 1, "width": 1},
            "customMetrics": [{"name": "m", "value": 0.2}],
        },
        {
            "dataRow": {"id": "a"},
            "name": "car",
            "bbox": {"top": 0, "left": 0, "height": 2, "width": 2},
            "customMetrics": [{"name": "m", "value": 0.4}],
        },
        {
            "dataRow": {"globalKey": "k"},
            "name": "bus",
            "confidence": 0.25,
            "bbox": {"top": 1, "left": 2, "height": 3, "width": 4},
            "customMetrics": [{"name": "n", "value": 3}, {"name": "m", "value": 1.0}],
        },
    ]
    loaded = read_labelbox_predictions(write(tmp_path, lines), PRED)
    ann = loaded.annotations
    assert values(ann["data_row_id"]) == ["a", "a", None]
    assert values(ann["global_key"]) == [None, None, "k"]
    assert ann["confidence"].isna().tolist() == [True, True, False]
    m = loaded.metrics
    assert list(m.columns) == ["data_row_id", "global_key", "m", "n"]
    assert values(m["data_row_id"]) == ["a", None]
    assert values(m["global_key"]) == [None, "k"]
    assert m["m"].tolist() == pytest.approx([0.3, 1.0])
    assert math.isnan(m["n"].iloc[0]) and m["n"].iloc[1] == 3.0


def metric(key: str, value, name="score", **extra) -> dict:
    return {"dataRow": {"id": key}, "metricName": name, "metricValue": value} | extra


def test_metric_aggregations(tmp_path):
    lines = [
        metric("geo", 2, featureName="a", aggregation="GEOMETRIC_MEAN"),
        metric("geo", 8, featureName="b", subclassName="s", aggregation="GEOMETRIC_MEAN"),
        metric("har", 1, featureName="a", aggregation="HARMONIC_MEAN"),
        metric("har", 3, featureName="b", aggregation="HARMONIC_MEAN"),
        metric("sum", 1, featureName="a", aggregation="SUM"),
        metric("sum", 2, featureName="b", aggregation="SUM"),
        metric("sum", 3, featureName="c", aggregation="SUM"),
        metric("row", 0.1, featureName="a"),
        metric("row", 0.7),
        metric("mean", 0.2, featureName="a"),
        metric("mean", 0.4, featureName="b"),
        metric("zero", 0, featureName="a", aggregation="GEOMETRIC_MEAN"),
        metric("zero", 5, featureName="b", aggregation="GEOMETRIC_MEAN"),
        {"dataRow": {"globalKey": "gk"}, "metricValue": 1, "aggregation": "SUM"},
        {"dataRow": {"globalKey": "gk"}, "metricValue": 3, "aggregation": "SUM"},
    ]
    loaded = read_labelbox_metrics(write(tmp_path, lines), PRED)
    m = loaded.metrics
    assert list(m.columns) == ["data_row_id", "global_key", "score", DEFAULT_METRIC_NAME]
    got = dict(zip(m["data_row_id"].fillna(m["global_key"]), m["score"]))
    assert got["geo"] == pytest.approx(4.0)
    assert got["har"] == pytest.approx(1.5)
    assert got["sum"] == pytest.approx(6.0)
    assert got["row"] == 0.7  # a row-level value wins over feature values
    assert got["mean"] == pytest.approx(0.3)  # ARITHMETIC_MEAN by default
    assert got["zero"] == 0.0
    # a nameless metric's aggregation is ignored by Labelbox: the mean, not the sum
    assert m.loc[m["global_key"] == "gk", DEFAULT_METRIC_NAME].tolist() == [2.0]
    assert m.loc[m["global_key"] == "gk", "data_row_id"].isna().all()
    assert loaded.warnings == []


def test_metric_mixed_aggregation_warns_and_uses_first(tmp_path):
    lines = [
        metric("a", 1, featureName="x", aggregation="SUM"),
        metric("a", 3, featureName="y", aggregation="ARITHMETIC_MEAN"),
    ]
    loaded = read_labelbox_metrics(write(tmp_path, lines), PRED)
    assert loaded.metrics["score"].tolist() == [4.0]
    assert loaded.warnings and "different aggregation" in loaded.warnings[0]


# --------------------------------------------------------------------------
# bad input: LoadError naming the line and field

EXPORT_OK = json.dumps(export_line("ok", [box_obj()]))


def _box_line(**box) -> str:
    b = {"top": 1, "left": 2, "height": 3, "width": 4} | box
    return json.dumps(export_line("bad", [box_obj(), {"name": "car", "bounding_box": b}]))


BAD_EXPORT = [
    ('{"data_row": {"id": "bad"', 2, None, "malformed JSON line"),
    ('["not", "an", "object"]', 2, None, "expected a JSON object"),
    ('{"projects": {}}', 2, "data_row", "missing required field"),
    ('{"data_row": {"row_data": "x"}}', 2, "data_row.id", "missing required field"),
    ('{"data_row": {"id": 7}}', 2, "data_row.id", "non-empty string"),
    ('{"data_row": {"id": "ok"}}', 2, "data_row.id", "appears again (first on line 1)"),
    ('{"data_row": {"id": "b", "row_data": 5}}', 2, "data_row.row_data", "expected a string"),
    (
        '{"data_row": {"id": "b"}, "media_attributes": {"width": "640"}}',
        2,
        "media_attributes.width",
        "expected a number",
    ),
    ('{"data_row": {"id": "b"}, "media_attributes": {"width": 0}}', 2, "media_attributes.width", "must be positive"),
    (_box_line(width=None), 2, "projects.p1.labels[0].annotations.objects[1].bounding_box.width", "expected a number"),
    (_box_line(top="1"), 2, "projects.p1.labels[0].annotations.objects[1].bounding_box.top", "expected a number"),
    (_box_line(width=-1), 2, "projects.p1.labels[0].annotations.objects[1].bounding_box.width", "must not be negative"),
    (
        _box_line(top="@").replace('"@"', "NaN"),
        2,
        "projects.p1.labels[0].annotations.objects[1].bounding_box.top",
        "finite",
    ),
    (
        _box_line(left="@").replace('"@"', "Infinity"),
        2,
        "projects.p1.labels[0].annotations.objects[1].bounding_box.left",
        "finite",
    ),
    (
        json.dumps(export_line("bad", [{"bounding_box": {"top": 1, "left": 2, "height": 3, "width": 4}}])),
        2,
        "projects.p1.labels[0].annotations.objects[0].name",
        "missing required field",
    ),
    (
        json.dumps(export_line("bad", [box_obj(confidence=1.5)])),
        2,
        "projects.p1.labels[0].annotations.objects[0].confidence",
        "between 0 and 1",
    ),
    (
        json.dumps(export_line("bad", [box_obj(confidence=0.5)])).replace("0.5", "NaN"),
        2,
        "projects.p1.labels[0].annotations.objects[0].confidence",
        "finite",
    ),
    (
        json.dumps(export_line("bad", [{"name": "e", "location": {"start": 5, "end": 3}}])),
        2,
        "projects.p1.labels[0].annotations.objects[0].location.end",
        "before start",
    ),
    (
        json.dumps(export_line("bad", [{"name": "e", "location": {"start": 1.5, "end": 3}}])),
        2,
        "projects.p1.labels[0].annotations.objects[0].location.start",
        "whole number",
    ),
    (
        json.dumps(export_line("bad", [{"name": "e", "location": {"start": 1}}])),
        2,
        "projects.p1.labels[0].annotations.objects[0].location.end",
        "missing required field",
    ),
    (
        json.dumps(export_line("bad", [{"name": "e", "annotation": "?"}])),
        2,
        "projects.p1.labels[0].annotations.objects[0]",
        "no geometry",
    ),
    (json.dumps(export_line("bad", ["box"])), 2, "projects.p1.labels[0].annotations.objects[0]", "expected an object"),
    ('{"data_row": {"id": "b"}, "projects": {"p": {"labels": {}}}}', 2, "projects.p.labels", "expected a list"),
    (
        json.dumps(export_line("bad", [], [{"name": "q", "radio_answer": {"value": "v"}}])),
        2,
        "projects.p1.labels[0].annotations.classifications[0].radio_answer.name",
        "missing required field",
    ),
]


@pytest.mark.parametrize("line, lineno, field, message", BAD_EXPORT)
def test_export_bad_input(tmp_path, line, lineno, field, message):
    with pytest.raises(LoadError) as err:
        read_labelbox_export(write(tmp_path, [EXPORT_OK, line]), CTX)
    e = err.value
    assert (e.line, e.field) == (lineno, field) and message in e.message
    assert str(e).startswith(f"{tmp_path / 'in.ndjson'}:{lineno}: ")


PRED_OK = json.dumps({"dataRow": {"id": "ok"}, "name": "car", "bbox": {"top": 1, "left": 2, "height": 3, "width": 4}})


def _pred(**fields) -> str:
    line = {"dataRow": {"id": "a"}, "name": "car", "bbox": {"top": 1, "left": 2, "height": 3, "width": 4}} | fields
    return json.dumps({k: v for k, v in line.items() if v is not None})


BAD_PRED = [
    ('{"name": "car"', None, "malformed JSON line"),
    (json.dumps({"name": "car", "bbox": {}}), "dataRow", "missing required field"),
    (_pred(dataRow={"externalId": "x"}), "dataRow", "needs id or globalKey"),
    (_pred(dataRow={"globalKey": 3}), "dataRow.globalKey", "non-empty string"),
    (_pred(dataRow="a"), "dataRow", "expected an object"),
    (json.dumps({"dataRow": {"id": "a"}, "bbox": {"top": 1, "left": 2, "height": 3, "width": 4}}), "name", "missing"),
    (_pred(name=5), "name", "non-empty string"),
    (_pred(bbox={"top": 1, "left": 2, "height": 3}), "bbox.width", "missing required field"),
    (_pred(bbox=[1, 2, 3, 4]), "bbox", "expected an object"),
    (_pred(confidence=0.5).replace("0.5", "NaN"), "confidence", "finite"),
    (_pred(confidence=True), "confidence", "expected a number"),
    (_pred(bbox=None, location={"start": 4, "end": 2}), "location.end", "before start"),
    (_pred(bbox=None, location={"start": -1, "end": 2}), "location.start", "a number from 0"),
    (_pred(bbox=None, answer=3), "answer", "expected an object (radio)"),
    (_pred(bbox=None), None, "no geometry"),
    (_pred(customMetrics=[{"name": "m", "value": "high"}]), "customMetrics[0].value", "expected a number"),
    (_pred(customMetrics=[{"name": "m", "value": 1}]).replace(": 1}", ": NaN}"), "customMetrics[0].value", "finite"),
    (_pred(customMetrics=[{"value": 1}]), "customMetrics[0].name", "missing required field"),
    (_pred(customMetrics=[{"name": "data_row_id", "value": 1}]), "customMetrics[0].name", "reserved"),
    (_pred(customMetrics={"m": 1}), "customMetrics", "expected a list"),
    (
        _pred(bbox=None, answer={"name": "x", "customMetrics": [{"name": "m"}]}),
        "answer.customMetrics[0].value",
        "missing",
    ),
    (_pred(bbox=None, answer={"confidence": 0.5}), "answer.name", "missing required field"),
]


@pytest.mark.parametrize("line, field, message", BAD_PRED)
def test_predictions_bad_input(tmp_path, line, field, message):
    with pytest.raises(LoadError) as err:
        read_labelbox_predictions(write(tmp_path, [PRED_OK, line]), PRED)
    assert (err.value.line, err.value.field) == (2, field) and message in err.value.message


METRIC_OK = json.dumps(metric("ok", 0.5))

BAD_METRIC = [
    ('{"dataRow"', None, "malformed JSON line"),
    (json.dumps({"metricName": "m", "metricValue": 1}), "dataRow", "missing required field"),
    (json.dumps({"dataRow": {"id": "a"}, "metricName": "m"}), "metricValue", "missing required field"),
    (json.dumps(metric("a", 1)).replace(": 1", ": NaN"), "metricValue", "finite"),
    (json.dumps(metric("a", 1)).replace(": 1", ": -Infinity"), "metricValue", "finite"),
    (json.dumps(metric("a", "0.5")), "metricValue", "expected a number"),
    (json.dumps(metric("a", None)), "metricValue", "expected a number"),
    (json.dumps(metric("a", [1, 2, 3])), "metricValue", "4 counts"),
    (json.dumps(metric("a", [1, 2, -3, 4])), "metricValue[2]", "not be negative"),
    (json.dumps(metric("a", {"0.1": 1, "high": 2})), "metricValue", "threshold keys"),
    (json.dumps(metric("a", {"0.1": 1, "1.5": 2})), "metricValue", "threshold keys"),
    (json.dumps(metric("a", {"0.1": 1, "0.2": "x"})), "metricValue['0.2']", "expected a number"),
    (json.dumps(metric("a", {"0.1": 1, "0.2": [1, 2]})), "metricValue['0.2']", "4 counts"),
    (json.dumps(metric("a", {})), "metricValue", "threshold: value"),
    (json.dumps(metric("a", 1, aggregation="MEDIAN")), "aggregation", "unknown aggregation"),
    (json.dumps(metric("a", 1, aggregation="CONFUSION_MATRIX")), "metricValue", "needs [tp, fp, tn, fn]"),
    (json.dumps(metric("a", -1, aggregation="GEOMETRIC_MEAN")), "metricValue", "non-negative"),
    (json.dumps(metric("a", 1, name=3)), "metricName", "expected a string"),
    (json.dumps(metric("a", 1, name="global_key")), "metricName", "reserved"),
    (json.dumps(metric("a", 1, featureName=["x"])), "featureName", "expected a string"),
]


@pytest.mark.parametrize("line, field, message", BAD_METRIC)
def test_metrics_bad_input(tmp_path, line, field, message):
    with pytest.raises(LoadError) as err:
        read_labelbox_metrics(write(tmp_path, [METRIC_OK, line]), PRED)
    assert (err.value.line, err.value.field) == (2, field) and message in err.value.message


@pytest.mark.parametrize("reader", [read_labelbox_export, read_labelbox_predictions, read_labelbox_metrics])
@pytest.mark.parametrize("content, message", [("", "file is empty"), ("\n  \n", "file is empty"), ("[]", "empty list")])
def test_empty_files(tmp_path, reader, content, message):
    path = tmp_path / "empty.ndjson"
    path.write_text(content)
    with pytest.raises(LoadError) as err:
        reader(path, CTX)
    assert message in str(err.value) and str(err.value).startswith(str(path))


# --------------------------------------------------------------------------
# robustness: any JSON in any field gives a result or a LoadError

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
TEMPLATES = {
    read_labelbox_export: model_run_export()[1],
    read_labelbox_predictions: json.loads(_pred(confidence=0.5, customMetrics=[{"name": "m", "value": 1}])),
    read_labelbox_metrics: metric("a", {"0.1": [1, 2, 3, 4], "0.5": [0, 1, 2, 3]}, featureName="f"),
}


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@pytest.mark.parametrize("reader", list(TEMPLATES), ids=lambda r: r.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_field_replaced_gives_result_or_load_error(reader, data):
    template = TEMPLATES[reader]
    paths = [p for p in _paths(template) if p]
    line = copy.deepcopy(template)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        target = line
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = data.draw(JSON_VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "fuzz.ndjson"
        file.write_text(json.dumps(line) + "\n")
        try:
            reader(file, CTX)
        except LoadError as err:
            assert str(err).startswith(str(file))


def test_metric_tiny_values_raise_no_numpy_warning(tmp_path):
    """1/1e-320 overflows: only harmonic lines take reciprocals, and that overflow means a mean of ~0."""
    lines = [
        metric("a", 1e-320),
        metric("h", 1e-320, featureName="x", aggregation="HARMONIC_MEAN"),
        metric("h", 2, featureName="y", aggregation="HARMONIC_MEAN"),
        metric("z", 0, featureName="x", aggregation="HARMONIC_MEAN"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = read_labelbox_metrics(write(tmp_path, lines), PRED).metrics
    got = dict(zip(m["data_row_id"], m["score"]))
    assert got == {"a": 1e-320, "h": 0.0, "z": 0.0}


@pytest.mark.parametrize(
    "reader, line",
    [
        (read_labelbox_export, '{"data_row": {"id": "\\ud800"}}'),
        (read_labelbox_predictions, '{"dataRow": {"id": "a"}, "answer": "t", "customMetrics": [{"name": "\\ud800", "value": 0}]}'),
        (read_labelbox_metrics, '{"dataRow": {"id": "a"}, "metricName": "\\udfff", "metricValue": 1}'),
    ],
)
def test_lone_surrogate_escapes_are_load_errors(tmp_path, reader, line):
    """json.loads accepts "\\ud800", but such a str cannot be encoded: the line is named instead."""
    path = write(tmp_path, [metric("ok", 1), line] if reader is read_labelbox_metrics else ["", line])
    with pytest.raises(LoadError) as info:
        reader(path, PRED)
    assert info.value.line == 2 and "unpaired UTF-16 surrogate" in str(info.value)
    array = tmp_path / "array.ndjson"
    array.write_text("[\n" + line + "\n]", encoding="utf-8")  # the JSON-array layout of SDK fixtures
    with pytest.raises(LoadError) as info:
        reader(array, PRED)
    assert info.value.line == 2


def test_deeply_nested_value_in_a_message_is_shortened(tmp_path):
    deep = [[[[[[[["x" * 500]]]]]]]]
    path = write(tmp_path, [{"dataRow": {"id": deep}, "metricValue": 1}])
    with pytest.raises(LoadError) as info:
        read_labelbox_metrics(path, PRED)
    assert "dataRow.id: expected a non-empty string, got [[[[...]]]]" in str(info.value)
