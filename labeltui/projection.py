"""The projector's 2-D embedding projection: computed once per run and method, cached.

``projection_for`` returns one (x, y) per data row of the run:

- the run's own projection (``ModelRun.projection``) or, when the embeddings
  are already 2-D, the embeddings themselves (``method == "precomputed"``);
- otherwise ``engine.neighbors.project_2d``: PCA (numpy, the default) or UMAP
  (the optional ``umap-learn`` package).

Computed projections are cached as Parquet beside the score cache, named by
the score cache key (a hash of every input file, the settings and the engine
code) and the method, so an unchanged run reopens its picture at once and
changed embeddings recompute. A row's point is colored by its class
(``labeltui.engine.score.row_labels``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from labeltui.cache import cache_key, load_cached, store_cached
from labeltui.config import Config
from labeltui.errors import LoadError
from labeltui.run import ModelRun

METHODS = ("pca", "umap")
PRECOMPUTED = "precomputed"
CACHE_VERSION = 1  # bump when the cached table's layout or the projection code changes

Progress = Callable[[str, float], None]


@dataclass
class Projection:
    """(x, y) per row of the run (float32 ``n x 2``, NaN where a row has no
    embedding), how it was made and whether it came from the cache."""

    xy: np.ndarray
    method: str
    from_cache: bool = False

    @property
    def n_points(self) -> int:
        """Rows with a finite position."""
        return int(np.isfinite(self.xy).all(axis=1).sum())


def umap_available() -> bool:
    """True when the optional ``umap-learn`` package is importable."""
    return importlib.util.find_spec("umap") is not None


def cache_name(method: str) -> str:
    """The cache table name of a method's projection (paired with the score cache key)."""
    return f"projection-{method}-v{CACHE_VERSION}"


def precomputed(run: ModelRun) -> np.ndarray | None:
    """The run's own 2-D projection, or its embeddings when they are 2-D (NaN
    where a row has none); None when the projection must be computed."""
    n = run.n_rows
    mask = run.embedding_mask if run.embedding_mask is not None else np.ones(n, dtype=bool)
    source = None
    if run.projection is not None and np.shape(run.projection) == (n, 2):
        source = run.projection
    elif run.embeddings is not None and run.embeddings.ndim == 2 and run.embeddings.shape[1] == 2:
        source = run.embeddings
    if source is None:
        return None
    xy = np.array(source, dtype=np.float32)
    xy[~np.asarray(mask, dtype=bool)] = np.nan
    return xy


def _check(run: ModelRun, method: str) -> None:
    if run.embeddings is None:
        raise LoadError("the run has no embeddings; add an embeddings source to the config", field="embeddings")
    if method not in METHODS:
        raise LoadError(f"unknown projection method {method!r}; use one of: {', '.join(METHODS)}", field="projection")


def compute_projection(run: ModelRun, method: str = "pca") -> Projection:
    """Project the run's embeddings to 2-D (no cache). LoadError when the run
    has no embeddings or the method is unknown or not installed."""
    given = precomputed(run)
    if given is not None:
        return Projection(given, PRECOMPUTED)
    _check(run, method)
    from labeltui.engine.neighbors import project_2d

    xy = project_2d(run.embeddings, run.embedding_mask, method)
    return Projection(np.asarray(xy, dtype=np.float32), method)


def _from_table(table: pd.DataFrame, run: ModelRun) -> np.ndarray | None:
    """The cached (x, y) if the table matches the run's rows, else None."""
    if list(table.columns) != ["data_row_id", "x", "y"] or len(table) != run.n_rows:
        return None
    ids = table["data_row_id"].to_numpy(dtype=object)
    if not np.array_equal(ids, run.rows["data_row_id"].to_numpy(dtype=object)):
        return None
    return np.column_stack([table["x"].to_numpy(np.float32), table["y"].to_numpy(np.float32)])


def projection_for(
    run: ModelRun,
    config: Config | None = None,
    method: str = "pca",
    *,
    key: str | None = None,
    progress: Progress | None = None,
) -> Projection:
    """The run's 2-D projection: precomputed when the input has one, else from
    the cache (``config`` given) or computed and stored there.

    ``key`` is the score cache key when the caller has it (else it is computed
    from ``config``, which hashes the inputs); ``progress(message, fraction)``
    hears each stage.
    """
    say = progress or (lambda message, fraction: None)
    given = precomputed(run)
    if given is not None:
        say("using the input's 2-D projection", 1.0)
        return Projection(given, PRECOMPUTED)
    _check(run, method)
    if config is not None:
        if key is None:
            say("hashing the inputs (cache key)", 0.0)
            key = cache_key(config)
        say("checking the projection cache", 0.05)
        table = load_cached(config, key, cache_name(method))
        xy = _from_table(table, run) if table is not None else None
        if xy is not None:
            say("projection from the cache", 1.0)
            return Projection(xy, method, from_cache=True)
    n, d = run.embeddings.shape
    # umap-learn compiles its numba code on its first call in a process: ~25 s on 2 cores
    note = " (the first UMAP of a session also compiles umap: ~30 s)" if method == "umap" else ""
    say(f"{method.upper()} of {n:,} x {d} embeddings{note}", 0.1)
    result = compute_projection(run, method)
    if config is not None and key is not None:
        say("writing the projection cache", 0.95)
        table = pd.DataFrame(
            {"data_row_id": run.rows["data_row_id"].to_numpy(dtype=object), "x": result.xy[:, 0], "y": result.xy[:, 1]}
        )
        store_cached(config, key, cache_name(method), table)
    say("projection ready", 1.0)
    return result


def align(xy: np.ndarray, run_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``xy`` (aligned to ``run_ids``) reordered to ``ids``; rows not in the run get NaN."""
    run_ids = np.asarray(run_ids, dtype=object)
    ids = np.asarray(ids, dtype=object)
    if len(run_ids) == len(ids) and np.array_equal(run_ids, ids):
        return xy
    pos = pd.Index(run_ids.astype(str)).get_indexer(ids.astype(str))
    out = np.full((len(ids), 2), np.nan, dtype=np.float32)
    out[pos >= 0] = xy[pos[pos >= 0]]
    return out
