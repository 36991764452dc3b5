"""Embedding neighbours: kNN label disagreement per row, and a 2-D projection.

kNN (cosine similarity, exact): rows are L2-normalised and compared with
blockwise float32 matrix products. Each pair of row blocks is multiplied once
(the similarity matrix is symmetric) and serves both blocks; every row keeps
a running top-k whose k-th similarity is a threshold, so only the few tile
entries above it are ever looked at (no per-row argpartition over all rows).
While BLAS multiplies the next tile, a worker thread scans the previous one.
Memory stays bounded by two ``block x block`` float32 tiles (2 x 64 MB at the
default block of 4096 rows) whatever the number of rows. A row is never its
own neighbour; rows outside ``mask`` (or with no label, or no usable
embedding: NaN, inf, all zeros) get no neighbours and are nobody's neighbour.
Ties in similarity are broken arbitrarily.

The cost is that of the products, n^2 d flops for n rows of d dims (half of
the full similarity matrix): about 18 s for 100k x 256 at 140 GFLOPS.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from labeltui.errors import LoadError

__all__ = ["knn_neighbors", "knn_disagreement", "project_2d"]

PILOT_MIN = 256  # rows of the pilot pass that seeds every row's top-k
PCA_EXACT_MAX_DIM = 2048  # above this, PCA uses randomized subspace iteration
PCA_FIT_ROWS = 32_768  # PCA directions come from at most this many (random) rows


def _usable_rows(embeddings: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Rows inside ``mask`` whose embedding is finite and not all zeros."""
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D matrix, got shape {embeddings.shape}")
    n = len(embeddings)
    ok = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).copy()
    if ok.shape != (n,):
        raise ValueError(f"mask has shape {ok.shape}, expected ({n},)")
    finite = np.isfinite(embeddings).all(axis=1)
    ok &= finite
    sq = np.einsum("ij,ij->i", embeddings, embeddings, dtype=np.float64)
    ok &= sq > 0
    return ok


def _normalised(embeddings: np.ndarray, rows: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings[rows], dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    return np.ascontiguousarray(x / norms[:, None].astype(np.float32))


def _best_per_row(rows: np.ndarray, nbrs: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """The k most similar (neighbour, similarity) of each row among candidate triples,
    every row having at least k: (rows (sorted, each k times), nbrs, sims)."""
    base = rows.min()
    # one float64 key orders by row, then by descending similarity (in [-1, 1])
    order = np.argsort((rows - base) * 4.0 + (1.0 - sims.astype(np.float64)))
    r, n, v = rows[order], nbrs[order], sims[order]
    first = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1])))
    rank = np.arange(len(r)) - np.repeat(first, np.diff(np.append(first, len(r))))
    keep = rank < k
    return r[keep], n[keep], v[keep]


class _TopK:
    """Running top-k (similarity, neighbour) per row, sorted by descending similarity."""

    def __init__(self, vals: np.ndarray, idx: np.ndarray) -> None:
        self.vals, self.idx = vals, idx
        self.k = vals.shape[1]
        self.threshold = vals[:, -1].copy()

    def merge(self, rows: np.ndarray, nbrs: np.ndarray, sims: np.ndarray) -> None:
        """Offer candidate (row, neighbour, similarity) triples; each pair is offered once."""
        if len(rows) == 0:
            return
        k = self.k
        touched = np.unique(rows)
        _, n, v = _best_per_row(
            np.concatenate((np.repeat(touched, k), rows)),
            np.concatenate((self.idx[touched].ravel(), nbrs)),
            np.concatenate((self.vals[touched].ravel(), sims)),
            k,
        )
        self.vals[touched] = v.reshape(-1, k)
        self.idx[touched] = n.reshape(-1, k)
        self.threshold[touched] = self.vals[touched, -1]


