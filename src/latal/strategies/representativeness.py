"""Representativeness measures over the whole pool, each in [0, 1] with 1 = most representative
(thesis section 3.4.2). They depend only on the latents, so each is computed once per pool and cached.

Averages over the pool are computed in closed form where one exists (cosine, squared Euclidean,
J-divergence: O(n d) time, exact), and in chunks for the Euclidean distance: exact up to
``exact_limit`` items, else against a seeded random reference sample.
"""

from __future__ import annotations

import numpy as np

from latal.strategies.base import Needs, QueryContext
from latal.strategies.distances import check_metric


def _normalise_distance(avg: np.ndarray) -> np.ndarray:
    """1 - d / max(d): the thesis's normalisation by the largest observed value."""
    top = float(np.max(avg)) if avg.size else 0.0
    if top <= 0.0:
        return np.ones_like(avg)
    return np.clip(1.0 - avg / top, 0.0, 1.0)


def mean_cosine_similarity(mean: np.ndarray) -> np.ndarray:
    """Average of ``(1 + cos(x, u)) / 2`` over all other items u, exactly, in O(n d)."""
    x = mean.astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    unit = x / np.maximum(norms, 1e-12)[:, None]
    total = unit.sum(axis=0)
    n = x.shape[0]
    if n < 2:
        return np.ones(n)
    self_sim = np.einsum("ij,ij->i", unit, unit)  # 1, or 0 for a zero vector
    cos_mean = (unit @ total - self_sim) / (n - 1)
    return np.clip((1.0 + cos_mean) / 2.0, 0.0, 1.0)


def mean_sqeuclidean(mean: np.ndarray) -> np.ndarray:
    """Average squared Euclidean distance to all other items, exactly, in O(n d)."""
    x = mean.astype(np.float64)
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    total = n * sq - 2.0 * (x @ x.sum(axis=0)) + sq.sum()
    return np.maximum(total, 0.0) / max(n - 1, 1)


