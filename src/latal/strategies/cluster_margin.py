"""Cluster-Margin (Citovsky et al., NeurIPS 2021, "Batch Active Learning at Scale"): cluster the pool
once with hierarchical agglomerative clustering (average linkage); each round take the ``k_m`` items of
lowest margin and spread the batch over their clusters round-robin, smallest cluster first."""

from __future__ import annotations

import numpy as np

from latal.strategies.base import Needs, QueryContext, Strategy
from latal.strategies.batch import top_k
from latal.strategies.uncertainty import margin


def nearest_centre(points: np.ndarray, centres: np.ndarray, chunk_rows: int | None = None) -> np.ndarray:
    """Index of the nearest row of ``centres`` for every row of ``points``, in chunks of rows of about
    4M distances (never a full points x centres matrix)."""
    c = np.asarray(centres, dtype=np.float32)
    c_sq = np.einsum("ij,ij->i", c, c)
    chunk_rows = chunk_rows or max(256, (1 << 22) // max(1, c.shape[0]))
    out = np.empty(points.shape[0], dtype=np.int64)
    for s in range(0, points.shape[0], chunk_rows):
        p = np.asarray(points[s : s + chunk_rows], dtype=np.float32)
        out[s : s + chunk_rows] = np.argmin(c_sq[None, :] - 2.0 * (p @ c.T), axis=1)
    return out


def hac_clusters(points: np.ndarray, n_clusters: int, max_hac: int, rng: np.random.Generator) -> np.ndarray:
    """Average-linkage agglomerative clusters of ``points`` (n, d), ``n_clusters`` of them.

    Average linkage needs all pairwise distances (O(n^2) memory: 29 GB for 60k points), so above
    ``max_hac`` points it runs on a uniform sample of ``max_hac`` points and every other point joins the
    cluster of its nearest sampled point: O(n * max_hac) time, O(max_hac^2) memory."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = points.shape[0]
    n_clusters = int(min(n_clusters, n))
    if n <= max_hac:
        sample = np.arange(n)
    else:
        sample = np.sort(rng.choice(n, size=max_hac, replace=False))
    z = np.asarray(points[sample], dtype=np.float64)
    if n_clusters <= 1 or z.shape[0] < 2:
        return np.zeros(n, dtype=np.int64)
    tree = linkage(z, method="average", metric="euclidean")
    sample_labels = fcluster(tree, t=n_clusters, criterion="maxclust").astype(np.int64) - 1
    if sample.size == n:
        return sample_labels
    return sample_labels[nearest_centre(points, z)]


def round_robin(candidates: np.ndarray, clusters: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster-Margin's batch: visit the candidates' clusters from the smallest to the largest, taking one
    random not-yet-taken member of each per pass, until ``k`` are taken."""
    ids, inverse, sizes = np.unique(clusters, return_inverse=True, return_counts=True)
    order = np.lexsort((rng.random(ids.size), sizes))  # smallest first, ties at random
    members = [rng.permutation(candidates[inverse == j]) for j in order]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < k:
        for m in members:
            if depth < m.size:
                chosen.append(int(m[depth]))
                if len(chosen) == k:
                    break
        depth += 1
    return np.asarray(chosen, dtype=np.int64)


class ClusterMargin(Strategy):
    """Cluster-Margin sampling, for batches of thousands.

    Parameters
    ----------
    n_clusters : int or None, default None
        Clusters of the pool (None: one per 50 pool items, at least 10 and at most 5,000 - fine enough
        that a batch of a few hundred finds many clusters among its candidates).
    candidates_factor : float, default 10
        ``k_m = candidates_factor * k`` lowest-margin candidates per round (the paper's k_m = 10 k_t
        setting for its smaller batches).
    max_hac : int, default 5000
        Points clustered exactly by average linkage; the rest of the pool joins its nearest one.

    The clustering runs once per pool (first round) and is reused from the loop's cache.
    """

    needs = Needs.LEARNER
    description = "Cluster-Margin: lowest-margin 10k candidates spread round-robin over average-linkage clusters"

    def __init__(self, n_clusters: int | None = None, candidates_factor: float = 10.0, max_hac: int = 5000):
        if float(candidates_factor) < 1.0:
            raise ValueError(f"candidates_factor must be >= 1; got {candidates_factor}.")
        if n_clusters is not None and int(n_clusters) < 1:
            raise ValueError(f"n_clusters must be a positive integer; got {n_clusters}.")
        self.n_clusters = None if n_clusters is None else int(n_clusters)
        self.candidates_factor = float(candidates_factor)
        self.max_hac = int(max_hac)

    def clusters(self, ctx: QueryContext, rng: np.random.Generator) -> np.ndarray:
        view = ctx.pool
        n_clusters = self.n_clusters or int(np.clip(view.n // 50, 10, 5000))
        seed = int(rng.integers(2**31))
        return ctx.pool_cached(("cluster_margin", n_clusters, self.max_hac),
                               lambda: hac_clusters(view.mean, n_clusters, self.max_hac, np.random.default_rng(seed)))

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        clusters = self.clusters(ctx, rng)
        unl = np.asarray(ctx.pool.unlabeled)
        scores = margin(ctx.predict_proba(unl))
        k_m = min(unl.size, int(np.ceil(self.candidates_factor * k)))
        cand = unl[top_k(scores, k_m)]
        return round_robin(cand, clusters[cand], k, rng)

    def __repr__(self) -> str:
        return f"ClusterMargin(n_clusters={self.n_clusters}, candidates_factor={self.candidates_factor})"
