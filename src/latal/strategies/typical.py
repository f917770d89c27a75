"""Cold-start selection for tiny budgets in the learned latent space: typicality (TypiClust, Hacohen,
Dekel & Weinshall, ICML 2022), coverage (ProbCover, Yehuda et al., NeurIPS 2022) and generalized
coverage (MaxHerding, Bae, Noh & Sutherland, ECCV 2024). None needs a label or a learner; with labels
present they go on covering what the labels do not."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from latal._memo import cached_by_array
from latal.strategies.base import QueryContext, Strategy

#: delta-ball graphs of recent pools (ProbCover), keyed by the latent matrix
_BALLS: dict = {}
#: ProbCover's radius of recent pools (also MaxHerding's default bandwidth), keyed by the latent matrix
_RADII: dict = {}
#: MaxHerding's kernel matrix, kept for the next selection of any MaxHerding in this process (see kernel_scratch)
_SCRATCH: dict = {}
_SCRATCH_LOCK = threading.Lock()


@contextmanager
def kernel_scratch(m: int):
    """An (m, m) float32 matrix to write a kernel into, the same one selection after selection.

    A fresh 1.6 GB matrix (MaxHerding's default sample of 20,000) costs more in page faults than the kernel
    itself: writing the kernel took 5.8 s into new pages and 1.5 s into used ones on one core (BENCHMARKS.md,
    "The labeling app"). So one matrix per process is kept between rounds and shared by every MaxHerding
    (the presets' initial strategy and strategy are two); :func:`free_kernel_scratch` gives it back. A
    selection running while another thread holds it gets a matrix of its own."""
    if not _SCRATCH_LOCK.acquire(blocking=False):
        yield np.empty((m, m), dtype=np.float32)
        return
    try:
        buf = _SCRATCH.get("K")
        if buf is None or buf.shape != (m, m):
            _SCRATCH.pop("K", None)
            buf = _SCRATCH["K"] = np.empty((m, m), dtype=np.float32)
        yield buf
    finally:
        _SCRATCH_LOCK.release()


def free_kernel_scratch() -> None:
    """Drop the kept kernel matrix (1.6 GB after a selection over 20,000 sampled items)."""
    with _SCRATCH_LOCK:
        _SCRATCH.pop("K", None)


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
    12,000, which did as well at 10 MNIST labels; BENCHMARKS.md, "MaxHerding"; it is kept for the next
    selection, see :func:`kernel_scratch`). The greedy
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
    density_power : float, default 0.0
        Weighs each pool item by its kernel density (the mean of its kernel row over the sample) to the
        power ``-density_power``. 0 is MaxHerding as published: coverage of the pool's mass, so a region
        counts in proportion to the items it holds and a class with a few dozen items in a pool of
        thousands may get no label. 1 counts every region the same however many items it holds (coverage
        of the space, like Core-Set's k-center); between them a region of ``m`` items counts as
        ``m ** (1 - density_power)``. For pools whose classes are far from equal in size, where finding
        the rare ones matters (BENCHMARKS.md, "Finding the rare classes").
    """

    description = "MaxHerding: greedy generalized (Gaussian-kernel) coverage, a smooth ProbCover (cold start)"

    def __init__(self, bandwidth: float | None = None, scale: float = 1.0, purity: float = 0.95,
                 max_points: int = 20000, random_state: int = 0, density_power: float = 0.0):
        if bandwidth is not None and not float(bandwidth) > 0:
            raise ValueError(f"bandwidth must be positive; got {bandwidth}.")
        if not float(scale) > 0:
            raise ValueError(f"scale must be positive; got {scale}.")
        if not 0.0 < float(purity) < 1.0:
            raise ValueError(f"purity must lie in (0, 1); got {purity}.")
        if int(max_points) < 2:
            raise ValueError(f"max_points must be at least 2; got {max_points}.")
        if not 0.0 <= float(density_power) <= 1.0:
            raise ValueError(f"density_power must lie in [0, 1] (0: the pool's mass, 1: the space); "
                             f"got {density_power}.")
        self.bandwidth = None if bandwidth is None else float(bandwidth)
        self.scale = float(scale)
        self.purity = float(purity)
        self.max_points = int(max_points)
        self.random_state = int(random_state)
        self.density_power = float(density_power)

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
        with kernel_scratch(z.shape[0]) as K:
            return self._greedy(view, sample, z, K, s, k, rng)

    def _greedy(self, view, sample: np.ndarray, z: np.ndarray, K: np.ndarray, s: float, k: int,
                rng: np.random.Generator) -> np.ndarray:
        self._fill_kernel(sample, z, s, K)
        cover = np.zeros(sample.size, dtype=np.float32)
        lab = np.asarray(view.labeled)
        for i in range(0, lab.size, 1024):  # what the labels cover already
            part = _gaussian(np.asarray(view.mean[lab[i : i + 1024]], dtype=np.float32), z, s)
            cover = np.maximum(cover, part.max(axis=0))
        free = ~np.isin(sample, lab)
        weight = None
        if self.density_power > 0:  # each item's weight: its kernel density to the power -density_power
            density = K.mean(axis=1, dtype=np.float64)  # the kernel is symmetric: row means are column means
            weight = density ** -self.density_power  # density >= 1 / sample size (the item itself): finite
            weight = (weight / weight.mean()).astype(np.float32)
        gain = _coverage_gains(K, cover, weight).astype(np.float64)  # upper bounds from here on
        gain[~free] = -np.inf
        chosen: list[int] = []
        while len(chosen) < k and np.isfinite(gain).any():
            top = _top(gain, 65)
            exact = np.maximum(K[top[:64]] - cover, 0)
            exact = exact.sum(axis=1) if weight is None else exact @ weight
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
        self.last_info_ = {"bandwidth": float(s), "sample": int(sample.size),
                           "coverage": float(cover.mean() if weight is None else cover @ weight / weight.size)}
        return picks.astype(np.int64)

    def _fill_kernel(self, sample: np.ndarray, z: np.ndarray, s: float, K: np.ndarray) -> None:
        """The sample's kernel matrix into ``K`` (the sample's latents ``z``, bandwidth ``s``)."""
        for i in range(0, z.shape[0], 2048):  # in blocks: no second sample-squared temporary
            _gaussian(z[i : i + 2048], z, s, out=K[i : i + 2048])

    def __repr__(self) -> str:
        power = f", density_power={self.density_power:g}" if self.density_power else ""
        return (f"MaxHerding(bandwidth={self.bandwidth}, scale={self.scale}, purity={self.purity}, "
                f"max_points={self.max_points}{power})")


def _coverage_gains(K: np.ndarray, cover: np.ndarray, weight: np.ndarray | None = None,
                    block: int = 2048) -> np.ndarray:
    """``max(K - cover, 0)`` summed over each row (each column weighted by ``weight`` if given), block by
    block in one reused scratch block (torch, in place): 1.0 s against 7.5 s for NumPy's temporaries on a
    20,000 x 20,000 kernel, one core."""
    import torch

    Kt, cov = torch.from_numpy(K), torch.from_numpy(np.ascontiguousarray(cover, dtype=np.float32))
    w = None if weight is None else torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32))
    scratch = torch.empty((min(block, K.shape[0]), K.shape[1]))
    out = np.empty(K.shape[0], dtype=np.float32)
    for i in range(0, K.shape[0], block):
        rows = Kt[i : i + block]
        tmp = scratch[: rows.shape[0]]
        torch.sub(rows, cov, out=tmp).clamp_(min=0.0)
        out[i : i + block] = (tmp.sum(1) if w is None else tmp @ w).numpy()
    return out


