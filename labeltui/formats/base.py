"""The shape every reader returns: columnar tables for one source file.

Readers never raise anything but :class:`labeltui.errors.LoadError` for user
input; recoverable oddities (a clipped box, a dropped prediction) become
warnings on :class:`Loaded`.
"""

from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from labeltui.errors import LoadError

SOURCES = ("gt", "pred")

#: Columns of ``Loaded.rows`` (readers may add metadata columns after these).
ROW_COLUMNS = ("data_row_id", "global_key", "asset", "width", "height")

#: Columns of ``Loaded.annotations`` and their dtypes.
#: Boxes use x0,y0,x1,y1 in pixels (start/end = -1); spans use start,end
#: character offsets, end exclusive (x0..y1 = NaN). ``polygon`` holds an
#: optional flat list of vertex coordinates for drawing (DOTA), else None.
ANNOTATION_DTYPES: dict[str, Any] = {
    "data_row_id": object,
    "source": object,
    "label": object,
    "x0": np.float64,
    "y0": np.float64,
    "x1": np.float64,
    "y1": np.float64,
    "start": np.int64,
    "end": np.int64,
    "confidence": np.float64,
    "annotation_id": object,
    "polygon": object,
}

#: Columns of ``Loaded.classifications``: one row per (data row, source).
#: For predictions ``label`` is the predicted class and ``confidence`` its
#: probability; full class probabilities go to ``Loaded.probs``.
CLASSIFICATION_DTYPES: dict[str, Any] = {
    "data_row_id": object,
    "source": object,
    "label": object,
    "confidence": np.float64,
}


@dataclass
class Loaded:
    """What one reader call produced.

    - ``rows``: data rows seen in the file (``ROW_COLUMNS`` + metadata); may be
      empty for formats that only reference rows (COCO results, prediction lines).
      Rows known only by global key carry ``data_row_id`` None.
    - ``annotations``: boxes/spans (``ANNOTATION_DTYPES``), ``source`` set.
      Rows referenced by global key only carry ``global_key`` in an extra column
      ``global_key`` and ``data_row_id`` None; the run assembler resolves them.
    - ``classifications``: per-row class labels (``CLASSIFICATION_DTYPES``).
    - ``probs``: ``data_row_id`` + one float column per class name (predicted
      probabilities), or None.
    - ``metrics``: ``data_row_id`` + numeric custom-metric columns, or None.
    - ``embeddings``: (ids, float32 matrix) or None.
    - ``warnings``: counted, human-readable notes about recovered problems.
    - ``meta``: format-specific context a later reader needs (COCO GT puts
      ``categories`` {id: name} and ``image_ids`` {coco id: data_row_id} here for
      the COCO results reader).
    """

    rows: pd.DataFrame = field(default_factory=lambda: empty_rows())
    annotations: pd.DataFrame = field(default_factory=lambda: empty_annotations())
    classifications: pd.DataFrame = field(default_factory=lambda: empty_classifications())
    probs: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    embeddings: tuple[np.ndarray, np.ndarray] | None = None
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def empty_rows() -> pd.DataFrame:
    return make_rows([], [], [], [], [])


def make_rows(
    data_row_id: Iterable[Any],
    global_key: Iterable[Any],
    asset: Iterable[Any],
    width: Iterable[float],
    height: Iterable[float],
) -> pd.DataFrame:
    """Build a rows table with the standard columns and dtypes."""
    return pd.DataFrame(
        {
            "data_row_id": pd.Series(list(data_row_id), dtype=object),
            "global_key": pd.Series(list(global_key), dtype=object),
            "asset": pd.Series(list(asset), dtype=object),
            "width": pd.Series(np.asarray(list(width), dtype=np.float64)),
            "height": pd.Series(np.asarray(list(height), dtype=np.float64)),
        }
    )


def empty_annotations() -> pd.DataFrame:
    return make_annotations(source="gt", data_row_id=[], label=[])


