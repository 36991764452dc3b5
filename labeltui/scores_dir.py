"""Reading a scores folder (``labeltui score -o SCORES_DIR``) a column at a time.

A scored run of tens of millions of rows does not fit in memory as a pandas
table of Python objects, so nothing here reads the whole folder:

- :class:`ScoresDir` reads the columns asked for, part by part into
  preallocated arrays: numbers as numpy arrays (integers in the smallest type
  the parts' Parquet statistics allow), ``data_row_id`` and ``global_key`` as
  Arrow strings, other text as categoricals with sorted categories (one small
  code a row). :meth:`ScoresDir.values_at` reads given rows only (the ones a
  ranking prints or a batch exports) and :meth:`ScoresDir.objects_at` the object
  outcomes of given annotations (Parquet row groups as the pushdown unit).
- :func:`top_view` gives the first rows of a ranking (exactly what
  ``engine.query.sort_view`` would put first) without sorting every row.
- :class:`RowIds` is the data row id column as Arrow strings with the numpy
  indexing the review session uses.
- :class:`ShardRows` fetches what a preview needs of a few rows (asset,
  annotations, their outcomes) from the sharded run the scores were computed
  on (``labeltui.shards.annotations_for`` plus the object parts here);
  :func:`load_rest` reads a run that is not sharded, to attach it whole.
- :func:`write_scores_ranking` is ``labeltui rank SCORES_DIR``.

``labeltui.pipeline.open_scores_dir`` puts it together for the app.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labeltui.config import TASKS, Config, Source, load_config
from labeltui.engine.query import sort_view
from labeltui.errors import LoadError
from labeltui.run import ModelRun

SCORES_FILE = "scores.json"
FORMAT = "labeltui-scores"
VERSION = 1
#: Text columns with a distinct value a row: kept as Arrow strings (other text becomes categorical).
TEXT_COLUMNS = ("data_row_id", "global_key")
#: The columns a review list needs at first (the list columns, the presets); more load on demand,
#: ``data_row_id`` (slow to decode) in the background (:class:`RowIds`).
LIST_COLUMNS = {
    "detection": ("score", "issue", "label", "fp", "fn", "max_fp_confidence"),
    "ner": ("score", "issue", "label", "fp", "fn", "max_fp_confidence"),
    "classification": ("score", "issue", "label", "pred_label", "pred_confidence", "margin", "agree"),
}
#: The object outcome columns a preview shows.
OBJECT_COLUMNS = ("outcome", "issue", "suspicion")
_REDO = "re-run labeltui score to rewrite the scores folder"
READ_THREADS = min(4, os.cpu_count() or 1)  # parts decoded at once (Parquet decoding releases the GIL)

Progress = Callable[[str, float], None]


def in_threads(work: Callable[[int], None], items: list[int], threads: int = READ_THREADS) -> None:
    """``work(item)`` for every item, on up to ``threads`` daemon threads (a quitting app
    never waits for them); re-raises the first error, after which no new item starts."""
    pending = iter(items)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop() -> None:
        while not errors:
            with lock:
                item = next(pending, None)
            if item is None:
                return
            try:
                work(item)
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)

    helpers = [threading.Thread(target=loop, daemon=True, name="labeltui-read") for _ in range(max(1, min(threads, len(items))))]
    for t in helpers:
        t.start()
    for t in helpers:
        t.join()
    if errors:
        raise errors[0]


def is_scores_dir(path: str | Path) -> bool:
    """True when ``path`` is a folder holding a ``scores.json``."""
    p = Path(path)
    return p.is_dir() and (p / SCORES_FILE).is_file()


@dataclass(frozen=True)
class Part:
    """One part of a scores folder: rows [first_row, first_row + n_rows) and their objects."""

    first_row: int
    n_rows: int
    scores: Path
    objects: Path | None
    first_annotation: int
    n_annotations: int


def _bad(path: Path, field: str | None, what: str) -> LoadError:
    return LoadError(f"{what}; {_REDO}", path=path, field=field)


def _integer(m: dict, key: str, path: Path, where: str) -> int:
    value = m.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(path, f"{where}{key}", "missing" if value is None else f"expected a whole number >= 0, got {value!r}")
    return value


def read_scores_manifest(folder: str | Path) -> dict:
    """The validated ``scores.json`` of a scores folder (LoadError naming the field otherwise)."""
    path = Path(folder) / SCORES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoadError("no scores.json here; write a scores folder with labeltui score CONFIG -o DIR", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read the scores manifest ({exc})", path=path) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise LoadError(f"malformed JSON ({getattr(exc, 'msg', 'nested too deeply')}); {_REDO}", path=path,
                        line=getattr(exc, "lineno", None)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise LoadError(f"not a labeltui scores folder (format {got!r}, expected {FORMAT!r})", path=path, field="format")
    if data.get("version") != VERSION:
        raise LoadError(f"unsupported version {data.get('version')!r} (this labeltui reads {VERSION}); {_REDO}",
                        path=path, field="version")
    if data.get("task") not in TASKS:
        raise _bad(path, "task", f"expected one of {', '.join(TASKS)}, got {data.get('task')!r}")
    classes = data.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise _bad(path, "classes", "expected a list of class names")
    if not isinstance(data.get("name"), str):
        raise _bad(path, "name", "expected a string")
    if data.get("config") is not None and not isinstance(data["config"], str):
        raise _bad(path, "config", "expected the path of the run config or null")
    n_rows = _integer(data, "n_rows", path, "")
    parts = data.get("parts")
    if not isinstance(parts, list) or not parts:
        raise _bad(path, "parts", "expected a list of parts")
    row = 0
    for k, part in enumerate(parts):
        where = f"parts[{k}]."
        if not isinstance(part, dict):
            raise _bad(path, f"parts[{k}]", "expected a mapping")
        if _integer(part, "first_row", path, where) != row:
            raise _bad(path, f"{where}first_row", f"parts are not contiguous (expected {row}, got {part['first_row']})")
        row += _integer(part, "n_rows", path, where)
        _integer(part, "first_annotation", path, where)
        _integer(part, "n_annotations", path, where)
        if not isinstance(part.get("scores"), str) or not part["scores"]:
            raise _bad(path, f"{where}scores", "expected a file name")
        if part.get("objects") is not None and not isinstance(part["objects"], str):
            raise _bad(path, f"{where}objects", "expected a file name or null")
    if row != n_rows:
        raise _bad(path, "n_rows", f"the parts hold {row} rows, the manifest says {n_rows}")
    return data


# ---------------------------------------------------------------- column sinks


class _Numbers:
    """Fills a preallocated numpy array part by part."""

    def __init__(self, n: int, dtype: np.dtype) -> None:
        self.out = np.empty(n, dtype=dtype)

    def put(self, lo: int, column: pa.ChunkedArray) -> None:
        if column.null_count and self.out.dtype.kind in "iub":
            self.out = self.out.astype(np.float64)  # a missing value: NaN from here on
        values = column.to_numpy()
        self.out[lo : lo + len(values)] = values

    def result(self) -> np.ndarray:
        return self.out


class _Categories:
    """Text with few distinct values: int16 codes (int32 past 32k values) into sorted categories."""

    def __init__(self, n: int) -> None:
        self.codes = np.empty(n, dtype=np.int16)
        self.lookup: dict[Any, int] = {}
        self._lock = threading.Lock()

    def put(self, lo: int, column: pa.ChunkedArray) -> None:
        for chunk in column.chunks:
            hi = lo + len(chunk)
            if pa.types.is_null(chunk.type):
                self.codes[lo:hi] = -1
                lo = hi
                continue
            if not pa.types.is_dictionary(chunk.type):
                chunk = chunk.dictionary_encode()
            words = chunk.dictionary.to_pylist()
            indices = (chunk.indices.fill_null(len(words)) if chunk.null_count else chunk.indices).to_numpy()
            with self._lock:  # parts are read by several threads
                for word in words:
                    if word not in self.lookup:
                        self.lookup[word] = len(self.lookup)
                if len(self.lookup) > np.iinfo(self.codes.dtype).max:
                    self.codes = self.codes.astype(np.int32)
                lut = np.array([self.lookup[w] for w in words] + [-1], dtype=self.codes.dtype)
                self.codes[lo:hi] = lut[indices]
            lo = hi

    def result(self) -> pd.Categorical:
        words = list(self.lookup)
        order = sorted(range(len(words)), key=lambda i: str(words[i]))
        remap = np.empty(len(words) + 1, dtype=self.codes.dtype)
        remap[order] = np.arange(len(words), dtype=self.codes.dtype)
        remap[-1] = -1  # code -1 (missing) indexes the last slot
        codes = remap[self.codes] if words else self.codes
        categories = pd.Index([str(words[i]) for i in order], dtype=object)
        return pd.Categorical.from_codes(codes, categories=categories, validate=False)


class _Strings:
    """Text with a distinct value a row (ids): the parts' Arrow string arrays, not copied."""

    def __init__(self, n: int) -> None:
        self.chunks: dict[int, list[pa.Array]] = {}

    def put(self, lo: int, column: pa.ChunkedArray) -> None:
        self.chunks[lo] = [c if pa.types.is_string(c.type) else c.cast(pa.string()) for c in column.chunks]

    def result(self) -> pd.api.extensions.ExtensionArray:
        chunks = [c for lo in sorted(self.chunks) for c in self.chunks[lo]]
        return pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.string()))


