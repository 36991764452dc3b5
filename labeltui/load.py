"""Assemble a ModelRun from a config: read every source, then validate centrally.

Readers parse; this module resolves references between files and applies the
checks every format shares (vectorised): unknown rows, degenerate or
out-of-image boxes, spans outside the text, confidences outside [0, 1],
classes that appear only in predictions. Recoverable problems become counted
warnings on the run; anything else is a LoadError naming the config key.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from labeltui.config import Config, Source
from labeltui.errors import LoadError
from labeltui.formats import ReadContext, read_source
from labeltui.formats.base import Loaded, empty_annotations
from labeltui.run import ModelRun, build_run, class_ids

Progress = Callable[[str, float], None]

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


@dataclass
class _Notes:
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def warn(self, count: int, text: str) -> None:
        """Add ``text`` when ``count`` > 0; ``{n}`` is the count, ``{s}``/``{es}`` plural endings."""
        if count:
            self.warnings.append(text.format(n=count, s="" if count == 1 else "s", es="" if count == 1 else "es"))


class _Pending:
    """Stands in for the ground truth while another thread reads it: readers parse
    their own file first (the parsers release the GIL, so both files are parsed at
    once) and wait here only when they look at the ground truth."""

    def __init__(self, future: Future) -> None:
        self._future = future

    def __getattr__(self, name: str):
        return getattr(self._future.result(), name)


def _read(source: Source, role: str, config: Config, gt: Loaded | None = None) -> Loaded:
    ctx = ReadContext(role=role, task=config.task, gt=gt, ids=source.ids)
    try:
        return read_source(source.format, source.path, ctx)
    except LoadError as exc:
        if exc.path is None:
            raise LoadError(exc.message, path=source.path, line=exc.line, field=exc.field) from None
        raise


def _resolve_ids(table: pd.DataFrame, key_to_id: pd.Series) -> pd.Series:
    """data_row_id, filled from global_key where only the key is given."""
    ids = table["data_row_id"]
    if "global_key" not in table.columns:
        return ids
    missing = ids.isna() & table["global_key"].notna()
    if missing.any():
        ids = ids.copy()
        ids[missing] = table.loc[missing, "global_key"].map(key_to_id)
    return ids


def _check_rows(rows: pd.DataFrame, source: Source) -> pd.DataFrame:
    if rows.empty:
        raise LoadError(f"{source.key}: the file defines no data rows", path=source.path)
    if rows["data_row_id"].isna().any():
        raise LoadError(f"{source.key}: a data row has no id", path=source.path)
    ids = rows["data_row_id"].astype(str)
    dup = ids.duplicated(keep="first")
    if dup.any():
        first = ids[dup].iloc[0]
        raise LoadError(
            f"{source.key}: {int(dup.sum())} duplicate data_row_id value(s), e.g. {first!r}; "
            "each data row must appear once",
            path=source.path,
        )
    return rows.assign(data_row_id=ids)


def _resolve_assets(rows: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Prefix relative image paths with the assets folder (vectorised string ops)."""
    if config.task == "ner" or "asset" not in rows.columns:
        return rows
    asset = rows["asset"].astype(object)
    text = asset.where(asset.map(type) == str, "").astype(str)
    is_path = (
        text.str.lower().str.endswith(_IMAGE_EXT)
        & ~text.str.match(_URL.pattern)
        & ~text.str.startswith(("/", "~", "\\"))
    ).to_numpy()
    if is_path.any():
        base = str(config.assets or config.base_dir).rstrip("/") + "/"
        resolved = asset.to_numpy(copy=True)
        resolved[is_path] = (base + text[is_path]).to_numpy()
        rows = rows.assign(asset=resolved)
    return rows


