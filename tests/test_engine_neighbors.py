"""kNN label disagreement and the 2-D projection: exact neighbours against brute
force, planted outliers ranked first, masks and degenerate inputs, PCA against
scikit-learn."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from labeltui.engine.neighbors import _pca_components, knn_disagreement, knn_neighbors, project_2d
from labeltui.errors import LoadError


def brute_force(x: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """float64 cosine similarity with self and unusable rows at -inf."""
    xn = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    s = xn @ xn.T
    np.fill_diagonal(s, -np.inf)
    s[:, ~usable] = -np.inf
    return s


@pytest.mark.parametrize(
    "n, d, k, block",
    [
        (40, 8, 5, 2048),  # fewer rows than the pilot: one exact pass
        (1500, 16, 10, 256),  # many tiles, pilot + running thresholds
        (1500, 16, 60, 300),  # large k: a bigger pilot and ragged blocks
        (900, 3, 1, 256),  # low dimension: many near-ties
    ],
)
def test_neighbours_match_brute_force(n: int, d: int, k: int, block: int) -> None:
    rng = np.random.default_rng(n + d + k)
    x = rng.standard_normal((n, d)).astype(np.float32)
    mask = rng.random(n) > 0.15
    idx, sims = knn_neighbors(x, mask, k, block=block)
    assert idx.shape == sims.shape == (n, k)
    assert idx.dtype == np.int64 and sims.dtype == np.float32
    ref = brute_force(x, mask)
    for i in np.flatnonzero(mask):
        order = np.argsort(-ref[i], kind="stable")
        kth, nxt = ref[i, order[k - 1]], ref[i, order[k]]
        np.testing.assert_allclose(sims[i], ref[i, idx[i]], atol=1e-5)
        assert np.all(np.diff(sims[i]) <= 1e-7)  # sorted, most similar first
        if kth - nxt > 1e-5:  # ties aside, exactly the same neighbour set
            assert set(idx[i]) == set(order[:k]), i
        else:
            assert np.all(ref[i, idx[i]] >= kth - 1e-5)
    assert np.all(idx[~mask] == -1) and np.all(np.isnan(sims[~mask]))
    used = idx[mask]
    assert mask[used].all()  # masked rows are nobody's neighbour
    assert not np.any(used == np.flatnonzero(mask)[:, None])  # never itself


def test_unusable_embeddings_and_small_inputs() -> None:
    x = np.array([[1, 0], [np.nan, 1], [0, 0], [0.9, 0.1], [0, 1], [np.inf, 0]], dtype=np.float32)
    idx, sims = knn_neighbors(x, None, k=10)
    assert idx.shape == (6, 2)  # 3 usable rows: each has the other two
    assert idx[0].tolist() == [3, 4] and idx[3].tolist() == [0, 4] and idx[4].tolist() == [3, 0]
    assert np.all(idx[[1, 2, 5]] == -1)
    one = knn_neighbors(x, np.array([1, 0, 0, 0, 0, 0], dtype=bool), k=3)
    assert one[0].shape == (6, 0)
    out = knn_disagreement(x, np.array([0, 0, 1, 1, 0, 1]), k=3)
    assert np.isnan(out[[1, 2, 5]]).all()
    assert out[[0, 3, 4]].tolist() == [0.5, 1.0, 0.5]  # 3 (label 1) sees 0 and 4 (label 0)
    empty = knn_disagreement(np.zeros((0, 4), np.float32), np.zeros(0, dtype=int))
    assert empty.shape == (0,)
    with pytest.raises(ValueError):
        knn_neighbors(x, None, k=0)


def test_identical_embeddings_still_get_k_distinct_neighbours() -> None:
    x = np.ones((700, 4), dtype=np.float32)
    idx, sims = knn_neighbors(x, None, k=5, block=256)
    assert idx.shape == (700, 5)
    assert np.all(idx >= 0) and np.all(idx != np.arange(700)[:, None])
    assert all(len(set(row)) == 5 for row in idx.tolist())
    np.testing.assert_allclose(sims, 1.0, atol=1e-6)


def clusters(rng: np.random.Generator, n_per: int, n_classes: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.standard_normal((n_classes, d)) * 4
    labels = np.repeat(np.arange(n_classes), n_per)
    x = centres[labels] + rng.standard_normal((len(labels), d))
    return x.astype(np.float32), labels


def test_planted_outliers_have_the_highest_disagreement() -> None:
    rng = np.random.default_rng(7)
    x, labels = clusters(rng, 300, 5, 24)
    noisy = labels.copy()
    planted = rng.choice(len(labels), 25, replace=False)
    noisy[planted] = (labels[planted] + rng.integers(1, 5, len(planted))) % 5  # flipped labels
    for weighted in (False, True):
        out = knn_disagreement(x, noisy, k=10, weighted=weighted)
        assert out.dtype == np.float64 and np.all((out >= 0) & (out <= 1))
        top = np.argsort(-out, kind="stable")[: len(planted)]
        assert set(top) == set(planted)
        assert out[planted].min() >= 0.7  # a neighbour may be another planted row
        clean = np.setdiff1d(np.arange(len(labels)), planted)
        assert np.median(out[clean]) == 0.0


def test_rows_without_a_label_are_nan_and_no_neighbour() -> None:
    rng = np.random.default_rng(2)
    x, labels = clusters(rng, 100, 3, 8)
    labels = labels.copy()
    labels[:50] = -1
    mask = np.ones(len(labels), dtype=bool)
    mask[150:160] = False
    out = knn_disagreement(x, labels, mask, k=5)
    assert np.isnan(out[:50]).all() and np.isnan(out[150:160]).all()
    assert not np.isnan(out[50:150]).any() and not np.isnan(out[160:]).any()
    # the same as dropping those rows altogether
    keep = (labels >= 0) & mask
    alone = knn_disagreement(x[keep], labels[keep], k=5)
    np.testing.assert_allclose(out[keep], alone)


def test_weighted_disagreement_by_hand() -> None:
    # row 0's neighbours: row 1 (cos 0.8, label 1) and row 2 (cos 0.6, label 0)
    x = np.array([[1, 0], [0.8, 0.6], [0.6, -0.8]], dtype=np.float32)
    labels = np.array([0, 1, 0])
    plain = knn_disagreement(x, labels, k=2)
    weighted = knn_disagreement(x, labels, k=2, weighted=True)
    assert plain[0] == pytest.approx(0.5)
    assert weighted[0] == pytest.approx(0.8 / 1.4, rel=1e-5)
    # row 2's neighbours have cos 0.6 (row 0) and 0 (row 1, clipped weight 0)
    assert weighted[2] == pytest.approx(0.0, abs=1e-6)
    # all-zero weights fall back to the plain fraction
    orth = np.array([[1, 0], [0, 1]], dtype=np.float32)
    assert knn_disagreement(orth, np.array([0, 1]), k=1, weighted=True).tolist() == [1.0, 1.0]


def test_neighbours_are_deterministic() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((800, 12)).astype(np.float32)
    a = knn_neighbors(x, None, 7, block=256)
    b = knn_neighbors(x, None, 7, block=256)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


# --------------------------------------------------------------------------- projection


def anisotropic(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Two clearly dominant directions, so the components are well defined."""
    scales = np.concatenate(([6.0, 4.0], np.linspace(1.5, 0.3, d - 2)))
    return (rng.standard_normal((n, d)) * scales + rng.standard_normal(d) * 3).astype(np.float32)


