"""COCO detection ground truth (``coco``) and COCO results (``coco-results``).

Large files are parsed by pyarrow's JSON reader straight into columns (no
Python object per box; a results array is cut at object boundaries into
pieces parsed on all cores). Whatever it cannot take (mixed id types, NaN
literals, bools, syntax errors) goes through the object path (orjson when
importable, else the standard library), which validates with type sets and
numpy and only scans item by item to name the offending entry. Both paths
produce the same columns and the same errors.

Box sizes and image bounds are checked by the run assembler, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from labeltui.errors import LoadError
from labeltui.formats import ReadContext
from labeltui.formats.base import (
    Loaded,
    describe,
    gc_paused,
    load_json,
    make_annotations,
    make_rows,
    read_bytes,
    reject_lone_surrogate,
)

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

#: Set False to force the object path (tests compare both paths).
_USE_ARROW = True

_MAX_BLOCK = (1 << 31) - 1024  # pyarrow block sizes are int32
_PIECE = 8 << 20  # results arrays above this size are cut into pieces
_OBJ_GAP = re.compile(rb"\}\s*,\s*\{")
_NON_SPACE = re.compile(rb"\S")


@dataclass
class _Boxes:
    """Validated detection columns: ids (int64 or object), bbox (n, 4)."""

    image_id: np.ndarray
    category_id: np.ndarray
    bbox: np.ndarray
    score: np.ndarray | None = None
    ann_id: np.ndarray | None = None
    iscrowd: np.ndarray | None = None


@dataclass
class _Gt:
    image_id: np.ndarray
    file_name: np.ndarray
    width: np.ndarray
    height: np.ndarray
    cat_id: np.ndarray
    cat_name: np.ndarray
    ann: _Boxes


# ---------------------------------------------------------------- bytes in


def _read_bytes(path: Path) -> bytes:
    raw = read_bytes(path, "a COCO JSON file")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if _NON_SPACE.search(raw) is None:
        raise LoadError("file is empty, expected JSON", path=path)
    reject_lone_surrogate(raw, path)
    return raw


def _one_line(raw: bytes) -> bytes:
    """Raw newlines only occur between JSON tokens, so blanking them is safe."""
    if b"\n" in raw or b"\r" in raw:
        raw = raw.replace(b"\n", b" ").replace(b"\r", b" ")
    return raw


def _content_span(raw: bytes) -> tuple[int, int]:
    """[start, end) of raw without surrounding whitespace (no copy); (0, 0) if blank."""
    m = _NON_SPACE.search(raw)
    if m is None:
        return 0, 0
    end = len(raw)
    while raw[end - 1] in b" \t\r\n":
        end -= 1
    return m.start(), end


def _parse_objects(path: Path, raw: bytes) -> Any:
    """Parse into Python objects; syntax errors come from the standard library (line, column)."""
    with gc_paused():
        if _orjson is not None:
            try:
                return _orjson.loads(raw)
            except _orjson.JSONDecodeError:
                pass  # NaN literals or a real syntax error: let the standard library decide and locate
        return load_json(path)


def _arrow_read(buf: bytes | bytearray, schema: pa.Schema, block_size: int) -> pa.Table | None:
    try:
        return pj.read_json(
            pa.BufferReader(pa.py_buffer(buf)),
            read_options=pj.ReadOptions(block_size=block_size, use_threads=True),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowException, OverflowError):
        return None


def _sniff_id(raw: bytes, key: bytes, after: bytes | None = None) -> pa.DataType:
    """string if the first value of ``key`` (after ``after``) is quoted, else int64."""
    start = 0
    if after is not None:
        start = raw.find(after)
        if start < 0:
            return pa.int64()
    m = re.compile(rb'"' + key + rb'"\s*:\s*(["\-\d])').search(raw, start)
    return pa.string() if m is not None and m.group(1) == b'"' else pa.int64()


# ---------------------------------------------------------------- errors


def _fail(path: Path, field: str, message: str) -> LoadError:
    return LoadError(message, path=path, field=field)


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {describe(value)}"


def _show(value: Any) -> str:
    """repr of an id as it was in the file (numpy scalars unwrapped)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


_MISSING = "missing or null (required)"


# ---------------------------------------------------------------- arrow path


