"""JSONL entity spans: one text a line with its gold and predicted spans.

``{"id": "d1", "text": "...", "labels": [[start, end, type], ...],
"predictions": [[start, end, type, confidence], ...]}``

Offsets are character offsets into ``text``, end exclusive; a prediction's
confidence is optional. ``id`` may be a string or an integer (kept as a
string); ``labels`` and ``predictions`` may be missing (no spans). An optional
``global_key`` string is kept, and other top-level scalar fields (``split``,
``source``...) become metadata columns on ``rows``. Span bounds are checked
against the text by the run assembler, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labeltui.errors import LoadError
from labeltui.formats import ReadContext
from labeltui.formats.base import ROW_COLUMNS, Loaded, describe, iter_ndjson, make_annotations, make_rows, require

_KNOWN = {"id", "text", "labels", "predictions", "global_key"}


def read_jsonl_spans(path: Path, ctx: ReadContext) -> Loaded:
    """Read a JSONL spans file (layout in the module docstring)."""
    ids: list[str] = []
    keys: list[str | None] = []
    texts: list[str] = []
    meta: dict[str, dict[int, Any]] = {}
    groups: dict[str, _Groups] = {"labels": _Groups(), "predictions": _Groups()}
    for lineno, obj in iter_ndjson(path):
        raw_id = require(obj, "id", path=path, line=lineno)
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise LoadError(
                f"expected a string or integer id, got {type(raw_id).__name__}", path=path, line=lineno, field="id"
            )
        text = require(obj, "text", path=path, line=lineno)
        if not isinstance(text, str):
            raise LoadError(f"expected a string, got {type(text).__name__}", path=path, line=lineno, field="text")
        key = obj.get("global_key")
        if key is not None and not isinstance(key, str):
            raise LoadError(
                f"expected a string, got {type(key).__name__}", path=path, line=lineno, field="global_key"
            )
        for name, value in obj.items():
            if name not in _KNOWN and name not in ROW_COLUMNS and _is_scalar(value):
                meta.setdefault(name, {})[len(ids)] = value
        for field, group in groups.items():
            value = obj.get(field)
            if value is None:
                continue
            if not isinstance(value, list):
                raise LoadError(
                    f"expected a list of spans, got {type(value).__name__}", path=path, line=lineno, field=field
                )
            group.spans.append(value)
            group.lines.append(lineno)
            group.rows.append(len(ids))
        ids.append(str(raw_id))
        keys.append(key)
        texts.append(text)

    n = len(ids)
    rows = make_rows(ids, keys, texts, np.full(n, np.nan), np.full(n, np.nan))
    for name, values in meta.items():
        column = np.full(n, None, dtype=object)
        column[list(values)] = list(values.values())
        rows[name] = pd.Series(column, dtype=object)
    row_ids = np.asarray(ids, dtype=object)
    frames = [
        _spans(groups["labels"], "labels", "gt", row_ids, path),
        _spans(groups["predictions"], "predictions", "pred", row_ids, path),
    ]
    return Loaded(rows=rows, annotations=pd.concat(frames, ignore_index=True))


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


@dataclass
class _Groups:
    """One field's span lists, with the line and row each came from."""

    spans: list[list[Any]] = dataclass_field(default_factory=list)
    lines: list[int] = dataclass_field(default_factory=list)
    rows: list[int] = dataclass_field(default_factory=list)


def _spans(groups: _Groups, field: str, source: str, row_ids: np.ndarray, path: Path) -> pd.DataFrame:
    """Validate all spans of one field at once and build their annotations."""
    flat = list(chain.from_iterable(groups.spans))
    counts = np.fromiter(map(len, groups.spans), dtype=np.int64, count=len(groups.spans))
    group = np.repeat(np.arange(len(counts)), counts)
    position = np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts)

    def fail(i: int, message: str, item: int | None = None) -> LoadError:
        where = f"{field}[{position[i]}]" + (f"[{item}]" if item is not None else "")
        return LoadError(message, path=path, line=groups.lines[group[i]], field=where)

    allowed = (3,) if field == "labels" else (3, 4)
    arity = np.fromiter((len(s) if type(s) is list else -1 for s in flat), dtype=np.int64, count=len(flat))
    bad = np.flatnonzero(~np.isin(arity, allowed))
    if bad.size:
        i = int(bad[0])
        shape = "[start, end, type]" + (" or [start, end, type, confidence]" if field == "predictions" else "")
        got = f"{arity[i]} items" if arity[i] >= 0 else type(flat[i]).__name__
        raise fail(i, f"expected {shape}, got {got}")

    starts = [s[0] for s in flat]
    ends = [s[1] for s in flat]
    labels = [s[2] for s in flat]
    has_conf = arity == 4
    confs = [s[3] if len(s) == 4 else 0.0 for s in flat]
    def offset_ok(a: np.ndarray) -> np.ndarray:
        return (a >= 0) & (a < 2**62)

    offset = "a non-negative integer character offset"
    checks = [
        (starts, {int}, offset_ok, np.int64, offset),
        (ends, {int}, offset_ok, np.int64, offset),
        (labels, {str}, lambda a: a != "", object, "a non-empty entity type string"),
        (confs, {int, float}, lambda a: (a >= 0.0) & (a <= 1.0), np.float64, "a confidence number in [0, 1]"),
    ]
    arrays = []
    firsts = []
    for item, (values, types, valid, dtype, expected) in enumerate(checks):
        i, array = _first_bad(values, types, valid, dtype)
        arrays.append(array)
        if i >= 0:
            firsts.append((i, item, expected))
    if firsts:
        i, item, expected = min(firsts)
        raise fail(i, f"expected {expected}, got {describe(checks[item][0][i], 40)}", item)
    return make_annotations(
        source=source,
        data_row_id=row_ids[np.asarray(groups.rows, dtype=np.int64)[group]],
        label=arrays[2],
        start=arrays[0],
        end=arrays[1],
        confidence=np.where(has_conf, arrays[3], np.nan) if source == "pred" else None,
    )


def _first_bad(values: list[Any], types: set[type], valid: Any, dtype: Any) -> tuple[int, np.ndarray]:
    """(index of the first value of a wrong type or failing ``valid``, or -1; the values as an array).

    The all-valid case runs at C speed (a set of types, one array conversion);
    only a failure walks the list to find the culprit.
    """
    if set(map(type, values)) <= types:
        try:
            array = np.asarray(values, dtype=dtype)
        except OverflowError:
            array = None
        if array is not None:
            bad = np.flatnonzero(~valid(array))
            return (int(bad[0]) if bad.size else -1), array
    for i, v in enumerate(values):
        try:
            if type(v) not in types or not valid(np.asarray([v], dtype=dtype))[0]:
                break
        except OverflowError:
            break
    return i, np.empty(0)
