"""The review screen: header, filter bar, the suspect list, the detail pane, the footer."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Container
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from labeltui.engine import ISSUE_TYPES
from labeltui.engine.query import QueryError
from labeltui.errors import LoadError
from labeltui.review import VERDICTS
from labeltui.tui.keys import REVIEW_KEYS
from labeltui.tui.session import Session
from labeltui.tui.widgets.detail import WARM_AHEAD, DetailPane
from labeltui.tui.widgets.filter_bar import FilterBar
from labeltui.tui.widgets.projector import ProjectorPane
from labeltui.tui.widgets.status import StatusBar
from labeltui.tui.widgets.suspect_list import SuspectList

NARROW = 120  # below this many columns the detail pane goes under the list
SAVE_DELAY = 1.0  # seconds after the last move before the position is saved
BULK_ROWS = 20_000  # a change to this many rows or more is saved by a worker


class ReviewScreen(Screen):
    """Triage a scored run from the keyboard."""

    BINDINGS = [k.binding() for k in REVIEW_KEYS]

    def __init__(self, session: Session, cursor: int | None = None) -> None:
        super().__init__()
        self.session = session
        self._start = cursor or 0
        self._save_timer: Timer | None = None
        self._saving = False  # a bulk change is being written
        self._last_bulk = False
        self._region: np.ndarray | None = None  # projector region: mask over the scores' rows, ANDed with the filter

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        session = self.session
        values = self._values = {"issue": list(ISSUE_TYPES.get(session.task, ())), "verdict": list(VERDICTS)}
        if session.classes:
            values["label"] = values["pred_label"] = session.classes
        presets = "  ".join(f"{p.key} {p.name}" for p in session.presets) + "  0 all"
        yield StatusBar(session.config.name, session.task, id="status")
        yield FilterBar(session.column_names(), values, presets, id="filter-bar")
        with Container(id="main"):
            yield SuspectList(session, id="suspects")
            yield DetailPane(session, id="detail")
        yield Footer(compact=True)

    @property
    def suspects(self) -> SuspectList:
        return self.query_one(SuspectList)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    def on_mount(self) -> None:
        self._apply_size(self.app.size.width, self.app.size.height)
        self.filter_bar.show_query(self.session.filter_expr, self.session.sort_key, self.session.descending)
        self.update_status()
        self.suspects.focus()
        self.suspects.reset_view(self._start)

    def on_resize(self, event: events.Resize) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        self.set_class(width < NARROW, "-narrow")
        self.set_class(height < 30, "-short")
        self.query_one(Footer).show_command_palette = width >= 100  # room for "? help" first

    def update_status(self) -> None:
        notes = ["read-only: verdicts are not saved"] if self.session.read_only else []
        notes.append(self.session.status_note())
        self.query_one(StatusBar).show(self.session.counts(), "; ".join(n for n in notes if n))

    def ids_arrived(self) -> None:
        """A scores folder's ids (and the verdicts found by them) were read in the background: redraw."""
        self.suspects.reset_view(self.suspects.cursor)
        self.detail.refresh_info()
        self.update_status()

    def run_arrived(self) -> None:
        """The model run was read in the background (or failed): class columns and previews use it now."""
        from labeltui.tui.columns import RowCells, candidate_columns

        suspects = self.suspects
        suspects.cells = RowCells(self.session)
        suspects.candidates = candidate_columns(self.session)
        suspects.reset_view(suspects.cursor)
        if self.session.classes:
            self._values["label"] = self._values["pred_label"] = self.session.classes
        self.detail.reload()
        self.update_status()

    # ------------------------------------------------------------ list events
    def on_suspect_list_highlighted(self, message: SuspectList.Highlighted) -> None:
        view = self.session.view
        following = view[message.index + 1 : message.index + 1 + WARM_AHEAD].tolist() if message.index >= 0 else []
        self.detail.show_row(message.pos, following)
        if (pane := self.projector) is not None:
            pane.show_marker(message.pos)
        self._schedule_save()

    def on_suspect_list_header_clicked(self, message: SuspectList.HeaderClicked) -> None:
        conf = "pred_confidence" if self.session.task == "classification" else "max_fp_confidence"
        name = {"classes": "label", "fp/fn": "fp", "conf": conf}.get(message.column, message.column)
        if name not in self.session.column_names():
            return
        if name == self.session.sort_key:
            self.run_query(self.session.filter_expr, name, not self.session.descending)
        else:
            self.run_query(self.session.filter_expr, name, True)

    # ------------------------------------------------------------ filter and sort
    @on(FilterBar.Applied)
    def _filter_applied(self, message: FilterBar.Applied) -> None:
        if self.run_query(message.expression):
            self.set_focus(self.suspects)

    def run_query(self, expression: str, sort_key: str | None = None, descending: bool | None = None) -> bool:
        """Apply a filter and sort; show the error inline and keep the view when it is bad."""
        current = self.suspects.cursor_pos
        try:
            view = self.session.query(expression, sort_key, descending)
        except QueryError as err:
            self.filter_bar.show_error(err)
            self.set_focus(self.filter_bar.input)
            return False
        if self._region is not None:
            view = self.session.view = view[self._region[view]]
        hit = np.flatnonzero(view == current) if current >= 0 else ()
        self.filter_bar.show_query(self.session.filter_expr, self.session.sort_key, self.session.descending)
        self.suspects.reset_view(int(hit[0]) if len(hit) else 0)
        self.update_status()
        return True

    def action_focus_filter(self) -> None:
        self.set_focus(self.filter_bar.input)  # at once: the next key typed belongs to the filter

    def action_preset(self, number: int) -> None:
        if number == 0:
            self.run_query("")
            return
        preset = next(p for p in self.session.presets if p.key == number)
        same = self.session.filter_expr == preset.expression
        if self.run_query("" if same else preset.expression):
            self.notify("filter cleared" if same else f"{preset.name}: {preset.expression}", timeout=2)

    def action_reverse_sort(self) -> None:
        self.run_query(self.session.filter_expr, self.session.sort_key, not self.session.descending)

    def action_pick_sort(self) -> None:
        from labeltui.tui.screens.dialogs import SortScreen

        def chosen(name: str | None) -> None:
            if name:
                self.run_query(self.session.filter_expr, name, self.session.descending)

        columns = [c for c in self.session.column_names() if c != "issue_object"]
        self.app.push_screen(SortScreen(columns, self.session.sort_key), chosen)

    # ------------------------------------------------------------ moving
    def action_cursor_down(self) -> None:
        self.suspects.move_cursor(self.suspects.cursor + 1)

    def action_cursor_up(self) -> None:
        self.suspects.move_cursor(self.suspects.cursor - 1)

    def action_cursor_first(self) -> None:
        self.suspects.move_cursor(0)

    def action_cursor_last(self) -> None:
        self.suspects.move_cursor(self.suspects.row_count - 1)

    def action_page_down(self) -> None:
        self.suspects.move_cursor(self.suspects.cursor + self.suspects.page_rows)

    def action_page_up(self) -> None:
        self.suspects.move_cursor(self.suspects.cursor - self.suspects.page_rows)

    # ------------------------------------------------------------ review
    def _change(self, rows: int, change: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Save a change to the review store, then run ``done(result)``.

        A change to fewer than BULK_ROWS rows is written at once: durable before
        the next key is read. A larger one is written by a worker (the UI stays
        live) and other changes wait until it is saved. A failure (read-only,
        disk full) is shown, never raised.
        """
        if self._saving:
            self.notify("still saving the last change; try again in a moment", severity="warning", timeout=3)
            return
        if rows < BULK_ROWS:
            try:
                result = change()
            except LoadError as err:
                self._not_saved(err)
                return
            done(result)
            return
        self._saving = True
        self._last_bulk = True
        self.notify(f"saving {rows:,} rows…", timeout=3)
        self._bulk_worker(change, done)

    @work(thread=True, group="bulk", exit_on_error=False, description="save a bulk change")
    def _bulk_worker(self, change: Callable[[], Any], done: Callable[[Any], None]) -> None:
        try:
            result = change()
        except LoadError as err:
            self.app.call_from_thread(self._bulk_finished, None, err)
            return
        self.app.call_from_thread(self._bulk_finished, lambda: done(result), None)

    def _bulk_finished(self, done: Callable[[], None] | None, error: LoadError | None) -> None:
        self._saving = False
        if error is not None:
            self._not_saved(error)
            self.suspects.refresh_rows(None)
            self.update_status()
        elif done is not None:
            done()

    def _not_saved(self, err: LoadError) -> None:
        self.notify(str(err), title="not saved", severity="error", timeout=8)

    def _targets(self) -> tuple[np.ndarray, list[int]]:
        """Row positions a key acts on (the range in range mode, else the cursor row) and their view indices."""
        suspects = self.suspects
        span = suspects.range_indices()
        if span is not None:
            indices = list(range(span[0], span[1] + 1))
        elif suspects.row_count:
            indices = [suspects.cursor]
        else:
            indices = []
        return self.session.view[indices].astype(np.int64), indices

    def _after_change(self, indices: list[int] | None, advance: bool) -> None:
        suspects = self.suspects
        ranged = suspects.anchor is not None
        if ranged:
            suspects.anchor = None
            suspects.refresh_rows(None)
        else:
            suspects.refresh_rows(indices)
        self.update_status()
        self.detail.refresh_info()
        if (pane := self.projector) is not None:
            pane.reviews_changed()
        if advance and not ranged:
            suspects.move_cursor(suspects.cursor + 1)
        self._schedule_save()

    def action_verdict(self, verdict: str) -> None:
        positions, indices = self._targets()
        if not len(positions):
            return

        def done(_: Any) -> None:
            if len(positions) > 1:
                self.notify(f"{len(positions):,} rows: {verdict or 'verdict cleared'}", timeout=2)
            self._after_change(indices if len(indices) < 200 else None, advance=bool(verdict))

        self._change(len(positions), lambda: self.session.set_verdict(positions, verdict or None), done)

    def action_selection_verdict(self, verdict: str) -> None:
        positions = np.flatnonzero(self.session.selected)
        if len(positions) == 0:
            self.notify("nothing is selected (space, v or a select rows)", timeout=3)
            return

        def done(_: Any) -> None:
            self.notify(f"{len(positions):,} selected rows: {verdict}", timeout=2)
            self._after_change(None, advance=False)

        self._change(len(positions), lambda: self.session.set_verdict(positions, verdict), done)

    def action_toggle_select(self) -> None:
        positions, indices = self._targets()
        if not len(positions):
            return
        value = not bool(self.session.selected[positions].all())
        self._change(
            len(positions),
            lambda: self.session.set_selected(positions, value),
            lambda _: self._after_change(indices if len(indices) < 200 else None, advance=True),
        )

    def action_range_select(self) -> None:
        suspects = self.suspects
        if suspects.anchor is None:
            if suspects.row_count:
                suspects.anchor = suspects.cursor
                suspects.refresh_rows([suspects.cursor])
                self.notify("range: move, then v to select, x/o/s for a verdict, escape to cancel", timeout=3)
            return
        positions, _ = self._targets()

        def done(_: Any) -> None:
            self.notify(f"{len(positions):,} rows selected", timeout=2)
            self._after_change(None, advance=False)

        self._change(len(positions), lambda: self.session.set_selected(positions, True), done)

    def action_select_all(self) -> None:
        view = self.session.view

        def done(_: Any) -> None:
            self.notify(f"{len(view):,} rows selected", timeout=2)
            self._after_change(None, advance=False)

        self._change(len(view), lambda: self.session.set_selected(view, True), done)

    def action_clear_selection(self) -> None:
        positions = np.flatnonzero(self.session.selected)

        def done(_: Any) -> None:
            self.notify(f"{len(positions):,} rows unselected", timeout=2)
            self._after_change(None, advance=False)

        self._change(len(positions), lambda: self.session.set_selected(positions, False), done)

    def action_undo(self) -> None:
        def done(changed: np.ndarray) -> None:
            n = len(changed)
            self.notify(f"undone ({n:,} row{'s' if n != 1 else ''})" if n else "nothing to undo", timeout=2)
            self._after_change(None, advance=False)

        # undoing a bulk change is itself bulk
        rows, self._last_bulk = (BULK_ROWS if self._last_bulk else 1), False
        self._change(rows, self.session.undo, done)

    def action_note(self) -> None:
        from labeltui.tui.screens.dialogs import NoteScreen

        pos = self.suspects.cursor_pos
        if pos < 0:
            return

        def done(note: str | None) -> None:
            if note is not None:
                self._change(1, lambda: self.session.set_note(pos, note), lambda _: self._after_change([self.suspects.cursor], advance=False))

        self.app.push_screen(NoteScreen(str(self.session.ids[pos]), self.session.notes.get(pos, "")), done)

    def action_cancel(self) -> None:
        if self.suspects.anchor is not None:
            self.suspects.anchor = None
            self.suspects.refresh_rows(None)
        elif self.filter_bar.input.has_focus:
            self.filter_bar.show_query(self.session.filter_expr, self.session.sort_key, self.session.descending)
            self.set_focus(self.suspects)
        elif self._region is not None:
            self._clear_region()

    # ------------------------------------------------------------ preview
    def action_zoom(self) -> None:
        self.detail.toggle_zoom()

    def action_toggle_sources(self) -> None:
        shown = self.detail.cycle_sources()
        self.notify({"both": "GT and predictions", "gt": "GT only", "pred": "predictions only"}[shown], timeout=1.5)

    def action_toggle_overlays(self) -> None:
        self.notify("overlays shown" if self.detail.toggle_overlays() else "overlays hidden", timeout=1.5)

    def action_cycle_object(self, step: int) -> None:
        self.detail.cycle_object(step)

    # ------------------------------------------------------------ projector
    @property
    def projector(self) -> ProjectorPane | None:
        panes = self.query(ProjectorPane)
        return panes.first() if panes else None

    async def action_toggle_projector(self) -> None:
        """Show the projector in place of the preview and focus it; when focused, hide it."""
        pane = self.projector
        if pane is None:
            pane = ProjectorPane(self.session, id="projector")
            await self.detail.mount(pane)
        elif pane.display and pane.has_focus:
            pane.display = False
            self.detail.preview.display = True
            self.set_focus(self.suspects)
            return
        self.detail.preview.display = False
        pane.display = True
        pane.show_marker(self.suspects.cursor_pos)
        pane.start()
        pane.focus()

    def on_projector_pane_picked(self, message: ProjectorPane.Picked) -> None:
        self.suspects.move_cursor(message.index)

    def on_projector_pane_region_selected(self, message: ProjectorPane.RegionSelected) -> None:
        self._region = message.mask
        if self.run_query(self.session.filter_expr):
            self.notify(f"region: {len(self.session.view):,} rows in the list (escape clears)", timeout=3)

    def on_projector_pane_region_cleared(self, message: ProjectorPane.RegionCleared) -> None:
        self._clear_region()

    def on_projector_pane_leave(self, message: ProjectorPane.Leave) -> None:
        self.set_focus(self.suspects)

    def _clear_region(self) -> None:
        self._region = None
        if (pane := self.projector) is not None:
            pane.clear_region()
        self.run_query(self.session.filter_expr)
        self.notify("region cleared", timeout=1.5)

    # ------------------------------------------------------------ app
    def action_help(self) -> None:
        from labeltui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.session))

    def action_gallery(self) -> None:
        from labeltui.tui.screens.gallery import GalleryScreen

        def back(index: int | None) -> None:
            self.suspects.refresh_rows(None)
            self.update_status()
            self.detail.refresh_info()
            if index is not None:
                self.suspects.move_cursor(index)

        self.app.push_screen(GalleryScreen(self.session, self.suspects.cursor, self.detail.cache), back)

    def action_summary(self) -> None:
        from labeltui.tui.screens.summary import SummaryScreen

        def picked(expression: str | None) -> None:
            if expression is not None and self.run_query(expression):
                self.notify(f"filter: {expression}", timeout=3)

        self.app.push_screen(SummaryScreen(self.session), picked)

    def action_export(self) -> None:
        from labeltui.tui.screens.export import ExportScreen

        def written(message: str | None) -> None:
            if message:
                self.notify(message, title="exported", timeout=8)

        self.app.push_screen(ExportScreen(self.session), written)

    # ------------------------------------------------------------ resume
    def _schedule_save(self) -> None:
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(SAVE_DELAY, self._save_later)

    def _save_later(self) -> None:
        self._save_state_worker(self.session.ui_state(self.suspects.cursor_pos))

    @work(thread=True, exclusive=True, group="save-state", exit_on_error=False)
    def _save_state_worker(self, state: dict) -> None:
        try:
            self.session.save_state(state)
        except LoadError as err:
            self.app.call_from_thread(self.notify, f"position not saved: {err}", severity="warning")

    def save_now(self) -> None:
        """Save filter, sort and position at once (on quit)."""
        if self._save_timer is not None:
            self._save_timer.stop()
        try:
            self.session.save_state(self.session.ui_state(self.suspects.cursor_pos))
        except LoadError:
            pass