def _arrow_first_null(arr: pa.Array) -> int | None:
    if arr.null_count == 0:
        return None
    return int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])


def _arrow_required(arr: pa.Array, path: Path, where: str, key: str) -> pa.Array:
    i = _arrow_first_null(arr)
    if i is not None:
        raise _fail(path, f"{where}[{i}].{key}", _MISSING)
    return arr


def _arrow_items(items: pa.Array, path: Path, where: str) -> dict[str, pa.Array]:
    """The fields of a struct array (offset-aware), after checking no item is null."""
    i = _arrow_first_null(items)
    if i is not None:
        raise _fail(path, f"{where}[{i}]", "expected an object, got null")
    return dict(zip((f.name for f in items.type), items.flatten()))


def _arrow_ids(arr: pa.Array, path: Path, where: str, key: str) -> np.ndarray:
    _arrow_required(arr, path, where, key)
    if pa.types.is_integer(arr.type):
        return arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return arr.to_numpy(zero_copy_only=False).astype(object, copy=False)


def _arrow_floats(arr: pa.Array) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _arrow_bbox(arr: pa.Array, path: Path, where: str) -> np.ndarray:
    _arrow_required(arr, path, where, "bbox")
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(lengths != 4)
    if len(bad):
        i = int(bad[0])
        raise _fail(path, f"{where}[{i}].bbox", f"expected 4 numbers [x, y, width, height], got {describe(arr[i].as_py(), 80)}")
    values = arr.flatten()
    coords = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False).reshape(-1, 4)
    return _check_finite_boxes(coords, path, where)


def _arrow_boxes(items: pa.Array, path: Path, where: str, *, gt: bool) -> _Boxes:
    f = _arrow_items(items, path, where)
    out = _Boxes(
        image_id=_arrow_ids(f["image_id"], path, where, "image_id"),
        category_id=_arrow_ids(f["category_id"], path, where, "category_id"),
        bbox=_arrow_bbox(f["bbox"], path, where),
    )
    if gt:
        out.ann_id = pc.cast(f["id"], pa.string()).to_numpy(zero_copy_only=False).astype(object, copy=False)
        out.iscrowd = pc.fill_null(f["iscrowd"], 0).to_numpy(zero_copy_only=False) != 0
    else:
        score = _arrow_floats(_arrow_required(f["score"], path, where, "score"))
        out.score = _check_finite(score, path, where, "score")
    return out


def _arrow_list_column(table: pa.Table, name: str) -> pa.Array:
    chunks = [c.flatten() for c in table.column(name).chunks]
    return pa.concat_arrays(chunks) if chunks else pa.array([], type=table.schema.field(name).type.value_type)


def _results_schema(id_type: pa.DataType, cat_type: pa.DataType) -> pa.Schema:
    item = pa.struct(
        [
            ("image_id", id_type),
            ("category_id", cat_type),
            ("bbox", pa.list_(pa.float64())),
            ("score", pa.float64()),
        ]
    )
    return pa.schema([("items", pa.list_(item))])


