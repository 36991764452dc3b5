"""Batch manifests: the rows a reviewer confirmed, ready for a labeling team.

A manifest names its batch, the model run, the filter and sort that produced
it, when (ISO 8601 UTC) and by which tool version and reviewer(s), and for each
row, in order: ``data_row_id``, ``global_key``, ``issue``, ``score``,
``verdict``, ``note``. Three flavours, one file each:

``json``
    The full manifest: the header fields plus ``"rows"``, one JSON object a
    line. ``load_manifest`` reads it back.
``csv``
    One line per data row: the six row fields, then the batch fields repeated
    on every line (``batch_name, run_name, filter, sort, created_at,
    tool_version, reviewers, priority``; reviewers joined with ``"; "``). One
    self-contained file that opens in any spreadsheet (no comment lines, no
    sidecar); ``load_manifest`` reads it back. Empty cells mean "none".
``labelbox``
    One JSON file: the header fields plus ``"batches"``, a list whose items
    are exactly the keyword arguments of the Labelbox SDK's
    ``project.create_batch(name=..., global_keys=[...] | data_rows=[...],
    priority=1..5)``. ``global_keys`` is used when every row has a unique
    global key, else ``data_rows`` with the data row ids (these must then be
    Labelbox data row ids). Labelbox takes at most 100,000 rows per batch and
    batch names must be unique, so a larger selection becomes several batches
    named ``<name>-part1``, ``<name>-part2``, ... in row order. Priority
    defaults to 5 (the SDK default; 1 is highest). Send it with::

        import json, os, labelbox as lb
        client = lb.Client(api_key=os.environ["LABELBOX_API_KEY"])
        project = client.get_project("<project id>")
        for batch in json.load(open("batches/errors.labelbox.json"))["batches"]:
            project.create_batch(**batch)

Writes are atomic: a temporary file in the target folder is written, flushed
and fsynced, then published (``os.replace`` with ``force``, else a no-clobber
hard link), and the folder is fsynced. A crash leaves either the old file or
the complete new one (plus, at worst, a hidden ``.<name>.*.tmp`` file). An
existing file is never overwritten unless ``force=True``: the next free name
is used instead (``batch.json`` -> ``batch-2.json``) and returned.
Empty manifests are refused (a Labelbox batch needs at least one row).
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from labeltui import __version__
from labeltui.errors import LoadError

MANIFEST_VERSION = 1
LABELBOX_MAX_ROWS = 100_000
FORMATS = ("json", "csv", "labelbox")
ROW_FIELDS = ("data_row_id", "global_key", "issue", "score", "verdict", "note")
_TEXT_FIELDS = ("global_key", "issue", "verdict", "note")
# csv: the batch fields, repeated on every line after the row fields
_CSV_BATCH_FIELDS = ("batch_name", "run_name", "filter", "sort", "created_at", "tool_version", "reviewers", "priority")
_CHUNK = 1 << 20


class ManifestError(LoadError):
    """A manifest cannot be built, written or read; the message says what to do."""


@dataclass(eq=False)
class Manifest:
    """A batch manifest: header fields plus ``rows`` (columns :data:`ROW_FIELDS`, in order)."""

    name: str
    run_name: str
    created_at: str
    tool_version: str
    rows: pd.DataFrame
    filter_expr: str | None = None
    sort: str | None = None
    reviewers: tuple[str, ...] = field(default_factory=tuple)
    priority: int | None = None


def _text_column(values: pd.Series) -> pd.Series:
    """Strings as object dtype; NaN, None and "" become None."""
    values = values.astype(object)
    text = values.astype(str).astype(object)
    missing = values.isna().to_numpy() | (text == "").to_numpy()
    return text.where(~missing, None)


def _normalize_rows(rows: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    if not isinstance(rows, pd.DataFrame):
        raise ManifestError(f"rows must be a pandas DataFrame, got {type(rows).__name__}", path=path)
    if "data_row_id" not in rows.columns:
        raise ManifestError("rows need a data_row_id column", path=path, field="data_row_id")
    n = len(rows)
    ids = _text_column(rows["data_row_id"])
    bad = np.flatnonzero(ids.isna().to_numpy())
    if bad.size:
        raise ManifestError(f"row {bad[0]} has no data_row_id", path=path, field="data_row_id")
    dup = np.flatnonzero(ids.duplicated().to_numpy())
    if dup.size:
        raise ManifestError(
            f"data row {ids.iloc[dup[0]]!r} appears twice (row {dup[0]}); a batch lists each row once",
            path=path,
            field="data_row_id",
        )
    out = {"data_row_id": ids.reset_index(drop=True)}
    for name in _TEXT_FIELDS:
        column = rows[name] if name in rows.columns else pd.Series([None] * n, dtype=object)
        out[name] = _text_column(column).reset_index(drop=True)
    if "score" in rows.columns:
        raw = rows["score"].astype(object)
        present = raw.notna().to_numpy() & (raw.astype(str) != "").to_numpy()
        score = pd.to_numeric(raw.where(present, np.nan), errors="coerce")
        bad = np.flatnonzero(present & score.isna().to_numpy())
        if bad.size:
            raise ManifestError(f"row {bad[0]}: {raw.iloc[bad[0]]!r} is not a number", path=path, field="score")
        score = score.astype("float64").reset_index(drop=True)
        bad = np.flatnonzero(np.isinf(score.to_numpy()))
        if bad.size:
            raise ManifestError(f"row {bad[0]}: score must be finite", path=path, field="score")
    else:
        score = pd.Series(np.full(n, np.nan), dtype="float64")
    out["score"] = score
    return pd.DataFrame({name: out[name] for name in ROW_FIELDS})


def _check_priority(priority: Any, path: str | Path | None = None) -> int | None:
    if priority is None:
        return None
    if isinstance(priority, bool) or not isinstance(priority, (int, np.integer)) or not 1 <= int(priority) <= 5:
        raise ManifestError(
            f"priority must be an integer from 1 (highest) to 5 (lowest), got {priority!r}",
            path=path,
            field="priority",
        )
    return int(priority)


def build_manifest(
    rows: pd.DataFrame,
    *,
    name: str,
    run_name: str,
    filter_expr: str | None = None,
    sort: str | None = None,
    reviewers: Iterable[str] = (),
    priority: int | None = None,
) -> Manifest:
    """A manifest for ``rows`` (a DataFrame with ``data_row_id`` and any of the other row fields).

    Missing row fields become empty; extra columns are dropped. When
    ``reviewers`` is empty and ``rows`` has a ``reviewer`` column, its distinct
    values (in order of appearance) are used.
    """
    if not isinstance(name, str) or not name.strip():
        raise ManifestError("a batch needs a name", field="name")
    frame = _normalize_rows(rows)
    people = tuple(str(r) for r in reviewers if r)
    if not people and isinstance(rows, pd.DataFrame) and "reviewer" in rows.columns:
        people = tuple(str(r) for r in pd.unique(rows["reviewer"].dropna()) if str(r))
    return Manifest(
        name=name.strip(),
        run_name=str(run_name),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        tool_version=__version__,
        rows=frame,
        filter_expr=filter_expr or None,
        sort=sort or None,
        reviewers=people,
        priority=_check_priority(priority),
    )


# ------------------------------------------------------------------ encoding
def _header(manifest: Manifest, flavour: str) -> dict[str, Any]:
    return {
        "labeltui_manifest": MANIFEST_VERSION,
        "flavour": flavour,
        "name": manifest.name,
        "run_name": manifest.run_name,
        "filter": manifest.filter_expr,
        "sort": manifest.sort,
        "created_at": manifest.created_at,
        "tool_version": manifest.tool_version,
        "reviewers": list(manifest.reviewers),
        "priority": manifest.priority,
        "row_count": len(manifest.rows),
    }


def _with_list(header: dict[str, Any], key: str, items: list[str]) -> bytes:
    """``header`` as indented JSON plus ``key``: a list written one item a line."""
    head = json.dumps(header, indent=2, ensure_ascii=False)[:-2]
    body = ",\n".join("    " + item for item in items)
    return f'{head},\n  "{key}": [\n{body}\n  ]\n}}\n'.encode()


def _encode_json(manifest: Manifest) -> bytes:
    # column by column with the C string encoder: ~2x faster than json.dumps per row
    columns = []
    for name in ROW_FIELDS:
        values = manifest.rows[name].tolist()
        if name == "score":
            columns.append(["null" if math.isnan(v) else repr(v) for v in values])
        else:
            columns.append(["null" if v is None else encode_basestring(v) for v in values])
    template = "{" + ", ".join(f'"{name}": %s' for name in ROW_FIELDS) + "}"
    items = [template % values for values in zip(*columns)]
    return _with_list(_header(manifest, "json"), "rows", items)


def _encode_csv(manifest: Manifest) -> bytes:
    frame = manifest.rows.copy()
    batch = {
        "batch_name": manifest.name,
        "run_name": manifest.run_name,
        "filter": manifest.filter_expr,
        "sort": manifest.sort,
        "created_at": manifest.created_at,
        "tool_version": manifest.tool_version,
        "reviewers": "; ".join(manifest.reviewers),
        "priority": manifest.priority,
    }
    for key in _CSV_BATCH_FIELDS:
        frame[key] = batch[key]
    frame["score"] = [None if math.isnan(s) else repr(s) for s in frame["score"].tolist()]
    return frame.to_csv(index=False, lineterminator="\n").encode()


def labelbox_batches(manifest: Manifest, *, batch_size: int = LABELBOX_MAX_ROWS) -> list[dict[str, Any]]:
    """The ``project.create_batch(**kwargs)`` arguments for the manifest, split every ``batch_size`` rows."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= LABELBOX_MAX_ROWS:
        raise ManifestError(f"batch_size must be 1..{LABELBOX_MAX_ROWS}, got {batch_size!r}", field="batch_size")
    rows = manifest.rows
    keys = rows["global_key"]
    use_keys = bool(keys.notna().all()) and not keys.duplicated().any()
    ids = (keys if use_keys else rows["data_row_id"]).tolist()
    kind = "global_keys" if use_keys else "data_rows"
    parts = [ids[start : start + batch_size] for start in range(0, len(ids), batch_size)]
    priority = manifest.priority if manifest.priority is not None else 5
    return [
        {"name": manifest.name if len(parts) == 1 else f"{manifest.name}-part{k}", kind: part, "priority": priority}
        for k, part in enumerate(parts, start=1)
    ]


