"""Hypothesis strategies for structure-aware fuzzing of the readers and the run assembler.

Each ``*_files`` strategy builds a valid-looking input of one format (often
seeded from the published samples in ``shared/formats``), mutates its
structure (wrong types at any field, missing and extra keys, huge numbers,
NaN/Infinity literals, unicode oddities, deep nesting) and then its bytes
(truncation, duplicated lines, CRLF, BOM, non-UTF-8 bytes). Every strategy
yields ``{relative file name: bytes}`` (``None`` for a folder), so a failing
case is easy to pin with ``@example``.

The properties every case is checked against live here too
(:func:`check_load_error`, :func:`check_loaded`, :func:`check_run`).
"""

from __future__ import annotations

import copy
import csv
import decimal
import io
import json
import math
import os
import random
import warnings
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from labeltui.errors import LoadError
from labeltui.formats.base import ANNOTATION_DTYPES, CLASSIFICATION_DTYPES, ROW_COLUMNS, Loaded
from labeltui.run import ModelRun

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "formats"

#: Examples per fuzz test when set (a long random campaign by hand); unset, a short derandomized run (CI).
EXAMPLES = int(os.environ.get("LABELTUI_FUZZ_EXAMPLES", "0"))


def fuzz(default: int) -> settings:
    """Hypothesis settings: ``default`` derandomized examples, or LABELTUI_FUZZ_EXAMPLES random ones."""
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        derandomize=not EXAMPLES,
        database=settings.default.database if EXAMPLES else None,
        suppress_health_check=list(HealthCheck),
    )


Files = dict[str, "bytes | None"]


class Raw(str):
    """A JSON text fragment written verbatim (literals Python's json cannot produce)."""


# --------------------------------------------------------------------------
# weird values

RAW_FRAGMENTS = [
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    Raw("-0"),
    Raw("1" + "0" * 30),
    Raw("9" * 5000),  # beyond Python's int digit limit
    Raw("[" * 3000 + "]" * 3000),  # deeper than the recursion limit
    Raw('{"a":' * 60 + "1" + "}" * 60),
    Raw('"\\ud800"'),  # an escaped lone surrogate
    Raw('"\\udfff\\ud800"'),
    Raw('"\\u0000"'),
]

WEIRD_SCALARS: list[Any] = [
    None, True, False, 0, -1, 1, 0.0, -0.0, 0.5, 1.5, 255, 1e308, -1e308, 5e-324,
    2**53 + 1, 2**63, 2**64, 2**70, -(2**70), math.nan, math.inf, -math.inf,
]

WEIRD_STRINGS = [
    "", " ", "0", "1", "-1", "0.5", "1e400", "NaN", "null", "true", "a\u0301", "\u202eabc\u202c", "\u0000",
    "x\u0000y", "\ud800", "\udfff", "\U0001f600", "\U0001f469\u200d\U0001f469\u200d\U0001f467", "\ufeff",
    "\u2028", "line\nbreak", "\r\n", "\t", "\x1c", "\x85", "\u0661\u0662\u0663", "\U0001d7d9", "\u2163",
    "x" * 3000, "../../etc/passwd", "%s%n{0}", "' OR 1=1 --", '"', "\\", "B-PER", "O", "-DOCSTART-",
    "category_1", "prob_", "data_row_id", "http://example.com/a.jpg",
]

WEIRD_CONTAINERS: list[Any] = [
    [], {}, [None], [1, 2, 3, 4], [0, 0, 0, 0, 0], [[1]], {"": None}, [math.nan] * 4,
    {"top": 1}, {"start": 0}, {"id": None}, {"name": "x"}, {"0.5": 1}, [[0, 1, "X"]],
]

#: Field names the readers look at, for "extra key" mutations that collide with real ones.
KNOWN_KEYS = [
    "id", "image_id", "category_id", "bbox", "score", "iscrowd", "file_name", "width", "height", "name",
    "images", "annotations", "categories", "text", "labels", "predictions", "global_key", "split",
    "data_row", "row_data", "media_attributes", "projects", "experiments", "runs", "objects",
    "classifications", "bounding_box", "location", "start", "end", "top", "left", "radio_answer",
    "checklist_answers", "text_answer", "embeddings", "values", "value", "is_custom", "dataRow",
    "globalKey", "answer", "confidence", "customMetrics", "uuid", "schemaId", "polygon", "mask",
    "point", "metricName", "metricValue", "featureName", "subclassName", "aggregation", "annotation_kind",
]

_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(), st.text(max_size=6)
)
json_values = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)

weird_values = st.one_of(
    st.sampled_from(WEIRD_SCALARS),
    st.sampled_from(WEIRD_STRINGS),
    st.sampled_from(RAW_FRAGMENTS),
    st.sampled_from(WEIRD_CONTAINERS).map(copy.deepcopy),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=8),
    json_values,
)

key_names = st.one_of(st.sampled_from(KNOWN_KEYS), st.sampled_from(WEIRD_STRINGS), st.text(max_size=5))

WEIRD_TOKENS = [
    "", "nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e308", "-1e308", "-0", "0x10", "1_000",
    "\u0661\u0662\u0663", "\U0001d7d9", "\u00bd", "1,5", "+1", ".5", "5.", "e5", "--1", "\u00a0", "\u2028",
    "\x0c", "\x85", "\x00", "\U0001f600", "a\u0301", "\u202e", "\ufeff", '"', "'", "#", "B-", "-PER", "I-",
    "X-PER", "B-PER", "I-LOC", "O", "-DOCSTART-", "imagesource:GoogleEarth", "gsd:nan", "gsd:1e400",
    "9" * 400, "2" * 20, "-9223372036854775809", "0.5", "1", "0", "-1", "2", "1.5", "a b", "a,b", "a\tb",
    '"a,b"', "\r", "\n", "\ud800",
]

tokens = st.one_of(
    st.sampled_from(WEIRD_TOKENS),
    st.text(max_size=6),
    st.floats().map(repr),
    st.integers(-(2**70), 2**70).map(str),
)


