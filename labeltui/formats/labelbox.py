"""Labelbox readers: export-v2 NDJSON, prediction/annotation import NDJSON, metric NDJSON.

Conventions shared by all three:

- Boxes ``{top, left, height, width}`` become ``x0=left, y0=top,
  x1=left+width, y1=top+height`` (pixels).
- Text entity ``location.end`` is INCLUSIVE in Labelbox (export and import:
  "the maximum value for end is the number of characters in the text minus
  1", docs.labelbox.com/reference/text-named-entity), so our exclusive end is
  ``end + 1``.
- Geometry we cannot show (polygon, mask, point, line, checklist, free text,
  ...) is skipped with one counted warning per kind.
- Fields are pulled out of the parsed JSON with one pass per file and checked
  column-wise with numpy; the slow per-value check runs only to name the line
  and field of a bad value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from labeltui.errors import LoadError
from labeltui.formats import ReadContext
from labeltui.formats.base import (
    Loaded,
    describe,
    empty_annotations,
    empty_classifications,
    finite_number,
    iter_ndjson,
    make_annotations,
    make_classifications,
    make_rows,
    require,
)

#: Column name Labelbox gives a ScalarMetric uploaded without ``metricName``.
#: The SDK only says "set to a default name in the editor"; we call it this.
DEFAULT_METRIC_NAME = "custom_metric"

#: Aggregations a metric line may name (Labelbox ScalarMetricAggregation and
#: ConfusionMatrixAggregation).
AGGREGATIONS = ("ARITHMETIC_MEAN", "GEOMETRIC_MEAN", "HARMONIC_MEAN", "SUM", "CONFUSION_MATRIX")

_CONFUSION = ("tp", "fp", "tn", "fn")
_SKIPPED_KEYS = ("polygon", "mask", "point", "line")
_NUMBER_TYPES = {int, float}
_URL = re.compile(r"^(?:https?|gs|s3)://", re.IGNORECASE)


class _Missing:
    """Marks a field absent from the JSON (None would mean JSON null)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
_RESERVED = ("data_row_id", "global_key")


# --------------------------------------------------------------------------
# column checks


FieldOf = Callable[[int], str]


def _numbers(
    values: list[Any], lines: list[int], field_of: FieldOf, path: Path, *, optional: bool = False
) -> np.ndarray:
    """Finite float64 array of JSON numbers (None -> NaN when ``optional``)."""
    types = set(map(type, values))
    allowed = _NUMBER_TYPES | ({type(None)} if optional else set())
    if types <= allowed:
        has_none = type(None) in types
        try:
            arr = np.array([math.nan if v is None else v for v in values] if has_none else values, dtype=np.float64)
        except OverflowError:
            arr = None
        if arr is not None:
            bad = ~np.isfinite(arr)
            if has_none:
                bad &= np.array([v is not None for v in values], dtype=bool)
            if not bad.any():
                return arr
    for i, v in enumerate(values):
        if v is _MISSING:
            raise LoadError("missing required field", path=path, line=lines[i], field=field_of(i))
        if v is None and optional:
            continue
        finite_number(v, path=path, line=lines[i], field=field_of(i))
    raise AssertionError("unreachable: a bad value was detected but not located")  # pragma: no cover


def _whole(arr: np.ndarray, lines: list[int], field_of: FieldOf, path: Path, *, minimum: int = 0) -> np.ndarray:
    """int64 array of whole numbers >= ``minimum``."""
    bad = (arr != np.floor(arr)) | (arr < minimum) | (arr > 2**53)
    if bad.any():
        i = int(np.argmax(bad))
        what = "a whole number" if arr[i] != math.floor(arr[i]) else f"a number from {minimum} to 2**53"
        raise LoadError(f"expected {what}, got {arr[i]:g}", path=path, line=lines[i], field=field_of(i))
    return arr.astype(np.int64)


def _strings(values: list[Any], lines: list[int], field_of: FieldOf, path: Path) -> list[str]:
    """The values, checked to be non-empty strings."""
    if set(map(type, values)) <= {str} and all(values):
        return values
    for i, v in enumerate(values):
        if v is _MISSING:
            raise LoadError("missing required field", path=path, line=lines[i], field=field_of(i))
        if not isinstance(v, str) or not v:
            raise LoadError(f"expected a non-empty string, got {describe(v, 40)}", path=path, line=lines[i], field=field_of(i))
    raise AssertionError("unreachable")  # pragma: no cover


def _expect(value: Any, kind: type, *, path: Path, line: int, field: str, optional: bool = True) -> Any:
    """``value`` if it has the JSON type ``kind`` (or is None when optional)."""
    if value is None and optional:
        return None
    if not isinstance(value, kind):
        want = {dict: "an object", list: "a list", str: "a string"}[kind]
        raise LoadError(f"expected {want}, got {type(value).__name__}", path=path, line=line, field=field)
    return value


