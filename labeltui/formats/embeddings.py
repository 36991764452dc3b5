"""Embedding readers: a ``.npy`` matrix with an ids file, or a Parquet table.

Both return ``Loaded.embeddings = (ids, matrix)``: ids an object array of
str, matrix float32 (n x d) with finite values, row i belonging to ids[i].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labeltui.errors import LoadError, one_line
from labeltui.formats import ReadContext
from labeltui.formats.base import Loaded, check_unique_columns, read_text

_PREFERRED = ("embedding", "embeddings", "vector")


def read_npy(path: Path, ctx: ReadContext) -> Loaded:
    """Read an (n x d) ``.npy`` matrix and ``ctx.ids``, one data_row_id a line."""
    if ctx.ids is None:
        raise LoadError(
            "an npy embedding matrix needs an ids file (embeddings.ids: one data_row_id a line)", path=path
        )
    try:
        with open(path, "rb") as fh:  # np.load leaves a (broken) .npz archive open: sniff it first
            is_zip = fh.read(4) == b"PK\x03\x04"
        raw = None if is_zip else np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise LoadError("file not found", path=path) from None
    except Exception as exc:  # numpy's header parser raises SyntaxError, TokenError, ... on a damaged header
        reason = one_line(str(exc)) or type(exc).__name__
        raise LoadError(f"cannot read as a .npy array ({reason}); save it with numpy.save", path=path) from None
    if not isinstance(raw, np.ndarray):
        raise LoadError("expected one array saved with numpy.save, got an .npz archive", path=path)
    if raw.ndim != 2:
        raise LoadError(f"expected a 2-D matrix (rows x dimensions), got shape {raw.shape}", path=path)
    if raw.dtype.kind not in "iuf":
        raise LoadError(f"expected numbers, got dtype {raw.dtype}", path=path)
    ids = _read_ids(ctx.ids)
    if len(ids) != raw.shape[0]:
        raise LoadError(
            f"the matrix has {raw.shape[0]} rows but the ids file {ctx.ids} has {len(ids)} ids; "
            "they must match one to one",
            path=path,
        )
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise LoadError(f"the matrix is empty (shape {raw.shape})", path=path)
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported below
        matrix = np.ascontiguousarray(raw, dtype=np.float32)
    _check_finite(matrix, ids, path, "matrix row {i} (0-based; line {line} of the ids file)")
    return Loaded(embeddings=(ids, matrix))


def read_parquet(path: Path, ctx: ReadContext) -> Loaded:
    """Read embeddings from Parquet: ``data_row_id`` and one list column, or numeric columns.

    The embedding is the list/array column (preferring one named embedding,
    embeddings or vector when there are several), else all numeric columns in
    file order (``e0..e255``, ``dim_*``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        raise LoadError("file not found", path=path) from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LoadError(f"cannot read Parquet ({one_line(str(exc))}); is it a Parquet file?", path=path) from None
    names = schema.names
    check_unique_columns(names, path)
    if "data_row_id" not in names:
        raise LoadError(
            f"no 'data_row_id' column; columns found: {', '.join(names[:20])}{', ...' if len(names) > 20 else ''}",
            path=path,
            field="data_row_id",
        )

    def is_list(t: pa.DataType) -> bool:
        return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)) and (
            pa.types.is_integer(t.value_type) or pa.types.is_floating(t.value_type)
        )

    def is_number(t: pa.DataType) -> bool:
        return pa.types.is_integer(t) or pa.types.is_floating(t)

    lists = [f.name for f in schema if f.name != "data_row_id" and is_list(f.type)]
    if len(lists) > 1:
        preferred = [n for n in _PREFERRED if n in lists]
        if not preferred:
            raise LoadError(
                f"several embedding columns: {', '.join(lists)}; name the one to use 'embedding'", path=path
            )
        lists = preferred[:1]
    numeric = [f.name for f in schema if f.name != "data_row_id" and is_number(f.type)]
    if not lists and not numeric:
        raise LoadError(
            "no embedding column: expected a list column (e.g. 'embedding') or numeric columns "
            f"(e.g. e0..e255); columns found: {', '.join(names[:20])}",
            path=path,
        )
    try:
        table = pq.read_table(path, columns=["data_row_id", *(lists[:1] or numeric)])
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LoadError(f"cannot read Parquet ({one_line(str(exc))})", path=path) from None
    if table.num_rows == 0:
        raise LoadError("no rows", path=path)
    id_col = table.column("data_row_id")
    if id_col.null_count:
        first = int(np.flatnonzero(id_col.is_null().to_numpy(zero_copy_only=False))[0])
        raise LoadError(f"row {first + 1}: empty data_row_id", path=path, field="data_row_id")
    try:
        ids = np.asarray(id_col.cast(pa.string()).to_pylist(), dtype=object)
    except (pa.ArrowException, ValueError):
        raise LoadError(
            f"cannot read a column of type {id_col.type} as text ids", path=path, field="data_row_id"
        ) from None
    if lists:
        name = lists[0]
        column = table.column(name).combine_chunks()
        if column.null_count:
            first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise LoadError(
                f"row {first + 1} (data_row_id {ids[first]!r}) has no embedding", path=path, field=name
            )
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        ragged = np.flatnonzero(lengths != lengths[0])
        if ragged.size:
            i = int(ragged[0])
            raise LoadError(
                f"row {i + 1} (data_row_id {ids[i]!r}) has {lengths[i]} values but row 1 has {lengths[0]}; "
                "every embedding needs the same length",
                path=path,
                field=name,
            )
        dim = int(lengths[0])
        values = column.flatten().to_numpy(zero_copy_only=False)
        with np.errstate(over="ignore"):
            matrix = np.ascontiguousarray(values.reshape(len(ids), dim), dtype=np.float32)
    else:
        name = None
        matrix = np.empty((len(ids), len(numeric)), dtype=np.float32)
        with np.errstate(over="ignore"):
            for j, col in enumerate(numeric):
                matrix[:, j] = table.column(col).to_numpy()
    if matrix.shape[1] == 0:
        raise LoadError("the embeddings have 0 dimensions", path=path, field=name)
    _check_finite(matrix, ids, path, "row {row}", field=name)
    return Loaded(embeddings=(ids, matrix))


def _read_ids(path: Path) -> np.ndarray:
    """Ids, one a line; trailing blank lines are ignored, inner blank ones are errors."""
    lines = [line.strip() for line in read_text(path).splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    blank = [i for i, line in enumerate(lines) if not line]
    if blank:
        raise LoadError("blank line; every line needs a data_row_id", path=path, line=blank[0] + 1)
    return np.asarray(lines, dtype=object)


def _check_finite(matrix: np.ndarray, ids: np.ndarray, path: Path, where: str, field: str | None = None) -> None:
    """Raise a LoadError naming the first row with a NaN or infinite value."""
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        place = where.format(i=i, line=i + 1, row=i + 1)
        raise LoadError(
            f"{place} (data_row_id {ids[i]!r}) has a NaN or infinite value (or one too large for float32)",
            path=path,
            field=field,
        )