# --------------------------------------------------------------------------
# JSON: structure mutations and serialisation


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _retype(value: Any) -> Any:
    """The same content under another JSON type."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return "null"


JSON_OPS = ("replace", "replace", "delete", "add", "duplicate", "retype", "copy", "nudge", "nudge")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _nudges(value: Any) -> list[Any]:
    """Nearby and sign-flipped variants of a number (offsets, sizes, scores)."""
    return [-value, value + 1, value - 1, 0, value * 10**6, -1, value / 3]


def _lookup(root: Any, path: tuple) -> Any:
    for key in path:
        root = root[key]
    return root


@st.composite
def mutate_json(draw: st.DrawFn, doc: Any, max_mutations: int = 3) -> Any:
    """Apply 0..max_mutations structural mutations at random places of a JSON tree."""
    holder = [copy.deepcopy(doc)]
    for _ in range(draw(st.integers(0, max_mutations))):
        paths = [(0, *p) for p in _paths(holder[0])]
        path = draw(st.sampled_from(paths))
        parent = _lookup(holder, path[:-1])
        key = path[-1]
        node = parent[key]
        op = draw(st.sampled_from(JSON_OPS))
        if op == "delete" and parent is not holder:
            del parent[key]
        elif op == "add" and isinstance(node, dict):
            node[draw(key_names)] = draw(weird_values)
        elif op == "add" and isinstance(node, list):
            node.insert(draw(st.integers(0, len(node))), draw(weird_values))
        elif op == "duplicate" and isinstance(node, list) and node:
            i = draw(st.integers(0, len(node) - 1))
            node.insert(i, copy.deepcopy(node[i]))
        elif op == "retype":
            parent[key] = _retype(node)
        elif op == "nudge":
            numbers = [p for p in paths if _is_number(_lookup(holder, p))]
            if numbers:
                target = draw(st.sampled_from(numbers))
                owner = _lookup(holder, target[:-1])
                owner[target[-1]] = draw(st.sampled_from(_nudges(owner[target[-1]])))
        elif op == "copy" and len(paths) > 1:
            parent[key] = copy.deepcopy(_lookup(holder, draw(st.sampled_from(paths))))
        else:
            parent[key] = draw(weird_values)
    return holder[0]


def dumps(obj: Any, *, ascii: bool = True) -> str:
    """JSON text of obj: NaN/Infinity literals for non-finite floats, Raw fragments verbatim."""
    if isinstance(obj, Raw):
        return str(obj)
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        if math.isnan(obj):
            return "NaN"
        if math.isinf(obj):
            return "Infinity" if obj > 0 else "-Infinity"
        return repr(obj)
    if isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=ascii)
    if isinstance(obj, list):
        return "[" + ", ".join(dumps(v, ascii=ascii) for v in obj) + "]"
    if isinstance(obj, dict):
        items = (f"{json.dumps(str(k), ensure_ascii=ascii)}: {dumps(v, ascii=ascii)}" for k, v in obj.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(type(obj))


def encode(text: str) -> bytes:
    """UTF-8, with lone surrogates written as (invalid) surrogate bytes."""
    return text.encode("utf-8", "surrogatepass")


@st.composite
def json_bytes(draw: st.DrawFn, doc: Any) -> bytes:
    return encode(dumps(doc, ascii=draw(st.booleans())))


@st.composite
def ndjson_bytes(draw: st.DrawFn, records: Any) -> bytes:
    """One record a line, or (sometimes) one JSON array as Labelbox's SDK fixtures are stored."""
    ascii = draw(st.booleans())
    if not isinstance(records, list) or draw(st.integers(0, 5)) == 0:
        return encode(dumps(records, ascii=ascii))
    return encode("\n".join(dumps(r, ascii=ascii) for r in records) + "\n")


# --------------------------------------------------------------------------
# bytes and line mutations

INVALID_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80", b"\xfe\xff", b"\x00", b"\xe2\x82"]
BYTE_OPS = (
    "truncate", "bom", "crlf", "cr", "dup_line", "drop_line", "invalid", "append", "blank", "utf16", "latin1",
)


@st.composite
def mutate_bytes(draw: st.DrawFn, data: bytes, max_mutations: int = 2, p: int = 3) -> bytes:
    """In one case out of ``p``, apply up to max_mutations byte-level mutations
    (truncation, other encodings, line edits, invalid UTF-8)."""
    if draw(st.integers(0, p - 1)):
        return data
    for op in draw(st.lists(st.sampled_from(BYTE_OPS), max_size=max_mutations)):
        if op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "bom":
            data = b"\xef\xbb\xbf" + data
        elif op == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif op == "cr":
            data = data.replace(b"\n", b"\r")
        elif op in ("dup_line", "drop_line"):
            lines = data.split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "dup_line":
                lines.insert(i, lines[i])
            else:
                del lines[i]
            data = b"\n".join(lines)
        elif op == "invalid":
            i = draw(st.integers(0, len(data)))
            data = data[:i] + draw(st.sampled_from(INVALID_UTF8)) + data[i:]
        elif op == "append":
            data += draw(st.sampled_from([b"\n", b"\n\n  \n", b"}", b"]", b"\x00", b"{}", b"[]", b",", b"\x1a"]))
        elif op == "blank":
            data = draw(st.sampled_from([b"", b" ", b"\n\n", b"\xef\xbb\xbf", b"\t\r\n"]))
        elif op == "utf16":
            data = data.decode("utf-8", "replace").encode("utf-16")
        else:
            data = data.decode("utf-8", "replace").encode("latin-1", "replace")
    return data


LINE_OPS = (
    "token", "token", "nudge", "nudge", "drop_token", "add_token", "dup_row", "drop_row", "blank_row", "weird_row",
)


def _token_nudges(token: str) -> list[str]:
    """Sign-flipped, shifted and scaled variants of a numeric token."""
    try:
        value = float(token)
    except ValueError:
        return [token]
    return [f"-{token}", f"{value + 1:g}", f"{value - 1:g}", "0", f"{token}e6", "-1", f"{value / 3!r}"]


@st.composite
def mutate_lines(draw: st.DrawFn, rows: list[list[str]], max_mutations: int = 3) -> list[list[str]]:
    """Token-level mutations of a whitespace- or comma-separated text file."""
    rows = [list(r) for r in rows]
    for _ in range(draw(st.integers(0, max_mutations))):
        op = draw(st.sampled_from(LINE_OPS))
        if not rows or op == "weird_row":
            rows.insert(draw(st.integers(0, len(rows))), draw(st.lists(tokens, max_size=11)))
            continue
        r = draw(st.integers(0, len(rows) - 1))
        row = rows[r]
        if op == "dup_row":
            rows.insert(r, list(row))
        elif op == "drop_row":
            del rows[r]
        elif op == "blank_row":
            rows.insert(r, [])
        elif op == "add_token" or not row:
            row.insert(draw(st.integers(0, len(row))), draw(tokens))
        elif op == "drop_token":
            del row[draw(st.integers(0, len(row) - 1))]
        elif op == "nudge":
            j = draw(st.integers(0, len(row) - 1))
            row[j] = draw(st.sampled_from(_token_nudges(row[j])))
        else:
            row[draw(st.integers(0, len(row) - 1))] = draw(tokens)
    return rows


def join_lines(rows: list[list[str]], sep: str = " ") -> bytes:
    return encode("\n".join(sep.join(r) for r in rows) + "\n")


# --------------------------------------------------------------------------
# valid seeds, built from one drawn integer (cheap; hypothesis drives the mutations)

T = TypeVar("T")


def seeded(build: Callable[..., T], *args: Any) -> st.SearchStrategy[T]:
    """Strategy for ``build(random.Random(seed), *args)``: a valid document from one draw."""
    return st.integers(0, 2**32 - 1).map(lambda seed: build(random.Random(seed), *args))


