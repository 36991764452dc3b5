"""The summary screen: per-class TP/FP/FN, the top class confusions, the score histogram.
Enter on any line filters the list to the rows behind it."""

from __future__ import annotations

import math

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from labeltui.render.palette import VALUE_RAMP
from labeltui.tui.overview import bin_filter, class_filter, class_table, confusion_filter, confusions, score_histogram
from labeltui.tui.session import Session

BINS = 20
BAR = 30  # cells of the longest histogram bar


def _rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def histogram_bar(count: int, most: int, width: int = BAR) -> str:
    """A bar on a log scale (so a handful of rows still shows next to thousands)."""
    if count <= 0 or most <= 0:
        return ""
    cells = max(1, round(width * math.log1p(count) / math.log1p(most)))
    return "█" * cells


class SummaryScreen(Screen[str | None]):
    """Dismisses with a filter expression for the picked line, or None."""

    BINDINGS = [
        Binding("escape,q,m", "dismiss(None)", "back", id="summary-close"),
        Binding("j", "cursor(1)", show=False, id="summary-down"),
        Binding("k", "cursor(-1)", show=False, id="summary-up"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        s = self.session
        unit = "rows" if s.task == "classification" else "objects"
        yield Static(
            Text(f" summary │ {s.config.name} · {s.task} │ enter on a line filters the list, tab switches, escape goes back",
                 style="bold", no_wrap=True, overflow="ellipsis"),
            id="summary-title",
        )
        with Horizontal(id="summary-top"):
            with Vertical(classes="summary-box"):
                missing = f": {s.run_missing(short=True)}" if s.run is None else ""
                yield Static(f"per class ({unit}){missing}", classes="summary-heading")
                yield DataTable(cursor_type="row", zebra_stripes=True, id="summary-classes")
            with Vertical(classes="summary-box"):
                yield Static("most frequent confusions (label → model)", classes="summary-heading")
                yield DataTable(cursor_type="row", zebra_stripes=True, id="summary-confusions")
        with Vertical(classes="summary-box", id="summary-bottom"):
            yield Static("score histogram (rows; log-scaled bars)", classes="summary-heading")
            yield DataTable(cursor_type="row", id="summary-histogram")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        s = self.session
        classes = self.query_one("#summary-classes", DataTable)
        classes.add_columns("class", "tp", "fp", "fn", "precision", "recall")
        for row in class_table(s).itertuples(index=False):
            classes.add_row(
                row[0], f"{row[1]:,}", f"{row[2]:,}", f"{row[3]:,}", _rate(row[4]), _rate(row[5]),
                key=class_filter(s, row[0]),
            )
        table = self.query_one("#summary-confusions", DataTable)
        table.add_columns("label", "model", "count")
        for given, predicted, count in confusions(s).itertuples(index=False):
            table.add_row(given, predicted, f"{count:,}", key=confusion_filter(s, given, predicted))
        counts, edges = score_histogram(s, BINS)
        most = int(counts.max()) if len(counts) else 0
        hist = self.query_one("#summary-histogram", DataTable)
        hist.add_columns("score", "rows", "")
        for i in range(len(counts) - 1, -1, -1):  # most suspicious first
            color = VALUE_RAMP[min(len(VALUE_RAMP) - 1, int(edges[i] * len(VALUE_RAMP)))]
            hist.add_row(
                f"{edges[i]:.2f}–{edges[i + 1]:.2f}",
                f"{int(counts[i]):,}",
                Text(histogram_bar(int(counts[i]), most), style=color),
                key=bin_filter(float(edges[i]), float(edges[i + 1]), i == len(counts) - 1),
            )
        classes.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(str(event.row_key.value))

    def action_cursor(self, step: int) -> None:
        table = self.focused
        if isinstance(table, DataTable):
            table.move_cursor(row=table.cursor_row + step)
