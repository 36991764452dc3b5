"""JSONL spans reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labeltui.errors import LoadError
from labeltui.formats import ReadContext, read_source
from labeltui.formats.jsonl_spans import read_jsonl_spans


def write(tmp_path: Path, lines: list, name: str = "spans.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def read(path: Path, role: str = "gt"):
    return read_jsonl_spans(path, ReadContext(role=role, task="ner"))


def test_reads_rows_labels_and_predictions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {
                "id": "d1",
                "text": "John lives in Paris.",
                "labels": [[0, 4, "PER"], [14, 19, "LOC"]],
                "predictions": [[0, 4, "PER", 0.9], [14, 19, "ORG"]],
                "split": "val",
            },
            "",
            {"id": 7, "text": "nothing here", "global_key": "doc-7.txt"},
        ],
    )
    loaded = read_source("jsonl", path, ReadContext(role="pred", task="ner"))
    rows = loaded.rows
    assert rows["data_row_id"].tolist() == ["d1", "7"]
    assert rows["asset"].tolist() == ["John lives in Paris.", "nothing here"]
    assert rows["global_key"].tolist() == [None, "doc-7.txt"]
    assert rows["split"].tolist() == ["val", None]
    assert rows["width"].isna().all()
    ann = loaded.annotations
    gt = ann[ann["source"] == "gt"]
    pred = ann[ann["source"] == "pred"]
    assert list(zip(gt["start"], gt["end"], gt["label"])) == [(0, 4, "PER"), (14, 19, "LOC")]
    assert list(zip(pred["start"], pred["end"], pred["label"])) == [(0, 4, "PER"), (14, 19, "ORG")]
    assert pred["confidence"].iloc[0] == pytest.approx(0.9)
    assert np.isnan(pred["confidence"].iloc[1])
    assert gt["confidence"].isna().all()
    assert set(ann["data_row_id"]) == {"d1"}
    assert ann["start"].dtype == np.int64 and ann["end"].dtype == np.int64
    text = rows["asset"].iloc[0]
    assert [text[s:e] for s, e in zip(gt["start"], gt["end"])] == ["John", "Paris"]


def test_span_bounds_left_to_assembler(tmp_path: Path) -> None:
    loaded = read(write(tmp_path, [{"id": "a", "text": "abc", "labels": [[2, 99, "X"], [5, 1, "Y"]]}]))
    assert loaded.annotations["end"].tolist() == [99, 1]


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "spans.json"
    path.write_text(json.dumps([{"id": "a", "text": "hi there", "labels": [[3, 8, "X"]]}]))
    assert read(path).annotations["label"].tolist() == ["X"]


@pytest.mark.parametrize(
    ("lines", "line", "field", "needle"),
    [
        ([{"text": "x"}], 1, "id", "missing"),
        ([{"id": "a", "text": "x"}, {"id": "b"}], 2, "text", "missing"),
        ([{"id": 1.5, "text": "x"}], 1, "id", "string or integer"),
        ([{"id": True, "text": "x"}], 1, "id", "string or integer"),
        ([{"id": "a", "text": ["x"]}], 1, "text", "string"),
        ([{"id": "a", "text": "x", "labels": {"a": 1}}], 1, "labels", "list of spans"),
        ([{"id": "a", "text": "x", "labels": [[0, 1, "A"], [0, 1, "A"], [0, 1]]}], 1, "labels[2]", "2 items"),
        ([{"id": "a", "text": "x", "labels": [[0, 1, "A", 0.5]]}], 1, "labels[0]", "4 items"),
        ([{"id": "a", "text": "x", "labels": ["0 1 A"]}], 1, "labels[0]", "str"),
        ([{"id": "a", "text": "x", "labels": [[0.0, 1, "A"]]}], 1, "labels[0][0]", "integer"),
        ([{"id": "a", "text": "x", "labels": [[0, "1", "A"]]}], 1, "labels[0][1]", "integer"),
        ([{"id": "a", "text": "x", "labels": [[0, 1, 3]]}], 1, "labels[0][2]", "entity type"),
        ([{"id": "a", "text": "x", "predictions": [[0, 1, "A", "high"]]}], 1, "predictions[0][3]", "confidence"),
        ([{"id": "a", "text": "x", "predictions": [[0, 1, "A", 1.5]]}], 1, "predictions[0][3]", "[0, 1]"),
        ([{"id": "a", "text": "x", "predictions": [[0, 1, "A", 0.5, 1]]}], 1, "predictions[0]", "5 items"),
        (
            [
                {"id": "a", "text": "x", "labels": [[0, 1, "A"]]},
                {"id": "b", "text": "y"},
                {"id": "c", "text": "z", "labels": [[0, 1, "A"], [0, 10**30, "B"]]},
            ],
            3,
            "labels[1][1]",
            "integer",
        ),
        ([{"id": "a", "text": "x", "labels": [[0, 1, 5], [0.5, 1, "A"]]}], 1, "labels[0][2]", "entity type"),
        (['{"id": "a", "text": "x", "predictions": [[0, 1, "A", NaN]]}'], 1, "predictions[0][3]", "got nan"),
        ([{"id": "a", "text": "x", "predictions": [[0, 1, "A", 1e308 * 10]]}], 1, "predictions[0][3]", "inf"),
        (['{"id": "a", "text": "x"}', "{not json"], 2, None, "malformed JSON"),
        (["[1, 2]"], 1, None, "expected"),
        ([{"id": "d1", "text": "John", "labels": [[-1, 3, "PER"]]}], 1, "labels[0][0]", "non-negative"),
        ([{"id": "d1", "text": "John", "predictions": [[0, -2, "PER"]]}], 1, "predictions[0][1]", "got -2"),
        (['{"id": "a", "text": "x"}', '{"id": "\\ud800", "text": "John"}'], 2, None, "surrogate"),
        (['{"id": "a", "text": "x", "\\udc00": 1}'], 1, None, "invalid string escape \\udc00"),
        ([{"id": "a", "text": "x", "labels": [[[[[[[[0]]]]]], 1, "A"]]}], 1, "labels[0][0]", "got [[[[...]]]]"),
        (['"just a string"'], 1, None, "expected an object"),
    ],
)
def test_bad_input(tmp_path: Path, lines: list, line: int, field: str | None, needle: str) -> None:
    path = write(tmp_path, lines)
    with pytest.raises(LoadError) as info:
        read(path)
    assert info.value.line == line
    assert info.value.field == field
    assert needle in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_empty_and_non_utf8(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    with pytest.raises(LoadError, match="empty"):
        read(empty)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"id": "a", "text": "ok"}\n{"id": "b", "text": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(LoadError, match=r"latin\.jsonl:2: .*UTF-8"):
        read(latin)