CLASSES = ["car", "person", "dog", "plane", "small-vehicle"]
ODD_NAMES = ["\u00e9t\u00e9", "\U0001f697", "a b", "x\u0301", "\u202ecar", "\u6771\u4eac", "null", "0", "-"]
ENTITY_TYPES = ["PER", "LOC", "ORG", "MISC"]
WORDS = ["John", "lives", "in", "Paris", ".", "Acme", "Corp", "hired", "Ana", "\u00e9t\u00e9", "\u6771\u4eac", "U.S."]
TEXTS = ["John lives in Paris.", "Acme Corp hired Ana.", "\U0001f600 a\u0301 \u6771\u4eac", "", "x", "\u202eRTL text"]


def _coord(r: random.Random) -> int | float:
    """A box corner coordinate; with _size, boxes mostly fall inside an _image_size image."""
    return r.randint(0, 300) if r.random() < 0.5 else round(r.uniform(0, 300), 2)


def _size(r: random.Random) -> int | float:
    return r.randint(1, 150) if r.random() < 0.5 else round(r.uniform(0.5, 150), 2)


def _image_size(r: random.Random) -> int | float:
    return r.randint(200, 1000) if r.random() < 0.7 else round(r.uniform(1, 1000), 2)


def _score(r: random.Random) -> float:
    return round(r.random(), 3)


def _class(r: random.Random) -> str:
    return r.choice(CLASSES) if r.random() < 0.8 else r.choice(ODD_NAMES)


def _sample_lines(name: str) -> list[Any]:
    return [json.loads(line) for line in (SAMPLES / name).read_text(encoding="utf-8").splitlines() if line.strip()]


COCO_RESULTS_SAMPLE = json.loads((SAMPLES / "coco_results_fakebbox100.json").read_text(encoding="utf-8"))
LABELBOX_EXPORT_SAMPLES = [
    rec for name in ("export_v2_image_bbox.ndjson", "export_v2_text_ner_ASSEMBLED.ndjson") for rec in _sample_lines(name)
]
LABELBOX_PREDICTION_SAMPLES = [
    rec
    for name in (
        "sdk_fixture_image_import.ndjson",
        "sdk_fixture_rectangle_import.ndjson",
        "sdk_fixture_text_entity_import.ndjson",
        "sdk_fixture_text_entity_without_confidence_import.ndjson",
        "sdk_fixture_classification_import.ndjson",
        "notebook_prediction_examples.ndjson",
    )
    for rec in _sample_lines(name)
]
LABELBOX_METRIC_SAMPLES = [
    rec
    for name in (
        "sdk_fixture_custom_scalar_import.ndjson",
        "sdk_fixture_custom_confusion_matrix_import.ndjson",
        "sdk_fixture_metric_import.ndjson",
    )
    for rec in _sample_lines(name)
]


def _mixed(r: random.Random, samples: list[Any], build: Callable[[random.Random], Any], max_size: int) -> list[Any]:
    """A list mixing published sample records with generated ones."""
    return [copy.deepcopy(r.choice(samples)) if r.random() < 0.5 else build(r) for _ in range(r.randint(0, max_size))]


# --------------------------------------------------------------------------
# COCO


def coco_gt_doc(r: random.Random) -> dict:
    """A valid COCO detection ground-truth document."""
    str_ids = r.random() < 0.3
    img_ids = [f"img{i}" if str_ids else i + 1 for i in range(r.choice([0, 1, 2, 3, 4, 4]))]
    cat_ids = list(range(1, r.choice([0, 1, 2, 3, 3]) + 1))
    images = [{"id": i, "file_name": f"{i}.jpg", "width": _image_size(r), "height": _image_size(r)} for i in img_ids]
    annotations = [
        {
            "id": k + 1,
            "image_id": r.choice(img_ids),
            "category_id": r.choice(cat_ids),
            "bbox": [_coord(r), _coord(r), _size(r), _size(r)],
            "area": 1.0,
            "iscrowd": int(r.random() < 0.15),
        }
        for k in range(r.randint(0, 6) if img_ids and cat_ids else 0)
    ]
    categories = [{"id": c, "name": _class(r), "supercategory": "thing"} for c in cat_ids]
    return {"info": {"year": 2024}, "images": images, "annotations": annotations, "categories": categories}


def coco_result(r: random.Random, image_ids: list[Any] | None = None, cat_ids: list[Any] | None = None) -> dict:
    """One valid COCO result object (ids from the given lists, else the sample's)."""
    return {
        "image_id": r.choice(image_ids or [42, 73, 74]),
        "category_id": r.choice(cat_ids or [1, 2, 18]),
        "bbox": [_coord(r), _coord(r), _size(r), _size(r)],
        "score": _score(r),
    }


@st.composite
def coco_files(draw: st.DrawFn) -> Files:
    doc = draw(mutate_json(draw(seeded(coco_gt_doc))))
    return {"gt.json": draw(mutate_bytes(draw(json_bytes(doc))))}


@st.composite
def coco_results_files(draw: st.DrawFn) -> Files:
    doc = draw(seeded(_mixed, COCO_RESULTS_SAMPLE, coco_result, 12))
    return {"preds.json": draw(mutate_bytes(draw(json_bytes(draw(mutate_json(doc))))))}


# --------------------------------------------------------------------------
# DOTA

DOTA_FILE_NAMES = [
    "P0001.txt", "P0002.txt", "P0003.txt", "a b.txt", "\U0001f600.txt", "x.y.txt", "\u00e9t\u00e9.txt", "-1.txt",
    "P0001.TXT", "p0001.txt", "notes.md", ".txt", "sub.txt/", "Task1_.txt", "\udcff.txt",
]


def _corners(r: random.Random) -> list[str]:
    x, y, w, h = _coord(r), _coord(r), _size(r), _size(r)
    return [f"{v:g}" for p in ((x, y), (x + w, y), (x + w, y + h), (x, y + h)) for v in p]


def dota_label_rows(r: random.Random) -> list[list[str]]:
    rows: list[list[str]] = [["imagesource:GoogleEarth"], [f"gsd:{r.random():.6f}"]] if r.random() < 0.5 else []
    for _ in range(r.randint(0, 4)):
        row = [*_corners(r), r.choice(CLASSES)]
        if r.random() < 0.5:
            row.append(r.choice(["0", "1"]))
        rows.append(row)
    return rows


def dota_result_rows(r: random.Random) -> list[list[str]]:
    return [[r.choice(["P0001", "P0002", "0001"]), f"{_score(r):g}", *_corners(r)] for _ in range(r.randint(0, 4))]


def _file_names(usual: list[str]) -> st.SearchStrategy[list[str]]:
    """1-3 file names, mostly usual ones; odd ones (case clashes, folders, non-UTF-8) too."""
    return st.lists(st.sampled_from(usual + DOTA_FILE_NAMES), min_size=1, max_size=3, unique=True)


@st.composite
def _text_file(draw: st.DrawFn, build: Callable[[random.Random], list[list[str]]]) -> bytes:
    rows = draw(mutate_lines(draw(seeded(build))))
    return draw(mutate_bytes(join_lines(rows, draw(st.sampled_from([" ", "\t", "  "])))))


