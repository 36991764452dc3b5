"""The projector's UMAP path, for real (umap-learn comes with the test extra).

One UMAP of the classification demo (1,000 x 32) is computed for the module:
the first UMAP call in a process spends ~25 s compiling umap's numba code,
later ones take ~3 s.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import umap  # noqa: F401  (the path under test needs it: installed by the test extra)

import labeltui.engine.neighbors as neighbors
from labeltui.cache import cache_key
from labeltui.config import load_config
from labeltui.demo import load_planted
from labeltui.load import load_run
from labeltui.engine.score import row_labels
from labeltui.projection import cache_name, compute_projection, projection_for, umap_available

DEMO = Path(__file__).resolve().parents[1] / "demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(config, run, UMAP projection, progress messages) of a copy of the classification demo."""
    folder = tmp_path_factory.mktemp("umap") / "classification"
    shutil.copytree(DEMO / "classification", folder)
    config = load_config(folder / "run.yaml")
    run = load_run(config)
    stages: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # umap: "n_jobs overridden by setting random_state"
        result = projection_for(run, config, "umap", progress=lambda message, fraction: stages.append(message))
    return config, run, result, stages


def knn_classes(xy: np.ndarray, k: int = 10) -> np.ndarray:
    """For each point, the rows of its ``k`` nearest other points (Euclidean)."""
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1)[:, :k]


def test_umap_projection_is_two_dimensional_finite_and_cached(demo, monkeypatch):
    config, run, result, stages = demo
    assert umap_available()
    assert result.method == "umap" and not result.from_cache
    assert result.xy.shape == (1000, 2) and result.xy.dtype == np.float32
    assert np.isfinite(result.xy).all() and result.n_points == 1000
    assert result.xy.std(axis=0).min() > 0.5  # spread out, not collapsed onto a point or a line
    assert any(s.startswith("UMAP of 1,000 x 32") and "compiles umap" in s for s in stages)  # the wait is explained
    cached = config.base_dir / ".labeltui-cache" / f"{cache_key(config)}-{cache_name('umap')}.parquet"
    assert cached.exists()

    def no_compute(*args, **kwargs):
        raise AssertionError("recomputed despite a cache entry")

    monkeypatch.setattr(neighbors, "project_2d", no_compute)
    again = projection_for(run, config, "umap")
    assert again.from_cache and again.method == "umap"
    np.testing.assert_array_equal(again.xy, result.xy)
    with pytest.raises(AssertionError, match="recomputed"):  # PCA has an entry of its own, not this one
        projection_for(run, config, "pca")


def test_umap_keeps_the_classes_apart_better_than_pca(demo):
    _, run, result, _ = demo
    cls = row_labels(run)
    pca = compute_projection(run, "pca").xy

    def agreement(xy: np.ndarray) -> float:
        return float((cls[knn_classes(xy.astype(np.float64))] == cls[:, None]).mean())

    # in the 32-d embedding space (cosine) the 10-NN class agreement is 0.966; UMAP keeps it, PCA loses a lot
    assert agreement(result.xy) >= 0.93
    assert agreement(result.xy) >= agreement(pca) + 0.08


def test_planted_mislabels_sit_inside_their_true_class_cluster(demo):
    config, run, result, _ = demo
    planted = load_planted(config.base_dir / "run.yaml")["mistakes"]
    assert len(planted) == 12
    ids = run.rows["data_row_id"].astype(str).tolist()
    cls = row_labels(run)
    near = knn_classes(result.xy.astype(np.float64))
    inside = 0
    for mistake in planted:
        row = ids.index(mistake["data_row_id"])
        assert run.classes[cls[row]] == mistake["label"]  # the given (wrong) label colors the point
        votes = np.bincount(cls[near[row]], minlength=len(run.classes))
        inside += run.classes[int(votes.argmax())] == mistake["true_label"]
    assert inside >= 11  # a point of one color inside another color's cluster: what the projector is for


def test_rows_without_an_embedding_have_no_point(demo):
    _, run, _, _ = demo
    emb = run.embeddings[:300].copy()
    mask = np.ones(300, dtype=bool)
    mask[[0, 5]] = False
    emb[7] = np.nan  # a broken vector: no point either
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        xy = neighbors.project_2d(emb, mask, "umap")
    assert xy.shape == (300, 2) and np.isnan(xy[[0, 5, 7]]).all()
    assert np.isfinite(np.delete(xy, [0, 5, 7], axis=0)).all()
