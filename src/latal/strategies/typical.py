"""Cold-start selection for tiny budgets in the learned latent space: typicality (TypiClust, Hacohen,
Dekel & Weinshall, ICML 2022), coverage (ProbCover, Yehuda et al., NeurIPS 2022) and generalized
coverage (MaxHerding, Bae, Noh & Sutherland, ECCV 2024). None needs a label or a learner; with labels
present they go on covering what the labels do not."""

from __future__ import annotations

import numpy as np

from latal._memo import cached_by_array
from latal.strategies.base import QueryContext, Strategy

#: delta-ball graphs of recent pools (ProbCover), keyed by the latent matrix
_BALLS: dict = {}
#: ProbCover's radius of recent pools (also MaxHerding's default bandwidth), keyed by the latent matrix
_RADII: dict = {}


def _kmeans(z: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if k <= 50:
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)
    return MiniBatchKMeans(n_clusters=k, n_init=1, batch_size=4096, random_state=seed).fit_predict(z)


def typicality(z: np.ndarray, k: int = 20) -> np.ndarray:
    """``1 / mean distance to the k nearest other points`` of every row (exact, in chunks)."""
    from latal.neighbors import NeighborIndex

    k = int(min(k, z.shape[0] - 1))
    if k < 1:
        return np.ones(z.shape[0])
    d, _ = NeighborIndex(z).query(z, k + 1, return_distance=True)
    return 1.0 / np.maximum(d[:, 1:].mean(axis=1), 1e-12)


class TypiClust(Strategy):
    """TypiClust: k-means of the pool into ``|labeled| + k`` clusters; repeatedly take the largest cluster
    among those with the fewest labeled items and query its most typical point (highest inverse mean
    distance to its 20 nearest neighbours inside the cluster).

    Parameters
    ----------
    n_neighbors : int, default 20 (the paper's)
    min_cluster_size : int, default 5 (the paper ignores smaller clusters)
    max_clusters : int, default 500
        The paper caps the clustering at 500 clusters for larger budgets; past it the batch keeps
        cycling over the clusters with the fewest labels.
    """

    description = "TypiClust: the most typical point of the largest uncovered k-means clusters (cold start)"

    def __init__(self, n_neighbors: int = 20, min_cluster_size: int = 5, max_clusters: int = 500):
        self.n_neighbors = int(n_neighbors)
        self.min_cluster_size = int(min_cluster_size)
        self.max_clusters = int(max_clusters)

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        view = ctx.pool
        z = np.asarray(view.mean, dtype=np.float32)
        n_clusters = int(min(view.labeled.size + k, self.max_clusters, view.n))
        labels = _kmeans(z, n_clusters, int(rng.integers(2**31)))
        sizes = np.bincount(labels, minlength=n_clusters)
        covered = np.bincount(labels[view.labeled], minlength=n_clusters) if view.labeled.size else np.zeros(n_clusters, int)
        taken = np.zeros(view.n, dtype=bool)
        taken[view.labeled] = True
        remaining = np.bincount(labels[~taken], minlength=n_clusters)
        eligible = sizes >= min(self.min_cluster_size, int(sizes.max()))
        chosen: list[int] = []
        typ_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        while len(chosen) < k:
            free = np.flatnonzero(eligible & (remaining > 0))
            if free.size == 0:  # only small clusters still hold unlabeled items
                free = np.flatnonzero(remaining > 0)
            cands = free[covered[free] == covered[free].min()]
            c = int(cands[np.argmax(sizes[cands])])
            if c not in typ_cache:
                members = np.flatnonzero(labels == c)
                typ_cache[c] = (members, typicality(z[members], self.n_neighbors))
            members, typ = typ_cache[c]
            order = members[np.argsort(-typ, kind="stable")]
            pick = int(order[~taken[order]][0])
            chosen.append(pick)
            taken[pick] = True
            covered[c] += 1
            remaining[c] -= 1
        return np.asarray(chosen, dtype=np.int64)

    def __repr__(self) -> str:
        return f"TypiClust(n_neighbors={self.n_neighbors}, max_clusters={self.max_clusters})"


def purity_radius(z: np.ndarray, n_classes: int, purity: float, seed: int) -> float:
    """ProbCover's delta: the largest ball radius at which a ``purity`` share of the balls hold a single
    k-means cluster. A ball around x is pure iff it is smaller than the distance from x to the nearest
    point of another cluster, so delta is that distance's (1 - purity) quantile."""
    from latal.neighbors import NeighborIndex

    labels = _kmeans(z, n_classes, seed)
    d_other = np.empty(z.shape[0])
    for c in np.unique(labels):
        inside = labels == c
        if inside.all():
            return float("inf")
        d, _ = NeighborIndex(z[~inside]).query(z[inside], 1, return_distance=True)
        d_other[inside] = d[:, 0]
    return float(np.quantile(d_other, 1.0 - purity))