def test_pca_matches_sklearn_up_to_sign() -> None:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(11)
    x = anisotropic(rng, 2000, 40)
    ours = project_2d(x)
    assert ours.shape == (2000, 2) and ours.dtype == np.float32
    ref = PCA(n_components=2, svd_solver="full").fit_transform(x.astype(np.float64))
    for c in range(2):
        sign = np.sign(ours[:, c] @ ref[:, c])
        np.testing.assert_allclose(ours[:, c] * sign, ref[:, c], atol=2e-3 * np.abs(ref[:, c]).max())


def test_randomized_pca_agrees_with_the_exact_one() -> None:
    rng = np.random.default_rng(12)
    x = anisotropic(rng, 1500, 60)
    mean = x.mean(axis=0, dtype=np.float64)
    exact = _pca_components(x, mean, 2, seed=0, exact=True)
    randomized = _pca_components(x, mean, 2, seed=0, exact=False)
    np.testing.assert_allclose(randomized, exact, atol=1e-4)  # same signs: the largest loading is positive


def test_pca_sign_is_fixed_and_masked_rows_are_nan() -> None:
    rng = np.random.default_rng(13)
    x = anisotropic(rng, 500, 10)
    comps = _pca_components(x, x.mean(axis=0, dtype=np.float64), 2, seed=0)
    assert np.all(comps[np.argmax(np.abs(comps), axis=0), [0, 1]] > 0)
    x[3] = np.nan
    mask = np.ones(500, dtype=bool)
    mask[10:20] = False
    out = project_2d(x, mask)
    assert np.isnan(out[3]).all() and np.isnan(out[10:20]).all()
    keep = mask & np.isfinite(x).all(axis=1)
    assert not np.isnan(out[keep]).any()
    np.testing.assert_allclose(out[keep], project_2d(x[keep]), atol=1e-4)  # bad rows do not move the fit
    np.testing.assert_array_equal(project_2d(x, mask), out)  # deterministic


def test_projection_degenerate_inputs() -> None:
    assert np.isnan(project_2d(np.full((3, 4), np.nan, dtype=np.float32))).all()
    single = project_2d(np.array([[1.0, 2.0], [np.nan, 0]], dtype=np.float32))
    assert single[0].tolist() == [0.0, 0.0] and np.isnan(single[1]).all()
    line = project_2d(np.array([[1.0], [2.0], [4.0]], dtype=np.float32))  # one dimension
    assert line[:, 1].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(line[:, 0], [-4 / 3, -1 / 3, 5 / 3], rtol=1e-5)


def test_umap_without_the_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "umap", None)  # makes "import umap" fail
    x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    with pytest.raises(LoadError, match="pip install umap-learn"):
        project_2d(x, method="umap")
    with pytest.raises(LoadError, match="unknown projection method 'tsne'"):
        project_2d(x, method="tsne")


def test_pca_fitted_on_a_sample_of_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from labeltui.engine import neighbors

    rng = np.random.default_rng(14)
    x = anisotropic(rng, 4000, 12)
    full = project_2d(x)
    monkeypatch.setattr(neighbors, "PCA_FIT_ROWS", 800)
    sampled = project_2d(x)
    for c in range(2):
        assert abs(np.corrcoef(full[:, c], sampled[:, c])[0, 1]) > 0.99
    np.testing.assert_array_equal(project_2d(x), sampled)  # the sample is seeded
