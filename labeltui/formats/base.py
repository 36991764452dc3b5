"""The shape every reader returns: columnar tables for one source file.

Readers never raise anything but :class:`labeltui.errors.LoadError` for user
input; recoverable oddities (a clipped box, a dropped prediction) become
warnings on :class:`Loaded`.
"""

from __future__ import annotations

import gc
import math
import re
import reprlib
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


class _ShortRepr(reprlib.Repr):
    """reprlib with small limits; integers too long for ``repr`` are summarised."""

    def repr_int(self, x: int, level: int) -> str:
        try:
            return super().repr_int(x, level)
        except ValueError:  # beyond sys.get_int_max_str_digits()
            return f"<integer of about {int(x.bit_length() * 0.30103)} digits>"


def describe(value: Any, width: int = 60) -> str:
    """A short repr of a user value for messages, at most ``width`` characters and
    three levels deep, so deeply nested JSON or a 5,000-digit integer cannot break
    the error message itself."""
    short = _ShortRepr()
    short.maxlevel = 3
    short.maxstring = short.maxother = short.maxlong = width
    short.maxlist = short.maxtuple = short.maxset = 6
    short.maxdict = 4
    text = short.repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _surrogate_patterns() -> dict[type, tuple[re.Pattern, re.Pattern]]:
    """(candidate, high escape) patterns for str and bytes JSON text.

    A candidate is a high-surrogate escape not followed by a low one (group 1
    set), or a low one not preceded by a high one whose backslash follows a
    non-backslash. It starts with the literal ``\\u``, so the regex engine
    skips ahead at C speed; only candidates are checked for escaped backslashes.
    """
    hexes = r"[0-9a-fA-F]{2}"
    high = rf"\\u[dD][89abAB]{hexes}"
    low = rf"\\u[dD][c-fC-F]{hexes}"
    candidate = rf"\\u[dD](?:([89abAB]){hexes}(?!{low})|[c-fC-F]{hexes}(?<![^\\]{high}{low}))"
    return {
        str: (re.compile(candidate), re.compile(high)),
        bytes: (re.compile(candidate.encode()), re.compile(high.encode())),
    }


_SURROGATE = _surrogate_patterns()


def _escaped(text: str | bytes, i: int) -> bool:
    """Whether the backslash at ``i`` is itself escaped (an odd run of backslashes before it)."""
    backslash = text[i : i + 1]
    j = i
    while j > 0 and text[j - 1 : j] == backslash:
        j -= 1
    return (i - j) % 2 == 1


def lone_surrogate(text: str | bytes) -> int | None:
    """Offset of the first ``\\uD800``-``\\uDFFF`` escape in JSON text that is not
    half of a high+low pair, or None.

    JSON parsers turn such an escape into a lone surrogate: a str that cannot be
    encoded, printed or stored. One regex scan (see :func:`_surrogate_patterns`;
    ~2 GB/s on plain ASCII, ~0.3 GB/s with a surrogate pair in every record),
    then a few checks per candidate.
    """
    candidate, high = _SURROGATE[str if isinstance(text, str) else bytes]
    pos = 0
    while (m := candidate.search(text, pos)) is not None:
        at = m.start()
        pos = at + 1
        if _escaped(text, at):  # JSON text \\uD800: an escaped backslash, then plain "uD800"
            continue
        if m.group(1) is not None:
            return at
        before = at - 6
        if before >= 0 and high.match(text, before) and not _escaped(text, before):
            continue
        return at
    return None


def reject_lone_surrogate(text: str | bytes, path: Path, line: int | None = None) -> None:
    """Raise a LoadError at the first unpaired surrogate escape of JSON text, if any.

    The line is ``line`` when given (one NDJSON line), else counted in ``text``.
    """
    at = lone_surrogate(text)
    if at is None:
        return
    escape = text[at : at + 6]
    if isinstance(escape, bytes):
        escape = escape.decode("ascii")
        line = line if line is not None else text.count(b"\n", 0, at) + 1
    else:
        line = line if line is not None else text.count("\n", 0, at) + 1
    raise LoadError(
        f"invalid string escape {escape}: an unpaired UTF-16 surrogate is not a character; "
        "fix or remove it, or re-export the file as UTF-8",
        path=path,
        line=line,
    )


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
    reject_lone_surrogate(text, path)
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
    suspect = lone_surrogate(text) is not None  # then find its line in order with the other checks
    with gc_paused():
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            if suspect:
                reject_lone_surrogate(line, path, lineno)
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError, ValueError) as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise LoadError(f"malformed JSON line: {msg}", path=path, line=lineno) from None
            yield lineno, obj


def finite_number(value: Any, *, path: Path, line: int | None, field: str) -> float:
    """Return value as a finite float, or raise a LoadError naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LoadError(f"expected a number, got {type(value).__name__} {describe(value, 40)}", path=path, line=line, field=field)
    try:
        out = float(value)
    except OverflowError:
        raise LoadError("number too large", path=path, line=line, field=field) from None
    if not math.isfinite(out):
        raise LoadError(f"expected a finite number, got {value!r}", path=path, line=line, field=field)
    return out


def check_unique_columns(names: list[str], path: Path, line: int | None = None, note: str = "") -> None:
    """Raise a LoadError naming the first column name that occurs twice (pyarrow and
    pandas fail on duplicate names with long, multi-line errors)."""
    dup = np.flatnonzero(pd.Index(names).duplicated())
    if dup.size:
        j = int(dup[0])
        first = list(names).index(names[j])
        raise LoadError(
            f"duplicate column name {names[j]!r}: columns {first + 1} and {j + 1}{note}; rename one",
            path=path,
            line=line,
            field=names[j],
        )


def require(obj: Any, key: str, *, path: Path, line: int | None, context: str = "") -> Any:
    """``obj[key]`` or a LoadError naming the missing field."""
    name = f"{context}.{key}" if context else key
    if not isinstance(obj, dict):
        raise LoadError(f"expected an object, got {type(obj).__name__}", path=path, line=line, field=context or None)
    if key not in obj:
        raise LoadError("missing required field", path=path, line=line, field=name)
    return obj[key]