def mean_jdiv(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """Average J-divergence between diagonal Gaussians to all other items, exactly, in O(n d):
    sum_u J(x, u) expands into sums over u of 1/σ², μ/σ², μ²/σ², μ, μ² and σ²."""
    mu = mean.astype(np.float64)
    var = np.exp(log_var.astype(np.float64))
    n = mu.shape[0]
    inv = 1.0 / var
    s_inv = inv.sum(axis=0)
    s_mu_inv = (mu * inv).sum(axis=0)
    s_mu2_inv = (mu * mu * inv).sum(axis=0)
    s_mu = mu.sum(axis=0)
    s_mu2 = (mu * mu).sum(axis=0)
    s_var = var.sum(axis=0)
    term1 = (mu * mu + var) * s_inv - 2.0 * mu * s_mu_inv + s_mu2_inv
    term2 = (n * mu * mu - 2.0 * mu * s_mu + s_mu2 + s_var) / var
    total = 0.5 * np.sum(term1 + term2 - 2.0 * n, axis=1)
    return np.maximum(total, 0.0) / max(n - 1, 1)


def mean_euclidean(mean: np.ndarray, reference: np.ndarray | None = None, chunk_elems: int = 1 << 22) -> np.ndarray:
    """Average Euclidean distance to the reference rows (all other items when ``reference`` is None),
    in chunks of at most ``chunk_elems`` pairwise distances."""
    x = mean.astype(np.float32)
    ref = x if reference is None else reference.astype(np.float32)
    ref_sq = np.einsum("ij,ij->i", ref, ref)
    out = np.empty(x.shape[0], dtype=np.float64)
    step = max(1, chunk_elems // max(1, ref.shape[0]))
    for start in range(0, x.shape[0], step):
        block = x[start : start + step]
        d2 = np.einsum("ij,ij->i", block, block)[:, None] + ref_sq[None, :] - 2.0 * (block @ ref.T)
        np.maximum(d2, 0.0, out=d2)
        out[start : start + step] = np.sqrt(d2, dtype=np.float32).sum(axis=1, dtype=np.float64)
    denom = ref.shape[0] - 1 if reference is None else ref.shape[0]
    return out / max(denom, 1)


class Representativeness:
    """Base: ``scores(ctx)`` returns one value per pool item, cached in ``ctx.cache``."""

    needs = Needs.NOTHING
    name = ""

    def key(self) -> tuple:
        return (type(self).__name__, *sorted(self.__dict__.items()))

    def scores(self, ctx: QueryContext) -> np.ndarray:
        return ctx.pool_cached(("representativeness", self.key()),
                               lambda: self._compute(ctx.pool.mean, ctx.pool.log_var))

    def _compute(self, mean: np.ndarray, log_var: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({args})"


class Density(Representativeness):
    """Average similarity to the rest of the pool (density-weighted framework).

    Parameters
    ----------
    metric : {"cosine", "euclidean", "sqeuclidean", "jdiv"}
        cosine: average of ``(1 + cos) / 2``; the others: ``1 - avg_d / max avg_d``.
    exact_limit : int, default 10000
        Euclidean only: pools up to this size are averaged over every pair (in chunks);
        larger pools against ``n_reference`` random items.
    n_reference : int, default 2000
    random_state : int, default 0
        Seeds the reference sample, so densities do not depend on the round.
    """

    def __init__(self, metric: str = "cosine", exact_limit: int = 10000, n_reference: int = 2000,
                 random_state: int = 0):
        self.metric = check_metric(metric)
        self.exact_limit = int(exact_limit)
        self.n_reference = int(n_reference)
        self.random_state = int(random_state)
        self.needs = Needs.LOG_VAR if self.metric == "jdiv" else Needs.NOTHING
        self.name = f"density_{self.metric}"

    def key(self) -> tuple:
        return ("Density", self.metric, self.exact_limit, self.n_reference, self.random_state)

    def _compute(self, mean, log_var):
        if self.metric == "cosine":
            return mean_cosine_similarity(mean)
        if self.metric == "sqeuclidean":
            return _normalise_distance(mean_sqeuclidean(mean))
        if self.metric == "jdiv":
            return _normalise_distance(mean_jdiv(mean, log_var))
        if mean.shape[0] <= self.exact_limit:
            return _normalise_distance(mean_euclidean(mean))
        rng = np.random.default_rng(self.random_state)
        ref = mean[np.sort(rng.choice(mean.shape[0], size=self.n_reference, replace=False))]
        return _normalise_distance(mean_euclidean(mean, reference=ref))


class KNNDensity(Representativeness):
    """Local density: ``1 - (mean distance to the k nearest pool items) / max``, through a nearest-neighbour
    index, computed once per pool. Unlike the thesis's pool-wide average similarity it favours items in
    dense neighbourhoods wherever they lie (the typicality of TypiClust, Hacohen et al. 2022).

    Parameters
    ----------
    k : int, default 20
    index : {"auto", "exact", "hnsw"}, default "auto"
        ``auto``: exact up to 200,000 items, FAISS HNSW above when installed (see :mod:`latal.neighbors`).
    """

    name = "knn_density"

    def __init__(self, k: int = 20, index: str = "auto", chunk: int = 65536):
        if int(k) < 1:
            raise ValueError(f"k must be a positive integer; got {k}.")
        self.k = int(k)
        self.index = index
        self.chunk = int(chunk)

    def key(self) -> tuple:
        return ("KNNDensity", self.k, self.index)

    def _compute(self, mean, log_var):
        from latal.neighbors import NeighborIndex, default_backend

        n = mean.shape[0]
        k = min(self.k, n - 1)
        if k < 1:
            return np.ones(n)
        index = NeighborIndex(mean, default_backend(n) if self.index == "auto" else self.index)
        dist, idx = index.others(mean, k, self.chunk)
        found = idx >= 0
        return _normalise_distance(dist.sum(axis=1) / np.maximum(found.sum(axis=1), 1))


class KLToPrior(Representativeness):
    """``1 - KL(N(μ, σ²) || N(0, I)) / max KL``: close to the VAE's prior = representative."""

    needs = Needs.LOG_VAR
    name = "kl_to_prior"

    def _compute(self, mean, log_var):
        mu = mean.astype(np.float64)
        lv = log_var.astype(np.float64)
        kl = 0.5 * np.sum(np.exp(lv) + mu * mu - 1.0 - lv, axis=1)
        return _normalise_distance(np.maximum(kl, 0.0))


class DistanceToOrigin(Representativeness):
    """``1 - ||μ|| / max ||μ||`` (or with squared distances): near the prior's mean = representative."""

    def __init__(self, squared: bool = False):
        self.squared = bool(squared)
        self.name = "sq_distance_to_origin" if self.squared else "distance_to_origin"

    def key(self) -> tuple:
        return ("DistanceToOrigin", self.squared)

    def _compute(self, mean, log_var):
        mu = mean.astype(np.float64)
        d2 = np.einsum("ij,ij->i", mu, mu)
        return _normalise_distance(d2 if self.squared else np.sqrt(d2))


REPRESENTATIVENESS = {
    "density_cosine": lambda: Density("cosine"),
    "density_euclidean": lambda: Density("euclidean"),
    "density_sqeuclidean": lambda: Density("sqeuclidean"),
    "density_jdiv": lambda: Density("jdiv"),
    "knn_density": KNNDensity,
    "kl_to_prior": KLToPrior,
    "distance_to_origin": lambda: DistanceToOrigin(False),
    "sq_distance_to_origin": lambda: DistanceToOrigin(True),
}