def _encode_labelbox(manifest: Manifest, batch_size: int) -> bytes:
    batches = labelbox_batches(manifest, batch_size=batch_size)
    header = _header(manifest, "labelbox")
    header["id_field"] = "global_keys" if "global_keys" in batches[0] else "data_rows"
    items = [json.dumps(b, ensure_ascii=False) for b in batches]
    return _with_list(header, "batches", items)


# ------------------------------------------------------------------- writing
def _numbered(path: Path, n: int) -> Path:
    return path.with_name(f"{path.stem}-{n}{path.suffix}")


def _write_failed(path: Path, err: OSError) -> ManifestError:
    code = err.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        advice = "the disk is full: free some space or export to another disk"
    elif code in (errno.EACCES, errno.EPERM):
        advice = "no permission to write there: choose another output path or fix the folder's permissions"
    elif code == errno.EROFS:
        advice = "the file system is read-only: choose another output path"
    elif code in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT):
        advice = "the output folder cannot be created: check the path"
    else:
        advice = "check the output path and retry"
    reason = err.strerror or str(err)
    return ManifestError(
        f"cannot write manifest ({reason}); {advice}; an existing file there was left untouched", path=path
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:_CHUNK])
        view = view[written:]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # platforms that cannot open a directory (Windows) have nothing to sync
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename is already done
    finally:
        os.close(fd)


