"""The projector's projection: cache hits and misses, precomputed 2-D input, row classes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labeltui.engine.neighbors as neighbors
from labeltui.cache import cache_key
from labeltui.config import load_config
from labeltui.engine.score import row_labels
from labeltui.errors import LoadError
from labeltui.formats.base import make_annotations, make_rows
from labeltui.load import load_run
from labeltui.projection import (
    PRECOMPUTED,
    align,
    cache_name,
    compute_projection,
    projection_for,
    umap_available,
)
from labeltui.run import build_run

DEMO = Path(__file__).resolve().parents[1] / "demo"


@pytest.fixture
def demo(tmp_path):
    shutil.copytree(DEMO / "classification", tmp_path / "classification")
    config = load_config(tmp_path / "classification" / "run.yaml")
    return config, load_run(config)


def _cached_files(config) -> list[Path]:
    return sorted((config.base_dir / ".labeltui-cache").glob("*-projection-*.parquet"))


def test_second_call_hits_the_cache(demo, monkeypatch):
    config, run = demo
    stages: list[str] = []
    first = projection_for(run, config, progress=lambda message, fraction: stages.append(message))
    assert not first.from_cache and first.method == "pca"
    assert first.xy.shape == (1000, 2) and first.xy.dtype == np.float32 and first.n_points == 1000
    assert any(s.startswith("PCA of 1,000 x 32") for s in stages)
    files = _cached_files(config)
    assert [f.name for f in files] == [f"{cache_key(config)}-{cache_name('pca')}.parquet"]

    def no_compute(*args, **kwargs):
        raise AssertionError("recomputed despite a cache entry")

    monkeypatch.setattr(neighbors, "project_2d", no_compute)
    second = projection_for(run, config)
    assert second.from_cache
    np.testing.assert_array_equal(second.xy, first.xy)
    # the caller's key (the pipeline's score cache key) finds the same entry
    assert projection_for(run, config, key=cache_key(config)).from_cache


def test_changed_embeddings_recompute(demo):
    config, run = demo
    first = projection_for(run, config)
    path = config.embeddings.path
    table = pd.read_parquet(path)
    rng = np.random.default_rng(5)
    table["embedding"] = [np.asarray(v) + rng.normal(0, 3.0, len(v)) for v in table["embedding"]]
    table.to_parquet(path, index=False)
    changed = load_run(config)
    second = projection_for(changed, config)
    assert not second.from_cache
    assert not np.allclose(second.xy, first.xy, atol=1e-3)
    np.testing.assert_allclose(second.xy, compute_projection(changed).xy, rtol=1e-5, atol=1e-5)
    assert len(_cached_files(config)) == 2  # one entry per input content


def test_a_cache_entry_for_other_rows_is_ignored(demo):
    config, run = demo
    key = cache_key(config)
    first = projection_for(run, config, key=key)
    path = _cached_files(config)[0]
    table = pd.read_parquet(path)
    table["data_row_id"] = table["data_row_id"].to_numpy()[::-1]
    table.to_parquet(path, index=False)
    again = projection_for(run, config, key=key)
    assert not again.from_cache
    np.testing.assert_array_equal(again.xy, first.xy)


def test_without_a_config_nothing_is_cached(demo):
    config, run = demo
    result = projection_for(run, None)
    assert not result.from_cache and result.n_points == 1000
    assert _cached_files(config) == []


def _tiny_run(embeddings: np.ndarray | None, mask: np.ndarray | None = None):
    n = 4
    ids = [f"r{i}" for i in range(n)]
    rows = make_rows(ids, ids, [""] * n, [10.0] * n, [10.0] * n)
    ann = make_annotations(
        source="gt",
        data_row_id=["r0", "r0", "r0", "r1", "r1", "r2"],
        label=["cat", "dog", "dog", "cat", "dog", "bird"],
        x0=[0.0] * 6,
        y0=[0.0] * 6,
        x1=[1.0] * 6,
        y1=[1.0] * 6,
    )
    pred = make_annotations(
        source="pred", data_row_id=["r3", "r3"], label=["cat", "cat"], x0=[0.0] * 2, y0=[0.0] * 2, x1=[1.0] * 2,
        y1=[1.0] * 2, confidence=[0.9, 0.8],
    )
    return build_run(
        "tiny", "detection", rows, pd.concat([ann, pred], ignore_index=True), embeddings=embeddings, embedding_mask=mask
    )


def test_two_dimensional_embeddings_are_the_projection(tmp_path):
    emb = np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 0.0], [5.0, -1.0]], dtype=np.float32)
    mask = np.array([True, True, False, True])
    run = _tiny_run(emb, mask)
    result = projection_for(run, None)
    assert result.method == PRECOMPUTED and not result.from_cache
    np.testing.assert_array_equal(result.xy[[0, 1, 3]], emb[[0, 1, 3]])
    assert np.isnan(result.xy[2]).all()  # the row without an embedding has no point
    assert result.n_points == 3
    # the run's own projection wins over computing one
    run = _tiny_run(np.ones((4, 8), dtype=np.float32))
    run.projection = np.arange(8, dtype=np.float64).reshape(4, 2)
    assert projection_for(run, None, "umap").method == PRECOMPUTED
    np.testing.assert_array_equal(projection_for(run, None).xy, run.projection.astype(np.float32))


def test_bad_requests_are_load_errors():
    with pytest.raises(LoadError, match="no embeddings"):
        projection_for(_tiny_run(None), None)
    run = _tiny_run(np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32))
    with pytest.raises(LoadError, match="unknown projection method 'tsne'"):
        projection_for(run, None, "tsne")
    if umap_available():
        assert projection_for(run, None, "umap").method == "umap"
    else:
        with pytest.raises(LoadError, match="pip install umap-learn"):
            projection_for(run, None, "umap")


def test_row_labels_majority_of_ground_truth():
    run = _tiny_run(None)
    names = run.classes  # sorted: bird, cat, dog
    classes = row_labels(run)
    # r0: dog x2 beats cat; r1: cat/dog tie -> lower id (cat); r2: bird; r3: predictions only -> none
    assert [names[c] if c >= 0 else None for c in classes] == ["dog", "cat", "bird", None]


def test_row_labels_of_a_classification_run_are_the_given_labels(demo):
    _, run = demo
    np.testing.assert_array_equal(row_labels(run), run.gt_label)


def test_align_reorders_and_fills_missing_rows():
    xy = np.array([[0, 0], [1, 1], [2, 2]], dtype=np.float32)
    run_ids = np.array(["a", "b", "c"], dtype=object)
    assert align(xy, run_ids, run_ids) is xy
    out = align(xy, run_ids, np.array(["c", "x", "a"], dtype=object))
    np.testing.assert_array_equal(out[[0, 2]], xy[[2, 0]])
    assert np.isnan(out[1]).all()