def _folder(draw: st.DrawFn, names: list[str], build: Callable[[random.Random], list[list[str]]]) -> Files:
    """Files dict; a name ending in '/' is a folder (None)."""
    return {n.rstrip("/"): None if n.endswith("/") else draw(_text_file(build)) for n in names}


@st.composite
def dota_files(draw: st.DrawFn) -> Files:
    return _folder(draw, draw(_file_names(["P0001.txt", "P0002.txt"])), dota_label_rows)


@st.composite
def dota_results_files(draw: st.DrawFn) -> Files:
    return _folder(draw, draw(_file_names(["Task1_plane.txt", "Task1_ship.txt", "harbor.txt"])), dota_result_rows)


# --------------------------------------------------------------------------
# Labelbox


def _box(r: random.Random) -> dict:
    return {"top": _coord(r), "left": _coord(r), "height": _size(r), "width": _size(r)}


def _labelbox_label(r: random.Random, text: str, confidence: bool) -> dict:
    objects = []
    for k in range(r.randint(0, 3)):
        o: dict[str, Any] = {"feature_id": f"f{k}", "name": _class(r), "classifications": []}
        kind = r.choice(["box", "box", "span", "polygon"])
        if kind == "box":
            o |= {"annotation_kind": "ImageBoundingBox", "bounding_box": _box(r)}
        elif kind == "span":
            start = r.randint(0, max(0, len(text) - 1))
            end = r.randint(start, max(start, len(text) - 1))
            o |= {"annotation_kind": "TextEntity", "location": {"start": start, "end": end}}
        else:
            o |= {"annotation_kind": "ImagePolygon", "polygon": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}
        if confidence:
            o["confidence"] = _score(r)
        objects.append(o)
    classifications = []
    for _ in range(r.randint(0, 2)):
        kind = r.choice(["radio", "radio", "checklist", "text"])
        if kind == "radio":
            answer = {"name": _class(r)} | ({"confidence": _score(r)} if confidence else {})
            classifications.append({"name": "q", "radio_answer": answer})
        elif kind == "checklist":
            classifications.append({"name": "q", "checklist_answers": [{"name": "a"}]})
        else:
            classifications.append({"name": "q", "text_answer": {"content": "free"}})
    return {"id": "lbl", "annotations": {"objects": objects, "classifications": classifications, "relationships": []}}


def labelbox_export_record(r: random.Random) -> dict:
    """One valid Labelbox export-v2 data row (project and/or model-run labels, embeddings)."""
    i = r.randint(0, 10**6)
    text = r.choice(TEXTS + ["https://x/t.txt"])
    rec: dict[str, Any] = {
        "data_row": {"id": f"dr{i}", "global_key": f"k{i}", "row_data": r.choice([f"https://x/{i}.jpg", text])},
        "media_attributes": {"width": _image_size(r), "height": _image_size(r), "mime_type": "image/jpeg"},
    }
    if r.random() < 0.6:
        labels = [_labelbox_label(r, text, False) for _ in range(r.randint(0, 2))]
        rec["projects"] = {"p1": {"name": "proj", "labels": labels}}
    if r.random() < 0.4:
        run = {"labels": [_labelbox_label(r, text, False)], "predictions": [_labelbox_label(r, text, True)]}
        rec["experiments"] = {"m1": {"name": "model", "runs": {r.choice(["r1", "r2"]): run}}}
    if r.random() < 0.3:
        vec = [round(r.uniform(-1, 1), 3) for _ in range(r.randint(1, 3))]
        name = r.choice(["clip", "custom"])
        rec["embeddings"] = [{"id": "e1", "name": name, "is_custom": r.random() < 0.5, "values": [{"value": vec}]}]
    return rec


@st.composite
def labelbox_files(draw: st.DrawFn) -> Files:
    doc = draw(mutate_json(draw(seeded(_mixed, LABELBOX_EXPORT_SAMPLES, labelbox_export_record, 4))))
    return {"export.ndjson": draw(mutate_bytes(draw(ndjson_bytes(doc))))}


def labelbox_prediction_line(r: random.Random) -> dict:
    """One valid Labelbox prediction import line (box, span, radio, checklist or free text)."""
    ref = r.choice([{"id": "dr1"}, {"id": "dr2"}, {"globalKey": "k1"}, {"id": "dr1", "globalKey": "k1"}])
    line: dict[str, Any] = {"uuid": "u1", "dataRow": ref, "name": _class(r)}
    kind = r.choice(["bbox", "bbox", "location", "radio", "checklist", "text"])
    if kind == "bbox":
        line["bbox"] = _box(r)
    elif kind == "location":
        start = r.randint(0, 30)
        line["location"] = {"start": start, "end": r.randint(start, 40)}
    elif kind == "radio":
        line["answer"] = {"name": _class(r), "confidence": _score(r)}
    elif kind == "checklist":
        line["answer"] = [{"name": "a", "confidence": _score(r)}]
    else:
        line["answer"] = "free text"
    if r.random() < 0.5:
        line["confidence"] = _score(r)
    if r.random() < 0.4:
        line["customMetrics"] = [{"name": r.choice(["iou", "loss"]), "value": _score(r)}]
    return line


@st.composite
def labelbox_prediction_files(draw: st.DrawFn) -> Files:
    doc = draw(mutate_json(draw(seeded(_mixed, LABELBOX_PREDICTION_SAMPLES, labelbox_prediction_line, 6))))
    return {"preds.ndjson": draw(mutate_bytes(draw(ndjson_bytes(doc))))}


AGGREGATIONS = ["ARITHMETIC_MEAN", "GEOMETRIC_MEAN", "HARMONIC_MEAN", "SUM", "CONFUSION_MATRIX"]


def labelbox_metric_line(r: random.Random, ids: tuple[str, ...] = ("dr1", "dr2")) -> dict:
    """One valid Labelbox custom-metric line (scalar, per-threshold or confusion matrix)."""
    line: dict[str, Any] = {"uuid": "u1", "dataRow": {"id": r.choice(ids)}}
    kind = r.choice(["scalar", "scalar", "thresholds", "confusion"])
    agg = r.choice(AGGREGATIONS[:4])
    if kind == "scalar":
        line["metricValue"] = round(r.uniform(0, 10), 3)
    elif kind == "thresholds":
        line["metricValue"] = {"0.1": _score(r), "0.5": _score(r)}
    else:
        line["metricValue"] = [r.randint(0, 9) for _ in range(4)]
        agg = "CONFUSION_MATRIX"
    if r.random() < 0.7:
        line["metricName"] = r.choice(["iou", "uploaded_confidence", ""])
    if r.random() < 0.5:
        line["aggregation"] = agg
    if r.random() < 0.4:
        line["featureName"] = "car"
        if r.random() < 0.5:
            line["subclassName"] = "red"
    return line


