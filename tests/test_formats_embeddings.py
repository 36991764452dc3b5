"""Embedding readers: npy + ids file, and Parquet."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeltui.errors import LoadError
from labeltui.formats import ReadContext, read_source
from labeltui.formats.embeddings import read_npy, read_parquet


def npy(tmp_path: Path, matrix: np.ndarray, ids: str) -> tuple[Path, ReadContext]:
    path = tmp_path / "emb.npy"
    np.save(path, matrix)
    ids_path = tmp_path / "ids.txt"
    ids_path.write_text(ids)
    return path, ReadContext(role="embeddings", task="detection", ids=ids_path)


def test_npy_with_ids(tmp_path: Path) -> None:
    m = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    path, ctx = npy(tmp_path, m, "a\nb\r\n c \n\n\n")
    ids, matrix = read_source("npy", path, ctx).embeddings
    assert ids.tolist() == ["a", "b", "c"] and ids.dtype == object
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    np.testing.assert_allclose(matrix, m.astype(np.float32))


def test_npy_integer_matrix(tmp_path: Path) -> None:
    path, ctx = npy(tmp_path, np.arange(6, dtype=np.int16).reshape(2, 3), "x\ny")
    assert read_npy(path, ctx).embeddings[1].tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize(
    ("matrix", "ids", "needle"),
    [
        (np.zeros((3, 2)), "a\nb\n", "3 rows but the ids file"),
        (np.zeros((2, 2)), "a\nb\nc\n", "has 3 ids"),
        (np.zeros(4), "a\n", "2-D matrix"),
        (np.zeros((2, 2, 2)), "a\nb\n", "shape (2, 2, 2)"),
        (np.array([["a", "b"], ["c", "d"]]), "a\nb\n", "dtype <U1"),
        (
            np.array([[1.0, 2.0], [np.nan, 0.0], [np.inf, 1.0]]),
            "a\nb\nc\n",
            "matrix row 1 (0-based; line 2 of the ids file) (data_row_id 'b')",
        ),
        (np.array([[1.0, 2.0], [1e39, 0.0]]), "a\nb\n", "data_row_id 'b'"),
        (np.zeros((0, 3)), "", "empty"),
    ],
)
def test_npy_bad_matrix(tmp_path: Path, matrix: np.ndarray, ids: str, needle: str) -> None:
    path, ctx = npy(tmp_path, matrix, ids)
    with pytest.raises(LoadError) as info:
        read_npy(path, ctx)
    assert needle in str(info.value)
    assert str(info.value).startswith(str(path))


def test_npy_bad_files(tmp_path: Path) -> None:
    path, ctx = npy(tmp_path, np.zeros((3, 2)), "a\n\nc\n")
    with pytest.raises(LoadError, match=r"ids\.txt:2: blank line"):
        read_npy(path, ctx)
    with pytest.raises(LoadError, match="needs an ids file"):
        read_npy(path, ReadContext(role="embeddings", task="ner"))
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(LoadError, match="cannot read as a .npy array"):
        read_npy(objects, ctx)
    text = tmp_path / "text.npy"
    text.write_text("1 2 3\n")
    with pytest.raises(LoadError, match="cannot read as a .npy array"):
        read_npy(text, ctx)
    archive = tmp_path / "arch.npy"
    with open(archive, "wb") as f:
        np.savez(f, x=np.zeros((3, 2)))
    with pytest.raises(LoadError, match="npz"):
        read_npy(archive, ctx)
    with pytest.raises(LoadError, match="not found"):
        read_npy(tmp_path / "missing.npy", ctx)
    latin = tmp_path / "ids.txt"
    latin.write_bytes("a\nb\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(LoadError, match=r"ids\.txt:3: .*UTF-8"):
        read_npy(path, ctx)


def parquet(tmp_path: Path, columns: dict, name: str = "emb.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return path


CTX = ReadContext(role="embeddings", task="classification")


def _list_array(m: np.ndarray, kind: str) -> pa.Array:
    values = pa.array(m.ravel())
    offsets = np.arange(0, m.size + 1, m.shape[1])
    if kind == "fixed":
        return pa.FixedSizeListArray.from_arrays(values, m.shape[1])
    if kind == "large":
        return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


@pytest.mark.parametrize("kind", ["list", "fixed", "large"])
def test_parquet_list_column(tmp_path: Path, kind: str) -> None:
    m = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    path = parquet(tmp_path, {"data_row_id": [f"r{i}" for i in range(50)], "vec": _list_array(m, kind), "n": range(50)})
    ids, matrix = read_source("parquet", path, CTX).embeddings
    assert ids.tolist() == [f"r{i}" for i in range(50)]
    assert matrix.dtype == np.float32 and matrix.shape == (50, 8)
    np.testing.assert_array_equal(matrix, m)


def test_parquet_multiple_row_groups(tmp_path: Path) -> None:
    m = np.random.default_rng(1).standard_normal((100, 4))
    path = tmp_path / "groups.parquet"
    table = pa.table({"data_row_id": list(range(100)), "embedding": _list_array(m, "list")})
    pq.write_table(table, path, row_group_size=30)
    ids, matrix = read_parquet(path, CTX).embeddings
    assert ids.tolist() == [str(i) for i in range(100)]
    np.testing.assert_allclose(matrix, m.astype(np.float32))


def test_parquet_prefers_embedding_column(tmp_path: Path) -> None:
    a = np.ones((2, 3))
    b = np.zeros((2, 5))
    cols = {"data_row_id": ["x", "y"], "other": _list_array(a, "list"), "embedding": _list_array(b, "list")}
    path = parquet(tmp_path, cols)
    assert read_parquet(path, CTX).embeddings[1].shape == (2, 5)


def test_parquet_wide_numeric_columns(tmp_path: Path) -> None:
    m = np.random.default_rng(2).standard_normal((20, 6))
    cols = {"data_row_id": [f"d{i}" for i in range(20)], "note": ["n"] * 20}
    cols.update({f"e{j}": m[:, j] for j in range(5)})
    cols["e5"] = pa.array((m[:, 5] * 100).astype(np.int64))
    ids, matrix = read_parquet(parquet(tmp_path, cols), CTX).embeddings
    assert matrix.shape == (20, 6)
    np.testing.assert_allclose(matrix[:, :5], m[:, :5].astype(np.float32))
    np.testing.assert_array_equal(matrix[:, 5], (m[:, 5] * 100).astype(np.int64).astype(np.float32))


def test_parquet_errors(tmp_path: Path) -> None:
    ragged = pa.array([[1.0, 2.0], [3.0, 4.0], [5.0]])
    with pytest.raises(LoadError, match=r"embedding: row 3 \(data_row_id 'c'\) has 1 values but row 1 has 2"):
        read_parquet(parquet(tmp_path, {"data_row_id": ["a", "b", "c"], "embedding": ragged}), CTX)
    with pytest.raises(LoadError, match=r"row 2 \(data_row_id 'b'\) has no embedding"):
        read_parquet(parquet(tmp_path, {"data_row_id": ["a", "b"], "embedding": pa.array([[1.0], None])}), CTX)
    with pytest.raises(LoadError, match=r"row 2 \(data_row_id 'b'\) has a NaN"):
        read_parquet(parquet(tmp_path, {"data_row_id": ["a", "b"], "embedding": pa.array([[1.0], [None]])}), CTX)
    with pytest.raises(LoadError, match=r"row 1 \(data_row_id 'a'\) has a NaN"):
        read_parquet(parquet(tmp_path, {"data_row_id": ["a", "b"], "e0": [np.inf, 1.0]}), CTX)
    with pytest.raises(LoadError, match="several embedding columns: a, b"):
        read_parquet(parquet(tmp_path, {"data_row_id": ["x"], "a": pa.array([[1.0]]), "b": pa.array([[2.0]])}), CTX)
    with pytest.raises(LoadError, match="columns found: id, embedding"):
        read_parquet(parquet(tmp_path, {"id": ["x"], "embedding": pa.array([[1.0]])}), CTX)
    with pytest.raises(LoadError, match="no embedding column"):
        read_parquet(parquet(tmp_path, {"data_row_id": ["x"], "label": ["cat"]}), CTX)
    with pytest.raises(LoadError, match=r"row 2: empty data_row_id"):
        read_parquet(parquet(tmp_path, {"data_row_id": ["x", None], "e0": [1.0, 2.0]}), CTX)
    with pytest.raises(LoadError, match="no rows"):
        empty = {"data_row_id": pa.array([], pa.string()), "e0": pa.array([], pa.float32())}
        read_parquet(parquet(tmp_path, empty), CTX)
    fake = tmp_path / "fake.parquet"
    fake.write_text("data_row_id,e0\nx,1\n")
    with pytest.raises(LoadError, match="cannot read Parquet"):
        read_parquet(fake, CTX)


def test_parquet_corrupt_or_duplicate_columns_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1" + b"\0" * 20 + b"PAR1")  # pyarrow's message spans two lines
    with pytest.raises(LoadError) as info:
        read_parquet(corrupt, CTX)
    assert str(info.value).endswith("No more data to read.); is it a Parquet file?")
    dup = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["a"]), pa.array([1.0]), pa.array([2.0])], ["data_row_id", "e0", "e0"]), dup)
    with pytest.raises(LoadError, match=r"e0: duplicate column name 'e0': columns 2 and 3; rename one$"):
        read_parquet(dup, CTX)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # an unclosed file
@pytest.mark.parametrize("archive", ["truncated", "npz"])
def test_npy_given_a_zip_archive(tmp_path: Path, archive: str) -> None:
    """np.load raises BadZipFile on a truncated .npz (and leaves the file open): archives are sniffed first."""
    path, ctx = npy(tmp_path, np.zeros((1, 2)), "a\n")
    if archive == "npz":
        with open(path, "wb") as fh:
            np.savez(fh, m=np.zeros((1, 2)))
    else:
        path.write_bytes(b"PK\x03\x04")
    with pytest.raises(LoadError, match="expected one array saved with numpy.save, got an .npz archive"):
        read_npy(path, ctx)
    gc.collect()
