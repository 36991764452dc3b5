"""DOTA oriented boxes: ground truth (``dota``) and task-1 results (``dota-results``).

Ground truth is a folder of per-image label files ``<image>.txt`` (or one such
file), as DOTA's devkit writes them::

    imagesource:GoogleEarth
    gsd:0.146343590398
    2753 2408 2861 2385 2888 2468 2805 2502 plane 0

Object lines are four corner points, a category and an optional difficult flag.
Each file becomes a data row named by its stem (asset ``<stem>.png``, size
unknown); ``imagesource`` and ``gsd`` become row columns when any file has them.
The difficult flag is checked (an integer) but not kept.

Results are a folder with one file per class (``Task1_<class>.txt`` or
``<class>.txt``), lines ``image_id score x1 y1 x2 y2 x3 y3 x4 y4``.

Both keep the 8 corner coordinates in ``polygon`` and their axis-aligned
envelope in ``x0, y0, x1, y1``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from labeltui.errors import LoadError
from labeltui.formats import ReadContext
from labeltui.formats.base import Loaded, make_annotations, make_rows, read_text

_HEADERS = ("imagesource", "gsd")
_GT_HELP = "expected 8 corner coordinates, a category and an optional difficult flag (x1 y1 ... x4 y4 category [difficult])"
_RESULT_HELP = "expected image_id score x1 y1 x2 y2 x3 y3 x4 y4"


def _label_files(path: Path, what: str) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".txt" and p.is_file())
        if not files:
            raise LoadError(f"no .txt files in this folder; expected {what}", path=path)
    elif not path.exists():
        raise LoadError("file or folder not found", path=path)
    else:
        files = [path]
    _check_names(files)
    return files


def _check_names(files: list[Path]) -> None:
    """File names become data row ids and class names, so they must be valid UTF-8."""
    for f in files:
        try:
            f.name.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(f.name).decode("utf-8", "replace")
            raise LoadError(
                f"file name {shown!r} is not valid UTF-8 (it names a data row or class); rename the file", path=f
            ) from None


def _number(token: str) -> float:
    """float(token) if it is a finite number, else NaN."""
    try:
        value = float(token)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _polygons(coords: np.ndarray) -> tuple[np.ndarray, ...]:
    """(polygon object array, x0, y0, x1, y1) from an (n, 8) corner array."""
    xs, ys = coords[:, 0::2], coords[:, 1::2]
    polygon = np.empty(len(coords), dtype=object)
    polygon[:] = coords.tolist()
    return polygon, xs.min(axis=1), ys.min(axis=1), xs.max(axis=1), ys.max(axis=1)


def _gt_file(path: Path) -> tuple[dict[str, str], list[list[str]], np.ndarray]:
    """(header values, object lines split into tokens, their line numbers) of one label file."""
    tokens = [line.split() for line in read_text(path).splitlines()]
    counts = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    is_object = (counts == 9) | (counts == 10)
    headers: dict[str, str] = {}
    for i in np.flatnonzero(~is_object & (counts > 0)).tolist():
        key, sep, value = " ".join(tokens[i]).partition(":")
        if not sep or key.strip().lower() not in _HEADERS:
            raise LoadError(f"{_GT_HELP}; got {counts[i]} fields", path=path, line=i + 1)
        headers[key.strip().lower()] = value.strip()
    index = np.flatnonzero(is_object)
    return headers, [tokens[i] for i in index.tolist()], index + 1


def _locate_gt_error(path: Path, objects: list[list[str]], numbers: np.ndarray) -> LoadError:
    for tok, lineno in zip(objects, numbers.tolist()):
        for j, token in enumerate(tok[:8]):
            if math.isnan(_number(token)):
                return LoadError(f"coordinate {j + 1} is {token!r}, expected a finite number; {_GT_HELP}", path=path, line=lineno)
        if len(tok) == 10 and not tok[9].lstrip("+-").isdigit():
            return LoadError(f"difficult flag is {tok[9]!r}, expected an integer (0 or 1)", path=path, line=lineno)
    return LoadError(f"cannot parse; {_GT_HELP}", path=path)


def read_dota(path: Path, ctx: ReadContext) -> Loaded:
    """Read DOTA ground truth: a folder of ``<image>.txt`` label files, or one file."""
    files = _label_files(path, "DOTA label files (<image>.txt)")
    parsed = [_gt_file(f) for f in files]
    stems = [f.stem for f in files]
    dup = pd.Index(stems).duplicated()
    if dup.any():
        raise LoadError(f"two label files for image {stems[int(np.flatnonzero(dup)[0])]!r} (names differ only in extension case)", path=path)

    objects = [tok for _, objs, _ in parsed for tok in objs]
    try:
        coords = np.array([tok[:8] for tok in objects], dtype=np.float64).reshape(-1, 8)
        np.array([tok[9] for tok in objects if len(tok) == 10], dtype=np.int64)
        ok = bool(np.isfinite(coords).all())
    except (ValueError, OverflowError):
        ok = False
    if not ok:
        for f, (_, objs, numbers) in zip(files, parsed):
            error = _locate_gt_error(f, objs, numbers)
            if error.line is not None:
                raise error
        raise LoadError(f"cannot parse; {_GT_HELP}", path=path)

    counts = np.array([len(objs) for _, objs, _ in parsed], dtype=np.int64)
    polygon, x0, y0, x1, y1 = _polygons(coords)
    annotations = make_annotations(
        source="gt",
        data_row_id=np.repeat(np.array(stems, dtype=object), counts),
        label=np.array([tok[8] for tok in objects], dtype=object),
        x0=x0, y0=y0, x1=x1, y1=y1,
        polygon=polygon,
    )
    assets = [s + ".png" for s in stems]
    rows = make_rows(stems, assets, assets, np.full(len(stems), np.nan), np.full(len(stems), np.nan))
    headers = [h for h, _, _ in parsed]
    if any("imagesource" in h for h in headers):
        rows["imagesource"] = pd.Series([h.get("imagesource") for h in headers], dtype=object)
    if any("gsd" in h for h in headers):
        rows["gsd"] = [_number(h.get("gsd", "nan")) for h in headers]
    return Loaded(rows=rows, annotations=annotations)


def _result_class(path: Path) -> str:
    stem = path.stem
    return stem[len("Task1_"):] if stem.startswith("Task1_") and len(stem) > len("Task1_") else stem


def _locate_result_error(path: Path, text: str) -> LoadError:
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 10:
            return LoadError(f"{_RESULT_HELP}; got {len(tokens)} fields", path=path, line=lineno)
        for name, token in zip(("score", *(f"{a}{k}" for k in range(1, 5) for a in "xy")), tokens[1:]):
            if math.isnan(_number(token)):
                return LoadError(f"{name} is {token!r}, expected a finite number; {_RESULT_HELP}", path=path, line=lineno)
    return LoadError(f"cannot parse; {_RESULT_HELP}", path=path)


def _result_file(path: Path) -> pd.DataFrame:
    """Columns 0 (image id, str), 1 (score), 2..9 (corners) of one class file; may be empty."""
    text = read_text(path)
    if not text.strip():
        return pd.DataFrame({0: pd.Series([], dtype=object), **{k: np.zeros(0) for k in range(1, 10)}})
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=r"\s+",
            header=None,
            dtype={0: object},
            quoting=csv.QUOTE_NONE,
            na_filter=False,
            engine="c",
        )
    except (pd.errors.ParserError, ValueError):
        raise _locate_result_error(path, text) from None
    numeric = df.iloc[:, 1:] if df.shape[1] == 10 else None
    if numeric is None or not all(pd.api.types.is_numeric_dtype(t) for t in numeric.dtypes):
        raise _locate_result_error(path, text)
    values = numeric.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise _locate_result_error(path, text)
    return df


def read_dota_results(path: Path, ctx: ReadContext) -> Loaded:
    """Read DOTA task-1 results: one ``Task1_<class>.txt`` (or ``<class>.txt``) file per class."""
    files = _label_files(path, "DOTA task-1 result files (Task1_<class>.txt)")
    parts = [(_result_class(f), _result_file(f)) for f in files]
    counts = np.array([len(df) for _, df in parts], dtype=np.int64)
    image_id = np.concatenate([df[0].astype(str).to_numpy(dtype=object) for _, df in parts])
    values = np.concatenate([df.iloc[:, 1:].to_numpy(dtype=np.float64) for _, df in parts]).reshape(-1, 9)
    labels = np.repeat(np.array([c for c, _ in parts], dtype=object), counts)
    polygon, x0, y0, x1, y1 = _polygons(values[:, 1:])
    annotations = make_annotations(
        source="pred",
        data_row_id=image_id,
        label=labels,
        x0=x0, y0=y0, x1=x1, y1=y1,
        confidence=values[:, 0],
        polygon=polygon,
    )
    return Loaded(annotations=annotations)