def _top(values: np.ndarray, m: int) -> np.ndarray:
    """The indices of the ``m`` largest ``values``, largest first, ties in index order: the first ``m`` of
    a stable ``argsort(-values)``, in O(n) (a partition) instead of a full sort per greedy step."""
    neg = -values
    if neg.size <= m:
        return np.argsort(neg, kind="stable")
    cut = np.partition(neg, m - 1)[m - 1]  # the m-th smallest of -values
    cand = np.flatnonzero(neg <= cut)  # every tie at the cut, in index order
    return cand[np.argsort(neg[cand], kind="stable")][:m]


def _gaussian(a: np.ndarray, b: np.ndarray, s: float, out: np.ndarray | None = None) -> np.ndarray:
    """``exp(-|a_i - b_j|^2 / (2 s^2))`` (float32), written into ``out`` (a C-contiguous float32 block) if given.

    Computed in place by torch (one matrix product, then scaled, shifted and exponentiated where it lies):
    3.7 times faster than the NumPy expression with its temporaries on one core, for a 20,000 x 20,000
    kernel (2.3 against 8.6 s), and equal to it up to float32 rounding."""
    import torch

    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if out is None:
        out = np.empty((a.shape[0], b.shape[0]), dtype=np.float32)
    at, bt, o = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
    inv = 1.0 / (2.0 * float(s) * float(s))
    torch.mm(at, bt.T, out=o)  # a.b, then -(|a|^2 + |b|^2 - 2 a.b) / (2 s^2), capped at 0 against rounding
    o.mul_(2.0 * inv).sub_((at * at).sum(1)[:, None], alpha=inv).sub_((bt * bt).sum(1)[None, :], alpha=inv)
    o.clamp_(max=0.0).exp_()
    return out