@st.composite
def labelbox_metric_files(draw: st.DrawFn) -> Files:
    doc = draw(mutate_json(draw(seeded(_mixed, LABELBOX_METRIC_SAMPLES, labelbox_metric_line, 6))))
    return {"metrics.ndjson": draw(mutate_bytes(draw(ndjson_bytes(doc))))}


# --------------------------------------------------------------------------
# CoNLL

TAGS = ["O", "O", "O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "L-ORG", "U-ORG", "I-MISC"]


def conll_rows(r: random.Random) -> list[list[str]]:
    """Sentences of a CoNLL file in one of the layouts (2, 3, 4 columns or CoNLL-2003)."""
    layout = r.choice(["2", "3", "4", "conll2003"])
    rows: list[list[str]] = [["-DOCSTART-", "O"]] if r.random() < 0.3 else []
    for _ in range(r.randint(1, 3)):
        for _ in range(r.randint(1, 5)):
            word, gold, pred = r.choice(WORDS), r.choice(TAGS), r.choice(TAGS)
            rows.append(
                {
                    "2": [word, gold],
                    "3": [word, gold, pred],
                    "4": [word, gold, pred, f"{_score(r):g}"],
                    "conll2003": [word, "NNP", "B-NP", gold],
                }[layout]
            )
        rows.append([])
    return rows


@st.composite
def conll_files(draw: st.DrawFn) -> Files:
    rows = draw(mutate_lines(draw(seeded(conll_rows))))
    return {"ner.conll": draw(mutate_bytes(join_lines(rows, draw(st.sampled_from([" ", "\t"])))))}


# --------------------------------------------------------------------------
# JSONL spans


def jsonl_record(r: random.Random, i: int = 0) -> dict:
    """One valid JSONL spans record (id ``d<i>`` or the integer i)."""
    text = r.choice(TEXTS)

    def span(pred: bool) -> list:
        start = r.randint(0, max(0, len(text) - 1))
        out: list[Any] = [start, r.randint(start + 1, max(start + 1, len(text))), r.choice(ENTITY_TYPES)]
        if pred and r.random() < 0.7:
            out.append(_score(r))
        return out

    rec: dict[str, Any] = {"id": r.choice([f"d{i}", i]), "text": text}
    if r.random() < 0.7:
        rec["labels"] = [span(False) for _ in range(r.randint(0, 3))]
    if r.random() < 0.7:
        rec["predictions"] = [span(True) for _ in range(r.randint(0, 3))]
    if r.random() < 0.3:
        rec["split"] = r.choice(["train", "val"])
    if r.random() < 0.3:
        rec["global_key"] = f"doc-{rec['id']}.txt"
    return rec


def jsonl_records(r: random.Random, n_min: int = 0) -> list[dict]:
    return [jsonl_record(r, i) for i in range(r.randint(n_min, 4))]


@st.composite
def jsonl_files(draw: st.DrawFn) -> Files:
    doc = draw(mutate_json(draw(seeded(jsonl_records))))
    return {"spans.jsonl": draw(mutate_bytes(draw(ndjson_bytes(doc))))}


# --------------------------------------------------------------------------
# classification tables (CSV and Parquet)

TABLE_COLUMNS = [
    "prob_cat", "prob_dog", "pred_label", "confidence", "width", "height", "asset", "global_key", "split", "loss",
]
ODD_COLUMNS = [" data_row_id", "data_row_id ", "prob_", "prob_\u00e9", "", "Unnamed: 0", "label", "prob_cat"]


def table_records(r: random.Random, n_max: int = 4, odd: bool = True) -> tuple[list[str], list[list[Any]]]:
    """(columns, rows of valid values) of a classification table; ``odd`` adds a clashing or odd column name."""
    extra = r.sample(TABLE_COLUMNS, r.randint(0, 5))
    if odd and r.random() < 0.15:
        extra.append(r.choice(ODD_COLUMNS))
    columns = ["data_row_id", "label", *extra]
    rows = []
    for i in range(r.randint(1, n_max)):
        p = _score(r)
        cell = {
            "data_row_id": f"r{i}",
            "label": r.choice(["cat", "dog"]),
            "prob_cat": p,
            "prob_dog": round(1 - p, 3),
            "pred_label": r.choice(["cat", "dog"]),
            "confidence": _score(r),
            "width": r.randint(1, 2000),
            "height": r.randint(1, 2000),
            "asset": f"img{i}.jpg",
            "global_key": f"k{i}",
            "split": r.choice(["train", "val"]),
            "loss": round(r.uniform(0, 5), 3),
        }
        rows.append([cell.get(c, "x") for c in columns])
    return columns, rows


@st.composite
def csv_bytes(draw: st.DrawFn, columns: list[str], rows: list[list[Any]], sep: str = ",") -> bytes:
    lines = draw(mutate_lines([list(columns), *[[str(v) for v in row] for row in rows]]))
    if draw(st.booleans()):
        out = io.StringIO()
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
        csv.writer(out, delimiter=sep, quoting=quoting).writerows(lines)
        return draw(mutate_bytes(encode(out.getvalue())))
    return draw(mutate_bytes(join_lines(lines, sep)))


@st.composite
def csv_table_files(draw: st.DrawFn) -> Files:
    columns, rows = draw(seeded(table_records))
    name = draw(st.sampled_from(["t.csv", "t.csv", "t.tsv", "t.CSV", "t.txt"]))
    return {name: draw(csv_bytes(columns, rows, "\t" if name.endswith(".tsv") else ","))}


ODD_FLOATS = [0.0, -0.0, 0.5, 1.0, -1.0, math.nan, math.inf, -math.inf, 1e308, 3.5e38, 5e-324, None]
ARROW_KINDS = [
    "string", "large_string", "float64", "float32", "int64", "uint64", "bool", "binary", "decimal", "timestamp",
    "dictionary", "null", "list_float", "list_string", "struct",
]


def arrow_values(r: random.Random, kind: str, n: int) -> pa.Array:
    """n values of one Arrow type, with nulls and extreme values."""
    def pick(values: list[Any]) -> list[Any]:
        return [r.choice(values) for _ in range(n)]

    texts = ["r0", "cat", "", "\u00e9", "\U0001f600", None]
    if kind in ("string", "large_string"):
        return pa.array(pick(texts), pa.string() if kind == "string" else pa.large_string())
    if kind == "float64":
        return pa.array(pick(ODD_FLOATS), pa.float64())
    if kind == "float32":
        return pa.array(pick([v for v in ODD_FLOATS if v is None or abs(v) < 3e38]), pa.float32())
    if kind == "int64":
        return pa.array(pick([0, 1, -1, 2**63 - 1, -(2**63), None]), pa.int64())
    if kind == "uint64":
        return pa.array(pick([0, 1, 2**64 - 1, None]), pa.uint64())
    if kind == "bool":
        return pa.array(pick([True, False, None]), pa.bool_())
    if kind == "binary":
        return pa.array(pick([b"r0", b"\xff", b"", None]), pa.binary())
    if kind == "decimal":
        return pa.array(pick([decimal.Decimal("0.50"), decimal.Decimal("-99999999.99"), None]), pa.decimal128(10, 2))
    if kind == "timestamp":
        return pa.array(pick([0, 2**40, None]), pa.timestamp("s"))
    if kind == "dictionary":
        return pa.array(pick(["cat", "dog", None]), pa.string()).dictionary_encode()
    if kind == "null":
        return pa.nulls(n)
    if kind == "list_float":
        return pa.array(pick([[], [0.5], [math.nan, 1.0], None]), pa.list_(pa.float64()))
    if kind == "list_string":
        return pa.array(pick([[], ["a"], None]), pa.list_(pa.string()))
    return pa.array(pick([{"a": 1}, None]), pa.struct([("a", pa.int64())]))


def parquet_bytes(arrays: list[pa.Array], names: list[str]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=names), buf)
    return buf.getvalue()


