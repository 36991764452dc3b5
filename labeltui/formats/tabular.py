"""Classification tables: CSV (``.csv``), TSV (``.tsv``) or Parquet (``.parquet``, ``.pq``).

Columns (one row per data row):

- ``data_row_id`` (required), optional ``global_key``, ``asset`` (image path
  or the text itself), ``width``, ``height``.
- ``label``: the ground-truth class.
- Predictions, either ``prob_<class>`` columns (class probabilities; the
  prediction is their argmax) or ``pred_label`` with an optional
  ``confidence``. With both, ``pred_label`` names the prediction and the
  probabilities are kept.
- Any other numeric column is a custom metric (``Loaded.metrics``); any other
  non-numeric column is row metadata.

With ``ctx.role == "metrics"`` the table is a plain metrics table: only
``data_row_id`` and its numeric columns are read.

Errors name the column and the first bad row: the 1-based file line for
CSV/TSV (assuming no quoted multi-line cells), the 1-based row for Parquet.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from labeltui.errors import LoadError, one_line
from labeltui.formats import ReadContext
from labeltui.formats.base import (
    Loaded,
    check_unique_columns,
    describe,
    empty_classifications,
    make_classifications,
    make_rows,
    read_text,
)

_TEXT_COLUMNS = ("data_row_id", "global_key", "label", "pred_label", "asset")
_SUM_TOLERANCE = 0.01
#: Cells read as missing in CSV/TSV; in id and label columns only an empty cell
#: is missing, so a class named "None" or "NA" survives.
_NA_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "#N/A", "<NA>"]


def read_table(path: Path, ctx: ReadContext) -> Loaded:
    """Read a classification or metrics table (columns in the module docstring)."""
    df, is_csv = _read_frame(path)

    def where(i: int) -> tuple[int | None, str]:
        """(file line, readable location) of data row i (0-based)."""
        return (i + 2, "") if is_csv else (None, f"row {i + 1}: ")

    if "data_row_id" not in df.columns:
        found = ", ".join(map(str, df.columns[:20])) + (", ..." if len(df.columns) > 20 else "")
        raise LoadError(f"no 'data_row_id' column; columns found: {found}", path=path, field="data_row_id")
    ids = _objects(df["data_row_id"])
    missing = np.flatnonzero(pd.isna(ids) | (ids == ""))
    if missing.size:
        line, loc = where(int(missing[0]))
        raise LoadError(f"{loc}empty data_row_id; every row needs one", path=path, line=line, field="data_row_id")

    def numeric(name: str, lo: float = -np.inf, hi: float = np.inf, allow_nan: bool = True) -> np.ndarray:
        raw = df[name]
        try:
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        except OverflowError:  # an integer cell beyond float range (CSV keeps it as a Python int)
            i = next(i for i, v in enumerate(raw) if _beyond_float(v))
            line, loc = where(i)
            raise LoadError(
                f"{loc}number too large: {describe(raw.iloc[i], 40)} (data_row_id {ids[i]!r})",
                path=path,
                line=line,
                field=name,
            ) from None
        bad = np.isnan(values) & (raw.notna().to_numpy() | (not allow_nan))
        bad |= ~np.isnan(values) & ((values < lo) | (values > hi))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            line, loc = where(i)
            value = raw.iloc[i]
            got = "an empty or NaN cell" if pd.api.types.is_scalar(value) and pd.isna(value) else repr(value)
            span = f" in [{lo:g}, {hi:g}]" if np.isfinite(lo) or np.isfinite(hi) else ""
            raise LoadError(
                f"{loc}expected a number{span}, got {got} (data_row_id {ids[i]!r})",
                path=path,
                line=line,
                field=name,
            )
        return values

    def is_number_column(name: str) -> bool:
        dtype = df[name].dtype
        return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)

    if ctx.role == "metrics":
        cols = [c for c in df.columns if c != "data_row_id" and is_number_column(c)]
        if not cols:
            raise LoadError(
                "no numeric columns; a metrics table needs data_row_id and one or more numeric columns",
                path=path,
            )
        metrics = pd.DataFrame({"data_row_id": ids, **{c: numeric(c) for c in cols}})
        ignored = [str(c) for c in df.columns if c != "data_row_id" and c not in cols]
        warnings = [f"{path}: ignored {len(ignored)} non-numeric column(s): {', '.join(ignored)}"] if ignored else []
        return Loaded(metrics=metrics, warnings=warnings)

    prob_cols = [c for c in df.columns if str(c).startswith("prob_")]
    has_label = "label" in df.columns
    has_pred_label = "pred_label" in df.columns
    if ctx.role == "gt" and not has_label:
        raise LoadError("no 'label' column; a ground-truth table needs one (the true class)", path=path, field="label")
    if ctx.role == "pred" and not prob_cols and not has_pred_label:
        raise LoadError(
            "no prediction columns; add prob_<class> columns or pred_label (+ confidence)", path=path
        )

    n = len(df)
    classifications = []
    warnings: list[str] = []
    if has_label:
        labels = _objects(df["label"])
        keep = ~pd.isna(labels)
        classifications.append(make_classifications(source="gt", data_row_id=ids[keep], label=labels[keep]))

    probs = None
    if prob_cols:
        classes = [str(c)[len("prob_"):] for c in prob_cols]
        if "" in classes:
            raise LoadError("a probability column needs a class name after 'prob_'", path=path, field="prob_")
        matrix = np.column_stack([numeric(c, 0.0, 1.0, allow_nan=False) for c in prob_cols])
        probs = pd.DataFrame(matrix, columns=classes)
        probs.insert(0, "data_row_id", ids)
        off = np.flatnonzero(np.abs(matrix.sum(axis=1) - 1.0) > _SUM_TOLERANCE)
        if off.size:
            line, loc = where(int(off[0]))
            first = f"line {line}" if line is not None else loc.rstrip(": ")
            warnings.append(
                f"{path}: {off.size} row(s) have probabilities that do not sum to 1 "
                f"(within {_SUM_TOLERANCE}); first at {first}"
            )
        if not has_pred_label:
            best = np.argmax(matrix, axis=1)
            classifications.append(
                make_classifications(
                    source="pred",
                    data_row_id=ids,
                    label=np.asarray(classes, dtype=object)[best],
                    confidence=matrix[np.arange(n), best],
                )
            )
    consumed = {"data_row_id", "global_key", "asset", "width", "height", "label", *prob_cols}
    if has_pred_label:
        consumed |= {"pred_label", "confidence"}
        pred = _objects(df["pred_label"])
        keep = ~pd.isna(pred)
        conf = numeric("confidence", 0.0, 1.0) if "confidence" in df.columns else np.full(n, np.nan)
        classifications.append(
            make_classifications(source="pred", data_row_id=ids[keep], label=pred[keep], confidence=conf[keep])
        )

    rows = make_rows(
        ids,
        _objects(df["global_key"]) if "global_key" in df.columns else np.full(n, None, dtype=object),
        _objects(df["asset"]) if "asset" in df.columns else np.full(n, None, dtype=object),
        numeric("width", 0.0) if "width" in df.columns else np.full(n, np.nan),
        numeric("height", 0.0) if "height" in df.columns else np.full(n, np.nan),
    )
    extra = [c for c in df.columns if c not in consumed]
    metric_cols = [c for c in extra if is_number_column(c)]
    for c in extra:
        if c not in metric_cols:
            rows[str(c)] = pd.Series(_objects(df[c]), dtype=object)
    metrics = pd.DataFrame({"data_row_id": ids, **{str(c): numeric(c) for c in metric_cols}}) if metric_cols else None
    return Loaded(
        rows=rows,
        classifications=pd.concat(classifications, ignore_index=True) if classifications else empty_classifications(),
        probs=probs,
        metrics=metrics,
        warnings=warnings,
    )


def _objects(column: pd.Series) -> np.ndarray:
    """A column as an object array, None where empty (text columns are read as str)."""
    out = column.astype(object).to_numpy(copy=True)
    out[pd.isna(out)] = None
    return out


def _read_frame(path: Path) -> tuple[pd.DataFrame, bool]:
    """The file as a DataFrame (text-like columns kept as strings) and whether it is CSV/TSV."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        text = read_text(path)
        if not text.strip():
            raise LoadError("file is empty, expected a header line with data_row_id", path=path)
        sep = "\t" if suffix == ".tsv" else ","
        try:
            # the names as written (the header as a data row): pandas renames a repeated one (label, label.1)
            written = pd.read_csv(io.StringIO(text), sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
            header = pd.read_csv(io.StringIO(text), sep=sep, nrows=0).columns
            df = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                dtype={c: str for c in header if c.strip() in _TEXT_COLUMNS},
                keep_default_na=False,
                na_values={c: [""] if c.strip() in _TEXT_COLUMNS else _NA_TOKENS for c in header},
            )
        except pd.errors.ParserError as exc:
            message = str(exc).strip().splitlines()[-1]
            m = re.search(r"line (\d+)", message)
            raise LoadError(
                f"malformed {suffix[1:].upper()}: {message}", path=path, line=int(m.group(1)) if m else None
            ) from None
        except (ValueError, pd.errors.EmptyDataError) as exc:
            raise LoadError(f"cannot read {suffix[1:].upper()}: {exc}", path=path) from None
        check_unique_columns(
            [str(c).strip() for c in written.iloc[0]], path, line=1, note=" (spaces around names do not count)"
        )
        df.columns = [str(c).strip() for c in df.columns]
        check_unique_columns(df.columns, path, line=1, note=" (spaces around names do not count)")
        is_csv = True
    elif suffix in (".parquet", ".pq"):
        df = _read_parquet_frame(path)
        is_csv = False
    else:
        raise LoadError(
            f"unknown table extension {path.suffix!r}; use .csv, .tsv, .parquet or .pq", path=path
        )
    if df.empty:
        raise LoadError("no data rows (only a header)", path=path)
    return df, is_csv


def _beyond_float(value: object) -> bool:
    """Whether value is an integer too large for a float."""
    if not isinstance(value, int):
        return False
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _read_parquet_frame(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        check_unique_columns(pq.read_schema(path).names, path)
        table = pq.read_table(path)
    except FileNotFoundError:
        raise LoadError("file not found", path=path) from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LoadError(f"cannot read Parquet ({one_line(str(exc))}); is it a Parquet file?", path=path) from None
    for i, name in enumerate(table.column_names):
        if name in _TEXT_COLUMNS and not pa.types.is_string(table.schema.field(i).type):
            try:
                table = table.set_column(i, name, table.column(i).cast(pa.string()))
            except (pa.ArrowException, ValueError):
                raise LoadError(
                    f"cannot read column of type {table.schema.field(i).type} as text", path=path, field=name
                ) from None
    return table.to_pandas()
