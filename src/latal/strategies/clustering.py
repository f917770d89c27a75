"""Latent clustering batch selection, paper 000 (Algorithm 2, sections 4.2-4.3): DBSCAN, and the
k-means and mean-shift variants it is compared with.

Each round: draw ``n_sample`` latent points from the pool (labeled and unlabeled; with a variational
encoder the points are sampled from the posterior, z = mu + sigma * eps, as in the algorithm's first
two steps), cluster them, drop the noise, and draw the batch at random from the unlabeled points
that the clustering keeps. The paper tunes DBSCAN's Eps and MinPts by hand so that the number of
density-reachable unlabeled points comes close to the batch size; ``DBSCANSampler(eps=None)``
automates exactly that search.
"""

from __future__ import annotations

import numpy as np

from latal.strategies.base import QueryContext, Strategy


def _sample_points(ctx: QueryContext, n_sample: int, rng: np.random.Generator, posterior: bool):
    """Pool indices of the sample and their latent points."""
    view = ctx.pool
    n = view.n
    idx = np.sort(rng.choice(n, size=min(n_sample, n), replace=False))
    unlabeled = np.asarray(view.labels)[idx] == -1
    if unlabeled.sum() == 0:  # make sure the sample holds unlabeled items to choose from
        extra = rng.choice(view.unlabeled, size=min(len(view.unlabeled), max(1, n_sample // 2)), replace=False)
        idx = np.union1d(idx, extra)
        unlabeled = np.asarray(view.labels)[idx] == -1
    z = np.asarray(view.mean[idx], dtype=np.float64)
    if posterior and view.log_var is not None:
        z = z + np.exp(0.5 * np.asarray(view.log_var[idx], dtype=np.float64)) * rng.standard_normal(z.shape)
    return idx, z, unlabeled


def _fill(chosen: np.ndarray, k: int, ctx: QueryContext, rng: np.random.Generator) -> np.ndarray:
    """Top up with random unlabeled items when the clusters hold fewer than k (said in the docstrings)."""
    if chosen.size >= k:
        return chosen[:k]
    rest = np.setdiff1d(ctx.pool.unlabeled, chosen)
    return np.concatenate([chosen, rng.choice(rest, size=k - chosen.size, replace=False)])


def dbscan_reachable(z: np.ndarray, unlabeled: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """Boolean mask of the unlabeled sample points inside a DBSCAN cluster (core or border: density-reachable)."""
    from sklearn.cluster import DBSCAN

    labels = DBSCAN(eps=eps, min_samples=min_samples).fit(z).labels_
    return (labels != -1) & unlabeled


def tune_dbscan(z: np.ndarray, unlabeled: np.ndarray, k: int, min_samples_grid=range(2, 11)):
    """The automatic mode: search MinPts x Eps for the setting whose number of density-reachable
    unlabeled points is closest to ``k``.

    For each MinPts the Eps candidates are the points' core distances (the distance at which each point
    becomes a core point: where the clustering can change), so no setting between grid points is missed.
    Objective, in order: ``|reachable - k|`` smallest; then prefer ``reachable >= k`` (a full batch from
    the clusters); then more clusters (a more diverse batch); then the smaller Eps.
    Returns ``(eps, min_samples, reachable_count)``.
    """
    from scipy.spatial.distance import pdist, squareform
    from sklearn.cluster import DBSCAN

    D = squareform(pdist(z))
    ordered = np.sort(D, axis=1)  # column 0 is the point itself
    best, best_key = None, None
    for m in min_samples_grid:
        if m > z.shape[0]:
            break
        for eps in np.unique(ordered[:, m - 1]) + 1e-12:
            labels = DBSCAN(eps=float(eps), min_samples=int(m), metric="precomputed").fit(D).labels_
            reach = int(((labels != -1) & unlabeled).sum())
            n_clusters = len(set(labels.tolist()) - {-1})
            key = (abs(reach - k), 0 if reach >= k else 1, -n_clusters, float(eps))
            if best_key is None or key < best_key:
                best_key, best = key, (float(eps), int(m), reach)
            if reach > 3 * k + 10:  # larger Eps only adds points
                break
    return best


class DBSCANSampler(Strategy):
    """Paper 000's DBSCAN batch selection in latent space.

    Parameters
    ----------
    eps, min_samples : float and int, or None (default)
        None: tuned automatically every round (:func:`tune_dbscan`) so that the number of
        density-reachable unlabeled points lands as close as possible to the batch size. Given:
        the paper's manual mode.
    n_sample : int, default 100
        Latent points drawn per round (the paper: 100, e.g. 10 labeled and 90 unlabeled).
    posterior : bool, default True
        Draw each point from its posterior N(mu, sigma^2) when the encoder is variational.

    When the clusters hold fewer unlabeled points than the batch, the batch is completed at random
    from the rest of the pool; ``last_reachable_`` and ``last_params_`` record what happened.
    """

    description = "paper 000: DBSCAN on sampled latents, batch from density-reachable unlabeled points (auto Eps/MinPts)"

    def __init__(self, eps: float | None = None, min_samples: int | None = None, n_sample: int = 100,
                 posterior: bool = True):
        if (eps is None) != (min_samples is None):
            raise ValueError("give both eps and min_samples (manual mode) or neither (automatic tuning).")
        self.eps = eps
        self.min_samples = min_samples
        self.n_sample = int(n_sample)
        self.posterior = bool(posterior)

    def _select(self, ctx, k, rng):
        idx, z, unlabeled = _sample_points(ctx, self.n_sample, rng, self.posterior)
        if self.eps is None:
            eps, m, _ = tune_dbscan(z, unlabeled, k)
        else:
            eps, m = float(self.eps), int(self.min_samples)
        reach = dbscan_reachable(z, unlabeled, eps, m)
        self.last_params_ = {"eps": eps, "min_samples": m}
        self.last_reachable_ = int(reach.sum())
        self.last_info_ = {**self.last_params_, "reachable": self.last_reachable_, "batch": k}
        pool_idx = idx[reach]
        chosen = rng.choice(pool_idx, size=min(k, pool_idx.size), replace=False) if pool_idx.size else pool_idx
        return _fill(np.asarray(chosen, dtype=np.int64), k, ctx, rng)

    def __repr__(self) -> str:
        mode = "auto" if self.eps is None else f"eps={self.eps}, min_samples={self.min_samples}"
        return f"DBSCANSampler({mode}, n_sample={self.n_sample})"


def _near_centres(z, unlabeled, centres, k, radius):
    """Unlabeled sample points within ``radius`` of a centre; radius None = the smallest radius that
    holds ``k`` of them (so the batch comes from the points nearest the centres)."""
    d = np.sqrt(((z[:, None, :] - centres[None, :, :]) ** 2).sum(-1)).min(axis=1)
    d_unl = d[unlabeled]
    if radius is None:
        radius = float(np.sort(d_unl)[min(k, d_unl.size) - 1]) if d_unl.size else 0.0
    return (d <= radius) & unlabeled, radius


class _CentreSampler(Strategy):
    """Shared by the k-means and mean-shift variants: cluster the sampled latents, then draw the batch
    from the unlabeled points within ``radius`` of a centre (None: the smallest radius holding a batch)."""

    def _centres(self, z: np.ndarray, ctx: QueryContext, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _select(self, ctx, k, rng):
        idx, z, unlabeled = _sample_points(ctx, self.n_sample, rng, self.posterior)
        centres = self._centres(z, ctx, rng)
        near, self.last_radius_ = _near_centres(z, unlabeled, centres, k, self.radius)
        self.last_info_ = {"radius": self.last_radius_, "near": int(near.sum()), "centres": int(len(centres)),
                           "batch": k}
        pool_idx = idx[near]
        chosen = rng.choice(pool_idx, size=min(k, pool_idx.size), replace=False) if pool_idx.size else pool_idx
        return _fill(np.asarray(chosen, dtype=np.int64), k, ctx, rng)


class KMeansSampler(_CentreSampler):
    """Paper 000's k-means variant: cluster the sampled latents with k-means and draw the batch from the
    unlabeled points within ``radius`` of a centre (None: the smallest radius holding a full batch).

    Parameters
    ----------
    n_clusters : int or None, default None
        None: the number of classes of the pool.
    radius : float or None, default None
    n_sample : int, default 100
    """

    description = "paper 000: k-means on sampled latents, batch from unlabeled points near the centres"

    def __init__(self, n_clusters: int | None = None, radius: float | None = None, n_sample: int = 100,
                 posterior: bool = True):
        self.n_clusters = n_clusters
        self.radius = radius
        self.n_sample = int(n_sample)
        self.posterior = bool(posterior)

    def _centres(self, z, ctx, rng):
        from sklearn.cluster import KMeans

        c = max(1, min(int(self.n_clusters or ctx.pool.n_classes), z.shape[0]))
        return KMeans(n_clusters=c, n_init=3, random_state=int(rng.integers(2**31))).fit(z).cluster_centers_


class MeanShiftSampler(_CentreSampler):
    """Paper 000's mean-shift variant: the modes of the sampled latents (mean shift; bandwidth estimated
    unless given), then the unlabeled points within ``radius`` of a mode (None: smallest radius holding
    a full batch)."""

    description = "paper 000: mean shift on sampled latents, batch from unlabeled points near the modes"

    def __init__(self, bandwidth: float | None = None, radius: float | None = None, n_sample: int = 100,
                 posterior: bool = True):
        self.bandwidth = bandwidth
        self.radius = radius
        self.n_sample = int(n_sample)
        self.posterior = bool(posterior)

    def _centres(self, z, ctx, rng):
        from sklearn.cluster import MeanShift, estimate_bandwidth

        bw = self.bandwidth
        if bw is None:
            bw = float(estimate_bandwidth(z, quantile=0.3, random_state=int(rng.integers(2**31)))) or 1.0
        return MeanShift(bandwidth=bw).fit(z).cluster_centers_
