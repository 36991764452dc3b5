"""Load + score + cache: the one path from a config to a scored model run.

The CLI's headless commands and the TUI both go through here, so they see the
same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from labeltui.cache import cache_key, load_cached, store_cached
from labeltui.config import Config
from labeltui.errors import LoadError
from labeltui.load import load_run
from labeltui.run import ModelRun

if TYPE_CHECKING:
    from labeltui.scores_dir import ScoresDir, ShardRows

Progress = Callable[[str, float], None]
#: Reads what the scores table alone does not hold: the model run and the objects table.
RestLoader = Callable[[Progress | None], tuple[ModelRun, "pd.DataFrame | None"]]


@dataclass
class Scored:
    """A model run (None when the scores came from the cache alone) and its scores.

    When ``run`` is None, ``rest`` (if set) reads the run and the objects table
    later (the app does it in the background); ``source`` is the scores folder
    the table's columns came from (more load on demand) and ``rows`` reads a
    few rows' annotations at a time for previews (a scores folder over a
    sharded run). ``warnings`` say what is unavailable and why.
    """

    run: ModelRun | None
    scores: pd.DataFrame
    objects: pd.DataFrame | None
    from_cache: bool
    rest: RestLoader | None = None
    source: ScoresDir | None = None
    rows: ShardRows | None = None
    warnings: list[str] = field(default_factory=list)
    ranking: np.ndarray | None = None  # row positions by score, most suspicious first (the app's first list)


def _score(run: ModelRun, config: Config) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from labeltui.engine.score import score_run
    from labeltui.score_output import scores_table

    scored = score_run(run, config)
    return scores_table(run, scored), scored.objects


def scores_for(
    config: Config, progress: Progress | None = None, *, use_cache: bool = True, need_run: bool = False, defer_run: bool = False
) -> Scored:
    """Scores for the run the config names, from the cache when inputs and settings are unchanged.

    With ``need_run`` the model run is loaded even on a cache hit. With
    ``defer_run`` a cache hit reads the scores table alone and ``Scored.rest``
    reads the run and the objects table when called (the TUI shows the list
    first and loads those in the background).
    """
    key = cache_key(config) if use_cache else ""
    if use_cache:
        if progress:
            progress("checking the score cache", 0.0)
        scores = load_cached(config, key, "scores")
        if scores is not None and progress:
            progress(f"read {len(scores):,} cached scores", 0.5)
        if scores is not None and defer_run and not need_run:

            def rest(progress: Progress | None = None) -> tuple[ModelRun, pd.DataFrame | None]:
                return load_run(config, progress), load_cached(config, key, "objects")

            ranking = load_cached(config, key, "ranking")
            if ranking is None or len(ranking) != len(scores):
                ranking = _store_ranking(config, key, scores)
            else:
                ranking = ranking["row"].to_numpy(dtype=np.int64)
            return Scored(run=None, scores=scores, objects=None, from_cache=True, rest=rest, ranking=ranking)
        objects = load_cached(config, key, "objects") if scores is not None else None
        if scores is not None:
            run = load_run(config, progress) if need_run else None
            return Scored(run=run, scores=scores, objects=objects, from_cache=True)
    run = load_run(config, progress)
    if progress:
        progress("scoring", 0.95)
    scores, objects = _score(run, config)
    ranking = None
    if use_cache:
        store_cached(config, key, "scores", scores)
        if objects is not None:
            store_cached(config, key, "objects", objects)
        ranking = _store_ranking(config, key, scores)
    return Scored(run=run, scores=scores, objects=objects, from_cache=False, ranking=ranking)


def _store_ranking(config: Config, key: str, scores: pd.DataFrame) -> np.ndarray:
    """The list's first order (score, most suspicious first), cached with the scores: reading
    it back is faster than sorting a million rows again when the app opens."""
    from labeltui.engine.query import sort_view

    ranking = sort_view(scores, np.arange(len(scores), dtype=np.int64), "score", True)
    store_cached(config, key, "ranking", pd.DataFrame({"row": ranking}))
    return ranking


def open_scores_dir(folder: str | Path, progress: Progress | None = None) -> tuple[Config, Scored]:
    """A scores folder (``labeltui score -o``) ready for review: the run's config (its
    review store and export folder) and the columns of the list; previews read the
    run later (``Scored.rest``) or a few rows at a time from a sharded run (``Scored.rows``)."""
    from labeltui.scores_dir import LIST_COLUMNS, ScoresDir, ShardRows, load_rest, run_config

    source = ScoresDir(folder)
    for name in ("data_row_id", "score"):
        if name not in source.kinds:
            raise LoadError(f"the score parts have no {name!r} column; re-run labeltui score", path=source.parts[0].scores)
    config, problem = run_config(source)
    warnings = [problem] if problem else []
    columns = [c for c in LIST_COLUMNS[source.task] if c in source.kinds]
    table = pd.DataFrame(source.read_columns(columns, progress), copy=False)
    scored = Scored(run=None, scores=table, objects=None, from_cache=True, source=source, warnings=warnings)
    if problem is None and config.ground_truth.format == "shards":
        try:
            scored.rows = ShardRows(config.ground_truth.path, source)
        except LoadError as err:
            warnings.append(f"previews are off: {err}")
    elif problem is None:
        scored.rest = lambda progress=None: load_rest(config, source, progress)
    return config, scored