class _Anything:
    """Other types (dates, ...): numpy arrays per part, joined at the end."""

    def __init__(self, n: int) -> None:
        self.arrays: list[np.ndarray] = []

    def put(self, lo: int, column: pa.ChunkedArray) -> None:
        self.arrays.append(column.to_numpy())

    def result(self) -> np.ndarray:
        return np.concatenate(self.arrays) if self.arrays else np.empty(0)


# ---------------------------------------------------------------- the folder


class ScoresDir:
    """An opened scores folder: its manifest and the schema of its parts; reads columns on request."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser().absolute()
        self.manifest_path = self.folder / SCORES_FILE
        data = read_scores_manifest(self.folder)
        self.name: str = data["name"]
        self.task: str = data["task"]
        self.classes: list[str] = list(data["classes"])
        self.n_rows: int = data["n_rows"]
        self.engine = data.get("engine")
        self.config_path = Path(data["config"]) if data.get("config") else None
        self.parts = [
            Part(
                p["first_row"], p["n_rows"], self.folder / p["scores"],
                self.folder / p["objects"] if p.get("objects") else None, p["first_annotation"], p["n_annotations"],
            )
            for p in data["parts"]
        ]
        self.first_rows = np.array([p.first_row for p in self.parts], dtype=np.int64)
        self.first_annotations = np.array([p.first_annotation for p in self.parts], dtype=np.int64)
        self._metadata: list[pq.FileMetaData | None] = [None] * len(self.parts)
        schema = self.metadata(0).schema.to_arrow_schema()
        self.kinds: dict[str, str] = {}
        for f in schema:
            if f.name != "row":
                self.kinds[f.name] = _kind_of(f.name, f.type)

    @property
    def columns(self) -> list[str]:
        """Every score column (without ``row``), in file order."""
        return list(self.kinds)

    def metadata(self, k: int) -> pq.FileMetaData:
        """The Parquet footer of score part ``k`` (read once)."""
        md = self._metadata[k]
        if md is None:
            path = self.parts[k].scores
            try:
                md = pq.read_metadata(path)
            except FileNotFoundError:
                raise _bad(path, None, f"score part missing (listed in {self.manifest_path})") from None
            except (pa.ArrowException, OSError) as exc:
                raise _bad(path, None, f"cannot read this part ({exc})") from None
            if md.num_rows != self.parts[k].n_rows:
                raise _bad(path, None, f"holds {md.num_rows} rows but scores.json says {self.parts[k].n_rows}")
            self._metadata[k] = md
        return md

    def dtypes(self) -> dict[str, Any]:
        """Every readable column and the kind of dtype it has once read (for compiling filters)."""
        word = {"number": np.dtype(np.int64), "float": np.dtype(np.float64), "bool": np.dtype(bool),
                "category": np.dtype(object), "text": pd.StringDtype("pyarrow"), "datetime": np.dtype("datetime64[ns]")}
        return {name: word[kind] for name, kind in self.kinds.items() if kind in word}

    def _int_dtype(self, name: str) -> np.dtype:
        """The smallest integer type holding every value of ``name`` (int64 without statistics)."""
        lo, hi = 0, 0
        for k in range(len(self.parts)):
            md = self.metadata(k)
            if name not in md.schema.names:  # read_columns says which part lacks it
                continue
            j = md.schema.names.index(name)
            for g in range(md.num_row_groups):
                stats = md.row_group(g).column(j).statistics
                if stats is None or not stats.has_min_max:
                    if md.row_group(g).num_rows:
                        return np.dtype(np.int64)
                    continue
                if stats.null_count:
                    return np.dtype(np.float64)
                lo, hi = min(lo, int(stats.min)), max(hi, int(stats.max))
        for dtype in (np.int8, np.int16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= lo and hi <= info.max:
                return np.dtype(dtype)
        return np.dtype(np.int64)

    def _sink(self, name: str) -> Any:
        kind = self.kinds[name]
        if kind == "number":
            return _Numbers(self.n_rows, self._int_dtype(name))
        if kind == "float":
            return _Numbers(self.n_rows, np.dtype(np.float64))
        if kind == "bool":
            return _Numbers(self.n_rows, np.dtype(bool))
        if kind == "category":
            return _Categories(self.n_rows)
        if kind == "text":
            return _Strings(self.n_rows)
        return _Anything(self.n_rows)

    def _open(self, k: int, dictionary: list[str] | None = None) -> pq.ParquetFile:
        path = self.parts[k].scores
        try:
            return pq.ParquetFile(path, metadata=self.metadata(k), read_dictionary=dictionary or None)
        except (pa.ArrowException, OSError) as exc:
            raise _bad(path, None, f"cannot read this part ({exc})") from None

    def read_columns(self, names: list[str] | tuple[str, ...], progress: Progress | None = None) -> dict[str, Any]:
        """Whole columns in row order: numpy arrays (numbers), Categoricals (text),
        Arrow string arrays (``TEXT_COLUMNS``). Unknown names raise LoadError."""
        names = list(dict.fromkeys(names))
        for name in names:
            if name not in self.kinds or self.kinds[name] == "other":
                raise LoadError(f"no readable column {name!r} in the scores", path=self.manifest_path)
        sinks = {name: self._sink(name) for name in names}
        dictionary = [n for n in names if self.kinds[n] == "category"]
        n_parts, done = len(self.parts), [0]
        lock = threading.Lock()

        def read(k: int) -> None:
            part = self.parts[k]
            try:
                table = self._open(k, dictionary).read(columns=names, use_threads=False)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise _bad(part.scores, None, f"cannot read this part ({exc})") from None
            missing = [n for n in names if n not in table.column_names]
            if missing:
                raise _bad(part.scores, missing[0], "column missing from this part (the first part has it)")
            for name, sink in sinks.items():
                sink.put(part.first_row, table.column(name))
            with lock:
                done[0] += 1
                if progress is not None and done[0] % 8 == 0:
                    progress(f"reading {', '.join(names)}: part {done[0]}/{n_parts}", done[0] / n_parts)

        in_threads(read, list(range(n_parts)))
        return {name: sink.result() for name, sink in sinks.items()}

    def read_part_column(self, k: int, name: str) -> pa.ChunkedArray:
        """Column ``name`` of score part ``k`` as read."""
        try:
            return self._open(k).read(columns=[name], use_threads=False).column(name)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _bad(self.parts[k].scores, None, f"cannot read this part ({exc})") from None

    def values_at(self, names: list[str] | tuple[str, ...], rows: np.ndarray) -> pd.DataFrame:
        """The columns ``names`` of the given global rows, in that order (reads only their parts)."""
        rows = np.asarray(rows, dtype=np.int64)
        names = [n for n in dict.fromkeys(names) if n in self.kinds]
        if len(rows) and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f"rows out of range 0..{self.n_rows - 1}")
        parts_of = np.searchsorted(self.first_rows, rows, side="right") - 1
        order = np.argsort(parts_of, kind="stable")
        tables = []
        for k in np.unique(parts_of):
            mine = rows[order[parts_of[order] == k]] - self.parts[k].first_row
            try:
                table = self._open(int(k)).read(columns=names)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise _bad(self.parts[k].scores, None, f"cannot read this part ({exc})") from None
            tables.append(table.take(pa.array(mine)))
        if not tables:
            return pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
        joined = pa.concat_tables(tables, promote_options="permissive")
        back = np.empty(len(rows), dtype=np.int64)
        back[order] = np.arange(len(rows))
        return joined.take(pa.array(back)).to_pandas()

    def objects_at(self, annotations: np.ndarray) -> pd.DataFrame:
        """The object outcome columns (``OBJECT_COLUMNS``) of the given global annotation
        indices, indexed by them; reads only the row groups that hold them."""
        wanted = np.unique(np.asarray(annotations, dtype=np.int64))
        parts_of = np.searchsorted(self.first_annotations, wanted, side="right") - 1
        frames = []
        for k in np.unique(parts_of):
            part = self.parts[int(k)]
            mine = wanted[parts_of == k]
            mine = mine[mine < part.first_annotation + part.n_annotations]
            if part.objects is None or not len(mine):
                continue
            try:
                pf = pq.ParquetFile(part.objects)
                names = [c for c in OBJECT_COLUMNS if c in pf.schema_arrow.names]
                table = _take_rows(pf, mine - part.first_annotation, names)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise _bad(part.objects, None, f"cannot read this part ({exc})") from None
            frames.append(table.to_pandas().set_axis(pd.Index(mine, dtype=np.int64)))
        if not frames:
            return pd.DataFrame(index=pd.Index([], dtype=np.int64), columns=list(OBJECT_COLUMNS))
        return pd.concat(frames)

    def read_objects(self) -> pd.DataFrame | None:
        """Every part's object outcomes as one table (aligned to the run's annotations), or None."""
        tables = []
        for part in self.parts:
            if part.objects is None:
                continue
            try:
                tables.append(pq.read_table(part.objects))
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise _bad(part.objects, None, f"cannot read this part ({exc})") from None
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()


def _take_rows(pf: pq.ParquetFile, local: np.ndarray, columns: list[str]) -> pa.Table:
    """Rows ``local`` (sorted positions in the file) of ``columns``, reading only the
    row groups that hold them (the Parquet file's unit of reading)."""
    sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    groups = np.unique(np.searchsorted(offsets, local, side="right") - 1)
    table = pf.read_row_groups(groups.tolist(), columns=columns, use_threads=False)
    start = np.concatenate([np.arange(offsets[g], offsets[g + 1]) for g in groups])
    return table.take(pa.array(np.searchsorted(start, local)))


def _kind_of(name: str, kind: pa.DataType) -> str:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind):
        return "number"
    if pa.types.is_floating(kind):
        return "float"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text" if name in TEXT_COLUMNS else "category"
    if pa.types.is_null(kind):
        return "category"
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "datetime"
    return "other"