def parquet_table(r: random.Random) -> bytes:
    """A classification table as Parquet, some columns of unexpected Arrow types."""
    columns, rows = table_records(r)
    arrays = []
    for j in range(len(columns)):
        if r.random() < 0.2:
            arrays.append(arrow_values(r, r.choice(ARROW_KINDS), len(rows)))
        else:
            arrays.append(pa.array([row[j] for row in rows]) if rows else pa.array([], pa.string()))
    return parquet_bytes(arrays, columns)


@st.composite
def parquet_table_files(draw: st.DrawFn) -> Files:
    data = draw(mutate_bytes(draw(seeded(parquet_table)), p=5))
    return {draw(st.sampled_from(["t.parquet", "t.pq"])): data}


# --------------------------------------------------------------------------
# embeddings

NPY_DTYPES = ["<f4", "<f8", ">f4", "<f2", "<i8", "<u8", "|i1", "|b1", "<c8", "<U3", "|S2", "<M8[s]"]
NPY_VALUES = [0.0, 1.0, -1.0, 0.5, math.nan, math.inf, -math.inf, 1e308, 3.5e38, 65504.0, 1e-310, 2.0**63]


def npy_matrix(r: random.Random) -> tuple[bytes, int]:
    """(.npy bytes, row count): a matrix of some dtype and shape, pickled objects, an npz or a structured array."""
    n, d = r.choice([0, 1, 2, 3, 4, 5, 5]), r.choice([0, 1, 2, 3, 3, 4, 4])
    shape = r.choice([(n, d)] * 10 + [(n,), (n, d, 2), ()])
    kind = r.choice(["plain"] * 12 + ["object", "npz", "fortran", "structured"])
    buf = io.BytesIO()
    if kind == "object":
        arr = np.empty(shape, dtype=object)
        arr[...] = "x"
        np.save(buf, arr, allow_pickle=True)
    elif kind == "npz":
        np.savez(buf, a=np.zeros((n, d), np.float32))
    elif kind == "structured":
        np.save(buf, np.zeros(n, dtype=[("a", "<f4"), ("b", "<f4")]))
    else:
        dtype = r.choice(NPY_DTYPES) if r.random() < 0.3 else "<f4"
        odd = 0.2 if r.random() < 0.3 else 0.0
        size = math.prod(shape)
        values = np.array([r.choice(NPY_VALUES) if r.random() < odd else r.uniform(-1, 1) for _ in range(size)])
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            arr = values.astype(dtype).reshape(shape)
        np.save(buf, np.asfortranarray(arr) if kind == "fortran" else arr)
    return buf.getvalue(), n


@st.composite
def npy_files(draw: st.DrawFn) -> Files:
    data, n = draw(seeded(npy_matrix))
    ids = [[f"r{i}"] for i in range(n)]
    if draw(st.integers(0, 3)) == 0:
        ids = draw(mutate_lines(ids, 1))
    return {"emb.npy": draw(mutate_bytes(data, p=4)), "ids.txt": draw(mutate_bytes(join_lines(ids), 1, p=4))}


def parquet_embeddings(r: random.Random) -> bytes:
    """data_row_id plus list column(s), a fixed-size list, nested lists or numeric columns, of odd values."""
    n, d = r.randint(0, 4), r.randint(0, 3)
    ids = pa.array([f"r{i}" for i in range(n)]) if r.random() < 0.8 else arrow_values(r, r.choice(ARROW_KINDS), n)
    arrays, names = [ids], ["data_row_id"]

    def vector() -> list[Any] | None:
        if r.random() < 0.1:
            return None
        length = d if r.random() < 0.9 else r.randint(0, 4)
        return [r.choice(ODD_FLOATS) if r.random() < 0.1 else round(r.uniform(-1, 1), 3) for _ in range(length)]

    layout = r.choice(["list", "list", "fixed", "numeric", "two_lists", "none", "nested"])
    if layout in ("list", "two_lists"):
        for name in ["embedding", r.choice(["vector", "other"])][: 1 + (layout == "two_lists")]:
            type_ = r.choice([pa.list_(pa.float32()), pa.list_(pa.float64()), pa.large_list(pa.float64())])
            values = pa.array([vector() for _ in range(n)], pa.list_(pa.float64()))
            arrays.append(values.cast(type_, safe=False))  # beyond float32 becomes inf
            names.append(name)
    elif layout == "fixed":
        vectors = [[round(r.uniform(-1, 1), 3) for _ in range(d)] for _ in range(n)]
        arrays.append(pa.array(vectors, pa.list_(pa.float32(), d)))
        names.append("embedding")
    elif layout == "nested":
        arrays.append(pa.array([[[1.0, 2.0]] for _ in range(n)], pa.list_(pa.list_(pa.float64()))))
        names.append("embedding")
    elif layout == "numeric":
        for j in range(d):
            arrays.append(arrow_values(r, r.choice(["float64", "float32", "int64", "uint64", "bool", "decimal"]), n))
            names.append(f"e{j}")
    return parquet_bytes(arrays, names)


@st.composite
def parquet_embedding_files(draw: st.DrawFn) -> Files:
    return {"emb.parquet": draw(mutate_bytes(draw(seeded(parquet_embeddings)), p=5))}


# --------------------------------------------------------------------------
# whole runs: config + files for load_run


@st.composite
def config_bytes(draw: st.DrawFn, config: dict) -> bytes:
    """A run config as YAML, sometimes structurally or byte-mutated."""
    if draw(st.integers(0, 3)) == 0:
        config = draw(mutate_json(config, 2))
    try:
        text = yaml.safe_dump(config, allow_unicode=draw(st.booleans()))
    except yaml.YAMLError:
        text = dumps(config)  # JSON is YAML too; covers Raw fragments
    return draw(mutate_bytes(encode(text), 1, p=6))


def _matching(r: random.Random) -> dict:
    return {"iou_threshold": r.choice([0.5, 0.0, 1.0]), "confidence_threshold": r.choice([0.5, 0.0, 1.0])}


