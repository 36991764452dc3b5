"""Write a ranked view of the scores table as CSV, JSON lines or a Rich table."""

from __future__ import annotations

import math
from typing import TextIO

import numpy as np
import pandas as pd

#: Score-table columns that are bookkeeping, not something to print.
INTERNAL_COLUMNS = ("issue_object",)


def ranking_columns(scores: pd.DataFrame) -> list[str]:
    """``data_row_id, score, issue`` first, then every other public column."""
    lead = [c for c in ("data_row_id", "score", "issue") if c in scores.columns]
    rest = [c for c in scores.columns if c not in lead and c not in INTERNAL_COLUMNS]
    return lead + rest


def write_ranking(scores: pd.DataFrame, view: np.ndarray, fmt: str, out: TextIO, *, title: str = "") -> None:
    """Write the rows ``view`` selects from ``scores``, in that order."""
    cols = ranking_columns(scores)
    table = scores.iloc[view][cols]
    if fmt == "csv":
        table.to_csv(out, index=False, float_format="%.6g", lineterminator="\n")
    elif fmt == "jsonl":
        if len(table):
            text = table.to_json(orient="records", lines=True, double_precision=6)
            out.write(text if text.endswith("\n") else text + "\n")
    elif fmt == "table":
        _rich_table(table, out, title)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def _cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "-"
        return f"{value:.3f}"
    if value is None:
        return "-"
    return str(value)


def _rich_table(table: pd.DataFrame, out: TextIO, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = [c for c in table.columns if c not in ("global_key", "asset")][:12]
    t = Table(title=f"{title}: {len(table):,} rows" if title else None, header_style="bold")
    t.add_column("#", justify="right", style="dim")
    for c in shown:
        numeric = pd.api.types.is_numeric_dtype(table[c])
        t.add_column(c, justify="right" if numeric else "left", overflow="ellipsis", no_wrap=c == "data_row_id")
    for rank, values in enumerate(table[shown].itertuples(index=False), start=1):
        t.add_row(str(rank), *(_cell(v) for v in values))
    Console(file=out, width=None if out.isatty() else 160).print(t)