def _publish(tmp: Path, path: Path, force: bool) -> Path:
    """Move the finished temp file to ``path`` (or the next free numbered name)."""
    if force:
        os.replace(tmp, path)
        return path
    n, target = 1, path
    while True:
        while os.path.lexists(target):
            n += 1
            target = _numbered(path, n)
        try:
            os.link(tmp, target)  # fails if target appeared meanwhile: never clobbers
        except FileExistsError:
            continue
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                raise
            os.replace(tmp, target)  # no hard links on this file system
            return target
        try:
            os.unlink(tmp)
        except OSError:
            pass  # the manifest is published; only a hidden temp name is left
        return target


def _atomic_write(path: Path, data: bytes, *, force: bool) -> Path:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise _write_failed(path, err) from err
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        target = _publish(tmp, path, force)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise _write_failed(path, err) from err
        raise
    _fsync_dir(folder)
    return target


def write_manifest(
    manifest: Manifest,
    path: str | Path,
    *,
    format: str = "json",
    force: bool = False,
    batch_size: int = LABELBOX_MAX_ROWS,
) -> list[Path]:
    """Write ``manifest`` atomically as ``format`` (json | csv | labelbox); return the path(s) written.

    Without ``force`` an existing file is kept and the next free numbered name
    is used. ``batch_size`` (labelbox only) is the most rows per batch.
    """
    if format not in FORMATS:
        raise ManifestError(f"unknown manifest format {format!r}; use one of {', '.join(FORMATS)}", field="format")
    if len(manifest.rows) == 0:
        raise ManifestError("no rows to export: the selection is empty", path=path)
    _check_priority(manifest.priority, path)
    if format == "json":
        data = _encode_json(manifest)
    elif format == "csv":
        data = _encode_csv(manifest)
    else:
        data = _encode_labelbox(manifest, batch_size)
    return [_atomic_write(Path(path), data, force=force)]