@st.composite
def coco_run_files(draw: st.DrawFn) -> Files:
    """COCO ground truth + COCO results referring to its ids (+ metric lines), a detection config."""
    r = random.Random(draw(st.integers(0, 2**32 - 1)))
    gt = coco_gt_doc(r)
    img_ids = [im["id"] for im in gt["images"]] + [999]
    cat_ids = [c["id"] for c in gt["categories"]] + [77]
    preds = [coco_result(r, img_ids, cat_ids) for _ in range(r.randint(0, 8))]
    files: Files = {
        "gt.json": draw(mutate_bytes(draw(json_bytes(draw(mutate_json(gt, 2)))), 1, p=6)),
        "preds.json": draw(mutate_bytes(draw(json_bytes(draw(mutate_json(preds, 2)))), 1, p=6)),
    }
    config: dict[str, Any] = {
        "name": "fuzz",
        "task": "detection",
        "ground_truth": {"format": "coco", "path": "gt.json"},
        "predictions": {"format": "coco-results", "path": "preds.json"},
        "matching": _matching(r),
    }
    if r.random() < 0.4:
        ids = tuple(str(i) for i in img_ids)
        lines = [labelbox_metric_line(r, ids) for _ in range(r.randint(0, 4))]
        files["metrics.ndjson"] = draw(ndjson_bytes(draw(mutate_json(lines, 1))))
        config["metrics"] = [{"format": "labelbox-metrics", "path": "metrics.ndjson"}]
    files["run.yaml"] = draw(config_bytes(config))
    return files


@st.composite
def jsonl_run_files(draw: st.DrawFn) -> Files:
    """JSONL spans (gold and predictions in one file, or two files), an NER config."""
    r = random.Random(draw(st.integers(0, 2**32 - 1)))
    doc = draw(mutate_json(jsonl_records(r, 1), 2))
    files: Files = {"spans.jsonl": draw(mutate_bytes(draw(ndjson_bytes(doc)), 1, p=6))}
    pred_path = "spans.jsonl"
    if r.random() < 0.4:
        pred_path = "preds.jsonl"
        files[pred_path] = draw(ndjson_bytes(draw(mutate_json(jsonl_records(r), 2))))
    config = {
        "task": r.choice(["ner", "ner", "ner", "detection"]),
        "ground_truth": {"format": "jsonl", "path": "spans.jsonl"},
        "predictions": {"format": "jsonl", "path": pred_path},
        "matching": _matching(r),
    }
    files["run.yaml"] = draw(config_bytes(config))
    return files


@st.composite
def table_run_files(draw: st.DrawFn) -> Files:
    """A CSV classification table (labels + probabilities), optional embeddings and metrics, a config."""
    r = random.Random(draw(st.integers(0, 2**32 - 1)))
    columns, rows = table_records(r, 6)
    files: Files = {"t.csv": draw(csv_bytes(columns, rows))}
    config: dict[str, Any] = {
        "task": "classification",
        "ground_truth": {"format": "table", "path": "t.csv"},
        "predictions": {"format": "table", "path": "t.csv"},
    }
    n = len(rows)
    emb = r.choice(["none", "npy", "parquet"])
    if emb == "npy":
        buf = io.BytesIO()
        np.save(buf, np.array([[r.uniform(-1, 1) for _ in range(2)] for _ in range(n)], dtype=np.float32).reshape(n, 2))
        files["emb.npy"] = buf.getvalue()
        files["ids.txt"] = join_lines(draw(mutate_lines([[f"r{i}"] for i in range(n)], 1)))
        config["embeddings"] = {"format": "npy", "path": "emb.npy", "ids": "ids.txt"}
    elif emb == "parquet":
        ids = [r.choice([f"r{i}" for i in range(n)] + ["zz"]) for _ in range(r.randint(0, n + 1))]
        vectors = pa.array([[0.5, 0.5]] * len(ids), pa.list_(pa.float32()))
        files["emb.parquet"] = parquet_bytes([pa.array(ids, pa.string()), vectors], ["data_row_id", "embedding"])
        config["embeddings"] = {"format": "parquet", "path": "emb.parquet"}
    if r.random() < 0.4:
        metric_rows = [[f"r{i}", str(_score(r))] for i in range(n)]
        files["m.csv"] = draw(csv_bytes(["data_row_id", "uploaded_confidence"], metric_rows))
        config["metrics"] = [{"format": "table", "path": "m.csv"}]
    files["run.yaml"] = draw(config_bytes(config))
    return files


run_files = st.one_of(coco_run_files(), jsonl_run_files(), table_run_files())


def write_files(root: Path, files: Files) -> None:
    """Create the files (and folders, for None values) of a case under root."""
    for name, data in files.items():
        target = root / name
        if data is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


# --------------------------------------------------------------------------
# properties