def make_annotations(
    *,
    source: str,
    data_row_id: Any,
    label: Any,
    x0: Any = None,
    y0: Any = None,
    x1: Any = None,
    y1: Any = None,
    start: Any = None,
    end: Any = None,
    confidence: Any = None,
    annotation_id: Any = None,
    polygon: Any = None,
    global_key: Any = None,
) -> pd.DataFrame:
    """Build an annotations table from column sequences (arrays or lists).

    Missing geometry columns are filled (NaN for boxes, -1 for spans,
    NaN confidence, None ids/polygons).
    """
    ids = np.asarray(data_row_id, dtype=object)
    n = len(ids)

    def floats(v: Any) -> np.ndarray:
        return np.full(n, np.nan) if v is None else np.asarray(v, dtype=np.float64)

    def ints(v: Any) -> np.ndarray:
        return np.full(n, -1, dtype=np.int64) if v is None else np.asarray(v, dtype=np.int64)

    def objs(v: Any) -> np.ndarray:
        if v is None:
            return np.full(n, None, dtype=object)
        out = np.empty(n, dtype=object)
        out[:] = list(v) if not isinstance(v, np.ndarray) else v
        return out

    df = pd.DataFrame(
        {
            "data_row_id": pd.Series(ids, dtype=object, copy=False),
            "source": pd.Series(np.full(n, source, dtype=object), dtype=object, copy=False),
            "label": pd.Series(np.asarray(label, dtype=object), dtype=object, copy=False),
            "x0": floats(x0),
            "y0": floats(y0),
            "x1": floats(x1),
            "y1": floats(y1),
            "start": ints(start),
            "end": ints(end),
            "confidence": floats(confidence),
            "annotation_id": pd.Series(objs(annotation_id), dtype=object, copy=False),
            "polygon": pd.Series(objs(polygon), dtype=object, copy=False),
        }
    )
    if global_key is not None:
        df["global_key"] = pd.Series(objs(global_key), dtype=object, copy=False)
    return df


def empty_classifications() -> pd.DataFrame:
    return make_classifications(source="gt", data_row_id=[], label=[])


def make_classifications(
    *, source: str, data_row_id: Any, label: Any, confidence: Any = None, global_key: Any = None
) -> pd.DataFrame:
    """Build a classifications table (one label per row and source)."""
    ids = np.asarray(data_row_id, dtype=object)
    n = len(ids)
    df = pd.DataFrame(
        {
            "data_row_id": pd.Series(ids, dtype=object, copy=False),
            "source": pd.Series(np.full(n, source, dtype=object), dtype=object, copy=False),
            "label": pd.Series(np.asarray(label, dtype=object), dtype=object, copy=False),
            "confidence": np.full(n, np.nan)
            if confidence is None
            else np.asarray(confidence, dtype=np.float64),
        }
    )
    if global_key is not None:
        df["global_key"] = pd.Series(np.asarray(global_key, dtype=object), dtype=object, copy=False)
    return df


def read_bytes(path: Path, what: str = "a file") -> bytes:
    """The file's bytes, or a LoadError for a folder or an unreadable file."""
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise LoadError(f"is a directory, expected {what}", path=path) from None
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}", path=path) from None


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, or raise a LoadError saying where it is not UTF-8."""
    raw = read_bytes(path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LoadError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8",
            path=path,
            line=line,
        ) from None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Parsing JSON creates millions of containers and no cycles; the collector's
    repeated generation scans are pure overhead there.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_json(path: Path) -> Any:
    """Parse a whole JSON file, reporting the line of a syntax error."""
    import json

    text = read_text(path)
    if not text.strip():
        raise LoadError("file is empty, expected JSON", path=path)
    try:
        with gc_paused():
            return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno) from None
    except (RecursionError, ValueError) as exc:
        raise LoadError(f"malformed JSON: {exc}", path=path) from None


def iter_ndjson(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for each non-blank NDJSON line.

    A file that holds one JSON array (as Labelbox's SDK fixtures do) is accepted too.
    """
    import json

    text = read_text(path)
    if not text.strip():
        raise LoadError("file is empty, expected NDJSON (one JSON object a line)", path=path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = load_json(path)
        if not isinstance(data, list):
            raise LoadError("expected a JSON array or one JSON object a line", path=path)
        for i, obj in enumerate(data):
            yield i + 1, obj
        return
    with gc_paused():
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError, ValueError) as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise LoadError(f"malformed JSON line: {msg}", path=path, line=lineno) from None
            yield lineno, obj


def finite_number(value: Any, *, path: Path, line: int | None, field: str) -> float:
    """Return value as a finite float, or raise a LoadError naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LoadError(f"expected a number, got {type(value).__name__} {value!r:.40}", path=path, line=line, field=field)
    try:
        out = float(value)
    except OverflowError:
        raise LoadError("number too large", path=path, line=line, field=field) from None
    if not math.isfinite(out):
        raise LoadError(f"expected a finite number, got {value!r}", path=path, line=line, field=field)
    return out


def require(obj: Any, key: str, *, path: Path, line: int | None, context: str = "") -> Any:
    """``obj[key]`` or a LoadError naming the missing field."""
    name = f"{context}.{key}" if context else key
    if not isinstance(obj, dict):
        raise LoadError(f"expected an object, got {type(obj).__name__}", path=path, line=line, field=context or None)
    if key not in obj:
        raise LoadError("missing required field", path=path, line=line, field=name)
    return obj[key]