def pool_radius(view, purity: float, seed: int) -> float:
    """:func:`purity_radius` of a pool's latents (``n_classes`` clusters), once per latent matrix and
    process: ProbCover and MaxHerding share it."""
    return cached_by_array(_RADII, view.mean, (float(purity), int(seed)),
                           lambda: purity_radius(np.asarray(view.mean, dtype=np.float32), view.n_classes, purity, seed),
                           keep=2)


class ProbCover(Strategy):
    """ProbCover: greedy maximum coverage of the pool by balls of radius delta around the queried points
    (and the labeled ones): each pick is the point whose ball covers the most still-uncovered points.

    Parameters
    ----------
    delta : float or None, default None
        Ball radius; None chooses it as the paper does, the largest radius keeping ``purity`` of the balls
        inside one k-means cluster (``n_classes`` clusters).
    purity : float, default 0.95 (the paper's alpha)
    """

    description = "ProbCover: greedy max coverage with 95 %-pure balls (cold start)"

    def __init__(self, delta: float | None = None, purity: float = 0.95, random_state: int = 0):
        if delta is not None and float(delta) <= 0:
            raise ValueError(f"delta must be positive; got {delta}.")
        if not 0.0 < float(purity) < 1.0:
            raise ValueError(f"purity must lie in (0, 1); got {purity}.")
        self.delta = None if delta is None else float(delta)
        self.purity = float(purity)
        self.random_state = int(random_state)

    def graph(self, ctx: QueryContext):
        """``(delta, A)``: the radius and the delta-ball graph (CSR), once per pool latent matrix and
        process (the k-means behind delta is seeded by ``random_state``, so runs with different query
        seeds share it)."""
        from sklearn.neighbors import NearestNeighbors

        view = ctx.pool

        def build():
            z = np.asarray(view.mean, dtype=np.float32)
            delta = self.delta if self.delta is not None else pool_radius(view, self.purity, self.random_state)
            A = NearestNeighbors(radius=delta, algorithm="brute").fit(z).radius_neighbors_graph(z, mode="connectivity")
            return delta, A.tocsr()

        return cached_by_array(_BALLS, view.mean, (self.delta, self.purity, self.random_state), build, keep=2)

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        delta, A = self.graph(ctx)
        n = A.shape[0]
        covered = np.zeros(n, dtype=bool)
        lab = np.asarray(ctx.pool.labeled)
        if lab.size:
            covered[A[lab].indices] = True
        deg = np.asarray(A[:, ~covered].sum(axis=1)).ravel().astype(np.int64)
        taken = np.zeros(n, dtype=bool)
        taken[lab] = True
        chosen: list[int] = []
        while len(chosen) < k:
            score = np.where(taken, -1, deg)
            if score.max() <= 0:  # everything covered: the rest at random, as the paper does
                rest = np.flatnonzero(~taken)
                extra = rng.choice(rest, size=k - len(chosen), replace=False)
                chosen.extend(int(i) for i in extra)
                break
            pick = int(np.argmax(score))
            chosen.append(pick)
            taken[pick] = True
            new = A[pick].indices[~covered[A[pick].indices]]
            covered[new] = True
            if new.size:
                deg -= np.asarray(A[:, new].sum(axis=1)).ravel().astype(np.int64)
        self.last_info_ = {"delta": float(delta), "covered": float(covered.mean())}
        return np.asarray(chosen, dtype=np.int64)

    def __repr__(self) -> str:
        return f"ProbCover(delta={self.delta}, purity={self.purity})"


