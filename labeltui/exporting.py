"""Export a batch: join the ranking with the review store and write a manifest.

The CLI's ``export`` and the TUI's export dialog both call :func:`export_batch`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from labeltui.config import Config
from labeltui.manifest import ManifestError, build_manifest, write_manifest
from labeltui.review import ReviewStore


def review_table(config: Config) -> pd.DataFrame:
    """The review store's verdicts (empty when no store exists yet; never creates one)."""
    if not Path(config.review_store).exists():
        return pd.DataFrame(columns=["data_row_id", "verdict", "selected", "note", "reviewer"])
    store = ReviewStore.open(config.review_store, run_name=config.name, reviewer=config.reviewer)
    try:
        return store.verdicts()
    finally:
        store.close()


def select_rows(
    scores: pd.DataFrame,
    view: np.ndarray,
    reviews: pd.DataFrame,
    *,
    verdict: str | None = None,
    selected: bool = False,
    top: int | None = None,
) -> pd.DataFrame:
    """Rows of ``scores`` in ``view`` order with their review fields, filtered by
    verdict / selection, then cut to the first ``top``."""
    rows = scores.iloc[view]
    cols = [c for c in ("data_row_id", "global_key", "issue", "score") if c in rows.columns]
    rows = rows[cols].reset_index(drop=True)
    keep = [c for c in ("data_row_id", "verdict", "selected", "note", "reviewer") if c in reviews.columns]
    rows = rows.merge(reviews[keep], on="data_row_id", how="left", sort=False)
    if verdict is not None:
        rows = rows[rows["verdict"] == verdict]
    if selected:
        rows = rows[rows["selected"].fillna(0).astype(bool)]
    if top is not None:
        rows = rows.head(top)
    return rows.reset_index(drop=True)


def export_batch(
    config: Config,
    scores: pd.DataFrame,
    view: np.ndarray,
    *,
    output: Path,
    fmt: str = "json",
    name: str | None = None,
    priority: int | None = None,
    verdict: str | None = None,
    selected: bool = False,
    top: int | None = None,
    filter_expr: str | None = None,
    sort: str | None = None,
    force: bool = False,
) -> tuple[list[Path], int]:
    """Write the manifest; returns (paths written, number of rows)."""
    rows = select_rows(scores, view, review_table(config), verdict=verdict, selected=selected, top=top)
    if rows.empty:
        what = []
        if verdict:
            what.append(f"verdict {verdict!r}")
        if selected:
            what.append("selected")
        if filter_expr:
            what.append(f"filter {filter_expr!r}")
        raise ManifestError(f"no rows to export ({' and '.join(what) or 'empty run'} matched none)", path=output)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    manifest = build_manifest(
        rows,
        name=name or f"{config.name}-{stamp}",
        run_name=config.name,
        filter_expr=filter_expr,
        sort=sort,
        priority=priority,
    )
    written = write_manifest(manifest, output, format=fmt, force=force)
    return written, len(rows)