def _clean_boxes(ann: pd.DataFrame, rows: pd.DataFrame, notes: _Notes) -> pd.DataFrame:
    x0, y0, x1, y1 = (ann[c].to_numpy() for c in ("x0", "y0", "x1", "y1"))
    is_box = ~np.isnan(x0)
    bad = is_box & ~((x1 > x0) & (y1 > y0))
    if bad.any():
        source = ann["source"].to_numpy()
        for src, name in (("gt", "ground-truth"), ("pred", "predicted")):
            notes.warn(int((bad & (source == src)).sum()), f"{{n}} {name} box{{es}} with zero or negative size dropped")
        ann = ann[~bad]
    w = rows["width"].to_numpy()[ann["row"].to_numpy()]
    h = rows["height"].to_numpy()[ann["row"].to_numpy()]
    x0, y0, x1, y1 = (ann[c].to_numpy() for c in ("x0", "y0", "x1", "y1"))
    known = ~np.isnan(w) & ~np.isnan(h) & ~np.isnan(x0)
    with np.errstate(invalid="ignore"):
        outside = known & ((x0 < 0) | (y0 < 0) | (x1 > w) | (y1 > h))
    if outside.any():
        i = np.flatnonzero(outside)
        wi, hi = w[i], h[i]
        clipped = {
            "x0": np.clip(x0[i], 0, wi), "y0": np.clip(y0[i], 0, hi),
            "x1": np.clip(x1[i], 0, wi), "y1": np.clip(y1[i], 0, hi),
        }
        columns = {}
        for col, values in clipped.items():
            columns[col] = ann[col].to_numpy(copy=True)
            columns[col][i] = values
        ann = ann.assign(**columns)
        notes.warn(len(i), "{n} box{es} extending outside the image clipped to it")
        gone = i[~((clipped["x1"] > clipped["x0"]) & (clipped["y1"] > clipped["y0"]))]
        if len(gone):
            notes.warn(len(gone), "{n} box{es} entirely outside the image dropped")
            keep = np.ones(len(ann), dtype=bool)
            keep[gone] = False
            ann = ann[keep]
    return ann