# ---------------------------------------------------------------- ranking without sorting everything


def _rank_keys(column: pd.Series, view: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(numeric keys in the column's sort order, missing mask) over ``view``, or None when
    the column has no cheap numeric order (free text)."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # in category order, as sort_view orders them
        codes = column.cat.codes.to_numpy()
        keys = codes if view is None else codes[view]
        return keys, keys < 0
    if pd.api.types.is_bool_dtype(dtype) and isinstance(dtype, np.dtype):
        keys = column.to_numpy().view(np.uint8)
        keys = keys if view is None else keys[view]
        return keys, np.zeros(len(keys), dtype=bool)
    if pd.api.types.is_numeric_dtype(dtype):
        keys = column.to_numpy() if isinstance(dtype, np.dtype) else column.to_numpy(dtype=np.float64, na_value=np.nan)
        keys = keys if view is None else keys[view]
        missing = np.isnan(keys) if keys.dtype.kind == "f" else np.zeros(len(keys), dtype=bool)
        return keys, missing
    return None


def _threshold(keys: np.ndarray, present: np.ndarray, k: int) -> Any:
    """A value with at least ``k`` present keys at or above it and, unless many
    tie, not many more (estimated on a sample, checked on every key)."""
    step = max(1, len(keys) // 200_000)
    sample = keys[::step][present[::step]]
    r = min(len(sample), k // step + 64)
    while 0 < r < len(sample):
        t = np.partition(sample, len(sample) - r)[len(sample) - r]
        if np.count_nonzero((keys >= t) & present) >= k:
            return t
        r = min(len(sample), r * 4)
    return keys[present].min()


def top_view(
    table: pd.DataFrame, view: np.ndarray | None, key: str, descending: bool, limit: int
) -> np.ndarray:
    """The first ``limit`` rows of ``sort_view(table, view, key, descending)`` (``view``
    None: every row), found without sorting every row: the rows past a sampled
    threshold are the only ones sorted. Ties keep view order, missing values go last."""
    n = len(table) if view is None else len(view)
    if n <= 4 * limit + 10_000:
        every = np.arange(n, dtype=np.int64) if view is None else np.asarray(view, dtype=np.int64)
        return sort_view(table, every, key, descending)[:limit]
    extracted = _rank_keys(table[key], view)
    if extracted is None:
        every = np.arange(n, dtype=np.int64) if view is None else np.asarray(view, dtype=np.int64)
        return sort_view(table, every, key, descending)[:limit]
    keys, missing = extracted
    present = ~missing
    n_present = int(np.count_nonzero(present))
    if not descending:
        keys = -keys.astype(np.float64) if keys.dtype.kind == "f" else ~keys.astype(np.int64)
    if n_present <= limit:
        head = np.flatnonzero(present)
        rest = np.flatnonzero(missing)[: limit - n_present]
    else:
        t = _threshold(keys, present, limit)
        cand = np.flatnonzero((keys >= t) & present)
        sub = keys[cand]
        kth = np.partition(sub, len(sub) - limit)[len(sub) - limit]
        head = cand[sub > kth]
        rest = cand[sub == kth][: limit - len(head)]
    where = (lambda i: i) if view is None else (lambda i: np.asarray(view, dtype=np.int64)[i])
    ranked = sort_view(table, where(head).astype(np.int64), key, descending)
    return np.concatenate([ranked, where(rest).astype(np.int64)])


# ---------------------------------------------------------------- ids


class RowIds:
    """A ``data_row_id`` column as Arrow strings, indexed like a numpy array of str:
    ``ids[i]`` is a str, ``ids[positions]`` / ``ids[a:b]`` an object array, ``ids == x``
    a bool mask; no Python string is made for rows nobody looks at.

    Built over a scores folder (:meth:`of_folder`) it reads the column part by part
    (decoding 20M ids takes seconds: the app reads them after the first frame);
    indexing reads the parts it needs, :meth:`get` never reads. :meth:`of_array`
    wraps ids already in memory."""

    def __init__(self, n: int, first_rows: np.ndarray, chunks: list[pa.Array | None], source: ScoresDir | None) -> None:
        self._n = n
        self.first_rows = first_rows  # row of each chunk's first id
        self._chunks = chunks
        self.source = source
        self._lock = threading.Lock()

    @classmethod
    def of_folder(cls, source: ScoresDir) -> RowIds:
        """The ids of a scores folder, read when needed."""
        return cls(source.n_rows, source.first_rows, [None] * len(source.parts), source)

    @classmethod
    def of_array(cls, values: Any) -> RowIds:
        """Ids in memory (a pandas column, an Arrow or numpy array); missing ids read as ""."""
        if isinstance(values, pd.Series):
            values = values.array
        arrow = getattr(values, "_pa_array", None)
        if arrow is None:
            arrow = pa.chunked_array([pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True)])
        elif not isinstance(arrow, pa.ChunkedArray):
            arrow = pa.chunked_array([arrow])
        chunks = [c if pa.types.is_string(c.type) else c.cast(pa.string()) for c in arrow.chunks] or [pa.array([], pa.string())]
        sizes = np.array([len(c) for c in chunks], dtype=np.int64)
        return cls(int(sizes.sum()), np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64), chunks, None)

    def __len__(self) -> int:
        return self._n

    @property
    def complete(self) -> bool:
        return all(c is not None for c in self._chunks)

    def _part(self, k: int) -> pa.Array:
        chunk = self._chunks[k]
        if chunk is None and self.source is not None:
            column = self.source.read_part_column(k, "data_row_id")
            chunk = pa.concat_arrays([c.cast(pa.string()) for c in column.chunks]) if column.num_chunks else pa.array([], pa.string())
            with self._lock:
                self._chunks[k] = chunk
        return chunk

    def load(self, progress: Progress | None = None) -> None:
        """Read every part not read yet (several at a time)."""
        missing = [k for k, c in enumerate(self._chunks) if c is None]

        def read(k: int) -> None:
            self._part(k)
            if progress is not None and k % 16 == 0:
                progress("reading data row ids", k / len(self._chunks))

        in_threads(read, missing)

    @property
    def array(self) -> pa.ChunkedArray:
        """Every id (reads what is missing)."""
        self.load()
        return pa.chunked_array(self._chunks, type=pa.string())

    def get(self, pos: int) -> str | None:
        """Row ``pos``'s id if its part is read, else None (never reads)."""
        k = int(np.searchsorted(self.first_rows, pos, side="right")) - 1
        chunk = self._chunks[k]
        if chunk is None:
            return None
        value = chunk[pos - int(self.first_rows[k])].as_py()
        return "" if value is None else value

    def __getitem__(self, key: Any) -> Any:
        first = self.first_rows
        if isinstance(key, (int, np.integer)):
            pos = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= pos < len(self):
                raise IndexError(f"row {key} out of range")
            k = int(np.searchsorted(first, pos, side="right")) - 1
            value = self._part(k)[pos - int(first[k])].as_py()
            return "" if value is None else value
        positions = np.asarray(range(len(self))[key] if isinstance(key, slice) else key, dtype=np.int64)
        out = np.empty(len(positions), dtype=object)
        parts_of = np.searchsorted(first, positions, side="right") - 1
        for k in np.unique(parts_of):
            sel = parts_of == k
            taken = self._part(int(k)).take(pa.array(positions[sel] - first[k]))
            out[sel] = taken.fill_null("").to_numpy(zero_copy_only=False)
        return out

    def __eq__(self, other: object) -> np.ndarray:  # type: ignore[override]
        import pyarrow.compute as pc

        return pc.equal(self.array, str(other)).fill_null(False).to_numpy(zero_copy_only=False)

    __hash__ = None  # type: ignore[assignment]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self[slice(None)]

    def positions(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(positions in this column, index into ``ids``) of the ids present, by position."""
        import pyarrow.compute as pc

        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        found = pc.index_in(self.array, value_set=pa.array([str(i) for i in ids], pa.string()))
        pos = np.flatnonzero(found.is_valid().to_numpy(zero_copy_only=False))
        which = found.drop_null().to_numpy(zero_copy_only=False).astype(np.int64)
        return pos.astype(np.int64), which


# ---------------------------------------------------------------- previews on demand


@dataclass
class RowData:
    """What a preview needs of one row, read on demand."""

    asset: str
    boxes: pd.DataFrame  # the row's annotations (+ outcome, issue, suspicion), index 0..n-1
    first: int = -1  # position in ``boxes`` of the object behind the row's issue
    given: int = -1  # classification: class ids, confidence, probabilities
    predicted: int = -1
    pred_confidence: float = math.nan
    probs: np.ndarray | None = field(default=None, repr=False)


class ShardRows:
    """Previews of a scores folder whose run is a sharded run: a few rows at a time,
    read from the run's parts (annotations, asset) and the folder's object parts."""

    def __init__(self, manifest_path: Path, scores: ScoresDir) -> None:
        from labeltui import shards

        self.manifest_path = Path(manifest_path)
        self.manifest = shards.read_manifest(self.manifest_path)
        self.scores = scores
        if self.manifest["n_rows"] != scores.n_rows:
            raise LoadError(
                f"the sharded run has {self.manifest['n_rows']:,} rows but the scores {scores.n_rows:,}; "
                "score this run again (labeltui score)", path=self.manifest_path,
            )
        self.first_rows = np.array([p["first_row"] for p in self.manifest["parts"]], dtype=np.int64)
        entries = self.manifest["columns"]["rows"]
        self.asset_column = next((e["column"] for e in entries if e["name"] == "asset"), None)
        self.labels = list(self.manifest["columns"]["labels"])
        self.probs = self.manifest["columns"]["probs"]

    def _row_fields(self, rows: np.ndarray) -> pd.DataFrame:
        """asset (and classification fields) of the sorted global ``rows``, indexed by row."""
        from labeltui.shards import PROB_PREFIX

        folder = self.manifest_path.parent
        names = [c for c in (self.asset_column, *self.labels) if c]
        if self.probs:
            names += [PROB_PREFIX + c for c in self.manifest["classes"]]
        parts_of = np.searchsorted(self.first_rows, rows, side="right") - 1
        frames = []
        for k in np.unique(parts_of):
            path = folder / self.manifest["parts"][int(k)]["rows"]
            mine = rows[parts_of == k] - self.first_rows[k]
            try:
                table = _take_rows(pq.ParquetFile(path), mine, names)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise LoadError(f"cannot read this part of the sharded run ({exc})", path=path) from None
            frames.append(table.to_pandas().set_axis(rows[parts_of == k]))
        return pd.concat(frames) if frames else pd.DataFrame(columns=names)

    def fetch(self, rows: np.ndarray, issue_object: np.ndarray) -> dict[int, RowData]:
        """RowData of the global ``rows`` (``issue_object``: each row's issue object, a global annotation index)."""
        from labeltui.shards import PROB_PREFIX, annotations_for

        rows = np.asarray(rows, dtype=np.int64)
        issue = dict(zip(rows.tolist(), np.asarray(issue_object, dtype=np.int64).tolist()))
        rows = np.unique(rows)
        ann = annotations_for(self.manifest_path, rows)
        if len(ann):
            outcomes = self.scores.objects_at(ann.index.to_numpy())
            ann = ann.join(outcomes, how="left")
        fields = self._row_fields(rows)
        ann_rows = ann["row"].to_numpy() if len(ann) else np.zeros(0, dtype=np.int64)
        bounds = np.searchsorted(ann_rows, np.concatenate([rows, [rows[-1] + 1]])) if len(rows) else []
        probs_cols = [PROB_PREFIX + c for c in self.manifest["classes"]] if self.probs else []
        out: dict[int, RowData] = {}
        for i, row in enumerate(rows.tolist()):
            boxes = ann.iloc[bounds[i] : bounds[i + 1]]
            index = boxes.index.to_numpy()
            hit = np.flatnonzero(index == issue.get(row, -1))
            record = fields.loc[row]
            asset = record[self.asset_column] if self.asset_column else None
            data = RowData(
                asset="" if asset is None or (isinstance(asset, float) and math.isnan(asset)) else str(asset),
                boxes=boxes.reset_index(drop=True),
                first=int(hit[0]) if len(hit) else -1,
            )
            if "gt_label" in self.labels:
                data.given = int(record["gt_label"])
            if "pred_label" in self.labels:
                data.predicted = int(record["pred_label"])
            if "pred_confidence" in self.labels:
                data.pred_confidence = float(record["pred_confidence"])
            if probs_cols:
                data.probs = record[probs_cols].to_numpy(dtype=np.float64)
            out[row] = data
        return out


class RowCache:
    """A thread-safe LRU of fetched RowData by row."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[int, RowData] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, row: int) -> RowData | None:
        with self._lock:
            item = self._items.get(row)
            if item is not None:
                self._items.move_to_end(row)
            return item

    def put(self, items: dict[int, RowData]) -> None:
        with self._lock:
            self._items.update(items)
            for row in items:
                self._items.move_to_end(row)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def missing(self, rows: list[int]) -> list[int]:
        with self._lock:
            return [r for r in rows if r not in self._items]


# ---------------------------------------------------------------- opening


def run_config(scores: ScoresDir) -> tuple[Config, str | None]:
    """The config of the run the scores came from (review store, export folder, keys),
    or, when it cannot be read, one keeping the review store in the scores folder, and why."""
    if scores.config_path is not None:
        try:
            config = load_config(scores.config_path)
        except LoadError as err:
            reason = f"cannot read the run config ({err})"
        else:
            if config.task != scores.task:
                reason = f"the run config {scores.config_path} is a {config.task} run, the scores a {scores.task} run"
            else:
                return config, None
    else:
        reason = "scores.json names no run config"
    fallback = Config(
        path=scores.manifest_path,
        name=scores.name,
        task=scores.task,
        ground_truth=Source("scores", scores.folder, key="ground_truth"),
        predictions=None,
        review_store=scores.folder / "labeltui-review.sqlite",
        export_dir=scores.folder / "batches",
    )
    return fallback, f"{reason}: previews are off and verdicts go to {fallback.review_store}"


def load_rest(config: Config, scores: ScoresDir, progress: Progress | None = None) -> tuple[ModelRun, pd.DataFrame | None]:
    """The run of a (non-sharded) run config and the folder's object outcomes, checked to match the scores."""
    from labeltui.load import load_run

    run = load_run(config, progress)
    if run.n_rows != scores.n_rows:
        raise LoadError(
            f"the run has {run.n_rows:,} rows but the scores {scores.n_rows:,}; its inputs changed since "
            f"it was scored: score it again (labeltui score)", path=config.path,
        )
    objects = scores.read_objects()
    if objects is not None and len(objects) != len(run.annotations):
        raise LoadError(
            f"the run has {len(run.annotations):,} annotations but the scores {len(objects):,}; "
            "score it again (labeltui score)", path=config.path,
        )
    return run, objects


# ---------------------------------------------------------------- rank


def ranked_view(source: ScoresDir, filter_expr: str | None, sort_key: str | None, top: int | None) -> np.ndarray:
    """Global rows of a scores folder in ranking order (``labeltui rank``), reading only the
    columns the filter and the sort name; with ``top`` only the first rows are ever sorted."""
    from labeltui.engine.query import compile_filter, parse_sort_key

    compiled = compile_filter(filter_expr, source.dtypes()) if filter_expr and filter_expr.strip() else None
    sort = (sort_key or "").strip()
    name, descending = parse_sort_key(sort, source.dtypes()) if sort else (None, True)
    needed = sorted(set(compiled.columns if compiled is not None else ()) | ({name} if name else set()))
    table = pd.DataFrame(source.read_columns(needed), copy=False) if needed else pd.DataFrame(index=pd.RangeIndex(source.n_rows))
    view = np.flatnonzero(compiled.evaluate(table)).astype(np.int64) if compiled is not None else None
    if name is None:
        view = np.arange(source.n_rows, dtype=np.int64) if view is None else view
        return view if top is None else view[:top]
    if top is not None:
        return top_view(table, view, name, descending, top)
    return sort_view(table, np.arange(source.n_rows, dtype=np.int64) if view is None else view, name, descending)


def write_scores_ranking(
    folder: str | Path, filter_expr: str | None, sort_key: str | None, top: int | None, fmt: str, out: Any, *, chunk: int = 500_000
) -> int:
    """``labeltui rank SCORES_DIR``: write the ranking like ``rank CONFIG`` does, reading
    every column of the printed rows only; returns the number of rows written."""
    import io

    from labeltui.report import write_ranking

    source = ScoresDir(folder)
    view = ranked_view(source, filter_expr, sort_key, top)
    if fmt == "table" or len(view) <= chunk:
        rows = source.values_at(source.columns, view)
        write_ranking(rows, np.arange(len(view)), fmt, out, title=source.name)
        return len(view)
    for lo in range(0, len(view), chunk):  # csv / jsonl: a chunk of rows in memory at a time
        rows = source.values_at(source.columns, view[lo : lo + chunk])
        buffer = io.StringIO()
        write_ranking(rows, np.arange(len(rows)), fmt, buffer)
        text = buffer.getvalue()
        out.write(text if lo == 0 or fmt != "csv" else text.split("\n", 1)[1])
    return len(view)