def _confidences(values: list[Any], lines: list[int], field_of: FieldOf, path: Path) -> np.ndarray:
    """Confidences in [0, 1] (None -> NaN)."""
    conf = _numbers(values, lines, field_of, path, optional=True)
    bad = (conf < 0) | (conf > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise LoadError(
            f"confidence must be between 0 and 1, got {conf[i]:g}", path=path, line=lines[i], field=field_of(i)
        )
    return conf


def _counted(counts: Counter, template: str) -> list[str]:
    return [template.format(n=n, kind=kind) for kind, n in counts.items()]


# --------------------------------------------------------------------------
# row references (dataRow {id | globalKey})


class _RowKeys:
    """Interns ``dataRow`` references as (id, global key) pairs."""

    def __init__(self) -> None:
        self.index: dict[tuple[str | None, str | None], int] = {}

    def key(self, rec: dict, line: int, path: Path) -> int:
        ref = rec.get("dataRow", _MISSING)
        if not isinstance(ref, dict):
            if ref is _MISSING:
                raise LoadError("missing required field", path=path, line=line, field="dataRow")
            raise LoadError(
                f"expected an object with id or globalKey, got {type(ref).__name__}",
                path=path,
                line=line,
                field="dataRow",
            )
        drid, gk = ref.get("id"), ref.get("globalKey")
        if drid is None and gk is None:
            raise LoadError("needs id or globalKey", path=path, line=line, field="dataRow")
        for name, v in (("id", drid), ("globalKey", gk)):
            if v is not None and (type(v) is not str or not v):
                raise LoadError(
                    f"expected a non-empty string, got {describe(v, 40)}", path=path, line=line, field=f"dataRow.{name}"
                )
        return self.index.setdefault((drid, gk), len(self.index))

    def columns(self, keys: np.ndarray) -> dict[str, Any]:
        """``data_row_id`` (+ ``global_key`` when any reference used one) per key."""
        pairs = list(self.index)
        out: dict[str, Any] = {"data_row_id": np.array([p[0] for p in pairs], dtype=object)[keys]}
        if any(p[1] is not None for p in pairs):
            out["global_key"] = np.array([p[1] for p in pairs], dtype=object)[keys]
        return out


# --------------------------------------------------------------------------
# objects (boxes and spans) shared by the export and import readers


def _at(list_field: str | None, index: int, sub: str = "") -> str:
    """Field name of ``sub`` inside item ``index`` of ``list_field`` (None: the line itself)."""
    if list_field is None:
        return sub
    return f"{list_field}[{index}].{sub}" if sub else f"{list_field}[{index}]"


class _Objects:
    """Collects the boxes and spans of a file field by field, then builds one table.

    Only plain values are kept per object (no parsed dicts), and they are
    checked column-wise in :meth:`table`. ``in_field`` / ``index`` say where an
    object sits in its line (None for an import line that is the object
    itself); field names are built from them only for an error message.
    """

    def __init__(self, path: Path, *, box_key: str, id_key: str, schema_fallback: bool) -> None:
        self.path = path
        self.box_key = box_key
        self.id_key = id_key
        self.schema_fallback = schema_fallback
        self.lines: list[int] = []
        self.rows: list[int] = []
        self.sources: list[str] = []
        self.in_field: list[str | None] = []
        self.index: list[int] = []
        self.names: list[Any] = []
        self.conf: list[Any] = []
        self.ids: list[Any] = []
        self.box_pos: list[int] = []
        self.box: dict[str, list[Any]] = {k: [] for k in ("top", "left", "height", "width")}
        self.span_pos: list[int] = []
        self.span: dict[str, list[Any]] = {k: [] for k in ("start", "end")}
        self.skipped: Counter = Counter()
        self.nested = 0
        self.by_schema = 0

    def add(self, o: Any, line: int, row: int, source: str, in_field: str | None = None, index: int = 0) -> None:
        """One object: item ``index`` of the list ``in_field``, or the import line itself."""
        path, bk = self.path, self.box_key
        if type(o) is not dict:
            _expect(o, dict, path=path, line=line, field=_at(in_field, index), optional=False)
        if o.get("classifications"):
            self.nested += 1
        pos = len(self.lines)
        if bk in o:
            geom = o[bk]
            if type(geom) is not dict:
                _expect(geom, dict, path=path, line=line, field=_at(in_field, index, bk), optional=False)
            for k, col in self.box.items():
                col.append(geom.get(k, _MISSING))
            self.box_pos.append(pos)
        elif "location" in o:
            geom = o["location"]
            if type(geom) is not dict:
                _expect(geom, dict, path=path, line=line, field=_at(in_field, index, "location"), optional=False)
            for k, col in self.span.items():
                col.append(geom.get(k, _MISSING))
            self.span_pos.append(pos)
        else:
            kind = _object_kind(o)
            if kind is None:
                raise LoadError(
                    f"no geometry: expected {bk} or location ({', '.join(_SKIPPED_KEYS)} are skipped)",
                    path=path,
                    line=line,
                    field=_at(in_field, index) or None,
                )
            self.skipped[kind] += 1
            return
        name = o.get("name", _MISSING)
        if name is _MISSING and self.schema_fallback and "schemaId" in o:
            name = o["schemaId"]
            self.by_schema += 1
        self.names.append(name)
        self.conf.append(o.get("confidence"))
        self.ids.append(o.get(self.id_key))
        self.lines.append(line)
        self.rows.append(row)
        self.sources.append(source)
        self.in_field.append(in_field)
        self.index.append(index)

    def table(self, row_columns: Callable[[np.ndarray], dict[str, Any]]) -> pd.DataFrame:
        n, path, lines = len(self.lines), self.path, self.lines
        if not n:
            return empty_annotations()

        def field(sub: str, pos: list[int] | None = None) -> FieldOf:
            def name(i: int) -> str:
                j = i if pos is None else pos[i]
                return _at(self.in_field[j], self.index[j], sub)

            return name

        labels = np.asarray(_strings(self.names, lines, field("name"), path), dtype=object)
        conf = _confidences(self.conf, lines, field("confidence"), path)
        x0 = np.full(n, np.nan)
        y0, x1, y1 = x0.copy(), x0.copy(), x0.copy()
        start = np.full(n, -1, dtype=np.int64)
        end = start.copy()
        pos = self.box_pos
        if pos:
            bl = [lines[i] for i in pos]
            bk = self.box_key
            c = {k: _numbers(v, bl, field(f"{bk}.{k}", pos), path) for k, v in self.box.items()}
            for k in ("width", "height"):
                neg = c[k] < 0
                if neg.any():
                    i = int(np.argmax(neg))
                    raise LoadError(
                        f"must not be negative, got {c[k][i]:g}",
                        path=path,
                        line=bl[i],
                        field=field(f"{bk}.{k}", pos)(i),
                    )
            x0[pos], y0[pos] = c["left"], c["top"]
            x1[pos], y1[pos] = c["left"] + c["width"], c["top"] + c["height"]
        pos = self.span_pos
        if pos:
            sl = [lines[i] for i in pos]
            c = {}
            for k, v in self.span.items():
                f = field(f"location.{k}", pos)
                c[k] = _whole(_numbers(v, sl, f, path), sl, f, path)
            bad = c["end"] < c["start"]
            if bad.any():
                i = int(np.argmax(bad))
                raise LoadError(
                    f"end {c['end'][i]} is before start {c['start'][i]} (Labelbox ends are inclusive: end >= start)",
                    path=path,
                    line=sl[i],
                    field=field("location.end", pos)(i),
                )
            start[pos], end[pos] = c["start"], c["end"] + 1
        rows = np.asarray(self.rows, dtype=np.int64)
        sources = np.asarray(self.sources, dtype=object)
        ids = np.empty(n, dtype=object)
        ids[:] = self.ids
        parts = []
        for source in ("gt", "pred"):
            sel = np.flatnonzero(sources == source)
            if not len(sel):
                continue
            cols = row_columns(rows[sel])
            parts.append(
                make_annotations(
                    source=source,
                    data_row_id=cols["data_row_id"],
                    global_key=cols.get("global_key"),
                    label=labels[sel],
                    x0=x0[sel],
                    y0=y0[sel],
                    x1=x1[sel],
                    y1=y1[sel],
                    start=start[sel],
                    end=end[sel],
                    confidence=conf[sel],
                    annotation_id=ids[sel],
                )
            )
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _object_kind(obj: dict) -> str | None:
    kind = obj.get("annotation_kind")
    if isinstance(kind, str) and kind:
        return kind
    return next((k for k in _SKIPPED_KEYS if k in obj), None)


def _classification_table(
    labels: list[Any],
    conf: list[Any],
    lines: list[int],
    where: list[str],
    rows: list[int],
    sources: list[str],
    row_columns: Callable[[np.ndarray], dict[str, Any]],
    path: Path,
) -> pd.DataFrame:
    """Classification table from per-answer lists; ``where`` is each answer's field."""
    if not labels:
        return empty_classifications()
    labels = _strings(labels, lines, lambda i: f"{where[i]}.name", path)
    confidence = _confidences(conf, lines, lambda i: f"{where[i]}.confidence", path)
    rows_a = np.asarray(rows, dtype=np.int64)
    src = np.asarray(sources, dtype=object)
    label_arr = np.asarray(labels, dtype=object)
    parts = []
    for source in ("gt", "pred"):
        sel = np.flatnonzero(src == source)
        if len(sel):
            cols = row_columns(rows_a[sel])
            parts.append(
                make_classifications(
                    source=source,
                    data_row_id=cols["data_row_id"],
                    global_key=cols.get("global_key"),
                    label=label_arr[sel],
                    confidence=confidence[sel],
                )
            )
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


# --------------------------------------------------------------------------
# export v2


def read_labelbox_export(path: Path, ctx: ReadContext) -> Loaded:
    """Read a Labelbox export-v2 NDJSON file (one data row a line).

    - rows: ``data_row.id``, ``global_key``, asset = ``row_data`` (an image
      URL, a text URL, or the text itself when exported inline), width/height
      from ``media_attributes`` (NaN when absent).
    - Project exports: ``projects.<id>.labels`` -> GT. When a row has several
      labels in a project, all annotations of the FIRST label of each project
      are read (one counted warning).
    - Model-run exports: ``experiments.<model>.runs.<run>`` -> ``labels`` are
      GT, ``predictions`` are "pred" (with ``confidence`` when present); the
      first label / prediction entry is read. Only the first model run seen in
      the file is read; a row that also has project labels takes its GT from
      the run.
    - Objects with ``bounding_box`` or text ``location`` become annotations;
      radio classifications (``radio_answer``) become classifications; other
      kinds are skipped with a counted warning.
    - ``embeddings`` (a list of ``{name, is_custom, values: [{value: [...]}]}``
      per row): one embedding is read, the custom one on most rows (else the
      one on most rows); rows without it are left out of the ids.
    """
    objects = _Objects(path, box_key="bounding_box", id_key="feature_id", schema_fallback=False)
    cls: dict[str, list[Any]] = {k: [] for k in ("labels", "conf", "lines", "where", "rows", "sources")}
    skipped_cls: Counter = Counter()
    ids: list[str] = []
    gks: list[Any] = []
    assets: list[Any] = []
    width: list[Any] = []
    height: list[Any] = []
    lines: list[int] = []
    first_line: dict[str, int] = {}
    emb: list[tuple[int, str, bool, Any, int, str]] = []
    run: tuple[str, str] | None = None
    notes: Counter = Counter()
    multi_label: set[int] = set()
    other_run: set[int] = set()

    def add_label(label: Any, line: int, row: int, source: str, where: str) -> None:
        label = _expect(label, dict, path=path, line=line, field=where)
        if label is None:
            return
        ann = _expect(label.get("annotations"), dict, path=path, line=line, field=f"{where}.annotations")
        if ann is None:
            return
        objs = _expect(ann.get("objects"), list, path=path, line=line, field=f"{where}.annotations.objects") or []
        in_field = f"{where}.annotations.objects"
        for i, o in enumerate(objs):
            objects.add(o, line, row, source, in_field, i)
        classifications = ann.get("classifications")
        prefix = f"{where}.annotations.classifications"
        for i, c in enumerate(_expect(classifications, list, path=path, line=line, field=prefix) or []):
            c = _expect(c, dict, path=path, line=line, field=f"{prefix}[{i}]", optional=False)
            answer = c.get("radio_answer")
            if isinstance(answer, dict):
                cls["labels"].append(answer.get("name", _MISSING))
                cls["conf"].append(answer.get("confidence", c.get("confidence")))
                cls["lines"].append(line)
                cls["where"].append(f"{prefix}[{i}].radio_answer")
                cls["rows"].append(row)
                cls["sources"].append(source)
            elif "checklist_answers" in c:
                skipped_cls["checklist"] += 1
            elif "text_answer" in c:
                skipped_cls["free-text"] += 1
            else:
                skipped_cls["other"] += 1

    def first_of(entries: Any, line: int, row: int, where: str) -> Any:
        entries = _expect(entries, list, path=path, line=line, field=where) or []
        if len(entries) > 1:
            multi_label.add(row)
        return entries[0] if entries else None

    for line, rec in iter_ndjson(path):
        if not isinstance(rec, dict):
            raise LoadError(
                f"expected a JSON object (one data row a line), got {type(rec).__name__}", path=path, line=line
            )
        dr = require(rec, "data_row", path=path, line=line)
        _expect(dr, dict, path=path, line=line, field="data_row", optional=False)
        drid = require(dr, "id", path=path, line=line, context="data_row")
        if not isinstance(drid, str) or not drid:
            raise LoadError(f"expected a non-empty string, got {describe(drid, 40)}", path=path, line=line, field="data_row.id")
        if drid in first_line:
            raise LoadError(
                f"data row {drid!r} appears again (first on line {first_line[drid]}); export each data row once",
                path=path,
                line=line,
                field="data_row.id",
            )
        first_line[drid] = line
        row = len(ids)
        ids.append(drid)
        gks.append(_expect(dr.get("global_key"), str, path=path, line=line, field="data_row.global_key"))
        assets.append(_expect(dr.get("row_data"), str, path=path, line=line, field="data_row.row_data"))
        media = _expect(rec.get("media_attributes"), dict, path=path, line=line, field="media_attributes") or {}
        width.append(media.get("width"))
        height.append(media.get("height"))
        lines.append(line)

        for j, e in enumerate(_expect(rec.get("embeddings"), list, path=path, line=line, field="embeddings") or []):
            e = _expect(e, dict, path=path, line=line, field=f"embeddings[{j}]", optional=False)
            name = e.get("name", e.get("id"))
            if not isinstance(name, str):
                raise LoadError("needs a name or id (string)", path=path, line=line, field=f"embeddings[{j}].name")
            vec, where = _embedding_vector(e, line, f"embeddings[{j}]", path, notes)
            emb.append((row, name, e.get("is_custom") is True, vec, line, where))

        in_run = False
        experiments = _expect(rec.get("experiments"), dict, path=path, line=line, field="experiments") or {}
        for mid, exp in experiments.items():
            runs = _expect(exp, dict, path=path, line=line, field=f"experiments.{mid}", optional=False).get("runs")
            for rid, r in (_expect(runs, dict, path=path, line=line, field=f"experiments.{mid}.runs") or {}).items():
                run = run or (mid, rid)
                where = f"experiments.{mid}.runs.{rid}"
                if (mid, rid) != run:
                    other_run.add(row)
                    continue
                r = _expect(r, dict, path=path, line=line, field=where, optional=False)
                in_run = True
                for key, source in (("labels", "gt"), ("predictions", "pred")):
                    entry = first_of(r.get(key), line, row, f"{where}.{key}")
                    add_label(entry, line, row, source, f"{where}.{key}[0]")
        projects = _expect(rec.get("projects"), dict, path=path, line=line, field="projects") or {}
        if in_run and any(isinstance(p, dict) and p.get("labels") for p in projects.values()):
            notes["run_over_project"] += 1
            projects = {}
        for pid, proj in projects.items():
            proj = _expect(proj, dict, path=path, line=line, field=f"projects.{pid}", optional=False)
            where = f"projects.{pid}.labels"
            add_label(first_of(proj.get("labels"), line, row, where), line, row, "gt", f"{where}[0]")

    if not ids:
        raise LoadError("no data rows: the file holds an empty list", path=path)
    row_ids = np.asarray(ids, dtype=object)

    def row_columns(rows: np.ndarray) -> dict[str, Any]:
        return {"data_row_id": row_ids[rows]}

    w = _numbers(width, lines, lambda i: "media_attributes.width", path, optional=True)
    h = _numbers(height, lines, lambda i: "media_attributes.height", path, optional=True)
    for arr, name in ((w, "width"), (h, "height")):
        bad = arr <= 0
        if bad.any():
            i = int(np.argmax(bad))
            raise LoadError(
                f"must be positive, got {arr[i]:g}", path=path, line=lines[i], field=f"media_attributes.{name}"
            )
    rows_df = make_rows(ids, gks, assets, w, h)
    annotations = objects.table(row_columns)
    classifications = _classification_table(
        cls["labels"], cls["conf"], cls["lines"], cls["where"], cls["rows"], cls["sources"], row_columns, path
    )

    warnings = _counted(objects.skipped, "skipped {n} {kind} object(s): only boxes and text spans are read")
    warnings += _counted(skipped_cls, "skipped {n} {kind} classification(s): only radio answers are read")
    if objects.nested:
        warnings.append(f"ignored nested classifications on {objects.nested} object(s)")
    if multi_label:
        warnings.append(
            f"{len(multi_label)} data row(s) had more than one label (or prediction) per project or run; "
            "only the first was read"
        )
    if other_run and run is not None:
        warnings.append(
            f"{len(other_run)} data row(s) carried other model runs; only experiment {run[0]} run {run[1]} "
            "(the first seen) was read"
        )
    if notes["run_over_project"]:
        warnings.append(
            f"{notes['run_over_project']} data row(s) had both model-run and project labels; "
            "the model run's labels were used as ground truth"
        )
    span_rows = set(annotations.loc[annotations["start"] >= 0, "data_row_id"])
    url_rows = [a for a, r in zip(assets, ids) if r in span_rows and isinstance(a, str) and _URL.match(a)]
    if url_rows:
        warnings.append(
            f"{len(url_rows)} text row(s) have only a URL as row_data (the text is not in the export); "
            "their spans cannot be shown until the text is available"
        )
    embeddings = _pick_embeddings(emb, row_ids, path, warnings, notes)
    return Loaded(
        rows=rows_df,
        annotations=annotations,
        classifications=classifications,
        embeddings=embeddings,
        warnings=warnings,
    )


def _embedding_vector(e: dict, line: int, where: str, path: Path, notes: Counter) -> tuple[Any, str]:
    """The raw vector of one export embedding entry and the field it came from.

    Documented form: ``values: [{"value": [floats]}]``; also accepted:
    ``values: [floats]`` and ``value: [floats]``.
    """
    if "values" in e:
        values = _expect(e["values"], list, path=path, line=line, field=f"{where}.values", optional=False)
        if values and isinstance(values[0], dict):
            if len(values) > 1:
                notes["multi_vector"] += 1
            vec = require(values[0], "value", path=path, line=line, context=f"{where}.values[0]")
            return vec, f"{where}.values[0].value"
        return values, f"{where}.values"
    if "value" in e:
        return e["value"], f"{where}.value"
    raise LoadError("missing required field (values)", path=path, line=line, field=f"{where}.values")


def _pick_embeddings(
    emb: list[tuple[int, str, bool, Any, int, str]],
    row_ids: np.ndarray,
    path: Path,
    warnings: list[str],
    notes: Counter,
) -> tuple[np.ndarray, np.ndarray] | None:
    if not emb:
        return None
    counts: Counter = Counter()
    custom: dict[str, bool] = {}
    seen: set[tuple[int, str]] = set()
    for row, name, is_custom, *_ in emb:
        if (row, name) not in seen:
            seen.add((row, name))
            counts[name] += 1
            custom[name] = custom.get(name, False) or is_custom
    order = list(counts)
    name = max(order, key=lambda n: (custom[n], counts[n], -order.index(n)))
    if len(order) > 1:
        others = ", ".join(repr(n) for n in order if n != name)
        warnings.append(f"read embedding {name!r} ({counts[name]} rows); ignored {others}")
    taken: set[int] = set()
    chosen = []
    for rec in emb:
        if rec[1] == name and rec[0] not in taken:
            taken.add(rec[0])
            chosen.append(rec)
    vectors = [c[3] for c in chosen]
    try:
        mat = np.array(vectors)
    except ValueError:
        mat = None
    if mat is None or mat.ndim != 2 or mat.dtype.kind not in "fi" or not np.isfinite(mat).all():
        dim = None
        for _, _, _, vec, line, where in chosen:
            if not isinstance(vec, list) or not vec:
                raise LoadError("expected a non-empty list of numbers", path=path, line=line, field=where)
            arr = _numbers(vec, [line] * len(vec), lambda i, w=where: f"{w}[{i}]", path)
            if dim is not None and len(arr) != dim:
                raise LoadError(
                    f"embedding has {len(arr)} values, expected {dim} like the rows before",
                    path=path,
                    line=line,
                    field=where,
                )
            dim = len(arr)
        mat = np.array([[float(v) for v in vec] for vec in vectors])
    if mat.shape[1] == 0:
        raise LoadError("expected a non-empty list of numbers", path=path, line=chosen[0][4], field=chosen[0][5])
    if notes["multi_vector"]:
        warnings.append(f"{notes['multi_vector']} embedding(s) had several vectors; the first was read")
    missing = len(row_ids) - len(chosen)
    if missing:
        warnings.append(f"{missing} data row(s) have no {name!r} embedding")
    with np.errstate(over="ignore"):
        mat32 = mat.astype(np.float32)
    if not np.isfinite(mat32).all():
        i = int(np.argmax(~np.isfinite(mat32).all(axis=1)))
        raise LoadError("value too large for float32", path=path, line=chosen[i][4], field=chosen[i][5])
    ids = row_ids[np.array([c[0] for c in chosen], dtype=np.int64)]
    return ids, mat32


# --------------------------------------------------------------------------
# prediction / annotation import NDJSON


def read_labelbox_predictions(path: Path, ctx: ReadContext) -> Loaded:
    """Read Labelbox prediction (or annotation) import NDJSON; everything is "pred".

    One object a line (a file holding one JSON array works too): ``dataRow``
    ``{id | globalKey}``, class ``name`` (``schemaId`` when the name is absent,
    with a warning), and ``bbox`` / ``location`` (end inclusive) -> annotations,
    or a radio ``answer{name, confidence}`` -> a classification. Checklist
    (``answer`` list), free text (``answer`` string), polygon, mask, point and
    line are skipped with counted warnings. ``confidence`` is NaN when absent.
    Rows referenced by global key only get ``data_row_id`` None and a
    ``global_key`` column. ``customMetrics`` from every line (also those inside
    ``answer``) become ``Loaded.metrics``: one column per metric name, the mean
    over that row's lines.
    """
    keys = _RowKeys()
    objects = _Objects(path, box_key="bbox", id_key="uuid", schema_fallback=True)
    cls: dict[str, list[Any]] = {k: [] for k in ("labels", "conf", "lines", "where", "rows")}
    skipped_answers: Counter = Counter()
    metric_rows: list[int] = []
    metric_names: list[Any] = []
    metric_values: list[Any] = []
    metric_lines: list[int] = []
    metric_where: list[tuple[str, int]] = []
    n_lines = radio_by_schema = 0

    def add_metrics(holder: dict, row: int, line: int, where: str) -> None:
        cms = holder.get("customMetrics")
        if cms is None:
            return
        if type(cms) is not list:
            _expect(cms, list, path=path, line=line, field=f"{where}customMetrics")
        for i, m in enumerate(cms):
            if type(m) is not dict:
                _expect(m, dict, path=path, line=line, field=f"{where}customMetrics[{i}]", optional=False)
            metric_rows.append(row)
            metric_names.append(m.get("name", _MISSING))
            metric_values.append(m.get("value", _MISSING))
            metric_lines.append(line)
            metric_where.append((where, i))

    for line, rec in iter_ndjson(path):
        n_lines += 1
        if not isinstance(rec, dict):
            raise LoadError(
                f"expected a JSON object (one prediction a line), got {type(rec).__name__}", path=path, line=line
            )
        row = keys.key(rec, line, path)
        add_metrics(rec, row, line, "")
        if "bbox" in rec or "location" in rec or any(k in rec for k in _SKIPPED_KEYS):
            objects.add(rec, line, row, "pred")
            continue
        if "answer" not in rec:
            raise LoadError(
                f"no geometry: expected bbox, location or answer ({', '.join(_SKIPPED_KEYS)} are skipped)",
                path=path,
                line=line,
            )
        answer = rec["answer"]
        if isinstance(answer, dict):
            add_metrics(answer, row, line, "answer.")
            if "name" not in answer and "schemaId" in answer:
                radio_by_schema += 1
            cls["labels"].append(answer.get("name", answer.get("schemaId", _MISSING)))
            cls["conf"].append(answer.get("confidence", rec.get("confidence")))
            cls["lines"].append(line)
            cls["where"].append("answer")
            cls["rows"].append(row)
        elif isinstance(answer, list):
            for i, item in enumerate(answer):
                if isinstance(item, dict):
                    add_metrics(item, row, line, f"answer[{i}].")
            skipped_answers["checklist"] += 1
        elif isinstance(answer, str):
            skipped_answers["free-text"] += 1
        else:
            raise LoadError(
                f"expected an object (radio), a list (checklist) or a string (text), got {type(answer).__name__}",
                path=path,
                line=line,
                field="answer",
            )
    if not n_lines:
        raise LoadError("no prediction lines: the file holds an empty list", path=path)

    annotations = objects.table(keys.columns)
    classifications = _classification_table(
        cls["labels"],
        cls["conf"],
        cls["lines"],
        cls["where"],
        cls["rows"],
        ["pred"] * len(cls["rows"]),
        keys.columns,
        path,
    )
    metrics = None
    if metric_rows:

        def metric_field(sub: str) -> FieldOf:
            return lambda i: "{}customMetrics[{}].{}".format(*metric_where[i], sub)

        names = _strings(metric_names, metric_lines, metric_field("name"), path)
        clash = [i for i, n in enumerate(names) if n in _RESERVED]
        if clash:
            i = clash[0]
            raise LoadError(
                f"{names[i]!r} is a reserved column name; rename the metric",
                path=path,
                line=metric_lines[i],
                field=metric_field("name")(i),
            )
        values = _numbers(metric_values, metric_lines, metric_field("value"), path)
        long = pd.DataFrame(
            {"key": metric_rows, "name": pd.Categorical(names, categories=list(dict.fromkeys(names))), "value": values}
        )
        wide = long.groupby(["key", "name"], observed=True, sort=False)["value"].mean().unstack("name")
        wide = wide.reindex(columns=long["name"].cat.categories).sort_index()
        metrics = pd.DataFrame(keys.columns(wide.index.to_numpy()))
        for name in wide.columns:
            metrics[str(name)] = wide[name].to_numpy(dtype=np.float64)

    warnings = _counted(
        objects.skipped, "skipped {n} {kind} prediction(s): only boxes, text spans and radio answers are read"
    )
    warnings += _counted(skipped_answers, "skipped {n} {kind} classification(s): only radio answers are read")
    if objects.by_schema + radio_by_schema:
        warnings.append(
            f"{objects.by_schema + radio_by_schema} prediction(s) have no name; their schemaId is used as the class"
        )
    if objects.nested:
        warnings.append(f"ignored nested classifications on {objects.nested} prediction(s)")
    return Loaded(annotations=annotations, classifications=classifications, metrics=metrics, warnings=warnings)


# --------------------------------------------------------------------------
# metric NDJSON


def read_labelbox_metrics(path: Path, ctx: ReadContext) -> Loaded:
    """Read Labelbox custom-metric NDJSON into ``Loaded.metrics`` (one row per data row).

    Each line: ``dataRow{id | globalKey}``, ``metricName`` (absent ->
    ``custom_metric``; Labelbox ignores the aggregation of a nameless metric,
    so it is averaged), ``metricValue``, optional ``featureName`` /
    ``subclassName`` and ``aggregation``. Columns:

    - scalar value -> ``<name>``; ``{threshold: value}`` -> ``<name>@<threshold>``;
    - confusion matrix ``[tp, fp, tn, fn]`` -> ``<name>_tp`` ... ``<name>_fn``
      (per threshold ``<name>_tp@<threshold>``); counts are always summed.

    A row-level line (no ``featureName``) gives the value; feature and
    subclass lines of a row are combined with the line's ``aggregation``
    (ARITHMETIC_MEAN default, GEOMETRIC_MEAN, HARMONIC_MEAN, SUM) and used only
    where the row has no row-level value for that column. Repeated row-level
    lines for one column are combined the same way.
    """
    keys = _RowKeys()
    rec_key: list[int] = []
    rec_col: list[str] = []
    rec_level: list[int] = []
    rec_value: list[float] = []
    rec_agg: list[str] = []
    n_lines = 0
    for line, rec in iter_ndjson(path):
        n_lines += 1
        if not isinstance(rec, dict):
            raise LoadError(
                f"expected a JSON object (one metric a line), got {type(rec).__name__}", path=path, line=line
            )
        key = keys.key(rec, line, path)
        name = _expect(rec.get("metricName"), str, path=path, line=line, field="metricName")
        for f in ("featureName", "subclassName"):
            _expect(rec.get(f), str, path=path, line=line, field=f)
        agg = _expect(rec.get("aggregation"), str, path=path, line=line, field="aggregation") or "ARITHMETIC_MEAN"
        if agg not in AGGREGATIONS:
            raise LoadError(
                f"unknown aggregation {agg!r}; use one of {', '.join(AGGREGATIONS)}",
                path=path,
                line=line,
                field="aggregation",
            )
        if not name:
            name, agg = DEFAULT_METRIC_NAME, "ARITHMETIC_MEAN"
        if name in _RESERVED:
            raise LoadError(
                f"{name!r} is a reserved column name; rename the metric", path=path, line=line, field="metricName"
            )
        value = require(rec, "metricValue", path=path, line=line)
        level = 0 if rec.get("featureName") is None and rec.get("subclassName") is None else 1
        for col, v, line_agg in _metric_columns(name, value, agg, line, path):
            rec_key.append(key)
            rec_col.append(col)
            rec_level.append(level)
            rec_value.append(v)
            rec_agg.append(line_agg)
    if not n_lines:
        raise LoadError("no metric lines: the file holds an empty list", path=path)

    df = pd.DataFrame({"key": rec_key, "col": rec_col, "level": rec_level, "value": rec_value, "agg": rec_agg})
    groups = ["key", "col", "level"]
    df["gagg"] = df.groupby(groups, sort=False)["agg"].transform("first")
    mixed = int((df["agg"] != df["gagg"]).sum())
    agg = df["gagg"].to_numpy()
    v = df["value"].to_numpy()
    t = v.copy()
    geometric, harmonic = agg == "GEOMETRIC_MEAN", agg == "HARMONIC_MEAN"
    with np.errstate(divide="ignore", over="ignore"):  # log(0) = -inf, 1/0 or 1/1e-320 = inf: means of 0
        t[geometric] = np.log(v[geometric])
        t[harmonic] = 1.0 / v[harmonic]
    df["t"] = t
    g = df.groupby(groups, sort=False).agg(s=("t", "sum"), c=("t", "size"), agg=("gagg", "first")).reset_index()
    s, c, a = g["s"].to_numpy(), g["c"].to_numpy(), g["agg"].to_numpy()
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        g["value"] = np.select(
            [a == "ARITHMETIC_MEAN", a == "GEOMETRIC_MEAN", a == "HARMONIC_MEAN"],
            [s / c, np.exp(s / c), c / s],
            default=s,
        )
    g = g.sort_values("level", kind="stable").drop_duplicates(["key", "col"], keep="first")
    cols = list(dict.fromkeys(rec_col))
    wide = g.pivot(index="key", columns="col", values="value").reindex(columns=cols).sort_index()
    metrics = pd.DataFrame(keys.columns(wide.index.to_numpy()))
    for col in cols:
        metrics[col] = wide[col].to_numpy(dtype=np.float64)
    warnings = []
    if mixed:
        warnings.append(
            f"{mixed} metric line(s) name a different aggregation than other lines of the same row, "
            "metric and level; the first one seen was used"
        )
    return Loaded(metrics=metrics, warnings=warnings)


def _metric_columns(
    name: str, value: Any, agg: str, line: int, path: Path, *, field: str = "metricValue", suffix: str = ""
) -> list[tuple[str, float, str]]:
    """(column, value, aggregation) triples of one metric line."""
    if isinstance(value, dict) and not suffix:
        if not value:
            raise LoadError(
                "expected a number, [tp, fp, tn, fn] or {threshold: value}, got {}", path=path, line=line, field=field
            )
        out = []
        for thr, v in value.items():
            try:
                t = float(thr)
            except ValueError:
                t = math.nan
            if not 0 <= t <= 1:
                raise LoadError(
                    f"threshold keys must be numbers in [0, 1], got {thr!r}", path=path, line=line, field=field
                )
            out += _metric_columns(name, v, agg, line, path, field=f"{field}[{thr!r}]", suffix=f"@{t:g}")
        return out
    if isinstance(value, list):
        if len(value) != 4:
            raise LoadError(
                f"a confusion matrix needs 4 counts [tp, fp, tn, fn], got {len(value)}",
                path=path,
                line=line,
                field=field,
            )
        counts = [finite_number(v, path=path, line=line, field=f"{field}[{i}]") for i, v in enumerate(value)]
        for i, v in enumerate(counts):
            if v < 0:
                raise LoadError(f"counts must not be negative, got {v:g}", path=path, line=line, field=f"{field}[{i}]")
        return [(f"{name}_{k}{suffix}", v, "SUM") for k, v in zip(_CONFUSION, counts)]
    if agg == "CONFUSION_MATRIX":
        raise LoadError("CONFUSION_MATRIX aggregation needs [tp, fp, tn, fn] values", path=path, line=line, field=field)
    v = finite_number(value, path=path, line=line, field=field)
    if v < 0 and agg in ("GEOMETRIC_MEAN", "HARMONIC_MEAN"):
        raise LoadError(f"{agg} needs non-negative values, got {v:g}", path=path, line=line, field=field)
    return [(f"{name}{suffix}", v, agg)]