def _results_arrow(raw: bytes, path: Path) -> _Boxes | None:
    """Parse a results array with pyarrow, cut into pieces at ``},{`` gaps, or None."""
    raw = _one_line(raw)
    start, end = _content_span(raw)
    if raw[end - 1 : end] != b"]":
        return None
    body = memoryview(raw)[start + 1 : end - 1]
    n = len(body)
    if _NON_SPACE.search(raw, start + 1, end - 1) is None:
        return _Boxes(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
    # Pieces [a, b) of the body; a gap "}  ,  {" ends one piece after its "}"
    # and starts the next at its "{". A cut anywhere but between two top-level
    # items leaves a piece unbalanced (or a string open), so arrow rejects it.
    pieces = max(1, min(4 * pa.cpu_count(), n // _PIECE))
    spans, a = [], 0
    for k in range(1, pieces):
        m = _OBJ_GAP.search(raw, start + 1 + max(a, n * k // pieces))
        if m is None:
            break
        spans.append((a, m.start() + 1 - (start + 1)))
        a = m.end() - 1 - (start + 1)
    spans.append((a, n))
    buf = bytearray()
    for a, b in spans:
        buf += b'{"items":['
        buf += body[a:b]
        buf += b"]}\n"
    block = max(b - a for a, b in spans) + 64
    if block > _MAX_BLOCK:
        return None
    schema = _results_schema(_sniff_id(raw, b"image_id"), _sniff_id(raw, b"category_id"))
    table = _arrow_read(buf, schema, block)
    if table is None or table.num_rows != len(spans):
        return None
    items = _arrow_list_column(table, "items")
    return _arrow_boxes(items, path, "", gt=False)


def _gt_schema(img_t: pa.DataType, cat_t: pa.DataType, ann_t: pa.DataType) -> pa.Schema:
    images = pa.struct([("id", img_t), ("file_name", pa.string()), ("width", pa.float64()), ("height", pa.float64())])
    anns = pa.struct(
        [
            ("id", ann_t),
            ("image_id", img_t),
            ("category_id", cat_t),
            ("bbox", pa.list_(pa.float64())),
            ("iscrowd", pa.int64()),
        ]
    )
    cats = pa.struct([("id", cat_t), ("name", pa.string())])
    return pa.schema([("images", pa.list_(images)), ("annotations", pa.list_(anns)), ("categories", pa.list_(cats))])


def _gt_arrow(raw: bytes, path: Path) -> _Gt | None:
    raw = _one_line(raw)
    start, _ = _content_span(raw)
    if raw[start : start + 1] != b"{" or len(raw) + 64 > _MAX_BLOCK:
        return None
    img_t = _sniff_id(raw, b"image_id")
    schema = _gt_schema(img_t, _sniff_id(raw, b"category_id"), _sniff_id(raw, b"id", b'"annotations"'))
    table = _arrow_read(raw, schema, len(raw) + 64)
    if table is None or table.num_rows != 1:
        return None
    for key in ("images", "annotations", "categories"):
        if table.column(key).null_count:
            raise _missing_section(path, key)
    images = _arrow_items(_arrow_list_column(table, "images"), path, "images")
    cats = _arrow_items(_arrow_list_column(table, "categories"), path, "categories")
    names = _arrow_required(cats["name"], path, "categories", "name")
    files = _arrow_required(images["file_name"], path, "images", "file_name")
    return _Gt(
        image_id=_arrow_ids(images["id"], path, "images", "id"),
        file_name=files.to_numpy(zero_copy_only=False).astype(object, copy=False),
        width=_dimension(_arrow_floats(images["width"]), path, "width"),
        height=_dimension(_arrow_floats(images["height"]), path, "height"),
        cat_id=_arrow_ids(cats["id"], path, "categories", "id"),
        cat_name=names.to_numpy(zero_copy_only=False).astype(object, copy=False),
        ann=_arrow_boxes(_arrow_list_column(table, "annotations"), path, "annotations", gt=True),
    )


# ---------------------------------------------------------------- object path


def _py_column(items: list, key: str, path: Path, where: str, *, required: bool = True) -> list:
    try:
        if required:
            return [d[key] for d in items]
        return [d.get(key) for d in items]
    except (KeyError, TypeError, AttributeError):
        for i, d in enumerate(items):
            if not isinstance(d, dict):
                raise _fail(path, f"{where}[{i}]", f"expected an object, got {_describe(d)}") from None
            if required and key not in d:
                raise _fail(path, f"{where}[{i}].{key}", _MISSING) from None
        raise


def _locate_type(values: list, ok: tuple[type, ...], path: Path, where: str, key: str, expected: str) -> LoadError:
    for i, v in enumerate(values):
        if type(v) not in ok:
            return _fail(path, f"{where}[{i}].{key}", _MISSING if v is None else f"expected {expected}, got {_describe(v)}")
    raise AssertionError("no offending value found")


def _float(v: Any) -> float:
    """float(v), with integers beyond float range as +-inf (rejected later as not finite)."""
    try:
        return float("nan") if v is None else float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def _py_ids(values: list, path: Path, where: str, key: str) -> np.ndarray:
    types = set(map(type, values))
    if types <= {int}:
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            return np.array(values, dtype=object)
    if types <= {int, str}:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    raise _locate_type(values, (int, str), path, where, key, "an integer or string id")


def _py_numbers(values: list, path: Path, where: str, key: str, *, optional: bool = False) -> np.ndarray:
    ok: tuple[type, ...] = (int, float, type(None)) if optional else (int, float)
    if not set(map(type, values)) <= set(ok):
        raise _locate_type(values, ok, path, where, key, "a number")
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:  # an integer literal beyond float range
        return np.array([_float(v) for v in values], dtype=np.float64)


def _py_bbox(values: list, path: Path, where: str) -> np.ndarray:
    if not set(map(type, values)) <= {list} or set(map(len, values)) - {4}:
        for i, v in enumerate(values):
            if v is None:
                raise _fail(path, f"{where}[{i}].bbox", _MISSING)
            if not isinstance(v, list) or len(v) != 4:
                raise _fail(path, f"{where}[{i}].bbox", f"expected 4 numbers [x, y, width, height], got {_describe(v)}")
    if not set(map(type, chain.from_iterable(values))) <= {int, float}:
        for i, v in enumerate(values):
            if not all(type(c) in (int, float) for c in v):
                raise _fail(path, f"{where}[{i}].bbox", f"expected 4 numbers [x, y, width, height], got {describe(v, 80)}")
    try:
        coords = np.array(values, dtype=np.float64).reshape(-1, 4)
    except OverflowError:  # an integer literal beyond float range
        coords = np.array([[_float(c) for c in v] for v in values], dtype=np.float64).reshape(-1, 4)
    return _check_finite_boxes(coords, path, where)


def _py_list(obj: dict, key: str, path: Path) -> list:
    if obj.get(key) is None:
        raise _missing_section(path, key)
    value = obj[key]
    if not isinstance(value, list):
        raise _fail(path, key, f"expected a list, got {type(value).__name__}")
    return value


def _py_boxes(items: list, path: Path, where: str, *, gt: bool) -> _Boxes:
    out = _Boxes(
        image_id=_py_ids(_py_column(items, "image_id", path, where), path, where, "image_id"),
        category_id=_py_ids(_py_column(items, "category_id", path, where), path, where, "category_id"),
        bbox=_py_bbox(_py_column(items, "bbox", path, where), path, where),
    )
    if gt:
        ids = _py_column(items, "id", path, where, required=False)
        if not set(map(type, ids)) <= {int, str, type(None)}:
            raise _locate_type(ids, (int, str, type(None)), path, where, "id", "an integer or string id")
        out.ann_id = np.array([None if v is None else str(v) for v in ids], dtype=object)
        crowd = _py_column(items, "iscrowd", path, where, required=False)
        if not set(map(type, crowd)) <= {int, bool, type(None)}:
            raise _locate_type(crowd, (int, bool, type(None)), path, where, "iscrowd", "0 or 1")
        out.iscrowd = np.array([bool(v) for v in crowd], dtype=bool)
    else:
        score = _py_numbers(_py_column(items, "score", path, where), path, where, "score")
        out.score = _check_finite(score, path, where, "score")
    return out


def _results_objects(data: Any, path: Path) -> _Boxes:
    if not isinstance(data, list):
        raise LoadError(
            f"expected a JSON array of {{image_id, category_id, bbox, score}} objects, got {type(data).__name__}",
            path=path,
        )
    return _py_boxes(data, path, "", gt=False)


def _gt_objects(data: Any, path: Path) -> _Gt:
    if not isinstance(data, dict):
        hint = " (a list looks like COCO results: use format coco-results)" if isinstance(data, list) else ""
        raise LoadError(
            f"expected a JSON object with images, annotations and categories, got {type(data).__name__}{hint}", path=path
        )
    images, anns, cats = (_py_list(data, k, path) for k in ("images", "annotations", "categories"))
    names = _py_column(cats, "name", path, "categories")
    if not set(map(type, names)) <= {str}:
        raise _locate_type(names, (str,), path, "categories", "name", "a string")
    files = _py_column(images, "file_name", path, "images")
    if not set(map(type, files)) <= {str}:
        raise _locate_type(files, (str,), path, "images", "file_name", "a string")
    return _Gt(
        image_id=_py_ids(_py_column(images, "id", path, "images"), path, "images", "id"),
        file_name=np.array(files, dtype=object),
        width=_dimension(_py_numbers(_py_column(images, "width", path, "images", required=False), path, "images", "width", optional=True), path, "width"),
        height=_dimension(_py_numbers(_py_column(images, "height", path, "images", required=False), path, "images", "height", optional=True), path, "height"),
        cat_id=_py_ids(_py_column(cats, "id", path, "categories"), path, "categories", "id"),
        cat_name=np.array(names, dtype=object),
        ann=_py_boxes(anns, path, "annotations", gt=True),
    )


# ---------------------------------------------------------------- shared checks


def _missing_section(path: Path, key: str) -> LoadError:
    return _fail(path, key, "missing: a COCO ground-truth file has images, annotations and categories")


def _check_finite(values: np.ndarray, path: Path, where: str, key: str) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        i = int(bad[0])
        raise _fail(path, f"{where}[{i}].{key}", f"expected a finite number, got {values[i]}")
    return values


def _check_finite_boxes(coords: np.ndarray, path: Path, where: str) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(coords).all(axis=1))
    if len(bad):
        i = int(bad[0])
        got = coords[i].tolist()
        raise _fail(path, f"{where}[{i}].bbox", f"expected 4 finite numbers [x, y, width, height], got {got}")
    return coords


def _dimension(values: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Image width/height: NaN where absent; present values must be finite and positive."""
    bad = np.flatnonzero(~np.isnan(values) & ~(np.isfinite(values) & (values > 0)))
    if len(bad):
        i = int(bad[0])
        raise _fail(path, f"images[{i}].{key}", f"expected a positive number, got {values[i]}")
    return values


def _first_duplicate(index: pd.Index) -> int | None:
    dup = np.flatnonzero(index.duplicated(keep="first"))
    return int(dup[0]) if len(dup) else None


def _as_id_strings(ids: np.ndarray) -> np.ndarray:
    """str() of each id (int64 or object array), as an object array."""
    if ids.dtype == object:
        out = np.empty(len(ids), dtype=object)
        out[:] = [str(v) for v in ids]
        return out
    return pc.cast(pa.array(ids), pa.string()).to_numpy(zero_copy_only=False).astype(object, copy=False)


def _index(ids: np.ndarray) -> pd.Index:
    return pd.Index(ids, dtype=ids.dtype, copy=False)


# ---------------------------------------------------------------- readers


def _parse_gt(path: Path) -> _Gt:
    raw = _read_bytes(path)
    gt = None
    if _USE_ARROW:
        try:
            gt = _gt_arrow(raw, path)
        except pa.ArrowException:  # e.g. invalid UTF-8 in a string: the object path reports it
            gt = None
    if gt is None:
        gt = _gt_objects(_parse_objects(path, raw), path)
    return gt


def read_coco(path: Path, ctx: ReadContext) -> Loaded:
    """Read COCO detection ground truth (images, annotations with bbox, categories).

    Crowd annotations and annotations of unknown images are dropped with a
    counted warning; an unknown category id is an error. ``meta`` gets
    ``categories`` {category id: name} and ``image_ids`` {image id: data_row_id}.
    """
    gt = _parse_gt(path)
    img_index = _index(gt.image_id)
    drid = _as_id_strings(gt.image_id)
    dup = _first_duplicate(pd.Index(drid))
    if dup is not None:
        raise _fail(path, f"images[{dup}].id", f"duplicate image id {_show(gt.image_id[dup])}; each image must appear once")
    cat_index = _index(gt.cat_id)
    dup = _first_duplicate(cat_index)
    if dup is not None:
        raise _fail(path, f"categories[{dup}].id", f"duplicate category id {_show(gt.cat_id[dup])}")

    ann = gt.ann
    cat_pos = cat_index.get_indexer(ann.category_id)
    unknown_cat = np.flatnonzero(cat_pos < 0)
    if len(unknown_cat):
        i = int(unknown_cat[0])
        raise _fail(
            path,
            f"annotations[{i}].category_id",
            f"unknown category id {_show(ann.category_id[i])}; add it to categories "
            f"({len(unknown_cat)} annotation(s) use ids not in categories)",
        )
    img_pos = img_index.get_indexer(ann.image_id)
    unknown_img = img_pos < 0
    crowd = ann.iscrowd
    warnings = []
    if crowd.any():
        warnings.append(f"{path}: {int(crowd.sum())} crowd annotation(s) (iscrowd: 1) dropped")
    if unknown_img.any():
        example = ann.image_id[np.flatnonzero(unknown_img)[0]]
        warnings.append(
            f"{path}: {int(unknown_img.sum())} annotation(s) whose image_id is not in images dropped (e.g. {_show(example)})"
        )
    keep = ~(crowd | unknown_img)
    if not keep.all():
        img_pos, cat_pos = img_pos[keep], cat_pos[keep]
        bbox, ann_id = ann.bbox[keep], ann.ann_id[keep]
    else:
        bbox, ann_id = ann.bbox, ann.ann_id
    x, y, w, h = bbox.T
    annotations = make_annotations(
        source="gt",
        data_row_id=drid[img_pos],
        label=gt.cat_name[cat_pos],
        x0=x, y0=y, x1=x + w, y1=y + h,
        annotation_id=ann_id,
    )
    rows = make_rows(drid, gt.file_name, gt.file_name, gt.width, gt.height)
    meta = {
        "categories": dict(zip(gt.cat_id.tolist(), gt.cat_name.tolist())),
        "image_ids": dict(zip(gt.image_id.tolist(), drid.tolist())),
    }
    return Loaded(rows=rows, annotations=annotations, warnings=warnings, meta=meta)


def _parse_results(path: Path) -> _Boxes:
    raw = _read_bytes(path)
    start, _ = _content_span(raw)
    head = raw[start : start + 1]
    if head != b"[":
        raise LoadError(
            f"expected a JSON array of {{image_id, category_id, bbox, score}} objects; the file starts with {head.decode(errors='replace')!r}"
            + (" (an object looks like COCO ground truth: use format coco)" if head == b"{" else ""),
            path=path,
        )
    boxes = None
    if _USE_ARROW:
        try:
            boxes = _results_arrow(raw, path)
        except pa.ArrowException:
            boxes = None
    if boxes is None:
        boxes = _results_objects(_parse_objects(path, raw), path)
    return boxes


def _map_ids(ids: np.ndarray, mapping: dict | None) -> np.ndarray:
    """Each id through ``mapping`` (an object array); ids not in it become str(id)."""
    codes, uniq = pd.factorize(ids)
    uniq = np.asarray(uniq)
    pos = pd.Index(list(mapping.keys())).get_indexer(uniq) if mapping else np.full(len(uniq), -1)
    mapped = np.empty(len(uniq), dtype=object)
    if mapping:
        mapped[:] = np.array(list(mapping.values()), dtype=object)[pos]
    missing = pos < 0
    mapped[missing] = _as_id_strings(uniq[missing])
    return mapped[codes]


def read_coco_results(path: Path, ctx: ReadContext) -> Loaded:
    """Read COCO detection results: a JSON array of {image_id, category_id, bbox, score}.

    With COCO ground truth in ``ctx.gt`` image and category ids map through its
    ``meta``; unknown image ids keep ``str(image_id)`` (the assembler drops
    them), unknown category ids become ``category_<id>`` with one warning.
    Without it, data_row_id = str(image_id) and label = str(category_id).
    """
    boxes = _parse_results(path)
    meta = getattr(getattr(ctx, "gt", None), "meta", None) or {}
    data_row_id = _map_ids(boxes.image_id, meta.get("image_ids"))
    categories = meta.get("categories")
    warnings = []
    if categories is not None:
        codes, uniq = pd.factorize(boxes.category_id)
        uniq = np.asarray(uniq)
        pos = pd.Index(list(categories.keys())).get_indexer(uniq)
        names = np.array(list(categories.values()), dtype=object)
        labels = np.array([names[p] if p >= 0 else f"category_{u}" for p, u in zip(pos, uniq)], dtype=object)
        label = labels[codes]
        unknown = pos[codes] < 0
        if unknown.any():
            missing_ids = ", ".join(_show(u) for u in uniq[pos < 0][:5])
            warnings.append(
                f"{path}: {int(unknown.sum())} prediction(s) with category ids not in the ground truth "
                f"({missing_ids}) kept with labels category_<id>"
            )
    else:
        label = _map_ids(boxes.category_id, None)
    x, y, w, h = boxes.bbox.T
    annotations = make_annotations(
        source="pred",
        data_row_id=data_row_id,
        label=label,
        x0=x, y0=y, x1=x + w, y1=y + h,
        confidence=boxes.score,
    )
    return Loaded(annotations=annotations, warnings=warnings)