def _printable(text: str) -> bool:
    """Valid Unicode (no lone surrogates): it can be printed, stored in SQLite, written to a manifest."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_one_line(text: Any, what: str) -> None:
    assert isinstance(text, str) and text.strip(), f"{what} is empty or not a string: {text!r}"
    assert "\n" not in text and "\r" not in text, f"{what} spans several lines: {text!r}"
    assert _printable(text), f"{what} is not valid Unicode (lone surrogate): {text!r}"


def check_load_error(exc: LoadError) -> None:
    """A LoadError a user can act on: a non-empty message on one line."""
    check_one_line(str(exc), "LoadError message")


def _text_like(series: Any) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def _all_str(values: Any, what: str) -> None:
    """Every value is a str of valid Unicode (a lone surrogate crashes pandas' str dtype later)."""
    bad = [v for v in values if not isinstance(v, str) or not _printable(v)]
    assert not bad, f"{what}: expected strings of valid Unicode, got {bad[0]!r}"


def _check_text(df: Any, what: str) -> None:
    """Column names and text cells are valid Unicode."""
    for col in df.columns:
        assert _printable(str(col)), f"{what}: column name {col!r} is not valid Unicode"
        if _text_like(df[col]):
            bad = [v for v in df[col] if isinstance(v, str) and not _printable(v)]
            assert not bad, f"{what}.{col}: {bad[0]!r} is not valid Unicode"


def _check_columns(df: Any, dtypes: dict[str, Any], what: str) -> None:
    assert isinstance(df, pd.DataFrame), f"{what} is {type(df).__name__}, not a DataFrame"
    for col, dtype in dtypes.items():
        assert col in df.columns, f"{what} lacks column {col!r}: {list(df.columns)}"
        if dtype is object:
            assert _text_like(df[col]), f"{what}.{col} has dtype {df[col].dtype}, expected object"
        else:
            assert df[col].dtype == dtype, f"{what}.{col} has dtype {df[col].dtype}, expected {np.dtype(dtype)}"


def check_annotations(ann: Any, what: str = "annotations") -> None:
    """Documented columns; each object is a finite box or a span; confidences finite or NaN."""
    _check_columns(ann, ANNOTATION_DTYPES, what)
    _check_text(ann, what)
    assert set(ann["source"]) <= {"gt", "pred"}, f"{what}: bad source {set(ann['source'])}"
    _all_str(ann["label"], f"{what}.label")
    box = ann[["x0", "y0", "x1", "y1"]].to_numpy()
    start, end = ann["start"].to_numpy(), ann["end"].to_numpy()
    is_box = ~np.isnan(box).all(axis=1)
    finite = np.isfinite(box[is_box]).all(axis=1)
    assert finite.all(), f"{what}: box with non-finite geometry {box[is_box][~finite][:1]}"
    assert ((start[is_box] == -1) & (end[is_box] == -1)).all(), f"{what}: a box also has span offsets"
    span_ok = (start[~is_box] >= 0) & (end[~is_box] >= 0)
    assert span_ok.all(), (
        f"{what}: object with neither a box nor a valid span (start, end) = "
        f"{list(zip(start[~is_box][~span_ok], end[~is_box][~span_ok]))[:1]}"
    )
    conf = ann["confidence"].to_numpy()
    assert not np.isinf(conf).any(), f"{what}: infinite confidence"
    for poly in ann["polygon"]:
        if poly is not None:
            ok = len(poly) == 8 and np.isfinite(np.asarray(poly, dtype=np.float64)).all()
            assert ok, f"{what}: bad polygon {poly!r}"
    ids = ann["data_row_id"].to_numpy(dtype=object)
    named = np.array([isinstance(v, str) for v in ids], dtype=bool)
    if not named.all():
        assert "global_key" in ann.columns, f"{what}: data_row_id {ids[~named][0]!r} without a global_key column"
        _all_str(ann["global_key"].to_numpy(dtype=object)[~named], f"{what}.global_key (rows without an id)")


def check_loaded(loaded: Any) -> None:
    """What a reader returned has the documented tables, dtypes and finite values."""
    assert isinstance(loaded, Loaded), f"reader returned {type(loaded).__name__}"
    rows = loaded.rows
    assert isinstance(rows, pd.DataFrame) and tuple(rows.columns[:5]) == ROW_COLUMNS, f"rows columns {list(rows.columns)}"
    _all_str(rows["data_row_id"], "rows.data_row_id")
    _check_text(rows, "rows")
    assert rows["width"].dtype == np.float64 and rows["height"].dtype == np.float64, "rows width/height not float64"
    check_annotations(loaded.annotations)
    cls = loaded.classifications
    _check_columns(cls, CLASSIFICATION_DTYPES, "classifications")
    _all_str(cls["label"], "classifications.label")
    _check_text(cls, "classifications")
    assert not np.isinf(cls["confidence"].to_numpy()).any(), "classifications: infinite confidence"
    if loaded.probs is not None:
        probs = loaded.probs.drop(columns=[c for c in ("data_row_id", "global_key") if c in loaded.probs.columns])
        _check_text(loaded.probs, "probs")
        assert all(t == np.float64 for t in probs.dtypes), f"probs dtypes {dict(probs.dtypes)}"
        assert np.isfinite(probs.to_numpy()).all(), "probs: non-finite probability"
    if loaded.metrics is not None:
        assert "data_row_id" in loaded.metrics.columns, "metrics without data_row_id"
        _check_text(loaded.metrics, "metrics")
        for col in loaded.metrics.columns:
            if col not in ("data_row_id", "global_key"):
                assert pd.api.types.is_numeric_dtype(loaded.metrics[col]), f"metrics.{col} is not numeric"
    if loaded.embeddings is not None:
        ids, matrix = loaded.embeddings
        assert isinstance(matrix, np.ndarray) and matrix.dtype == np.float32, "embedding matrix not float32"
        assert matrix.ndim == 2, f"embedding matrix of shape {matrix.shape}"
        assert len(ids) == matrix.shape[0] and matrix.shape[1] > 0, f"embeddings: {len(ids)} ids for shape {matrix.shape}"
        assert np.isfinite(matrix).all(), "embeddings: non-finite value"
        _all_str(ids, "embedding ids")
    for w in loaded.warnings:
        check_one_line(w, "warning")


def check_run(run: Any) -> None:
    """An assembled ModelRun is internally consistent (clean geometry, valid references)."""
    assert isinstance(run, ModelRun), f"load_run returned {type(run).__name__}"
    n = run.n_rows
    ids = run.rows["data_row_id"]
    assert n > 0 and ids.is_unique, "rows empty or ids not unique"
    _all_str(ids, "rows.data_row_id")
    _check_text(run.rows, "run.rows")
    _check_text(run.metrics, "run.metrics")
    ann = run.annotations
    check_annotations(ann, "run.annotations")
    row = ann["row"].to_numpy()
    assert ((row >= 0) & (row < n)).all(), "annotation row out of range"
    same = ann["data_row_id"].to_numpy(dtype=object) == ids.to_numpy(dtype=object)[row]
    assert same.all(), "row and data_row_id disagree"
    cid = ann["class_id"].to_numpy()
    assert ((cid >= 0) & (cid < len(run.classes))).all(), "class_id out of range"
    box = ann[["x0", "y0", "x1", "y1"]].to_numpy()
    is_box = ~np.isnan(box[:, 0])
    b = box[is_box]
    assert ((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])).all(), "empty box kept"
    w, h = run.rows["width"].to_numpy()[row[is_box]], run.rows["height"].to_numpy()[row[is_box]]
    sized = ~np.isnan(w) & ~np.isnan(h)
    with np.errstate(invalid="ignore"):
        outside = sized & ((b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > w) | (b[:, 3] > h))
    assert not outside.any(), "box outside its (sized) image kept unclipped"
    start, end = ann["start"].to_numpy()[~is_box], ann["end"].to_numpy()[~is_box]
    assert (end > start).all(), "empty span kept"
    texts = run.rows["asset"].to_numpy(dtype=object)[row[~is_box]]
    lengths = np.array([len(t) if isinstance(t, str) else np.iinfo(np.int64).max for t in texts], dtype=np.int64)
    assert (end <= lengths).all(), "span beyond its text kept"
    conf = ann["confidence"].to_numpy()[ann["source"].to_numpy() == "pred"]
    assert (np.isnan(conf) | ((conf >= 0) & (conf <= 1))).all(), "prediction confidence outside [0, 1]"
    assert len(run.metrics) == n, "metrics not aligned to rows"
    if run.task == "classification":
        for arr in (run.gt_label, run.pred_label):
            assert arr is not None and arr.shape == (n,), "class labels not aligned to rows"
            assert ((arr >= -1) & (arr < len(run.classes))).all(), "class label out of range"
        if run.probs is not None:
            assert run.probs.shape == (n, len(run.classes)), "probs misaligned"
    if run.embeddings is not None:
        mask = run.embedding_mask
        assert run.embeddings.shape[0] == n and mask is not None and mask.shape == (n,), "embeddings misaligned"
        assert np.isfinite(run.embeddings).all(), "non-finite embedding"
    for warning in run.warnings:
        check_one_line(warning, "run warning")