# ------------------------------------------------------------------- reading
def _load_json(path: Path) -> Manifest:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ManifestError(f"not valid JSON: {err.msg}", path=path, line=err.lineno) from err
    if not isinstance(doc, dict) or "labeltui_manifest" not in doc:
        raise ManifestError("not a labeltui manifest (no labeltui_manifest field)", path=path)
    if not isinstance(doc["labeltui_manifest"], int) or doc["labeltui_manifest"] > MANIFEST_VERSION:
        raise ManifestError(
            f"manifest version {doc['labeltui_manifest']!r} is newer than this labeltui ({__version__}); upgrade",
            path=path,
            field="labeltui_manifest",
        )
    if doc.get("flavour") == "labelbox":
        raise ManifestError(
            "this is a labelbox batch file: it holds ids only; load the json or csv manifest instead", path=path
        )
    rows = doc.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ManifestError("rows must be a list of objects", path=path, field="rows")
    for key in ("name", "run_name", "created_at", "tool_version"):
        if not isinstance(doc.get(key), str):
            raise ManifestError("missing or not a string", path=path, field=key)
    reviewers = doc.get("reviewers") or []
    if not isinstance(reviewers, list):
        raise ManifestError("must be a list of names", path=path, field="reviewers")
    frame = pd.DataFrame(rows, columns=list(ROW_FIELDS))
    return Manifest(
        name=doc["name"],
        run_name=doc["run_name"],
        created_at=doc["created_at"],
        tool_version=doc["tool_version"],
        rows=_normalize_rows(frame, path),
        filter_expr=doc.get("filter") or None,
        sort=doc.get("sort") or None,
        reviewers=tuple(str(r) for r in reviewers),
        priority=_check_priority(doc.get("priority"), path),
    )


def _load_csv(path: Path) -> Manifest:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except pd.errors.EmptyDataError as err:
        raise ManifestError("the file is empty", path=path) from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ManifestError(f"not a readable CSV manifest: {err}", path=path) from err
    missing = [c for c in (*ROW_FIELDS, *_CSV_BATCH_FIELDS) if c not in frame.columns]
    if missing:
        raise ManifestError(f"missing column(s) {', '.join(missing)}: not a labeltui CSV manifest", path=path)
    if frame.empty:
        raise ManifestError("the manifest has no rows", path=path)
    batch = {}
    for key in _CSV_BATCH_FIELDS:
        column = frame[key].astype(object)
        differs = np.flatnonzero((column != column.iloc[0]).to_numpy())
        if differs.size:
            # header line is line 1, first row line 2 (notes with newlines shift this; close enough to find it)
            raise ManifestError(
                f"batch field differs between rows ({column.iloc[0]!r} vs {column.iloc[differs[0]]!r})",
                path=path,
                line=int(differs[0]) + 2,
                field=key,
            )
        batch[key] = column.iloc[0]
    priority = batch["priority"]
    if priority:
        try:
            priority = int(priority)
        except ValueError:
            raise ManifestError(f"{priority!r} is not an integer", path=path, field="priority") from None
    return Manifest(
        name=batch["batch_name"],
        run_name=batch["run_name"],
        created_at=batch["created_at"],
        tool_version=batch["tool_version"],
        rows=_normalize_rows(frame, path),
        filter_expr=batch["filter"] or None,
        sort=batch["sort"] or None,
        reviewers=tuple(r.strip() for r in batch["reviewers"].split(";") if r.strip()),
        priority=_check_priority(priority or None, path),
    )


def load_manifest(path: str | Path) -> Manifest:
    """Read a json or csv manifest written by :func:`write_manifest` (csv by the ``.csv`` suffix)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            return _load_csv(path)
        return _load_json(path)
    except FileNotFoundError as err:
        raise ManifestError("file not found", path=path) from err
    except OSError as err:
        raise ManifestError(f"cannot read manifest: {err.strerror or err}", path=path) from err
