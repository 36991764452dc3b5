"""Plain-text summaries of a loaded model run (for `labeltui validate`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labeltui.config import Config
from labeltui.run import ModelRun


def class_counts(run: ModelRun) -> pd.DataFrame:
    """Objects (or labels, for classification) per class and source: columns gt, pred."""
    if run.task == "classification":
        n = len(run.classes)
        gt = np.bincount(run.gt_label[run.gt_label >= 0], minlength=n) if run.gt_label is not None else np.zeros(n, int)
        pred = np.bincount(run.pred_label[run.pred_label >= 0], minlength=n) if run.pred_label is not None else np.zeros(n, int)
        return pd.DataFrame({"gt": gt, "pred": pred}, index=pd.Index(run.classes, name="class"))
    ann = run.annotations
    table = pd.crosstab(ann["label"], ann["source"]).reindex(columns=["gt", "pred"], fill_value=0)
    table.index.name = "class"
    table.columns.name = None
    return table


def render_validation(run: ModelRun, config: Config) -> str:
    """The text `labeltui validate` prints: counts, coverage and warnings."""
    lines = [f"run {run.name!r} ({run.task}) from {config.path}", f"  data rows: {run.n_rows:,}"]
    counts = class_counts(run)
    what = "labels" if run.task == "classification" else "objects"
    lines.append(f"  ground-truth {what}: {int(counts['gt'].sum()):,}   predicted {what}: {int(counts['pred'].sum()):,}")
    if run.task != "classification":
        rows_with_pred = np.zeros(run.n_rows, dtype=bool)
        rows_with_pred[run.annotations.loc[run.annotations["source"] == "pred", "row"].to_numpy()] = True
        rows_with_gt = np.zeros(run.n_rows, dtype=bool)
        rows_with_gt[run.annotations.loc[run.annotations["source"] == "gt", "row"].to_numpy()] = True
        lines.append(f"  rows without predictions: {int((~rows_with_pred).sum()):,}   rows without ground truth: {int((~rows_with_gt).sum()):,}")
    else:
        lines.append(
            f"  rows without a label: {run.stats.get('rows_without_label', 0):,}   "
            f"rows without predictions: {run.stats.get('rows_without_predictions', 0):,}"
        )
    if run.embedding_mask is not None:
        have = int(run.embedding_mask.sum())
        lines.append(f"  embeddings: {have:,} of {run.n_rows:,} rows ({have / max(run.n_rows, 1):.0%}), dimension {run.embeddings.shape[1]}")
    if len(run.metrics.columns):
        lines.append(f"  custom metrics: {', '.join(map(str, run.metrics.columns))}")
    lines.append(f"  classes ({len(counts)}):")
    width = max([len(str(c)) for c in counts.index] + [5])
    lines.append(f"    {'class':<{width}}  {'gt':>9}  {'pred':>9}")
    for cls, row in counts.iterrows():
        lines.append(f"    {str(cls):<{width}}  {int(row['gt']):>9,}  {int(row['pred']):>9,}")
    if run.warnings:
        lines.append(f"  warnings ({len(run.warnings)}):")
        lines.extend(f"    - {w}" for w in run.warnings)
    else:
        lines.append("  no warnings")
    lines.append("OK: the run is usable")
    return "\n".join(lines)
