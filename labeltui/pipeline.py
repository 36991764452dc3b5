"""Load + score + cache: the one path from a config to a scored model run.

The CLI's headless commands and the TUI both go through here, so they see the
same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from labeltui.cache import cache_key, load_cached, store_cached
from labeltui.config import Config
from labeltui.load import load_run
from labeltui.run import ModelRun

Progress = Callable[[str, float], None]


@dataclass
class Scored:
    """A model run (None when the scores came from the cache alone) and its scores."""

    run: ModelRun | None
    scores: pd.DataFrame
    objects: pd.DataFrame | None
    from_cache: bool


def row_classes(run: ModelRun) -> np.ndarray:
    """Per row, the sorted names of the classes among its GT and predicted
    objects joined by ``|`` (what ``"car" in classes`` filters on)."""
    n_cls = max(len(run.classes), 1)
    ann = run.annotations
    keys = np.unique(ann["row"].to_numpy() * n_cls + ann["class_id"].to_numpy())
    keys = keys[keys >= 0]
    rows, cls = keys // n_cls, keys % n_cls
    names = np.asarray(run.classes, dtype=object)[cls] if len(run.classes) else np.empty(0, dtype=object)
    out = np.full(run.n_rows, "", dtype=object)
    bounds = np.flatnonzero(np.diff(rows)) + 1
    for chunk_rows, chunk_names in zip(np.split(rows, bounds), np.split(names, bounds)):
        if len(chunk_rows):
            out[chunk_rows[0]] = "|".join(sorted(chunk_names))
    return out


def _score(run: ModelRun, config: Config) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from labeltui.engine.score import score_run

    scored = score_run(run, config)
    scores = scored.scores.copy()
    if "global_key" not in scores.columns:
        scores.insert(scores.columns.get_loc("data_row_id") + 1, "global_key", run.rows["global_key"].to_numpy())
    if run.task != "classification" and "classes" not in scores.columns:
        scores.insert(scores.columns.get_loc("label") + 1, "classes", row_classes(run))
    return scores, scored.objects


def scores_for(config: Config, progress: Progress | None = None, *, use_cache: bool = True, need_run: bool = False) -> Scored:
    """Scores for the run the config names, from the cache when inputs and settings are unchanged.

    With ``need_run`` the model run is loaded even on a cache hit (the TUI
    needs annotations for previews).
    """
    key = cache_key(config) if use_cache else ""
    if use_cache:
        if progress:
            progress("checking the score cache", 0.0)
        scores = load_cached(config, key, "scores")
        objects = load_cached(config, key, "objects") if scores is not None else None
        if scores is not None:
            run = load_run(config, progress) if need_run else None
            return Scored(run=run, scores=scores, objects=objects, from_cache=True)
    run = load_run(config, progress)
    if progress:
        progress("scoring", 0.95)
    scores, objects = _score(run, config)
    if use_cache:
        store_cached(config, key, "scores", scores)
        if objects is not None:
            store_cached(config, key, "objects", objects)
    return Scored(run=run, scores=scores, objects=objects, from_cache=False)