def _group_bound(s: np.ndarray, k: int, axis: int) -> np.ndarray | None:
    """A lower bound, per row (axis=1) or column (axis=0) of tile ``s``, on the
    k-th largest entry, just below it so that ``>`` keeps entries equal to it.

    The entries are split into g >= 4k groups; the k-th largest group maximum
    is at most the k-th largest entry. None when the tile is too small.
    """
    g = 64 if 4 * k <= 64 else 4 * k
    length = s.shape[axis]
    if length < 2 * g:
        return None
    cut = length - length % g
    if axis == 1:
        maxima = s[:, :cut].reshape(len(s), cut // g, g).max(axis=1)
    else:
        maxima = s[:cut].reshape(cut // g, g, s.shape[1]).max(axis=0).T
    bound = np.partition(maxima, g - k, axis=1)[:, g - k]
    return np.nextafter(bound, np.float32(-np.inf))


def _pilot(x: np.ndarray, k: int, m: int, block: int) -> _TopK:
    """Exact top-k of every row among the first ``m`` rows (self excluded)."""
    n = len(x)
    vals = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    pilot_t = np.ascontiguousarray(x[:m].T)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        s = x[r0:r1] @ pilot_t
        own = np.arange(r0, min(r1, m))
        s[own - r0, own] = -np.inf
        kth = np.partition(s, m - k, axis=1)[:, m - k]
        f = np.flatnonzero(s >= kth[:, None])
        _, n_best, v_best = _best_per_row(f // m, f % m, s.ravel()[f], k)
        vals[r0:r1] = v_best.reshape(-1, k)
        idx[r0:r1] = n_best.reshape(-1, k)
    return _TopK(vals, idx)


def _exact_topk(x: np.ndarray, k: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k cosine neighbours of every row of unit-norm ``x`` among the others.

    A pilot pass against the first ``m`` rows (``x`` is randomly ordered, so
    they are a random sample) gives every row k neighbours and a threshold;
    then every pair of row blocks is multiplied once and only entries above a
    row's current k-th similarity become candidates. Pilot pairs are skipped
    in the tiles so that every (row, neighbour) pair is offered exactly once.
    Candidates wait per row block and are merged in batches (thresholds that
    lag behind only let a few more candidates through).
    """
    n = len(x)
    m = min(n, max(PILOT_MIN, 4 * (k + 1)))
    block = max(block, m)
    top = _pilot(x, k, m, block)
    if m == n:
        return top.vals, top.idx
    n_blocks = -(-n // block)
    pending: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(n_blocks)]
    waiting = np.zeros(n_blocks, dtype=np.int64)
    limit = k * block // 2  # ~k/2 waiting candidates a row

    def flush(b: int) -> None:
        if pending[b]:
            rows, nbrs, sims = (np.concatenate(parts) for parts in zip(*pending[b]))
            top.merge(rows, nbrs, sims)
            pending[b], waiting[b] = [], 0

    def offer(b: int, rows: np.ndarray, nbrs: np.ndarray, sims: np.ndarray) -> None:
        pending[b].append((rows, nbrs, sims))
        waiting[b] += len(rows)
        if waiting[b] >= limit:
            flush(b)

    hits = np.empty(block * block, dtype=bool)

    def scan(s: np.ndarray, bi: int, i0: int, bj: int, j0: int) -> None:
        """Offer the entries of tile (block bi x block bj) above the rows' thresholds."""
        h, w = s.shape
        mask = hits[: h * w].reshape(h, w)
        if i0 == j0:
            np.fill_diagonal(s, -np.inf)
        if j0 == 0:
            s[:, :m] = -np.inf  # pilot neighbours: already offered
        # row side: rows of block i, neighbours in block j
        thr = top.threshold[i0 : i0 + h]
        if i0 == 0:  # the first tiles: tighten the pilot's loose thresholds
            bound = _group_bound(s, k, axis=1)
            thr = thr if bound is None else np.maximum(thr, bound)
        np.greater(s, thr[:, None], out=mask)
        f = np.flatnonzero(hits[: h * w])
        offer(bi, f // w + i0, f % w + j0, s.ravel()[f])
        if i0 != j0:  # column side: rows of block j, neighbours in block i
            thr = top.threshold[j0 : j0 + w]
            if i0 == 0:
                s[:m] = -np.inf
                bound = _group_bound(s, k, axis=0)
                thr = thr if bound is None else np.maximum(thr, bound)
            np.greater(s.T, thr[:, None], out=mask.T)  # this layout is the fast one
            f = np.flatnonzero(hits[: h * w])
            offer(bj, f % w + j0, f // w + i0, s.ravel()[f])
        if j0 + w == n:  # block bi has met every block
            flush(bi)

    # The products of the next tile run (BLAS, without the GIL) while a worker
    # thread scans the previous one; scans run one at a time, in tile order.
    tiles = np.empty((2, block * block), dtype=np.float32)
    with ThreadPoolExecutor(max_workers=1) as worker:
        scanning = None
        t = 0
        for bi, i0 in enumerate(range(0, n, block)):
            i1 = min(n, i0 + block)
            for bj, j0 in enumerate(range(i0, n, block), start=bi):
                j1 = min(n, j0 + block)
                s = tiles[t % 2, : (i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
                np.matmul(x[i0:i1], x[j0:j1].T, out=s)
                if scanning is not None:
                    scanning.result()
                scanning = worker.submit(scan, s, bi, i0, bj, j0)
                t += 1
        if scanning is not None:
            scanning.result()
    return top.vals, top.idx


def knn_neighbors(
    embeddings: np.ndarray,
    mask: np.ndarray | None = None,
    k: int = 10,
    *,
    block: int = 4096,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k nearest neighbours of every usable row.

    Returns ``(indices, similarities)``, each ``n x k'`` with
    ``k' = min(k, usable rows - 1)`` (0 when fewer than two rows are usable),
    sorted by descending similarity; ``indices`` are row positions (int64,
    -1 for unusable rows), ``similarities`` float32 (NaN for unusable rows).
    Rows outside ``mask`` or without a finite, non-zero embedding are unusable.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    emb = np.asarray(embeddings)
    usable = np.flatnonzero(_usable_rows(emb, mask))
    n, nv = len(emb), len(usable)
    kk = max(0, min(k, nv - 1))
    indices = np.full((n, kk), -1, dtype=np.int64)
    sims = np.full((n, kk), np.nan, dtype=np.float32)
    if kk == 0:
        return indices, sims
    perm = np.random.default_rng(seed).permutation(nv)
    rows = usable[perm]  # row position of each permuted row
    vals, idx = _exact_topk(_normalised(emb, rows), kk, block)
    indices[rows] = rows[idx]
    sims[rows] = vals
    return indices, sims


def knn_disagreement(
    embeddings: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray | None = None,
    k: int = 10,
    *,
    weighted: bool = False,
    block: int = 4096,
) -> np.ndarray:
    """Fraction of each row's k cosine neighbours whose label differs from its own.

    ``labels``: class id per row, -1 for none. Rows outside ``mask``, with
    label -1 or with no usable embedding get NaN and are nobody's neighbour.
    With fewer than ``k + 1`` such rows, every row uses all the others.
    ``weighted=True`` weights each neighbour by its similarity clipped at 0
    (falling back to the plain fraction when all weights are 0).
    Returns float64 in [0, 1] (NaN where undefined).
    """
    labels = np.asarray(labels)
    if labels.shape != (len(embeddings),):
        raise ValueError(f"labels has shape {labels.shape}, expected ({len(embeddings)},)")
    ok = labels >= 0
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)
    idx, sims = knn_neighbors(embeddings, ok, k, block=block)
    out = np.full(len(labels), np.nan, dtype=np.float64)
    if idx.shape[1] == 0:
        return out
    rows = np.flatnonzero(idx[:, 0] >= 0)
    differs = labels[idx[rows]] != labels[rows, None]
    plain = differs.mean(axis=1)
    if weighted:
        w = np.clip(sims[rows].astype(np.float64), 0.0, None)
        total = w.sum(axis=1)
        safe = np.where(total > 0, total, 1.0)
        plain = np.where(total > 0, (w * differs).sum(axis=1) / safe, plain)
    out[rows] = plain
    return out


def _blockwise_cov(x: np.ndarray, mean: np.ndarray, block: int = 8192) -> np.ndarray:
    """Covariance (d x d, float64) of float32 rows, accumulated from float32 blocks."""
    d = x.shape[1]
    cov = np.zeros((d, d), dtype=np.float64)
    m32 = mean.astype(np.float32)
    for r0 in range(0, len(x), block):
        xb = x[r0 : r0 + block] - m32
        cov += xb.T @ xb
    return cov / max(1, len(x) - 1)


def _cov_times(x: np.ndarray, mean: np.ndarray, q: np.ndarray, block: int = 8192) -> np.ndarray:
    """(X - mean)^T (X - mean) q without forming the covariance."""
    out = np.zeros((x.shape[1], q.shape[1]), dtype=np.float64)
    m32, q32 = mean.astype(np.float32), q.astype(np.float32)
    for r0 in range(0, len(x), block):
        xb = x[r0 : r0 + block] - m32
        out += xb.T @ (xb @ q32)
    return out


def _pca_components(x: np.ndarray, mean: np.ndarray, n_components: int, seed: int,
                    exact: bool | None = None) -> np.ndarray:
    """Top principal directions (d x n_components, unit columns), largest entry positive."""
    d = x.shape[1]
    if exact is None:
        exact = d <= PCA_EXACT_MAX_DIM
    if exact:
        _, vecs = np.linalg.eigh(_blockwise_cov(x, mean))
        comps = vecs[:, ::-1][:, :n_components]
    else:  # randomized subspace iteration + Rayleigh-Ritz
        p = min(d, n_components + 10)
        q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, p)))
        for _ in range(8):
            q, _ = np.linalg.qr(_cov_times(x, mean, q))
        small = q.T @ _cov_times(x, mean, q)
        _, vecs = np.linalg.eigh((small + small.T) / 2)
        comps = q @ vecs[:, ::-1][:, :n_components]
    big = np.argmax(np.abs(comps), axis=0)
    signs = np.sign(comps[big, np.arange(comps.shape[1])])
    return comps * np.where(signs == 0, 1.0, signs)


def project_2d(
    embeddings: np.ndarray,
    mask: np.ndarray | None = None,
    method: str = "pca",
    *,
    seed: int = 0,
) -> np.ndarray:
    """2-D projection (n x 2 float32) of the rows inside ``mask`` with a finite embedding.

    ``method="pca"``: the top two principal components (numpy; exact
    covariance eigendecomposition up to 2048 dims, randomized subspace
    iteration above), fitted on at most ``PCA_FIT_ROWS`` seeded random rows
    and applied to all; each component's largest-magnitude loading is
    positive so the picture does not flip between runs. ``method="umap"``:
    UMAP with the cosine metric, needs the optional ``umap-learn`` package.
    Other rows are NaN.
    """
    emb = np.asarray(embeddings)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D matrix, got shape {emb.shape}")
    if method not in ("pca", "umap"):
        raise LoadError(f"unknown projection method {method!r}; use 'pca' or 'umap'", field="projection")
    if method == "umap":
        try:
            import umap  # optional dependency
        except ImportError:
            raise LoadError("projection method 'umap' needs the umap-learn package: pip install umap-learn",
                            field="projection") from None
    ok = np.isfinite(emb).all(axis=1)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(ok)
    out = np.full((len(emb), 2), np.nan, dtype=np.float32)
    if len(rows) < 2 or emb.shape[1] == 0:
        out[rows] = 0.0
        return out
    x = np.ascontiguousarray(emb if len(rows) == len(emb) else emb[rows], dtype=np.float32)
    if method == "umap":
        if len(rows) < 3:
            out[rows] = 0.0
            return out
        reducer = umap.UMAP(n_components=2, metric="cosine", random_state=seed, n_neighbors=min(15, len(rows) - 1))
        with warnings.catch_warnings():  # a seed (for a reproducible, cacheable picture) means one thread: known
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            out[rows] = reducer.fit_transform(x).astype(np.float32)
        return out
    mean = x.mean(axis=0, dtype=np.float64)
    fit = x
    if len(x) > PCA_FIT_ROWS:
        fit = x[np.sort(np.random.default_rng(seed).choice(len(x), PCA_FIT_ROWS, replace=False))]
    n_comp = min(2, x.shape[1])
    comps = _pca_components(fit, mean, n_comp, seed).astype(np.float32)
    proj = np.zeros((len(rows), 2), dtype=np.float32)
    proj[:, :n_comp] = x @ comps - (mean @ comps).astype(np.float32)
    out[rows] = proj
    return out
