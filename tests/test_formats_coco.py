"""COCO ground truth and COCO results readers.

Most tests run three ways: the pyarrow column path, the object path with
orjson, and the object path with the standard library; all must agree on
data and on error messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labeltui.errors import LoadError
from labeltui.formats import ReadContext, coco, read_source

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "formats"
FAKE_RESULTS = FORMATS / "coco_results_fakebbox100.json"


@pytest.fixture(params=["arrow", "orjson", "stdlib"])
def mode(request, monkeypatch):
    if request.param != "arrow":
        monkeypatch.setattr(coco, "_USE_ARROW", False)
    if request.param == "stdlib":
        monkeypatch.setattr(coco, "_orjson", None)
    elif request.param == "orjson" and coco._orjson is None:
        pytest.importorskip("orjson")
    return request.param


def write_json(tmp_path: Path, obj, name: str = "data.json", **dump_kw) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(obj, **dump_kw), encoding="utf-8")
    return path


def gt_ctx() -> ReadContext:
    return ReadContext(role="gt", task="detection")


def pred_ctx(gt=None) -> ReadContext:
    return ReadContext(role="pred", task="detection", gt=gt)


def small_gt() -> dict:
    return {
        "info": {"description": "test"},
        "licenses": [{"id": 1, "name": "x"}],
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 640, "height": 480, "license": 1},
            {"id": 2, "file_name": "b.jpg", "width": 320.5, "height": 200},
            {"id": 3, "file_name": "c.jpg"},
        ],
        "categories": [{"id": 1, "name": "person", "supercategory": "x"}, {"id": 7, "name": "car"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "iscrowd": 0, "area": 1200,
             "segmentation": [[10, 20, 40, 20, 40, 60]]},
            {"id": 11, "image_id": 1, "category_id": 7, "bbox": [0.5, 1.5, 2.25, 3], "iscrowd": 0},
            {"id": 12, "image_id": 2, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": 1,
             "segmentation": {"counts": [1, 2, 3], "size": [200, 320]}},
            {"id": 13, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 14, "image_id": 2, "category_id": 1, "bbox": [3, 4, 5, 6]},
        ],
    }


def load_err(fn, path: Path, ctx: ReadContext) -> str:
    with pytest.raises(LoadError) as info:
        fn(path, ctx)
    assert info.value.path == str(path)
    return str(info.value)


# ---------------------------------------------------------------- ground truth


def test_gt_rows_annotations_meta(tmp_path, mode):
    loaded = coco.read_coco(write_json(tmp_path, small_gt()), gt_ctx())
    rows = loaded.rows
    assert rows["data_row_id"].tolist() == ["1", "2", "3"]
    assert rows["global_key"].tolist() == ["a.jpg", "b.jpg", "c.jpg"]
    assert rows["asset"].tolist() == ["a.jpg", "b.jpg", "c.jpg"]
    assert rows["width"].tolist()[:2] == [640.0, 320.5] and np.isnan(rows["width"].iloc[2])
    assert rows["height"].tolist()[:2] == [480.0, 200.0] and np.isnan(rows["height"].iloc[2])

    ann = loaded.annotations
    assert ann["annotation_id"].tolist() == ["10", "11", "14"]
    assert ann["data_row_id"].tolist() == ["1", "1", "2"]
    assert ann["label"].tolist() == ["person", "car", "person"]
    assert (ann["source"] == "gt").all()
    np.testing.assert_allclose(
        ann[["x0", "y0", "x1", "y1"]].to_numpy(), [[10, 20, 40, 60], [0.5, 1.5, 2.75, 4.5], [3, 4, 8, 10]]
    )
    assert ann["confidence"].isna().all()
    assert ann["polygon"].isna().all()

    assert loaded.meta["categories"] == {1: "person", 7: "car"}
    assert loaded.meta["image_ids"] == {1: "1", 2: "2", 3: "3"}
    assert len(loaded.warnings) == 2
    assert any("1 crowd annotation" in w for w in loaded.warnings)
    assert any("1 annotation(s) whose image_id is not in images" in w and "99" in w for w in loaded.warnings)


def test_gt_string_ids_and_missing_annotation_id(tmp_path, mode):
    data = {
        "images": [{"id": "img-a", "file_name": "a.png", "width": 10, "height": 10}, {"id": "img-b", "file_name": "b.png", "width": 10, "height": 10}],
        "categories": [{"id": "c1", "name": "dog"}],
        "annotations": [
            {"image_id": "img-b", "category_id": "c1", "bbox": [1, 2, 3, 4]},
            {"id": "x7", "image_id": "img-a", "category_id": "c1", "bbox": [0, 0, 1, 1]},
        ],
    }
    loaded = coco.read_coco(write_json(tmp_path, data, indent=2), gt_ctx())
    assert loaded.rows["data_row_id"].tolist() == ["img-a", "img-b"]
    assert loaded.annotations["data_row_id"].tolist() == ["img-b", "img-a"]
    assert loaded.annotations["annotation_id"].isna().tolist() == [True, False]
    assert loaded.annotations["annotation_id"].iloc[1] == "x7"
    assert loaded.meta["image_ids"] == {"img-a": "img-a", "img-b": "img-b"}
    assert loaded.meta["categories"] == {"c1": "dog"}
    assert loaded.warnings == []


def test_gt_matches_pycocotools(tmp_path):
    pycocotools_coco = pytest.importorskip("pycocotools.coco")
    data = small_gt()
    for a in data["annotations"]:
        a.setdefault("iscrowd", 0)
    path = write_json(tmp_path, data)
    ref = pycocotools_coco.COCO(str(path))
    loaded = coco.read_coco(path, gt_ctx())
    expected = []
    for a in ref.loadAnns(ref.getAnnIds(iscrowd=False)):
        if a["image_id"] in ref.imgs:
            x, y, w, h = a["bbox"]
            expected.append((str(a["image_id"]), ref.cats[a["category_id"]]["name"], x, y, x + w, y + h))
    got = list(loaded.annotations[["data_row_id", "label", "x0", "y0", "x1", "y1"]].itertuples(index=False, name=None))
    assert sorted(got) == sorted(expected)


def test_gt_through_registry(tmp_path):
    loaded = read_source("coco", write_json(tmp_path, small_gt()), gt_ctx())
    assert len(loaded.annotations) == 3


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["annotations"][1].pop("bbox"), "annotations[1].bbox: missing"),
        (lambda d: d["annotations"][4].pop("image_id"), "annotations[4].image_id: missing"),
        (lambda d: d["annotations"][2].pop("category_id"), "annotations[2].category_id: missing"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "annotations[0].bbox: expected 4 numbers"),
        (lambda d: d["annotations"][3].update(bbox=[1, "2", 3, 4]), "annotations[3].bbox: expected 4 numbers"),
        (lambda d: d["annotations"][3].update(bbox=[1, None, 3, 4]), "annotations[3].bbox: expected 4"),
        (lambda d: d["annotations"][1].update(bbox={"x": 1}), "annotations[1].bbox: expected 4 numbers"),
        (lambda d: d["annotations"][1].update(bbox=None), "annotations[1].bbox: missing"),
        (lambda d: d["annotations"][0].update(image_id=1.5), "annotations[0].image_id: expected an integer or string id"),
        (lambda d: d["annotations"][0].update(image_id=True), "annotations[0].image_id: expected an integer or string id"),
        (lambda d: d["annotations"].insert(1, 5), "annotations[1]: expected an object"),
        (lambda d: d["annotations"][2].update(category_id=99), "annotations[2].category_id: unknown category id 99"),
        (lambda d: d["images"][1].pop("file_name"), "images[1].file_name: missing"),
        (lambda d: d["images"][2].update(file_name=3), "images[2].file_name: expected a string"),
        (lambda d: d["images"][0].pop("id"), "images[0].id: missing"),
        (lambda d: d["images"][1].update(width="640"), "images[1].width: expected a number"),
        (lambda d: d["images"][1].update(height=-5), "images[1].height: expected a positive number"),
        (lambda d: d["images"][2].update(id=1), "images[2].id: duplicate image id 1"),
        (lambda d: d["categories"][1].update(id=1), "categories[1].id: duplicate category id 1"),
        (lambda d: d["categories"][0].pop("name"), "categories[0].name: missing"),
        (lambda d: d.pop("categories"), "categories: missing"),
        (lambda d: d.update(annotations={"a": 1}), "annotations: expected a list"),
    ],
)
def test_gt_bad_input_names_the_field(tmp_path, mode, mutate, expected):
    data = small_gt()
    mutate(data)
    path = write_json(tmp_path, data)
    assert expected in load_err(coco.read_coco, path, gt_ctx())


def test_gt_non_finite_bbox(tmp_path, mode):
    path = tmp_path / "gt.json"
    text = json.dumps(small_gt()).replace("[0.5, 1.5, 2.25, 3]", "[0.5, NaN, 2.25, 3]")
    path.write_text(text, encoding="utf-8")
    msg = load_err(coco.read_coco, path, gt_ctx())
    assert "annotations[1].bbox: expected 4 finite numbers" in msg


def test_gt_malformed_json_reports_line(tmp_path, mode):
    path = tmp_path / "gt.json"
    path.write_text('{\n  "images": [\n    {"id": 1 "file_name": "a.jpg"}\n  ]\n}\n', encoding="utf-8")
    with pytest.raises(LoadError) as info:
        coco.read_coco(path, gt_ctx())
    assert info.value.line == 3
    assert "malformed JSON" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"  \n\n", b"\xef\xbb\xbf"])
def test_empty_files(tmp_path, mode, content):
    path = tmp_path / "empty.json"
    path.write_bytes(content)
    assert "empty" in load_err(coco.read_coco, path, gt_ctx())
    assert "empty" in load_err(coco.read_coco_results, path, pred_ctx())


def test_gt_given_a_results_list(tmp_path, mode):
    path = write_json(tmp_path, [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}])
    assert "coco-results" in load_err(coco.read_coco, path, gt_ctx())


def test_not_utf8(tmp_path, mode):
    path = tmp_path / "gt.json"
    path.write_bytes(b'{"images": [{"id": 1, "file_name": "\xff.jpg"}], "annotations": [], "categories": []}')
    assert "UTF-8" in load_err(coco.read_coco, path, gt_ctx())


def test_directory_is_an_error(tmp_path):
    assert "directory" in load_err(coco.read_coco, tmp_path, gt_ctx())


# ---------------------------------------------------------------- results


def fake_results_gt(raw: list[dict]) -> dict:
    image_ids = sorted({d["image_id"] for d in raw})
    cat_ids = sorted({d["category_id"] for d in raw})
    return {
        "images": [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg", "width": 640, "height": 480} for i in image_ids],
        "categories": [{"id": c, "name": f"class{c}"} for c in cat_ids],
        "annotations": [],
    }


def test_fake_results_with_gt(tmp_path, mode):
    raw = json.loads(FAKE_RESULTS.read_text())
    gt = coco.read_coco(write_json(tmp_path, fake_results_gt(raw), "gt.json"), gt_ctx())
    loaded = coco.read_coco_results(FAKE_RESULTS, pred_ctx(gt))
    ann = loaded.annotations
    assert len(ann) == len(raw) == 734
    assert loaded.warnings == []
    assert loaded.rows.empty
    assert (ann["source"] == "pred").all()
    assert ann["data_row_id"].tolist() == [str(d["image_id"]) for d in raw]
    assert ann["label"].tolist() == [f"class{d['category_id']}" for d in raw]
    boxes = np.array([d["bbox"] for d in raw], dtype=np.float64)
    np.testing.assert_array_equal(ann["x0"].to_numpy(), boxes[:, 0])
    np.testing.assert_array_equal(ann["y0"].to_numpy(), boxes[:, 1])
    np.testing.assert_allclose(ann["x1"].to_numpy(), boxes[:, 0] + boxes[:, 2])
    np.testing.assert_allclose(ann["y1"].to_numpy(), boxes[:, 1] + boxes[:, 3])
    np.testing.assert_array_equal(ann["confidence"].to_numpy(), [d["score"] for d in raw])
    assert ann["annotation_id"].isna().all()


def test_fake_results_without_gt(mode):
    raw = json.loads(FAKE_RESULTS.read_text())
    loaded = coco.read_coco_results(FAKE_RESULTS, pred_ctx())
    assert loaded.annotations["data_row_id"].tolist() == [str(d["image_id"]) for d in raw]
    assert loaded.annotations["label"].tolist() == [str(d["category_id"]) for d in raw]
    assert loaded.warnings == []


def test_results_with_non_coco_gt(tmp_path):
    from labeltui.formats.base import Loaded

    loaded = coco.read_coco_results(
        write_json(tmp_path, [{"image_id": 4, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.5}]), pred_ctx(Loaded())
    )
    assert loaded.annotations[["data_row_id", "label"]].values.tolist() == [["4", "2"]]


def test_arrow_path_is_taken_for_standard_files(tmp_path):
    raw = FAKE_RESULTS.read_bytes()
    assert coco._results_arrow(raw, FAKE_RESULTS) is not None
    gt_path = write_json(tmp_path, small_gt())
    assert coco._gt_arrow(gt_path.read_bytes(), gt_path) is not None


def test_results_cut_into_pieces_agree(tmp_path, monkeypatch):
    """Pieces cut at '},{' gaps (pretty-printed too) give the same table as one piece."""
    raw = json.loads(FAKE_RESULTS.read_text())
    whole = coco.read_coco_results(FAKE_RESULTS, pred_ctx()).annotations
    monkeypatch.setattr(coco, "_PIECE", 997)
    pretty = write_json(tmp_path, raw, "pretty.json", indent=2)
    assert coco._results_arrow(FAKE_RESULTS.read_bytes(), FAKE_RESULTS) is not None
    for path in (FAKE_RESULTS, pretty):
        pd.testing.assert_frame_equal(coco.read_coco_results(path, pred_ctx()).annotations, whole)


@pytest.mark.parametrize(
    "extra",
    [
        {"segmentation": [{"size": [1, 2]}, {"counts": [3]}] * 20},  # '},{' gaps inside an item
        {"note": "x},{y" * 60},  # '},{' inside strings
    ],
)
def test_results_cut_inside_an_item_is_rejected(tmp_path, monkeypatch, extra):
    """A cut at a '},{' that is not between two items makes arrow fail; the object path reads it."""
    items = [{"image_id": i, "category_id": 1, "bbox": [i, 1, 2, 3], "score": 0.5, **extra} for i in range(200)]
    path = write_json(tmp_path, items)
    monkeypatch.setattr(coco, "_PIECE", 500)
    assert coco._results_arrow(path.read_bytes(), path) is None
    loaded = coco.read_coco_results(path, pred_ctx())
    assert loaded.annotations["data_row_id"].tolist() == [str(i) for i in range(200)]
    np.testing.assert_array_equal(loaded.annotations["x0"].to_numpy(), np.arange(200))


def test_results_unknown_ids(tmp_path, mode):
    gt = coco.read_coco(write_json(tmp_path, small_gt(), "gt.json"), gt_ctx())
    preds = [
        {"image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4], "score": 0.9},
        {"image_id": 555, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.8},
        {"image_id": 2, "category_id": 42, "bbox": [1, 2, 3, 4], "score": 0.7},
        {"image_id": 3, "category_id": 42, "bbox": [1, 2, 3, 4], "score": 0.6},
    ]
    loaded = coco.read_coco_results(write_json(tmp_path, preds), pred_ctx(gt))
    ann = loaded.annotations
    assert ann["data_row_id"].tolist() == ["1", "555", "2", "3"]
    assert ann["label"].tolist() == ["car", "person", "category_42", "category_42"]
    assert len(loaded.warnings) == 1
    assert "2 prediction(s)" in loaded.warnings[0] and "42" in loaded.warnings[0]


def test_results_empty_array(tmp_path, mode):
    loaded = coco.read_coco_results(write_json(tmp_path, []), pred_ctx())
    assert loaded.annotations.empty
    assert list(loaded.annotations.columns)[:3] == ["data_row_id", "source", "label"]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}], "[0].score: missing"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1}, {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": "high"}], "[1].score: expected a number"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1}, {"image_id": 1, "category_id": 1, "score": 1}], "[1].bbox: missing"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4, 5], "score": 1}], "[0].bbox: expected 4 numbers"),
        ([{"image_id": [1], "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1}], "[0].image_id: expected an integer or string id"),
        ([{"image_id": 1, "category_id": None, "bbox": [1, 2, 3, 4], "score": 1}], "[0].category_id"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1}, None], "[1]: expected an object"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1}, "x"], "[1]: expected an object"),
        ({"annotations": []}, "expected a JSON array"),
    ],
)
def test_results_bad_input_names_the_field(tmp_path, mode, items, expected):
    path = write_json(tmp_path, items)
    assert expected in load_err(coco.read_coco_results, path, pred_ctx())


def test_results_infinite_score(tmp_path, mode):
    path = tmp_path / "r.json"
    path.write_text('[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": Infinity}]', encoding="utf-8")
    assert "[0].score: expected a finite number" in load_err(coco.read_coco_results, path, pred_ctx())


def test_results_huge_integer(tmp_path, mode):
    path = tmp_path / "r.json"
    path.write_text('[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 1' + "0" * 400 + '], "score": 1}]', encoding="utf-8")
    assert "[0].bbox: expected 4 finite numbers" in load_err(coco.read_coco_results, path, pred_ctx())


def test_results_malformed_json_reports_line(tmp_path, mode):
    path = tmp_path / "r.json"
    path.write_text('[\n{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1},\n{"image_id": 2,,}\n]', encoding="utf-8")
    with pytest.raises(LoadError) as info:
        coco.read_coco_results(path, pred_ctx())
    assert info.value.line == 3
    assert "malformed JSON" in str(info.value)


@pytest.fixture
def synth(monkeypatch):
    """tests/perf/synth_coco.py, the perf generator (tests/perf is not a package)."""
    import importlib

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent / "perf"))
    return importlib.import_module("synth_coco")


def test_synthetic_run_reads_back_as_generated(tmp_path, mode, synth):
    """The perf generator's files read back to exactly the tables it builds without JSON."""
    config = synth.write_synthetic_coco(tmp_path, n_images=60, preds_per_image=7, n_classes=5, seed=3)
    assert {p.name for p in tmp_path.iterdir()} >= {"gt.json", "preds.json", "run.yaml"}
    rows, expected = synth.synthetic_tables(synth.make_synthetic_arrays(60, preds_per_image=7, n_classes=5, seed=3))
    gt = coco.read_coco(config.parent / "gt.json", gt_ctx())
    pred = coco.read_coco_results(config.parent / "preds.json", pred_ctx(gt))
    assert gt.warnings == [] and pred.warnings == []
    pd.testing.assert_frame_equal(gt.rows, rows)
    got = pd.concat([gt.annotations, pred.annotations], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    assert (pred.annotations.groupby("data_row_id").size() == 7).all()


# ---------------------------------------------------------------- fuzz regressions


def test_lone_surrogate_escape_is_rejected_with_its_line(tmp_path, mode):
    """A "\\ud800" id would crash pandas later (it cannot be encoded): a LoadError names the line."""
    path = tmp_path / "gt.json"
    doc = json.dumps(small_gt(), indent=1).replace('"file_name": "b.jpg"', '"file_name": "b\\ud800.jpg"')
    path.write_text(doc, encoding="utf-8")
    line = doc[: doc.index("\\ud800")].count("\n") + 1
    with pytest.raises(LoadError) as info:
        coco.read_coco(path, gt_ctx())
    assert info.value.line == line and "\\ud800" in str(info.value) and "surrogate" in str(info.value)
    results = tmp_path / "r.json"
    results.write_text('[{"image_id": "\\udc00x", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]', encoding="utf-8")
    assert "unpaired UTF-16 surrogate" in load_err(coco.read_coco_results, results, pred_ctx())


def test_surrogate_pairs_and_escaped_backslashes_still_load(tmp_path, mode):
    gt = small_gt()
    gt["categories"][1]["name"] = "car \U0001f697 \\ud800"  # a real pair, and the text backslash-u-d-8-0-0
    loaded = coco.read_coco(write_json(tmp_path, gt), gt_ctx())  # ensure_ascii: \ud83d\ude97 and \\ud800
    assert set(loaded.annotations["label"]) == {"person", "car \U0001f697 \\ud800"}


@pytest.mark.parametrize(
    "text, at",
    [
        (r'"\ud800"', 1),
        (r'"\uDFFF"', 1),
        (r'"\ud83d\ude00"', None),
        (r'"\uD83D\uDE00"', None),
        (r'"\\ud800"', None),  # an escaped backslash, then plain text
        (r'"\\\ud800"', 3),
        (r'"\\\ud83d\ude00"', None),
        (r'"\ud83d\ude00\udc00"', 13),
        (r'"\ud800\ud800\udc00"', 1),
        (r'"\\ud83d\udc00"', 8),  # the "high" half is plain text
        (r'"\ud83d\\ude00"', 1),
        (r'"\u00e9 x"', None),
    ],
)
def test_lone_surrogate_finds_unpaired_escapes(text, at):
    from labeltui.formats.base import lone_surrogate

    assert lone_surrogate(text) == at
    assert lone_surrogate(text.encode()) == at


def test_deeply_nested_values_give_a_load_error(tmp_path, mode):
    """orjson parses 3000 levels; describing the bad value must not recurse that deep."""
    deep = "[" * 3000 + "]" * 3000
    path = tmp_path / "gt.json"
    path.write_text('{"images": [' + deep + '], "annotations": [], "categories": []}', encoding="utf-8")
    message = load_err(coco.read_coco, path, gt_ctx())
    # a parser that takes 3000 levels reports the field; one that refuses them, the depth
    assert "images[0]: expected an object" in message or "malformed JSON: maximum recursion depth" in message
    if mode == "stdlib":
        assert "malformed JSON: maximum recursion depth" in message
    results = tmp_path / "r.json"
    results.write_text('[{"image_id": 1, "category_id": 1, "score": 1, "bbox": [0, 0, 1, ' + deep + "]}]", encoding="utf-8")
    message = load_err(coco.read_coco_results, results, pred_ctx())
    assert "[0].bbox: expected 4 numbers" in message or "malformed JSON: maximum recursion depth" in message
    assert len(message) < len(str(results)) + 200
    if mode == "stdlib":
        assert "malformed JSON: maximum recursion depth" in message


def test_describing_a_deeply_nested_value_does_not_recurse():
    """Some parsers (older orjson) accept 3000 levels, so messages must describe them safely."""
    from labeltui.formats.base import describe

    deep: list = []
    for _ in range(3000):
        deep = [deep]
    text = describe(deep)
    assert text.startswith("[") and len(text) <= 80
