"""Sharded runs: a model run as a folder of Parquet parts plus one JSON manifest.

Layout (written by ``labeltui convert``, see :mod:`labeltui.convert`)::

    RUN_DIR/manifest.json               what the parts hold (see :func:`read_manifest`)
    RUN_DIR/run.yaml                    a config with ground_truth {format: shards, path: manifest.json}
    RUN_DIR/rows/part-00000.parquet     ``row`` (global position) + the rows columns,
                                        gt_label/pred_label/pred_confidence, ``prob:<class>``,
                                        ``metric:<name>``, ``embedding`` (fixed-size list, null: none)
    RUN_DIR/annotations/part-00000.parquet  the annotations of those rows (global ``row``),
                                        sorted by row then source, row groups of 8,192 objects

Part k covers rows ``[first_row, first_row + n_rows)``. Besides the keys of the
layout spec the manifest holds ``columns`` (which physical column holds which
field, with its pandas dtype, so a round trip is exact), ``stats`` and
``fingerprint`` (new on every conversion, so the score cache, which hashes
the manifest, notices a re-conversion). Readers raise only :class:`LoadError`
for a bad folder.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labeltui.config import TASKS, Config
from labeltui.errors import LoadError
from labeltui.run import ModelRun

FORMAT = "labeltui-shards"
VERSION = 1
MANIFEST = "manifest.json"
ANNOTATION_ROW_GROUP = 8_192  # fetching one row's objects decodes one group: ~2 ms (64k: ~20 ms)

ROW = "row"
LABEL_FIELDS = ("gt_label", "pred_label", "pred_confidence")
EMBEDDING = "embedding"
PROB_PREFIX = "prob:"
METRIC_PREFIX = "metric:"
ROWS_PREFIX = "rows:"  # a rows column whose name collides with a reserved column name
_RESERVED = (ROW, EMBEDDING, *LABEL_FIELDS)
_REDO = "re-run labeltui convert to rewrite the sharded run"

Progress = Callable[[str, float], None]


# ---------------------------------------------------------------- writing


def _encode(series: pd.Series, column: str, name: Any) -> tuple[pa.Array, dict]:
    """One pandas column as an Arrow array plus its manifest entry (name, dtype).
    Object columns Arrow cannot type (mixed str/int metadata) are stored as JSON text."""
    entry: dict[str, Any] = {"column": column, "name": name, "dtype": str(series.dtype)}
    try:
        arr = pa.Array.from_pandas(series)
        if not pa.types.is_nested(arr.type) or pa.types.is_list(arr.type):
            if series.dtype == object and pa.types.is_string(arr.type) and pc.count_distinct(arr, mode="all").as_py() * 4 <= len(arr):
                entry["repeats"] = True  # few distinct values (source, label): decoded through a dictionary
            return arr, entry
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    entry["json"] = True  # dicts (a struct would add the keys of the others as None) and mixed types
    text = [json.dumps(v, default=str) for v in series.to_numpy(dtype=object)]
    return pa.array(text, pa.large_string()), entry


def _rows_column_name(name: Any) -> str:
    text = str(name)
    clash = text in _RESERVED or text.startswith((PROB_PREFIX, METRIC_PREFIX, ROWS_PREFIX))
    return ROWS_PREFIX + text if clash else text


def _write_table(table: pa.Table, path: Path, **options: Any) -> None:
    """Parquet with dictionary encoding for text columns only (numbers and
    embeddings would fall back to plain encoding after a wasted attempt)."""
    text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    pq.write_table(table, path, use_dictionary=text, **options)


def run_tables(run: ModelRun) -> tuple[pa.Table, pa.Table, dict]:
    """The whole run as two Arrow tables (rows, annotations) in the part layout,
    and the ``columns`` entry of the manifest that maps them back."""
    n = run.n_rows
    arrays: list[pa.Array] = [pa.array(np.arange(n, dtype=np.int64))]
    names = [ROW]
    rows_entries, metric_entries = [], []
    for name in run.rows.columns:
        arr, entry = _encode(run.rows[name].reset_index(drop=True), _rows_column_name(name), name)
        arrays.append(arr)
        names.append(entry["column"])
        rows_entries.append(entry)
    fields = [f for f in LABEL_FIELDS if getattr(run, f) is not None]
    for f in fields:
        arrays.append(pa.array(np.asarray(getattr(run, f))))
        names.append(f)
    has_probs = run.probs is not None
    if has_probs:
        for j, cls in enumerate(run.classes):
            arrays.append(pa.array(np.ascontiguousarray(run.probs[:, j], dtype=np.float64)))
            names.append(PROB_PREFIX + cls)
    for name in run.metrics.columns:
        arr, entry = _encode(run.metrics[name].reset_index(drop=True), METRIC_PREFIX + str(name), name)
        arrays.append(arr)
        names.append(entry["column"])
        metric_entries.append(entry)
    if run.embeddings is not None:
        emb = np.ascontiguousarray(run.embeddings, dtype=np.float32)
        mask = np.ones(n, dtype=bool) if run.embedding_mask is None else np.asarray(run.embedding_mask, dtype=bool)
        values = pa.array(emb.reshape(-1))
        arrays.append(pa.FixedSizeListArray.from_arrays(values, emb.shape[1], mask=pa.array(~mask)))
        names.append(EMBEDDING)
    rows_table = pa.Table.from_arrays(arrays, names=names)

    ann = run.annotations.reset_index(drop=True)
    encoded = [_encode(ann[c], str(c), c) for c in ann.columns]
    ann_table = pa.Table.from_arrays([a for a, _ in encoded], names=[e["column"] for _, e in encoded])
    columns = {
        "rows": rows_entries,
        "metrics": metric_entries,
        "annotations": [e for _, e in encoded],
        "labels": fields,
        "probs": has_probs,
    }
    return rows_table, ann_table, columns


def write_shards(
    run: ModelRun,
    folder: Path,
    *,
    rows_per_part: int,
    source_config: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Write ``run`` as parts of ``rows_per_part`` rows plus ``manifest.json`` into
    ``folder`` (which must exist); returns the manifest. ``log`` gets one line per part."""
    if rows_per_part < 1:
        raise ValueError("rows_per_part must be at least 1")
    rows_table, ann_table, columns = run_tables(run)
    (folder / "rows").mkdir(exist_ok=True)
    (folder / "annotations").mkdir(exist_ok=True)
    ann_rows = run.annotations["row"].to_numpy()
    n_parts = max(1, -(-run.n_rows // rows_per_part))
    parts = []
    for k in range(n_parts):
        lo, hi = k * rows_per_part, min((k + 1) * rows_per_part, run.n_rows)
        a_lo, a_hi = (int(i) for i in np.searchsorted(ann_rows, [lo, hi]))
        parts.append(
            {
                "first_row": lo,
                "n_rows": hi - lo,
                "n_annotations": a_hi - a_lo,
                "rows": f"rows/part-{k:05d}.parquet",
                "annotations": f"annotations/part-{k:05d}.parquet",
            }
        )

    def write(k: int) -> None:
        part, a_lo = parts[k], int(np.searchsorted(ann_rows, parts[k]["first_row"]))
        _write_table(rows_table.slice(part["first_row"], part["n_rows"]), folder / part["rows"])
        _write_table(ann_table.slice(a_lo, part["n_annotations"]), folder / part["annotations"], row_group_size=ANNOTATION_ROW_GROUP)

    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:  # the Parquet writer releases the GIL
        for k, _ in enumerate(pool.map(write, range(n_parts))):
            if log is not None:
                part = parts[k]
                last = part["first_row"] + part["n_rows"] - 1
                log(f"wrote part {k + 1}/{n_parts}: rows {part['first_row']}..{last}, {part['n_annotations']} annotations")
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "name": run.name,
        "task": run.task,
        "classes": list(run.classes),
        "n_rows": run.n_rows,
        "n_annotations": len(run.annotations),
        "embedding_dim": None if run.embeddings is None else int(run.embeddings.shape[1]),
        "source_config": str(Path(source_config).resolve()) if source_config is not None else None,
        "warnings": list(run.warnings),
        "parts": parts,
        "columns": columns,
        "stats": {k: int(v) for k, v in run.stats.items()},
        "fingerprint": uuid.uuid4().hex,
    }
    with open(folder / MANIFEST, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return manifest


# ---------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class _Manifest:
    path: Path
    data: dict
    first_rows: np.ndarray  # per part
    first_annotations: np.ndarray  # per part

    @property
    def folder(self) -> Path:
        return self.path.parent

    def part_path(self, k: int, kind: str) -> Path:
        return self.folder / self.data["parts"][k][kind]


def _bad(path: Path, field: str | None, what: str) -> LoadError:
    return LoadError(f"{what}; {_REDO}", path=path, field=field)


def _require(m: dict, key: str, kinds: tuple[type, ...], path: Path, where: str = "") -> Any:
    if key not in m:
        raise _bad(path, f"{where}{key}", "missing from the manifest")
    value = m[key]
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise _bad(path, f"{where}{key}", f"unexpected value {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise _bad(path, f"{where}{key}", f"must not be negative, got {value}")
    return value


def _validate(data: Any, path: Path) -> _Manifest:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise LoadError(
            f"not a labeltui sharded-run manifest (format {got!r}, expected {FORMAT!r}); "
            "point ground_truth.path at the manifest.json written by labeltui convert",
            path=path,
            field="format",
        )
    version = data.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and not isinstance(version, bool) and version > VERSION
        hint = "upgrade labeltui or " if newer else ""
        raise LoadError(
            f"unsupported version {version!r} (this labeltui reads version {VERSION}); {hint}{_REDO}",
            path=path,
            field="version",
        )
    _require(data, "name", (str,), path)
    if _require(data, "task", (str,), path) not in TASKS:
        raise _bad(path, "task", f"unknown task {data['task']!r}")
    classes = _require(data, "classes", (list,), path)
    if not all(isinstance(c, str) for c in classes) or len(set(classes)) != len(classes):
        raise _bad(path, "classes", "expected a list of distinct class names")
    n_rows = _require(data, "n_rows", (int,), path)
    n_ann = _require(data, "n_annotations", (int,), path)
    if data.get("embedding_dim") is not None:
        _require(data, "embedding_dim", (int,), path)
    warnings = _require(data, "warnings", (list,), path)
    if not all(isinstance(w, str) for w in warnings):
        raise _bad(path, "warnings", "expected a list of strings")
    parts = _require(data, "parts", (list,), path)
    if not parts:
        raise _bad(path, "parts", "the manifest lists no parts")
    columns = _require(data, "columns", (dict,), path)
    for key, kinds in (("rows", (list,)), ("metrics", (list,)), ("annotations", (list,)), ("labels", (list,)), ("probs", (bool,))):
        _require(columns, key, kinds, path, "columns.")
    for key in ("rows", "metrics", "annotations"):
        for i, e in enumerate(columns[key]):
            if not (isinstance(e, dict) and isinstance(e.get("column"), str) and isinstance(e.get("dtype"), str) and "name" in e):
                raise _bad(path, f"columns.{key}[{i}]", "expected {column, name, dtype}")
    if not set(columns["labels"]) <= set(LABEL_FIELDS):
        raise _bad(path, "columns.labels", f"unexpected value {columns['labels']!r}")
    stats = data.get("stats", {})
    if not isinstance(stats, dict):
        raise _bad(path, "stats", "expected a mapping")
    first_rows, first_ann = [], []
    next_row = next_ann = 0
    for k, part in enumerate(parts):
        where = f"parts[{k}]."
        if not isinstance(part, dict):
            raise _bad(path, f"parts[{k}]", "expected a mapping")
        first = _require(part, "first_row", (int,), path, where)
        _require(part, "n_rows", (int,), path, where)
        _require(part, "n_annotations", (int,), path, where)
        for kind in ("rows", "annotations"):
            if not _require(part, kind, (str,), path, where):
                raise _bad(path, f"{where}{kind}", "expected a file name")
        if first != next_row:
            raise _bad(path, f"{where}first_row", f"parts are not contiguous (expected {next_row}, got {first})")
        first_rows.append(next_row)
        first_ann.append(next_ann)
        next_row += part["n_rows"]
        next_ann += part["n_annotations"]
    if next_row != n_rows:
        raise _bad(path, "n_rows", f"the parts hold {next_row} rows, the manifest says {n_rows}")
    if next_ann != n_ann:
        raise _bad(path, "n_annotations", f"the parts hold {next_ann} annotations, the manifest says {n_ann}")
    return _Manifest(path, data, np.asarray(first_rows, dtype=np.int64), np.asarray(first_ann, dtype=np.int64))


@functools.lru_cache(maxsize=8)
def _parse_manifest(path: Path, mtime_ns: int, size: int) -> _Manifest:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _bad(path, None, "the manifest is not UTF-8 text") from None
    except OSError as exc:
        raise LoadError(f"cannot read the manifest: {exc.strerror or exc}", path=path) from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        raise LoadError(f"malformed manifest JSON ({getattr(exc, 'msg', 'nested too deeply')}); {_REDO}", path=path, line=line) from None
    return _validate(data, path)


def _stat_key(path: Path) -> tuple[Path, int, int]:
    st = path.stat()
    return path, st.st_mtime_ns, st.st_size


def _manifest(manifest_path: str | Path) -> _Manifest:
    path = Path(manifest_path).expanduser().absolute()
    if path.is_dir():
        path = path / MANIFEST
    try:
        key = _stat_key(path)
    except OSError:
        raise LoadError(
            "sharded run manifest not found; write one with labeltui convert CONFIG -o RUN_DIR", path=path
        ) from None
    return _parse_manifest(*key)


def read_manifest(path: str | Path) -> dict:
    """The validated manifest of a sharded run (``path``: manifest.json or its folder).

    Raises LoadError naming the file and field when it is missing or damaged.
    """
    return copy.deepcopy(_manifest(path).data)


# ---------------------------------------------------------------- reading parts


@dataclass(frozen=True, eq=False)  # hashed by identity: a key of the row-group cache
class _PartFile:
    file: pq.ParquetFile
    group_offsets: np.ndarray  # first object of each row group within the file (+ total at the end)
    group_first_row: np.ndarray | None  # min/max ``row`` per row group from the statistics
    group_last_row: np.ndarray | None


@functools.lru_cache(maxsize=16)
def _open_part_cached(path: Path, mtime_ns: int, size: int) -> _PartFile:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _bad(path, None, f"cannot read this part ({exc})") from None
    md = pf.metadata
    counts = np.asarray([md.row_group(g).num_rows for g in range(md.num_row_groups)], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    first = last = None
    names = pf.schema_arrow.names
    if ROW in names:
        j = names.index(ROW)
        stats = [md.row_group(g).column(j).statistics for g in range(md.num_row_groups)]
        if all(s is not None and s.has_min_max for s in stats):
            first = np.asarray([s.min for s in stats], dtype=np.int64)
            last = np.asarray([s.max for s in stats], dtype=np.int64)
    return _PartFile(pf, offsets, first, last)


def _open_part(m: _Manifest, k: int, kind: str) -> _PartFile:
    path = m.part_path(k, kind)
    try:
        key = _stat_key(path)
    except OSError:
        raise _bad(path, None, f"part file missing (listed in {m.path})") from None
    part = _open_part_cached(*key)
    expected = m.data["parts"][k]["n_rows" if kind == "rows" else "n_annotations"]
    if part.file.metadata.num_rows != expected:
        what = "rows" if kind == "rows" else "annotations"
        raise _bad(path, None, f"holds {part.file.metadata.num_rows} {what} but the manifest says {expected}")
    return part


def _needed_columns(m: _Manifest, kind: str) -> list[str]:
    cols = m.data["columns"]
    if kind == "annotations":
        return [e["column"] for e in cols["annotations"]]
    names = [ROW, *(e["column"] for e in cols["rows"]), *cols["labels"]]
    if cols["probs"]:
        names += [PROB_PREFIX + c for c in m.data["classes"]]
    names += [e["column"] for e in cols["metrics"]]
    if m.data.get("embedding_dim") is not None:
        names.append(EMBEDDING)
    return names


def _read(m: _Manifest, k: int, kind: str) -> pa.Table:
    part = _open_part(m, k, kind)
    path = m.part_path(k, kind)
    wanted = _needed_columns(m, kind)
    present = set(part.file.schema_arrow.names)
    missing = [c for c in wanted if c not in present]
    if missing:
        raise _bad(path, None, f"column {missing[0]!r} is missing from this part")
    try:
        table = part.file.read(columns=wanted)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _bad(path, None, f"cannot read this part ({exc})") from None
    rows = table.column(ROW).to_numpy()
    first, n = int(m.first_rows[k]), m.data["parts"][k]["n_rows"]
    if kind == "rows":
        ok = len(rows) == 0 or (rows[0] == first and rows[-1] == first + n - 1)
    else:
        ok = len(rows) == 0 or (rows.min() >= first and rows.max() < first + n)
    if not ok:
        raise _bad(path, ROW, f"holds rows outside the part's range {first}..{first + n - 1}")
    return table


def _decode(col: pa.ChunkedArray, entry: dict, index: pd.Index) -> pd.Series:
    """An Arrow column back to the pandas column it was written from."""
    dtype = entry["dtype"]
    if entry.get("json") or dtype == "object":
        values = np.empty(len(col), dtype=object)
        if entry.get("json"):
            values[:] = [json.loads(v) for v in col.to_pylist()]
        elif entry.get("repeats") and len(col):
            encoded = pc.dictionary_encode(col.combine_chunks())
            distinct = np.append(np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object), None)
            values = distinct[encoded.indices.fill_null(len(distinct) - 1).to_numpy()]
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type):
            values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
        else:  # lists (polygons), Python ints or floats mixed with None: exact as Python objects
            values[:] = col.to_pylist()
        return pd.Series(values, index=index, dtype=object)  # explicit: pandas 3 would infer a string dtype
    plain = col.null_count == 0 and pa.types.is_primitive(col.type) and not pa.types.is_boolean(col.type)
    if plain and dtype == str(np.dtype(col.type.to_pandas_dtype())):
        return pd.Series(col.to_numpy(), index=index)
    series = col.to_pandas()
    return pd.Series((series if str(series.dtype) == dtype else series.astype(dtype)).array, index=index)


def _frame(table: pa.Table, entries: list[dict], index: pd.Index) -> pd.DataFrame:
    if not entries:
        return pd.DataFrame(index=index)
    return pd.DataFrame({e["name"]: _decode(table.column(e["column"]), e, index) for e in entries}, index=index)


def _assemble(m: _Manifest, rows_table: pa.Table, ann_table: pa.Table, first_row: int, *, local_rows: bool) -> ModelRun:
    """A ModelRun from the (concatenated) rows and annotations of contiguous parts."""
    cols = m.data["columns"]
    n = rows_table.num_rows
    index = pd.RangeIndex(n) if local_rows else pd.RangeIndex(first_row, first_row + n)
    rows = _frame(rows_table, cols["rows"], index)
    metrics = _frame(rows_table, cols["metrics"], index)
    labels = {f: np.array(rows_table.column(f).to_numpy()) for f in cols["labels"]}  # writable, as load_run's
    probs = None
    if cols["probs"]:
        probs = np.empty((n, len(m.data["classes"])), dtype=np.float64)
        for j, c in enumerate(m.data["classes"]):
            probs[:, j] = rows_table.column(PROB_PREFIX + c).to_numpy()
    emb = mask = None
    dim = m.data.get("embedding_dim")
    if dim is not None:
        col = rows_table.column(EMBEDDING).combine_chunks()
        if col.null_count == 0:
            mask = np.ones(n, dtype=bool)
            emb = np.array(col.flatten().to_numpy().reshape(n, dim))
        else:
            bits = np.frombuffer(col.buffers()[0], dtype=np.uint8)
            mask = np.unpackbits(bits, bitorder="little")[col.offset : col.offset + n].astype(bool)
            emb = np.zeros((n, dim), dtype=np.float32)
            emb[mask] = col.flatten().to_numpy().reshape(-1, dim)
    ann = _frame(ann_table, cols["annotations"], pd.RangeIndex(ann_table.num_rows))
    if local_rows and first_row and ROW in ann.columns:
        ann[ROW] = ann[ROW].to_numpy() - first_row
    return ModelRun(
        name=m.data["name"],
        task=m.data["task"],
        rows=rows,
        annotations=ann,
        classes=list(m.data["classes"]),
        metrics=metrics,
        embeddings=emb,
        embedding_mask=mask,
        **labels,
        probs=probs,
    )


def _part_index(m: _Manifest, k: int) -> int:
    n_parts = len(m.data["parts"])
    if not 0 <= k < n_parts:
        raise IndexError(f"part {k} out of range: {m.path} has {n_parts} part(s)")
    return k


def load_part(manifest_path: str | Path, k: int, *, local_rows: bool = True) -> ModelRun:
    """Part ``k`` of a sharded run as a ModelRun.

    ``classes`` is the manifest's full class list, so class ids agree across
    parts. With ``local_rows`` rows are numbered 0..n-1 (annotations' ``row``
    shifted to match); otherwise rows, metrics and annotations keep global
    positions (rows indexed by RangeIndex(first_row, first_row + n)).
    Warnings and stats belong to the whole run (see :func:`load_shards`).
    """
    m = _manifest(manifest_path)
    k = _part_index(m, k)
    return _assemble(m, _read(m, k, "rows"), _read(m, k, "annotations"), int(m.first_rows[k]), local_rows=local_rows)


def load_shards(manifest_path: str | Path, *, progress: Progress | None = None) -> ModelRun:
    """The whole sharded run as one ModelRun (equal to ``load_run`` of the source config)."""
    m = _manifest(manifest_path)
    n_parts = len(m.data["parts"])
    rows, anns = [], []
    for k in range(n_parts):
        if progress is not None:
            progress(f"reading part {k + 1}/{n_parts} of {m.folder.name}", 0.9 * k / n_parts)
        rows.append(_read(m, k, "rows"))
        anns.append(_read(m, k, "annotations"))
    if progress is not None:
        progress("assembling", 0.9)
    run = _assemble(m, pa.concat_tables(rows), pa.concat_tables(anns), 0, local_rows=True)
    run.warnings = list(m.data["warnings"])
    run.stats = {str(k): int(v) for k, v in m.data.get("stats", {}).items()}
    if progress is not None:
        progress("loaded", 1.0)
    return run


def load_config_shards(config: Config, progress: Progress | None = None) -> ModelRun:
    """What ``load_run`` returns for a config with ``ground_truth.format: shards``:
    the sharded run, named as the config names it."""
    run = load_shards(config.ground_truth.path, progress=progress)
    if run.task != config.task:
        raise LoadError(f"task: the sharded run is a {run.task} run; set task: {run.task}", path=config.path)
    run.name = config.name
    return run


# ---------------------------------------------------------------- annotations on demand


@functools.lru_cache(maxsize=16)
def _row_group(part: _PartFile, g: int, columns: tuple[str, ...]) -> pa.Table:
    """One decoded row group (kept: stepping through neighbouring rows reuses it)."""
    return part.file.read_row_group(g, columns=list(columns), use_threads=False)


def _groups_for(part: _PartFile, rows: np.ndarray) -> np.ndarray:
    """Indices of the row groups that may hold objects of the sorted ``rows``."""
    if part.group_first_row is None:
        return np.arange(len(part.group_offsets) - 1)
    g = np.searchsorted(part.group_last_row, rows, side="left")
    inside = g < len(part.group_last_row)
    g, rows = g[inside], rows[inside]
    return np.unique(g[part.group_first_row[g] <= rows])


def annotations_for(manifest_path: str | Path, rows: np.ndarray) -> pd.DataFrame:
    """The annotations of the given global ``rows``, global ``row`` values, sorted by
    row then source, indexed by their global annotation index.

    Reads only the parts and 8,192-object row groups that hold those rows; opened
    part files and the last decoded row groups are kept in small LRUs, so a call
    costs a few ms (about 1 ms for a row next to the previous one).
    """
    m = _manifest(manifest_path)
    wanted = np.unique(np.asarray(rows, dtype=np.int64))
    n_rows = m.data["n_rows"]
    if len(wanted) and (wanted[0] < 0 or wanted[-1] >= n_rows):
        bad = wanted[0] if wanted[0] < 0 else wanted[-1]
        raise IndexError(f"row {bad} out of range: {m.path} has {n_rows} rows")
    entries = m.data["columns"]["annotations"]
    columns = [e["column"] for e in entries]
    parts_of = np.searchsorted(m.first_rows, wanted, side="right") - 1
    tables, index = [], []
    for k in np.unique(parts_of):
        k = int(k)
        if m.data["parts"][k]["n_annotations"] == 0:
            continue
        part = _open_part(m, k, "annotations")
        mine = wanted[parts_of == k]
        groups = _groups_for(part, mine)
        if not len(groups):
            continue
        for g in groups.tolist():
            try:
                table = _row_group(part, g, tuple(columns))
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise _bad(m.part_path(k, "annotations"), None, f"cannot read this part ({exc})") from None
            got = table.column(ROW).to_numpy()
            at = np.minimum(np.searchsorted(mine, got), len(mine) - 1)
            take = np.flatnonzero(mine[at] == got)
            tables.append(table.take(pa.array(take)))
            index.append(m.first_annotations[k] + part.group_offsets[g] + take)
    if not tables:
        first = _open_part(m, 0, "annotations")
        tables = [first.file.schema_arrow.empty_table().select(columns)]
        index = [np.empty(0, dtype=np.int64)]
    table = pa.concat_tables(tables)
    return _frame(table, entries, pd.Index(np.concatenate(index), dtype=np.int64))
