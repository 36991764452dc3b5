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

NO_VERDICT = -1
VERDICT_CODE = {v: i for i, v in enumerate(VERDICTS)}
REVIEW_COLUMNS = ("verdict", "reviewed", "selected", "noted", "reviewer")
STATE_KEY = "tui"
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
    """

    def __init__(self, config: Config, scored: Scored, store: ReviewStore | None) -> None:
        self.config = config
        self.run = scored.run
        self.scores = scored.scores
        self.objects = scored.objects
        self.store = store
        self.task = config.task
        self.reviewer = store.reviewer if store is not None else (config.reviewer or "")
        n = len(self.scores)
        self.ids = self.scores["data_row_id"].astype(str).to_numpy(dtype=object)
        self._index: pd.Index | None = None
        self.verdict = np.full(n, NO_VERDICT, dtype=np.int8)
        self.selected = np.zeros(n, dtype=bool)
        self.noted = np.zeros(n, dtype=bool)
        self.notes: dict[int, str] = {}
        self.reviewer_names: list[str] = [self.reviewer]
        self.reviewer_code = np.full(n, -1, dtype=np.int32)
        self.filter_expr = ""
        self.sort_key = "score"
        self.descending = True
        self.view = np.arange(n, dtype=np.int64)
        self._rankings: dict[tuple[str, bool], np.ndarray] = {}
        self.presets = presets_for(self.task, self.reviewer, set(self.scores.columns))
        if store is not None:
            self._load_reviews(store.verdicts())

    # ------------------------------------------------------------ lookups
    @property
    def n_rows(self) -> int:
        return len(self.scores)

    @property
    def read_only(self) -> bool:
        return self.store is None or self.store.read_only

    def positions_of(self, ids: list[str]) -> np.ndarray:
        """Row positions of data row ids (ids not in this run are dropped)."""
        if self._index is None:
            self._index = pd.Index(self.ids)
        pos = self._index.get_indexer([str(i) for i in ids])
        return pos[pos >= 0].astype(np.int64)

    def counts(self) -> dict[str, int]:
        """shown, total, reviewed, error, ok, skip, selected."""
        codes = np.bincount(self.verdict.astype(np.int64) + 1, minlength=len(VERDICTS) + 1)
        return {
            "shown": len(self.view),
            "total": self.n_rows,
            "reviewed": int(self.n_rows - codes[0]),
            "error": int(codes[1 + VERDICT_CODE["error"]]),
            "ok": int(codes[1 + VERDICT_CODE["ok"]]),
            "skip": int(codes[1 + VERDICT_CODE["skip"]]),
            "selected": int(self.selected.sum()),
        }

    def verdict_of(self, pos: int) -> str | None:
        code = int(self.verdict[pos])
        return VERDICTS[code] if code >= 0 else None

    # ------------------------------------------------------------ review store
    def _load_reviews(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self._apply_records(*self._locate(frame))

    def _locate(self, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Positions of a review frame's rows, dropping ids this run does not have."""
        if self._index is None:
            self._index = pd.Index(self.ids)
        pos = self._index.get_indexer(frame["data_row_id"].astype(str).tolist())
        keep = pos >= 0
        return pos[keep].astype(np.int64), frame[keep]

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
        self.selected[changed] = selected
        return len(changed)

    def set_note(self, pos: int, note: str) -> None:
        """Replace the note of one row (empty clears it)."""
        note = note.strip()
        self._writable().set_note(str(self.ids[pos]), note)
        self.noted[pos] = bool(note)
        if note:
            self.notes[pos] = note
        else:
            self.notes.pop(pos, None)

    def undo(self) -> np.ndarray:
        """Revert this reviewer's last change; returns the positions that changed."""
        store = self._writable()
        ids = store.undo()
        if not ids:
            return np.zeros(0, dtype=np.int64)
        if len(ids) > 500:
            self.verdict[:] = NO_VERDICT
            self.selected[:] = False
            self.noted[:] = False
            self.notes.clear()
            self._load_reviews(store.verdicts())
            return self.positions_of(ids)
        records = [store.get(i) for i in ids]
        frame = pd.DataFrame(
            [r for r in records if r is not None], columns=["data_row_id", "verdict", "selected", "note", "reviewer"]
        )
        pos, frame = self._locate(frame)
        self._apply_records(pos, frame)
        return pos

    # ------------------------------------------------------------ filter and sort
    def column_dtypes(self) -> dict[str, Any]:
        """Every filterable column and its dtype (score columns + review columns)."""
        dtypes: dict[str, Any] = {str(k): v for k, v in self.scores.dtypes.items()}
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
        return self.scores[name]

    def _table(self, columns: set[str] | frozenset[str]) -> pd.DataFrame:
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
            view = sort_view(self._table({name}), view, name, descending)
        elif name in self.scores.columns:  # scores never change: keep the full ranking per sort
            view = self._rankings.get((name, descending))
            if view is None:
                view = sort_view(self.scores, np.arange(self.n_rows, dtype=np.int64), name, descending)
                self._rankings = {(name, descending): view}
        else:
            view = sort_view(self._table({name}), np.arange(self.n_rows, dtype=np.int64), name, descending)
        self.filter_expr, self.sort_key, self.descending, self.view = expression.strip(), name, descending, view
        return view

    # ------------------------------------------------------------ resume
    def ui_state(self, cursor_row: int | None) -> dict[str, Any]:
        """Filter, sort and the cursor's data row: what :meth:`save_state` stores."""
        return {
            "filter": self.filter_expr,
            "sort": self.sort_key,
            "descending": self.descending,
            "row": str(self.ids[cursor_row]) if cursor_row is not None and cursor_row >= 0 else None,
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
        pos = self.positions_of([row])
        if len(pos) == 0:
            return None, warning
        hit = np.flatnonzero(self.view == pos[0])
        return (int(hit[0]) if len(hit) else None), warning
