"""The review session behind the screen: the view, verdicts, selection, filter and sort.

Pure Python and numpy (no Textual), so the TUI's logic is testable without a
terminal. Verdicts live in numpy arrays aligned to the scores table and are
written to the review store synchronously: when a setter returns, the change
is durable.

Besides the score columns, a filter or sort may use the review columns
``verdict`` (``"error"``/``"ok"``/``"skip"``, missing when unreviewed),
``reviewed``, ``selected``, ``noted`` and ``reviewer``. Only the columns a
filter reads are assembled, so filtering a million rows stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labeltui.config import Config
from labeltui.engine.query import Filter, QueryError, compile_filter, parse_sort_key, sort_view
from labeltui.pipeline import Scored
from labeltui.review import VERDICTS, ReviewStore
from labeltui.run import ModelRun
from labeltui.scores_dir import RowCache, RowData, RowIds, top_view

NO_VERDICT = -1
VERDICT_CODE = {v: i for i, v in enumerate(VERDICTS)}
REVIEW_COLUMNS = ("verdict", "reviewed", "selected", "noted", "reviewer")
STATE_KEY = "tui"
#: A scores folder's list holds this many rows of the ranking (the top; the rest is never sorted).
TOP_ROWS = 100_000
LOADING = "loading annotations…"
_VERDICT_DTYPE = pd.CategoricalDtype(list(VERDICTS))


@dataclass(frozen=True)
class Preset:
    """A filter one key away."""

    key: int
    name: str
    expression: str


def presets_for(task: str, reviewer: str, columns: set[str]) -> list[Preset]:
    """The five presets of a task (disagreements, two issue types, unreviewed, my errors)."""
    mine = f'verdict == "error" and reviewer == {_quote(reviewer)}'
    if task == "classification":
        first = [
            Preset(1, "disagreements", "agree == 0" if "agree" in columns else 'issue == "wrong_label"'),
            Preset(2, "ambiguous", 'issue == "ambiguous"'),
            Preset(3, "wrong label", 'issue == "wrong_label"'),
        ]
    elif task == "ner":
        first = [
            Preset(1, "disagreements", "fp >= 1 or fn >= 1"),
            Preset(2, "missing entities", 'issue == "missing_entity"'),
            Preset(3, "wrong type", 'issue == "wrong_type"'),
        ]
    else:
        first = [
            Preset(1, "disagreements", "fp >= 1"),
            Preset(2, "missing labels", 'issue == "missing_label"'),
            Preset(3, "wrong class", 'issue == "wrong_class"'),
        ]
    return first + [Preset(4, "unreviewed", "not reviewed"), Preset(5, "my errors", mine)]


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


class Session:
    """A scored model run under review: the current view and everyone's verdicts.

    ``view`` holds row positions (into ``scores``) in display order;
    ``verdict`` (int8 codes, -1 none), ``selected`` and ``noted`` are aligned to
    ``scores``.

    The model run may come later (``run`` None, ``run_pending``: the app reads
    it in the background and calls :meth:`attach_run`), or never, for a scores
    folder: then its columns load on demand, the view holds the top
    ``TOP_ROWS`` of the ranking (``matches`` counts every row the filter
    keeps) and :meth:`fetch` reads the annotations of the rows being previewed.
    """

    def __init__(self, config: Config, scored: Scored, store: ReviewStore | None) -> None:
        self.config = config
        self.run = scored.run
        self.scores = scored.scores
        self.objects = scored.objects
        self.store = store
        self.task = config.task
        self.reviewer = store.reviewer if store is not None else (config.reviewer or "")
        self.source = scored.source
        self.row_source = scored.rows
        self.rest = scored.rest if scored.run is None else None
        self.warnings = list(scored.warnings)
        self.run_error: str | None = None
        self.limit = TOP_ROWS if self.source is not None else None
        self.fetched = RowCache()
        n = len(self.scores)
        # ids as Arrow strings: no Python string per row (a scores folder's are read after the first frame)
        self.ids = RowIds.of_folder(self.source) if self.source is not None else RowIds.of_array(self.scores["data_row_id"])
        self.reviews_pending = False  # verdicts in the store wait for the ids (see load_reviews)
        self._touched: set[int] = set()  # rows changed here while they wait
        self.verdict = np.full(n, NO_VERDICT, dtype=np.int8)
        self.selected = np.zeros(n, dtype=bool)
        self.noted = np.zeros(n, dtype=bool)
        self.notes: dict[int, str] = {}
        self.reviewer_names: list[str] = [self.reviewer]
        self.reviewer_code = np.full(n, -1, dtype=np.int16)
        self.filter_expr = ""
        self.sort_key = "score"
        self.descending = True
        self.view = np.arange(n if self.limit is None else min(n, self.limit), dtype=np.int64)  # until query()
        self.matches = n
        self._rankings: dict[tuple[str, bool], np.ndarray] = {}
        if scored.ranking is not None and len(scored.ranking) == n:
            self._rankings[("score", True)] = scored.ranking
        self.presets = presets_for(self.task, self.reviewer, set(self.column_dtypes()))
        if store is not None:
            frame = store.verdicts()
            if not self.ids.complete and len(frame):
                self.reviews_pending = True
            else:
                self._load_reviews(frame)

    # ------------------------------------------------------------ lookups
    @property
    def n_rows(self) -> int:
        return len(self.scores)

    @property
    def read_only(self) -> bool:
        return self.store is None or self.store.read_only

    @property
    def classes(self) -> list[str]:
        """The run's class names (from the scores folder until the run is here)."""
        if self.run is not None:
            return list(self.run.classes)
        return list(self.source.classes) if self.source is not None else []

    def id_text(self, pos: int) -> str:
        """Row ``pos``'s data row id for display, without waiting for ids still being read ("…")."""
        value = self.ids.get(pos)
        return "…" if value is None else value

    def positions_of(self, ids: list[str]) -> np.ndarray:
        """Row positions of data row ids (ids not in this run are dropped): a scan of the
        id column against a hash of ``ids`` (no index over every row is built)."""
        return self.ids.positions(ids)[0]

    def counts(self) -> dict[str, int]:
        """shown, total, reviewed, error, ok, skip, selected."""
        per = {v: int(np.count_nonzero(self.verdict == VERDICT_CODE[v])) for v in VERDICTS}
        return {
            "shown": len(self.view),
            "total": self.n_rows,
            "reviewed": sum(per.values()),
            **per,
            "selected": int(np.count_nonzero(self.selected)),
        }

    def status_note(self) -> str:
        """What the header should say beyond the counts: a list cut to the top of the
        ranking, a model run still loading or not available."""
        notes = []
        if self.limit is not None and self.matches > len(self.view):
            notes.append(f"top {len(self.view):,} of {self.matches:,} by {self.sort_key}")
        if self.reviews_pending:
            notes.append("reading ids and verdicts…")
        elif not self.ids.complete:
            notes.append("reading ids…")
        if self.run_pending:
            notes.append("loading the model run…")
        elif self.run_error:
            notes.append("no previews (see the warning)")
        return "; ".join(notes)

    def verdict_of(self, pos: int) -> str | None:
        code = int(self.verdict[pos])
        return VERDICTS[code] if code >= 0 else None

    # ------------------------------------------------------------ review store
    def _load_reviews(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self._apply_records(*self._locate(frame))

    def load_reviews(self) -> tuple[np.ndarray, pd.DataFrame] | None:
        """Read every id, then locate the store's verdicts (in a worker thread; give the
        result to :meth:`apply_reviews` on the UI thread). None when nothing waits."""
        self.ids.load()
        if not self.reviews_pending or self.store is None:
            return None
        return self._locate(self.store.verdicts())

    def apply_reviews(self, located: tuple[np.ndarray, pd.DataFrame] | None) -> None:
        """Show the store's verdicts located by :meth:`load_reviews` (rows changed here meanwhile keep theirs)."""
        if located is not None and self.reviews_pending:
            pos, frame = located
            keep = ~np.isin(pos, np.fromiter(self._touched, dtype=np.int64, count=len(self._touched)))
            self._apply_records(pos[keep], frame.iloc[np.flatnonzero(keep)])
        self.reviews_pending = False
        self._touched.clear()

    def _touch(self, positions: Any) -> None:
        if self.reviews_pending:
            self._touched.update(np.atleast_1d(np.asarray(positions, dtype=np.int64)).tolist())

    def _locate(self, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Positions of a review frame's rows, dropping ids this run does not have."""
        pos, keep = self.ids.positions(frame["data_row_id"].astype(str).tolist())
        return pos, frame.iloc[keep]

    def _apply_records(self, pos: np.ndarray, frame: pd.DataFrame) -> None:
        verdicts = frame["verdict"].map(VERDICT_CODE).fillna(NO_VERDICT).to_numpy(dtype=np.int8)
        self.verdict[pos] = verdicts
        self.selected[pos] = frame["selected"].to_numpy(dtype=bool)
        notes = frame["note"].fillna("").astype(str).to_numpy(dtype=object)
        self.noted[pos] = notes != ""
        for p, note in zip(pos.tolist(), notes.tolist()):
            if note:
                self.notes[p] = note
            else:
                self.notes.pop(p, None)
        names = frame["reviewer"].fillna("").astype(str)
        for name in names.unique():
            if name and name not in self.reviewer_names:
                self.reviewer_names.append(name)
        lookup = {name: i for i, name in enumerate(self.reviewer_names)}
        self.reviewer_code[pos] = np.array([lookup.get(n, -1) for n in names.tolist()], dtype=np.int32)

    def _writable(self) -> ReviewStore:
        if self.store is None:
            from labeltui.review import ReviewError

            raise ReviewError("no review store is open; verdicts cannot be saved")
        return self.store

    def set_verdict(self, positions: np.ndarray, verdict: str | None) -> int:
        """Record ``verdict`` (None clears) for rows at ``positions``; durable on return."""
        positions = np.unique(np.asarray(positions, dtype=np.int64))
        if len(positions) == 0:
            return 0
        self._writable().set_verdict(self.ids[positions].tolist(), verdict)
        self._touch(positions)
        self.verdict[positions] = VERDICT_CODE[verdict] if verdict else NO_VERDICT
        self.reviewer_code[positions] = 0
        return len(positions)

    def set_selected(self, positions: np.ndarray, selected: bool) -> int:
        """Select or unselect rows at ``positions``; returns how many changed."""
        positions = np.asarray(positions, dtype=np.int64)
        changed = positions[self.selected[positions] != selected]
        if len(changed) == 0:
            return 0
        self._writable().set_selected(self.ids[changed].tolist(), selected)
        self._touch(changed)
        self.selected[changed] = selected
        return len(changed)

    def set_note(self, pos: int, note: str) -> None:
        """Replace the note of one row (empty clears it)."""
        note = note.strip()
        self._writable().set_note(str(self.ids[pos]), note)
        self._touch(pos)
        self.noted[pos] = bool(note)
        if note:
            self.notes[pos] = note
        else:
            self.notes.pop(pos, None)

    def undo(self) -> np.ndarray:
        """Revert this reviewer's last change; returns the positions that changed."""
        changed = []
        for field, value, ids in self._writable().undo_changes():
            pos = self.positions_of(ids)
            self._touch(pos)
            if field == "verdict":
                self.verdict[pos] = VERDICT_CODE[value] if value else NO_VERDICT
            elif field == "selected":
                self.selected[pos] = value
            elif field == "note":
                self.noted[pos] = bool(value)
                for p in pos.tolist():
                    if value:
                        self.notes[p] = value
                    else:
                        self.notes.pop(p, None)
            self.reviewer_code[pos] = 0  # the store records the undo as this reviewer's
            changed.append(pos)
        return np.unique(np.concatenate(changed)) if changed else np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------ filter and sort
    def column_dtypes(self) -> dict[str, Any]:
        """Every filterable column and its dtype (score columns, loaded or not, + review columns)."""
        dtypes: dict[str, Any] = dict(self.source.dtypes()) if self.source is not None else {}
        dtypes.update({str(k): v for k, v in self.scores.dtypes.items()})
        dtypes.update(
            verdict=_VERDICT_DTYPE,
            reviewed=np.dtype(bool),
            selected=np.dtype(bool),
            noted=np.dtype(bool),
            reviewer=np.dtype(object),
        )
        return dtypes

    def column_names(self) -> list[str]:
        return list(self.column_dtypes())

    def ensure_columns(self, names: Any) -> None:
        """Read score columns of a scores folder that are not in memory yet (a filter or
        sort names them); they stay for the session."""
        if self.source is None:
            return
        missing = [n for n in names if n not in self.scores.columns and n in self.source.kinds and n not in REVIEW_COLUMNS]
        if not missing:
            return
        columns = {str(c): self.scores[c].array for c in self.scores.columns}
        if "data_row_id" in missing:  # already read (or being read) for the list
            missing.remove("data_row_id")
            columns["data_row_id"] = pd.arrays.ArrowStringArray(self.ids.array)
        columns.update(self.source.read_columns(missing))
        order = [c for c in self.source.columns if c in columns]
        self.scores = pd.DataFrame({c: columns[c] for c in order}, copy=False)

    def column_values(self, name: str) -> Any:
        """Values of a score or review column, aligned to the scores table."""
        if name == "verdict":
            return pd.Categorical.from_codes(self.verdict, dtype=_VERDICT_DTYPE)
        if name == "reviewed":
            return self.verdict >= 0
        if name == "selected":
            return self.selected
        if name == "noted":
            return self.noted
        if name == "reviewer":
            names = np.array(self.reviewer_names + [None], dtype=object)
            return names[np.where(self.verdict >= 0, self.reviewer_code, -1)]
        self.ensure_columns([name])
        return self.scores[name]

    def _table(self, columns: set[str] | frozenset[str]) -> pd.DataFrame:
        self.ensure_columns(columns)
        review = [c for c in columns if c in REVIEW_COLUMNS and c not in self.scores.columns]
        if not review:
            return self.scores
        data = {c: self.column_values(c) for c in sorted(columns) if c in self.scores.columns or c in review}
        return pd.DataFrame(data, copy=False)

    def compile(self, expression: str) -> Filter | None:
        """Compile a filter against the session's columns (QueryError on a bad one)."""
        if not expression.strip():
            return None
        return compile_filter(expression, self.column_dtypes())

    def _sorted(self, view: np.ndarray | None, name: str, descending: bool) -> np.ndarray:
        """``view`` (None: every row) sorted by ``name``; a scores folder's list keeps the top ``limit``."""
        table = self._table({name})
        if self.limit is not None:
            return top_view(table, view, name, descending, self.limit)
        every = np.arange(self.n_rows, dtype=np.int64) if view is None else view
        return sort_view(table, every, name, descending)

    def query(self, expression: str, sort_key: str | None = None, descending: bool | None = None) -> np.ndarray:
        """Set filter and sort (None keeps the current one) and rebuild the view.

        Raises QueryError and keeps the old view when the filter or sort is bad.
        """
        sort_key = self.sort_key if sort_key is None else sort_key
        descending = self.descending if descending is None else descending
        name, descending = parse_sort_key(sort_key, self.column_names(), default_descending=descending)
        compiled = self.compile(expression)
        if compiled is not None:
            view = np.flatnonzero(compiled.evaluate(self._table(compiled.columns))).astype(np.int64)
            matches = len(view)
            view = self._sorted(view, name, descending)
        elif name in self.scores.columns or (self.source is not None and name in self.source.kinds):
            # scores never change: keep the full ranking per sort
            view = self._rankings.get((name, descending))
            if view is None:
                view = self._sorted(None, name, descending)
                self._rankings = {(name, descending): view}
            matches = self.n_rows
        else:
            view = self._sorted(None, name, descending)
            matches = self.n_rows
        self.filter_expr, self.sort_key, self.descending, self.view = expression.strip(), name, descending, view
        self.matches = matches
        return view

    def ranked(self, positions: np.ndarray) -> np.ndarray:
        """Row ``positions`` in the order of the current sort (ties by position)."""
        positions = np.sort(np.asarray(positions, dtype=np.int64))
        name = self.sort_key if self.sort_key in self.scores.columns else "score"
        return sort_view(self.scores, positions, name, self.descending)

    def export_rows(self, view: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """(table, view) to export the rows ``view`` from: the scores themselves, or for a
        scores folder just those rows with the columns a batch manifest records."""
        if self.source is None:
            return self.scores, view
        wanted = [c for c in ("data_row_id", "global_key", "issue", "score") if c in self.source.kinds]
        return self.source.values_at(wanted, view), np.arange(len(view), dtype=np.int64)

    # ------------------------------------------------------------ the run, later or never
    @property
    def run_pending(self) -> bool:
        """The model run is being read in the background (previews wait for it)."""
        return self.run is None and self.rest is not None and self.run_error is None

    def attach_run(self, run: ModelRun, objects: pd.DataFrame | None) -> None:
        """The run (and the objects table) arrived: previews and class columns use it from now on."""
        if self.source is not None:
            self.ensure_columns(["issue_object"])
        self.run, self.objects, self.rest = run, objects, None

    def run_failed(self, message: str) -> None:
        """The run (or a row's annotations) could not be read: previews say why from now
        on, everything else keeps working."""
        self.run_error = message
        self.rest = None
        self.row_source = None

    def run_missing(self, short: bool = False) -> str:
        """Why something that needs the whole model run (per-class numbers, the projector)
        cannot show (``short``: a few words for a heading)."""
        if self.run_pending:
            return "waiting for the model run" if short else "the model run is still being read; try again when previews appear"
        if self.run_error:
            return "the model run could not be read" if short else self.run_error
        if self.source is not None:
            if short:
                return "not for a scores folder"
            return "a scores folder reads annotations a few rows at a time; open the run's config for this"
        return "the model run is not loaded"

    def fetched_row(self, pos: int) -> RowData | None:
        """Row ``pos``'s preview data read on demand (None until :meth:`fetch` read it)."""
        return self.fetched.get(pos) if self.row_source is not None else None

    def needs_fetch(self, positions: list[int]) -> list[int]:
        """Of ``positions``, the rows whose annotations :meth:`fetch` has still to read."""
        if self.run is not None or self.row_source is None:
            return []
        return self.fetched.missing([p for p in positions if p >= 0])

    def fetch(self, positions: list[int]) -> None:
        """Read the annotations and assets of rows (in a worker thread: this does I/O)."""
        rows = np.asarray(self.needs_fetch(positions), dtype=np.int64)
        if not len(rows) or self.row_source is None:
            return
        if "issue_object" in self.scores.columns:
            issue = self.scores["issue_object"].to_numpy()[rows]
        elif self.source is not None and "issue_object" in self.source.kinds:
            issue = self.source.values_at(["issue_object"], rows)["issue_object"].to_numpy()
        else:
            issue = np.full(len(rows), -1, dtype=np.int64)
        self.fetched.put(self.row_source.fetch(rows, issue))

    def waiting(self, pos: int) -> str | None:
        """Why row ``pos`` has no preview data yet (None when it has it)."""
        if self.run is not None or self.fetched_row(pos) is not None:
            return None
        if self.row_source is not None or self.run_pending:
            return LOADING
        return self.run_error or (self.warnings[0] if self.warnings else "the model run is not loaded")

    # ------------------------------------------------------------ resume
    def ui_state(self, cursor_row: int | None) -> dict[str, Any]:
        """Filter, sort and the cursor's data row: what :meth:`save_state` stores."""
        return {
            "filter": self.filter_expr,
            "sort": self.sort_key,
            "descending": self.descending,
            "row": str(self.ids[cursor_row]) if cursor_row is not None and cursor_row >= 0 else None,
            "pos": int(cursor_row) if cursor_row is not None and cursor_row >= 0 else None,
        }

    def save_state(self, state: dict[str, Any]) -> None:
        """Store a :meth:`ui_state` for the next session (safe from a worker thread)."""
        if not self.read_only:
            self._writable().save_state(STATE_KEY, state)

    def restore_state(self) -> tuple[int | None, str | None]:
        """Re-apply the saved filter and sort; returns (cursor position in the view or None, a warning)."""
        if self.store is None:
            self.query("")
            return None, None
        state = self.store.load_state(STATE_KEY, None) or {}
        warning = None
        try:
            self.query(str(state.get("filter") or ""), str(state.get("sort") or "score"), bool(state.get("descending", True)))
        except QueryError as err:
            warning = f"the saved filter no longer applies ({err}); showing all rows"
            self.query("", "score", True)
        row = state.get("row")
        if row is None:
            return None, warning
        at = state.get("pos")
        if isinstance(at, int) and 0 <= at < self.n_rows and self.ids[at] == str(row):  # the same row as then
            hit = np.flatnonzero(self.view == at)
            return (int(hit[0]) if len(hit) else None), warning
        if self.limit is not None:  # not in its place: look in the list, not in every row
            hit = np.flatnonzero(self.ids[self.view] == str(row))
            return (int(hit[0]) if len(hit) else None), warning
        pos = self.positions_of([row])
        if len(pos) == 0:
            return None, warning
        hit = np.flatnonzero(self.view == pos[0])
        return (int(hit[0]) if len(hit) else None), warning