def _clean_spans(ann: pd.DataFrame, rows: pd.DataFrame, notes: _Notes) -> pd.DataFrame:
    start, end = ann["start"].to_numpy(), ann["end"].to_numpy()
    is_span = np.isnan(ann[["x0", "y0", "x1", "y1"]].to_numpy()).all(axis=1)  # not a box
    if not is_span.any():
        return ann
    text_len = rows["asset"].map(lambda t: len(t) if isinstance(t, str) else -1).to_numpy()[ann["row"].to_numpy()]
    bad = is_span & ((start < 0) | (end <= start) | ((text_len >= 0) & (end > text_len)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        notes.warn(
            int(bad.sum()),
            f"{{n}} span{{s}} outside the text or empty dropped (first: row {ann['data_row_id'].iloc[i]!r} "
            f"[{start[i]}, {end[i]}) in a text of {text_len[i]} characters)",
        )
        ann = ann[~bad]
    return ann


def _clean_confidence(ann: pd.DataFrame, notes: _Notes) -> pd.DataFrame:
    conf = ann["confidence"].to_numpy()
    pred = ann["source"].to_numpy() == "pred"
    with np.errstate(invalid="ignore"):
        out = pred & ((conf < 0) | (conf > 1))
    notes.warn(int(out.sum()), "{n} prediction{s} with confidence outside [0, 1] clipped to it")
    notes.warn(int((pred & np.isnan(conf)).sum()), "{n} prediction{s} without a confidence (treated as confident)")
    if out.any():
        ann = ann.assign(confidence=np.where(out, np.clip(conf, 0.0, 1.0), conf))
    return ann


def _attach(table: pd.DataFrame, ids: pd.Index, key_to_id: pd.Series, what: str, notes: _Notes) -> tuple[pd.DataFrame, np.ndarray]:
    """Resolve references to rows; drop and count unknown ones. Returns (kept, row positions)."""
    resolved = _resolve_ids(table, key_to_id)
    given = resolved.to_numpy(dtype=object)
    if len(given) == len(ids) and bool((given == ids.to_numpy(dtype=object)).all()):
        pos = np.arange(len(ids))  # the same rows in the same order (one file serving several roles)
    else:
        pos = ids.get_indexer(resolved)
    unknown = pos < 0
    if not unknown.any():
        return table.assign(data_row_id=given), pos
    example = resolved[unknown].iloc[0]
    if example is None or (isinstance(example, float) and np.isnan(example)):
        example = table.loc[unknown, "global_key"].iloc[0] if "global_key" in table.columns else None
    notes.warn(int(unknown.sum()), f"{{n}} {what}{{s}} for unknown data rows dropped (e.g. {example!r})")
    kept = table[~unknown].assign(data_row_id=given[~unknown])
    return kept, pos[~unknown]


def _metrics(tables: list[pd.DataFrame], ids: pd.Index, key_to_id: pd.Series, notes: _Notes) -> pd.DataFrame:
    out = pd.DataFrame(index=pd.RangeIndex(len(ids)))
    for table in tables:
        kept, pos = _attach(table, ids, key_to_id, "metric value", notes)
        for col in kept.columns:
            if col in ("data_row_id", "global_key") or not pd.api.types.is_numeric_dtype(kept[col]):
                continue
            name = col if col not in out.columns else f"{col}_{len(out.columns)}"
            values = np.full(len(ids), np.nan)
            given = kept[col].to_numpy(dtype=np.float64, na_value=np.nan)
            known = ~np.isnan(given)  # a row named by id on one line and by global key on another
            values[pos[known]] = given[known]
            out[name] = values
    return out


def _classification(
    gt: Loaded, pred: Loaded, ids: pd.Index, key_to_id: pd.Series, classes: list[str], notes: _Notes
) -> dict[str, np.ndarray | None]:
    n = len(ids)
    cls = pd.Index(classes)
    gt_label = np.full(n, -1, dtype=np.int32)
    pred_label = np.full(n, -1, dtype=np.int32)
    pred_conf = np.full(n, np.nan)
    g = gt.classifications[gt.classifications["source"] == "gt"]
    g, gpos = _attach(g, ids, key_to_id, "ground-truth label", notes)
    gt_label[gpos] = class_ids(cls, g["label"])
    p = pred.classifications[pred.classifications["source"] == "pred"]
    p, ppos = _attach(p, ids, key_to_id, "predicted label", notes)
    pred_label[ppos] = class_ids(cls, p["label"])
    pred_conf[ppos] = p["confidence"].to_numpy()
    probs = None
    if pred.probs is not None:
        kept, pos = _attach(pred.probs, ids, key_to_id, "probability row", notes)
        probs = np.full((n, len(classes)), np.nan)
        for j, c in enumerate(classes):
            if c in kept.columns:
                probs[pos, j] = kept[c].to_numpy(dtype=np.float64)
            else:
                probs[pos, j] = 0.0
    notes.stats["rows_without_label"] = int((gt_label < 0).sum())
    notes.stats["rows_without_predictions"] = int(((pred_label < 0) & (probs is None or np.isnan(probs).all(axis=1))).sum()) if n else 0
    return {"gt_label": gt_label, "pred_label": pred_label, "pred_confidence": pred_conf, "probs": probs}


def load_run(config: Config, progress: Progress | None = None) -> ModelRun:
    """Read every source named by the config and assemble a validated ModelRun.

    ``progress(message, fraction)`` is called as each stage starts.
    """

    def step(msg: str, frac: float) -> None:
        if progress is not None:
            progress(msg, frac)

    if config.ground_truth.format == "shards":
        from labeltui.shards import load_config_shards

        return load_config_shards(config, progress)
    notes = _Notes()
    p = config.predictions
    if p is not None and not (p.path == config.ground_truth.path and p.format in (config.ground_truth.format, "table", "conll", "jsonl")):
        step(f"reading ground truth {config.ground_truth.path.name} and predictions {p.path.name}", 0.0)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(_read, config.ground_truth, "gt", config)
            pred = _read(p, "pred", config, gt=_Pending(pending))  # type: ignore[arg-type]
            gt = pending.result()
    else:
        step(f"reading ground truth {config.ground_truth.path.name}", 0.0)
        gt = pred = _read(config.ground_truth, "gt", config)
    notes.warnings.extend(gt.warnings)
    if pred is not gt:
        notes.warnings.extend(pred.warnings)

    step("checking rows", 0.6)
    rows = _check_rows(gt.rows, config.ground_truth)
    rows = _resolve_assets(rows, config)
    ids = pd.Index(rows["data_row_id"])
    keys = rows["global_key"]
    key_to_id = pd.Series(rows["data_row_id"].to_numpy()[keys.notna().to_numpy()], index=keys[keys.notna()].to_numpy())
    key_to_id = key_to_id[~key_to_id.index.duplicated()]

    def of_source(table: pd.DataFrame, source: str) -> pd.DataFrame:
        mask = table["source"].to_numpy() == source
        return table if mask.all() else table[mask]

    gt_ann, gt_pos = _attach(of_source(gt.annotations, "gt"), ids, key_to_id, "ground-truth object", notes)
    parts, positions = [gt_ann], [gt_pos]
    if p is not None:
        pr_ann, pr_pos = _attach(of_source(pred.annotations, "pred"), ids, key_to_id, "prediction", notes)
        parts.append(pr_ann)
        positions.append(pr_pos)
    ann = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    ann = ann.drop(columns=[c for c in ("global_key",) if c in ann.columns])
    ann["row"] = np.concatenate(positions).astype(np.int64)

    has_boxes = bool((~np.isnan(ann["x0"].to_numpy())).any())
    has_spans = bool((ann["start"].to_numpy() >= 0).any())
    if config.task == "detection" and has_spans and not has_boxes:
        raise LoadError("task: detection, but the sources hold text spans; set task: ner", path=config.path)
    if config.task == "ner" and has_boxes and not has_spans:
        raise LoadError("task: ner, but the sources hold boxes; set task: detection", path=config.path)
    ann = _clean_boxes(ann, rows, notes)
    ann = _clean_spans(ann, rows, notes)
    ann = _clean_confidence(ann, notes)

    def labels_of(table: pd.DataFrame, source: str) -> set[str]:
        return {str(v) for v in pd.unique(of_source(table, source)["label"].to_numpy(dtype=object))}

    gt_classes = labels_of(ann, "gt") | labels_of(gt.classifications, "gt")
    pred_ann_labels = of_source(ann, "pred")["label"].to_numpy(dtype=object)
    pred_cls_labels = of_source(pred.classifications, "pred")["label"].to_numpy(dtype=object)
    pred_labels = pd.Series(np.concatenate([pred_ann_labels, pred_cls_labels]), dtype=object)
    codes, uniques = pd.factorize(pred_labels)
    extra = [str(u) for u in uniques if str(u) not in gt_classes]
    if extra:
        counts = pd.Series(np.bincount(codes[codes >= 0], minlength=len(uniques)), index=[str(u) for u in uniques])[extra]
        counts = counts.sort_values(ascending=False, kind="stable")
        listed = ", ".join(f"{k!r} ({v})" for k, v in counts.head(5).items())
        notes.warnings.append(f"{len(counts)} class(es) appear only in predictions, kept: {listed}")
    prob_classes = [c for c in (pred.probs.columns if pred.probs is not None else []) if c not in ("data_row_id", "global_key")]
    classes = sorted(gt_classes | {str(u) for u in uniques} | set(map(str, prob_classes)))

    step("collecting metrics", 0.75)
    read = [gt] if pred is gt else [gt, pred]
    read += [_read(m, "metrics", config) for m in config.metrics]
    metrics = _metrics([t.metrics for t in read if t.metrics is not None], ids, key_to_id, notes)

    cls_fields: dict[str, np.ndarray | None] = {}
    if config.task == "classification":
        cls_fields = _classification(gt, pred, ids, key_to_id, classes, notes)

    emb = mask = None
    if config.embeddings is not None:
        step(f"reading embeddings {config.embeddings.path.name}", 0.85)
        e = _read(config.embeddings, "embeddings", config)
        if e.embeddings is None:
            raise LoadError(f"{config.embeddings.key}: the file holds no embeddings", path=config.embeddings.path)
        e_ids, matrix = e.embeddings
        pos = ids.get_indexer(pd.Index(np.asarray(e_ids, dtype=object).astype(str)))
        notes.warn(int((pos < 0).sum()), "{n} embedding{s} for unknown data rows ignored")
        emb = np.zeros((len(ids), matrix.shape[1]), dtype=np.float32)
        mask = np.zeros(len(ids), dtype=bool)
        emb[pos[pos >= 0]] = matrix[pos >= 0]
        mask[pos[pos >= 0]] = True
        notes.stats["rows_with_embeddings"] = int(mask.sum())

    step("indexing", 0.95)
    run = build_run(
        config.name,
        config.task,
        rows,
        ann,
        classes=classes,
        metrics=metrics,
        embeddings=emb,
        embedding_mask=mask,
        warnings=notes.warnings,
        **cls_fields,
    )
    run.stats.update(notes.stats)
    step("loaded", 1.0)
    return run
