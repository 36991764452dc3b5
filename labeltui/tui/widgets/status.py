"""The one-line header: run name, task and the review counts."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from labeltui.render.palette import VERDICT_MARKS, VERDICT_STYLES


class StatusBar(Widget):
    """``labeltui │ run · task │ shown/total │ reviewed │ ✗ errors │ ✓ ok │ ● selected``
    (a compact form when the terminal is narrow, without the run name when narrower still)."""

    def __init__(self, name: str, task: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.run_name = name
        self.run_task = task
        self._counts: dict[str, int] | None = None
        self._note = ""

    def show(self, counts: dict[str, int], note: str = "") -> None:
        """Redraw with new counts; ``note`` (e.g. "read-only") goes at the end."""
        self._counts, self._note = counts, note
        self.refresh()

    def render(self) -> Text:
        return self._text(self.size.width) if self._counts is not None else Text("")

    def _text(self, width: int) -> Text:
        c = self._counts
        err, ok, sel = (VERDICT_MARKS[k] for k in ("error", "ok", "selected"))
        full = Text.assemble(
            (" labeltui ", "bold"),
            "│ ",
            (self.run_name, "bold"),
            f" · {self.run_task} │ ",
            (f"{c['shown']:,}", "bold"),
            f"/{c['total']:,} shown │ ",
            (f"{c['reviewed']:,}", "bold"),
            " reviewed │ ",
            (f"{err} {c['error']:,}", VERDICT_STYLES["error"]),
            " errors  ",
            (f"{ok} {c['ok']:,}", VERDICT_STYLES["ok"]),
            " ok  ",
            (f"{sel} {c['selected']:,}", VERDICT_STYLES["selected"]),
            " selected",
            (f" │ {self._note}" if self._note else "", "bold reverse"),
        )
        if full.cell_len <= width:
            return full
        counts = Text.assemble(
            f"{c['shown']:,}/{c['total']:,} │ {c['reviewed']:,} rev │ ",
            (f"{err}{c['error']:,}", VERDICT_STYLES["error"]),
            " ",
            (f"{ok}{c['ok']:,}", VERDICT_STYLES["ok"]),
            " ",
            (f"{sel}{c['selected']:,}", VERDICT_STYLES["selected"]),
            (" │ " + "; ".join(n.split(":")[0] for n in self._note.split("; ")) if self._note else "", "bold reverse"),
        )
        compact = Text.assemble((f" {self.run_name}", "bold"), " │ ", counts, no_wrap=True, overflow="ellipsis")
        if compact.cell_len > width:  # the counts matter more than the run's name
            compact = Text.assemble(" ", counts, no_wrap=True, overflow="ellipsis")
        compact.truncate(width, overflow="ellipsis")
        return compact
