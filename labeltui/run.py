"""ModelRun: the in-memory, columnar model run every other layer works on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class ModelRun:
    """One model run, assembled from the config's sources.

    - ``rows``: one row per data row, RangeIndex (position == row number).
      Columns ``data_row_id`` (unique str), ``global_key``, ``asset`` (resolved
      image path / URL, or the text itself for NER), ``width``, ``height``, then
      metadata columns.
    - ``annotations``: boxes and spans of both sources (see
      ``labeltui.formats.base.ANNOTATION_DTYPES``) plus ``row`` (int64 position
      in ``rows``) and ``class_id`` (int32 index into ``classes``); sorted by
      ``row``, then ``source``.
    - ``classes``: sorted class names over GT and predictions.
    - Classification tasks: ``gt_label`` (int32 class id per row, -1 none),
      ``pred_label`` (int32, -1 none), ``pred_confidence`` (float64, NaN none)
      and ``probs`` (float64 matrix n_rows x n_classes, NaN where unknown) or None.
    - ``metrics``: custom numeric per-row columns, aligned to ``rows``.
    - ``embeddings``: float32 (n_rows x d) with ``embedding_mask`` (bool per
      row) telling which rows have one; None when the run has none.
    - ``warnings``: what the loader recovered from, for ``validate`` and the UI.
    """

    name: str
    task: str
    rows: pd.DataFrame
    annotations: pd.DataFrame
    classes: list[str]
    gt_label: np.ndarray | None = None
    pred_label: np.ndarray | None = None
    pred_confidence: np.ndarray | None = None
    probs: np.ndarray | None = None
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    embeddings: np.ndarray | None = None
    embedding_mask: np.ndarray | None = None
    projection: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def annotations_of(self, row: int) -> pd.DataFrame:
        """The annotations of one row (a slice; annotations are sorted by row)."""
        rows = self.annotations["row"].to_numpy()
        lo, hi = np.searchsorted(rows, [row, row + 1])
        return self.annotations.iloc[lo:hi]


def class_ids(classes: list[str] | pd.Index, labels: pd.Series) -> np.ndarray:
    """int32 positions of ``labels`` in ``classes`` (-1 where absent or missing),
    hashing each distinct label once."""
    codes, uniques = pd.factorize(labels.to_numpy(dtype=object))
    lut = np.append(pd.Index(classes).get_indexer([str(u) for u in uniques]), -1).astype(np.int32)
    return lut[codes]  # code -1 (a missing label) picks the appended -1


def build_run(
    name: str,
    task: str,
    rows: pd.DataFrame,
    annotations: pd.DataFrame,
    *,
    classes: list[str] | None = None,
    gt_label: np.ndarray | None = None,
    pred_label: np.ndarray | None = None,
    pred_confidence: np.ndarray | None = None,
    probs: np.ndarray | None = None,
    metrics: pd.DataFrame | None = None,
    embeddings: np.ndarray | None = None,
    embedding_mask: np.ndarray | None = None,
    warnings: list[str] | None = None,
) -> ModelRun:
    """Make a ModelRun from clean tables: adds ``row`` and ``class_id`` to the
    annotations and sorts them by row, then source (gt before pred).

    ``annotations`` must reference only ids present in ``rows.data_row_id``;
    a ``row`` column already holding each object's row position is trusted.
    """
    rows = rows.reset_index(drop=True)
    ann = annotations.reset_index(drop=True)
    if "row" in ann.columns:
        pos = ann["row"].to_numpy()
    else:
        pos = pd.Index(rows["data_row_id"]).get_indexer(ann["data_row_id"])
    if (pos < 0).any():
        missing = ann["data_row_id"].to_numpy()[pos < 0][0]
        raise ValueError(f"annotation references unknown data row {missing!r}")
    if classes is None:
        classes = sorted({str(u) for u in pd.unique(ann["label"].to_numpy(dtype=object))})
    class_id = class_ids(classes, ann["label"])
    ann = ann.assign(row=np.asarray(pos, dtype=np.int64), class_id=class_id)
    src = (ann["source"].to_numpy() == "pred").astype(np.int8)
    order = np.lexsort((src, ann["row"].to_numpy()))
    ann = ann.iloc[order].reset_index(drop=True)
    return ModelRun(
        name=name,
        task=task,
        rows=rows,
        annotations=ann,
        classes=list(classes),
        gt_label=gt_label,
        pred_label=pred_label,
        pred_confidence=pred_confidence,
        probs=probs,
        metrics=metrics if metrics is not None else pd.DataFrame(index=rows.index),
        embeddings=embeddings,
        embedding_mask=embedding_mask,
        warnings=list(warnings or []),
    )


def row_range(run: ModelRun, lo: int, hi: int) -> ModelRun:
    """Rows ``lo:hi`` of ``run`` as a run of their own (rows renumbered from 0,
    the whole run's classes kept so class ids agree between parts)."""
    rows_of = run.annotations["row"].to_numpy()
    a, b = np.searchsorted(rows_of, [lo, hi])
    ann = run.annotations.iloc[a:b].reset_index(drop=True)
    ann["row"] = ann["row"].to_numpy() - lo

    def part(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[lo:hi]

    return ModelRun(
        name=run.name,
        task=run.task,
        rows=run.rows.iloc[lo:hi].reset_index(drop=True),
        annotations=ann,
        classes=list(run.classes),
        gt_label=part(run.gt_label),
        pred_label=part(run.pred_label),
        pred_confidence=part(run.pred_confidence),
        probs=part(run.probs),
        metrics=run.metrics.iloc[lo:hi].reset_index(drop=True),
        embeddings=part(run.embeddings),
        embedding_mask=part(run.embedding_mask),
        projection=part(run.projection),
        warnings=list(run.warnings),
    )


def concat_runs(parts: list[ModelRun]) -> ModelRun:
    """Consecutive parts of one run (same classes) as one run; the inverse of ``row_range``."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [p.n_rows for p in parts[:-1]])
    anns = [p.annotations.assign(row=p.annotations["row"].to_numpy() + off) for p, off in zip(parts, offsets)]

    def joined(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in parts]
        return None if any(a is None for a in arrays) else np.concatenate(arrays)

    first = parts[0]
    return ModelRun(
        name=first.name,
        task=first.task,
        rows=pd.concat([p.rows for p in parts], ignore_index=True),
        annotations=pd.concat(anns, ignore_index=True),
        classes=list(first.classes),
        gt_label=joined("gt_label"),
        pred_label=joined("pred_label"),
        pred_confidence=joined("pred_confidence"),
        probs=joined("probs"),
        metrics=pd.concat([p.metrics for p in parts], ignore_index=True),
        embeddings=joined("embeddings"),
        embedding_mask=joined("embedding_mask"),
        projection=joined("projection"),
        warnings=list(first.warnings),
    )


def row_classes(run: ModelRun) -> np.ndarray:
    """Per row, the names of the classes among its GT and predicted objects in
    class order, joined by ``|`` ("" for none): what ``"car" in classes``
    filters on. Rows are grouped by their set of classes (a bit mask), so the
    strings are built once per distinct set."""
    n_cls = len(run.classes)
    out = np.full(run.n_rows, "", dtype=object)
    ann = run.annotations
    cls = ann["class_id"].to_numpy(dtype=np.int64)
    keep = cls >= 0
    if not keep.any():
        return out
    row, cls = ann["row"].to_numpy(dtype=np.int64)[keep], cls[keep]
    words = (n_cls + 62) // 63
    mask = np.zeros((run.n_rows, words), dtype=np.int64)
    for w in range(words):
        in_word = (cls // 63) == w
        np.bitwise_or.at(mask[:, w], row[in_word], np.left_shift(1, cls[in_word] % 63))
    sets, inverse = np.unique(mask, axis=0, return_inverse=True)
    names = np.asarray(run.classes, dtype=object)
    bits = np.arange(63, dtype=np.int64)
    labels = np.empty(len(sets), dtype=object)
    for i, words_of_set in enumerate(sets):
        ids = np.concatenate([w * 63 + bits[(v >> bits) & 1 == 1] for w, v in enumerate(words_of_set)])
        labels[i] = "|".join(names[ids])
    return labels[inverse.reshape(-1)]
