"""Classification / metrics table reader (CSV, TSV, Parquet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeltui.errors import LoadError
from labeltui.formats import ReadContext, read_source
from labeltui.formats.tabular import read_table


def write(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path, role: str = "gt"):
    return read_table(path, ReadContext(role=role, task="classification"))


def by_source(loaded, source: str) -> list[tuple]:
    c = loaded.classifications
    c = c[c["source"] == source]
    return list(zip(c["data_row_id"], c["label"], np.round(c["confidence"].to_numpy(), 6).tolist()))


PROB_CSV = (
    "data_row_id,label,prob_cat,prob_dog,prob_bird,asset,global_key,width,height,split,loss\n"
    "001,cat,0.7,0.2,0.1,img/1.png,k1,640,480,train,0.36\n"
    "002,dog,0.1,0.3,0.6,img/2.png,k2,320,200,val,\n"
    "003,,0.5,0.25,0.25,img/3.png,,,,val,1.5\n"
)


def test_csv_prob_layout(tmp_path: Path) -> None:
    loaded = read_source("table", write(tmp_path, PROB_CSV), ReadContext(role="gt", task="classification"))
    rows = loaded.rows
    assert rows["data_row_id"].tolist() == ["001", "002", "003"]
    assert rows["asset"].tolist() == ["img/1.png", "img/2.png", "img/3.png"]
    assert rows["global_key"].tolist() == ["k1", "k2", None]
    assert rows["width"].tolist()[:2] == [640.0, 320.0] and np.isnan(rows["width"].iloc[2])
    assert rows["split"].tolist() == ["train", "val", "val"]
    gt = loaded.classifications[loaded.classifications["source"] == "gt"]
    assert list(zip(gt["data_row_id"], gt["label"])) == [("001", "cat"), ("002", "dog")]
    assert gt["confidence"].isna().all()
    assert by_source(loaded, "pred") == [("001", "cat", 0.7), ("002", "bird", 0.6), ("003", "cat", 0.5)]
    assert list(loaded.probs.columns) == ["data_row_id", "cat", "dog", "bird"]
    assert loaded.probs["bird"].tolist() == [0.1, 0.6, 0.25]
    assert list(loaded.metrics.columns) == ["data_row_id", "loss"]
    assert loaded.metrics["loss"].tolist()[::2] == [0.36, 1.5] and np.isnan(loaded.metrics["loss"].iloc[1])
    assert loaded.warnings == []


def test_tsv_pred_label_layout(tmp_path: Path) -> None:
    text = "data_row_id\tlabel\tpred_label\tconfidence\tasset\n" "a\tpos\tneg\t0.8\tgreat movie\n" "b\tneg\t\t\tmeh\n"
    loaded = read(write(tmp_path, text, "t.tsv"), role="pred")
    assert by_source(loaded, "pred") == [("a", "neg", 0.8)]
    assert [r[:2] for r in by_source(loaded, "gt")] == [("a", "pos"), ("b", "neg")]
    assert loaded.probs is None and loaded.metrics is None
    assert loaded.rows["asset"].tolist() == ["great movie", "meh"]


def test_na_like_strings_kept_in_text_columns(tmp_path: Path) -> None:
    loaded = read(write(tmp_path, "data_row_id,label,score\nNA,None,NaN\nnull,cat,2\n"))
    assert loaded.rows["data_row_id"].tolist() == ["NA", "null"]
    assert [r[1] for r in by_source(loaded, "gt")] == ["None", "cat"]
    assert np.isnan(loaded.metrics["score"].iloc[0]) and loaded.metrics["score"].iloc[1] == 2


def test_duplicate_ids_left_to_assembler(tmp_path: Path) -> None:
    loaded = read(write(tmp_path, "data_row_id,label\nx,a\nx,b\n"))
    assert loaded.rows["data_row_id"].tolist() == ["x", "x"]


def test_probabilities_not_summing_to_one_warn(tmp_path: Path) -> None:
    text = "data_row_id,label,prob_a,prob_b\n1,a,0.5,0.5\n2,a,0.9,0.9\n3,b,0.1,0.2\n4,b,0.3,0.695\n"
    loaded = read(write(tmp_path, text))
    assert len(loaded.warnings) == 1
    assert "2 row(s)" in loaded.warnings[0] and "line 3" in loaded.warnings[0]


def _parquet(tmp_path: Path, table: dict, name: str = "t.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.table(table), path)
    return path


def test_parquet_prob_layout(tmp_path: Path) -> None:
    path = _parquet(
        tmp_path,
        {
            "data_row_id": [10, 11],
            "label": [1, 0],
            "prob_0": [0.2, 0.9],
            "prob_1": [0.8, 0.1],
            "margin": pa.array([3, 4], pa.int32()),
            "flag": [True, False],
        },
        "t.pq",
    )
    loaded = read(path)
    assert loaded.rows["data_row_id"].tolist() == ["10", "11"]
    assert [r[:2] for r in by_source(loaded, "gt")] == [("10", "1"), ("11", "0")]
    assert by_source(loaded, "pred") == [("10", "1", 0.8), ("11", "0", 0.9)]
    assert list(loaded.probs.columns) == ["data_row_id", "0", "1"]
    assert loaded.metrics["margin"].tolist() == [3.0, 4.0]
    assert loaded.rows["flag"].tolist() == [True, False]


def test_parquet_pred_label_layout(tmp_path: Path) -> None:
    path = _parquet(
        tmp_path,
        {"data_row_id": ["a", "b"], "label": ["x", "y"], "pred_label": ["y", "y"], "confidence": [0.6, 0.99]},
    )
    loaded = read(path, role="pred")
    assert by_source(loaded, "pred") == [("a", "y", 0.6), ("b", "y", 0.99)]
    assert loaded.probs is None


def test_metrics_role(tmp_path: Path) -> None:
    text = "data_row_id,uncertainty,label,loss\na,0.1,cat,2\nb,0.7,dog,\n"
    loaded = read(write(tmp_path, text), role="metrics")
    assert list(loaded.metrics.columns) == ["data_row_id", "uncertainty", "loss"]
    assert loaded.metrics["uncertainty"].tolist() == [0.1, 0.7]
    assert loaded.rows.empty and loaded.classifications.empty
    assert len(loaded.warnings) == 1 and "label" in loaded.warnings[0]


@pytest.mark.parametrize(
    ("text", "line", "field", "needle"),
    [
        ("id,label\n1,a\n", None, "data_row_id", "columns found: id, label"),
        ("data_row_id,label,prob_a,prob_b\n1,a,0.5,0.5\n2,b,high,0.5\n", 3, "prob_a", "'high'"),
        ("data_row_id,label,prob_a,prob_b\n1,a,0.5,0.5\n2,b,0.5,\n", 3, "prob_b", "empty or NaN cell"),
        ("data_row_id,label,prob_a,prob_b\n1,a,0.5,0.5\n2,b,0.5,NaN\n", 3, "prob_b", "NaN"),
        ("data_row_id,label,prob_a,prob_b\n1,a,1.5,-0.5\n", 2, "prob_a", "[0, 1]"),
        ("data_row_id,label,pred_label,confidence\n1,a,a,0.5\n2,a,b,7\n", 3, "confidence", "[0, 1]"),
        ("data_row_id,label,width\n1,a,-3\n", 2, "width", "number"),
        ("data_row_id,label\n1,a\n,b\n", 3, "data_row_id", "empty data_row_id"),
        ("data_row_id,label\n1,a\n2,b,extra\n", 3, None, "malformed CSV"),
        ("data_row_id,prob_a\n1,0.5\n", None, "label", "ground-truth"),
        ("data_row_id,label\n", None, None, "no data rows"),
        ("  \n", None, None, "empty"),
    ],
)
def test_bad_csv(tmp_path: Path, text: str, line: int | None, field: str | None, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(LoadError) as info:
        read(path)
    assert info.value.line == line
    assert info.value.field == field
    assert needle in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_role_specific_errors(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="prob_<class>"):
        read(write(tmp_path, "data_row_id,label\n1,a\n"), role="pred")
    with pytest.raises(LoadError, match="no numeric columns"):
        read(write(tmp_path, "data_row_id,label\n1,a\n"), role="metrics")


def test_bad_parquet_names_row(tmp_path: Path) -> None:
    path = _parquet(tmp_path, {"data_row_id": ["a", "b", "c"], "label": ["x"] * 3, "prob_x": [1.0, 1.0, float("nan")]})
    with pytest.raises(LoadError) as info:
        read(path)
    assert info.value.field == "prob_x" and "row 3" in str(info.value) and "'c'" in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"data_row_id,label\n1,a\n")
    with pytest.raises(LoadError, match="cannot read Parquet"):
        read(fake)
    with pytest.raises(LoadError, match="unknown table extension"):
        read(write(tmp_path, "data_row_id,label\n1,a\n", "t.xlsx"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("data_row_id,label\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(LoadError, match=r"latin\.csv:2: .*UTF-8"):
        read(latin)
    empty = _parquet(tmp_path, {"data_row_id": pa.array([], pa.string()), "label": pa.array([], pa.string())}, "e.pq")
    with pytest.raises(LoadError, match="no data rows"):
        read(empty)


def test_large_table_is_vectorised(tmp_path: Path) -> None:
    n, k = 20_000, 10
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(k), size=n)
    df = pd.DataFrame({"data_row_id": [f"r{i}" for i in range(n)], "label": rng.integers(0, k, n).astype(str)})
    for j in range(k):
        df[f"prob_{j}"] = p[:, j]
    path = tmp_path / "big.parquet"
    df.to_parquet(path)
    loaded = read(path)
    pred = loaded.classifications[loaded.classifications["source"] == "pred"]
    assert (pred["label"].to_numpy() == p.argmax(axis=1).astype(str)).all()
    assert np.allclose(pred["confidence"], p.max(axis=1))


@pytest.mark.parametrize(
    "text, column, columns",
    [
        ("data_row_id,label, data_row_id\nr0,cat,x\n", "data_row_id", "columns 1 and 3"),
        ("data_row_id,label,label \nr0,cat,dog\n", "label", "columns 2 and 3"),
        ("data_row_id,label,label\nr0,cat,dog\n", "label", "columns 2 and 3"),  # pandas would make it label.1
        ('"data_row_id","pred_label",confidence,"pred_label"\nr0,cat,0.9,dog\n', "pred_label", "columns 2 and 4"),
    ],
)
def test_duplicate_columns_after_trimming(tmp_path: Path, text: str, column: str, columns: str) -> None:
    with pytest.raises(LoadError) as info:
        read(write(tmp_path, text))
    assert info.value.line == 1 and info.value.field == column
    assert f"duplicate column name {column!r}: {columns}" in str(info.value)


def test_integer_beyond_float_range(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        read(write(tmp_path, "data_row_id,label,width\nr0,cat,5\nr1,dog," + "9" * 400 + "\n"))
    assert info.value.line == 3 and info.value.field == "width"
    assert "number too large" in str(info.value) and "'r1'" in str(info.value) and len(str(info.value)) < 200


def parquet_bytes(names: list[str]) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_arrays([pa.array(["r0"]), pa.array(["cat"]), pa.array(["dog"])], names=names), sink)
    return sink.getvalue().to_pybytes()


def test_parquet_errors_are_one_line(tmp_path: Path) -> None:
    dup = tmp_path / "dup.parquet"
    dup.write_bytes(parquet_bytes(["data_row_id", "label", "label"]))
    with pytest.raises(LoadError, match=r"^\S*dup\.parquet: label: duplicate column name 'label': columns 2 and 3; rename one$"):
        read(dup)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1" + b"\0" * 20 + b"PAR1")  # pyarrow's error text ends in a newline
    with pytest.raises(LoadError) as info:
        read(corrupt)
    assert "cannot read Parquet" in str(info.value) and "\n" not in str(info.value)