class MaxHerding(Strategy):
    """MaxHerding: greedy maximisation of generalized coverage, the pool's mean of ``max over queried
    (and labeled) points l of k(x, l)`` with a Gaussian kernel ``k(x, l) = exp(-|x - l|^2 / (2 s^2))``.
    ProbCover is the case of a top-hat kernel; the smooth kernel credits partly covered points, so the
    picks depend less on where one radius happens to cut (at 10 MNIST labels they cover all ten digits on
    three encoder builds where ProbCover's miss one on one build). The bandwidth still matters: halving
    or doubling the default cost 6 to 12 points at 10 labels (BENCHMARKS.md, "MaxHerding's bandwidth").

    The coverage is estimated on a random sample of at most ``max_points`` pool items (drawn from the
    query seed), which are also the candidates: exact below that size, an unbiased estimate above it
    (the kernel matrix of the sample is ``max_points^2`` float32: 1.6 GB at the default, 576 MB at
    12,000, which did as well at 10 MNIST labels; BENCHMARKS.md, "MaxHerding"). The greedy
    step is lazy (gains only shrink as coverage grows), so large batches stay cheap.

    Parameters
    ----------
    bandwidth : float or None, default None
        The kernel's ``s``; None takes ``scale`` times ProbCover's radius (the largest radius keeping
        ``purity`` of the balls inside one of ``n_classes`` k-means clusters; BENCHMARKS.md, "MaxHerding").
    scale : float, default 1.0
        Multiplies the default radius (not a ``bandwidth`` given explicitly). 1 was the best of 0.5 to 2
        on MNIST; 1.4 did 1.7 points better on Fashion-MNIST, whose classes overlap more.
    purity : float, default 0.95
    max_points : int, default 20000
    random_state : int, default 0
        Seeds the k-means behind the default bandwidth (shared across query seeds, like ProbCover's).
    """

    description = "MaxHerding: greedy generalized (Gaussian-kernel) coverage, a smooth ProbCover (cold start)"

    def __init__(self, bandwidth: float | None = None, scale: float = 1.0, purity: float = 0.95,
                 max_points: int = 20000, random_state: int = 0):
        if bandwidth is not None and not float(bandwidth) > 0:
            raise ValueError(f"bandwidth must be positive; got {bandwidth}.")
        if not float(scale) > 0:
            raise ValueError(f"scale must be positive; got {scale}.")
        if not 0.0 < float(purity) < 1.0:
            raise ValueError(f"purity must lie in (0, 1); got {purity}.")
        if int(max_points) < 2:
            raise ValueError(f"max_points must be at least 2; got {max_points}.")
        self.bandwidth = None if bandwidth is None else float(bandwidth)
        self.scale = float(scale)
        self.purity = float(purity)
        self.max_points = int(max_points)
        self.random_state = int(random_state)

    def kernel_bandwidth(self, ctx: QueryContext) -> float:
        if self.bandwidth is not None:
            return self.bandwidth
        return self.scale * pool_radius(ctx.pool, self.purity, self.random_state)

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        view = ctx.pool
        s = self.kernel_bandwidth(ctx)
        if not np.isfinite(s):  # one k-means cluster holds everything: any radius is pure
            return rng.choice(view.unlabeled, size=k, replace=False)
        n = view.n
        sample = np.sort(rng.choice(n, size=self.max_points, replace=False)) if n > self.max_points else np.arange(n)
        z = np.asarray(view.mean[sample], dtype=np.float32)
        K = np.empty((z.shape[0], z.shape[0]), dtype=np.float32)
        for i in range(0, z.shape[0], 2048):  # in blocks: no second sample-squared temporary
            K[i : i + 2048] = _gaussian(z[i : i + 2048], z, s)
        cover = np.zeros(sample.size, dtype=np.float32)
        lab = np.asarray(view.labeled)
        for i in range(0, lab.size, 1024):  # what the labels cover already
            part = _gaussian(np.asarray(view.mean[lab[i : i + 1024]], dtype=np.float32), z, s)
            cover = np.maximum(cover, part.max(axis=0))
        free = ~np.isin(sample, lab)
        gain = np.full(sample.size, -np.inf)  # upper bounds from here on
        for i in range(0, sample.size, 2048):
            gain[i : i + 2048] = np.maximum(K[i : i + 2048] - cover, 0).sum(axis=1)
        gain[~free] = -np.inf
        chosen: list[int] = []
        while len(chosen) < k and np.isfinite(gain).any():
            top = np.argsort(-gain, kind="stable")[:65]
            exact = np.maximum(K[top[:64]] - cover, 0).sum(axis=1)
            exact[~np.isfinite(gain[top[:64]])] = -np.inf
            gain[top[:64]] = exact
            best = int(np.argmax(exact))
            bound = gain[top[64]] if top.size > 64 else -np.inf
            if exact[best] < bound:  # a stale bound below may beat it: refresh the next 64
                continue
            p = int(top[best])
            chosen.append(p)
            gain[p] = -np.inf
            cover = np.maximum(cover, K[p])
        picks = sample[np.asarray(chosen, dtype=np.int64)]
        if picks.size < k:  # the sample ran out of unlabeled candidates: the rest at random
            rest = np.setdiff1d(view.unlabeled, picks)
            picks = np.concatenate([picks, rng.choice(rest, size=k - picks.size, replace=False)])
        self.last_info_ = {"bandwidth": float(s), "coverage": float(cover.mean()), "sample": int(sample.size)}
        return picks.astype(np.int64)

    def __repr__(self) -> str:
        return (f"MaxHerding(bandwidth={self.bandwidth}, scale={self.scale}, purity={self.purity}, "
                f"max_points={self.max_points})")


def _gaussian(a: np.ndarray, b: np.ndarray, s: float) -> np.ndarray:
    """``exp(-|a_i - b_j|^2 / (2 s^2))`` (float32)."""
    d = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.exp(-np.maximum(d, 0.0) / np.float32(2.0 * s * s)).astype(np.float32, copy=False)
