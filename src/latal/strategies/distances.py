"""Distances between latent points (means, or diagonal Gaussians for the J-divergence), computed
from one point to many or in chunks: never an N x N matrix."""

from __future__ import annotations

import numpy as np

METRICS = ("cosine", "euclidean", "sqeuclidean", "jdiv")


def check_metric(metric: str) -> str:
    m = str(metric).lower().replace("-", "_").replace("j_divergence", "jdiv").replace("squared_euclidean", "sqeuclidean")
    if m not in METRICS:
        raise ValueError(f"unknown distance {metric!r}; use one of {list(METRICS)}.")
    return m


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def point_to_set(metric: str, mean: np.ndarray, log_var: np.ndarray | None, i: int,
                 unit: np.ndarray | None = None) -> np.ndarray:
    """Distance from row ``i`` to every row (float64).

    cosine: ``(1 - cos) / 2`` in [0, 1]; euclidean; squared euclidean; jdiv: the symmetric
    J-divergence between the diagonal Gaussians ``N(mean, exp(log_var))``.
    """
    if metric == "cosine":
        u = unit if unit is not None else unit_rows(mean)
        return (1.0 - (u @ u[i]).astype(np.float64)) / 2.0
    diff = (mean - mean[i]).astype(np.float64)
    if metric == "euclidean":
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))
    if metric == "sqeuclidean":
        return np.einsum("ij,ij->i", diff, diff)
    if metric == "jdiv":
        return jdiv_point_to_set(mean, log_var, i, diff=diff)
    raise ValueError(metric)


def jdiv_point_to_set(mean, log_var, i, diff=None) -> np.ndarray:
    """J(x_i || x_u) = 0.5 * sum_d [ (Δ² + σ_i²)/σ_u² + (Δ² + σ_u²)/σ_i² - 2 ] for every u."""
    if log_var is None:
        raise ValueError("the J-divergence needs latent variances (log_var).")
    if diff is None:
        diff = (mean - mean[i]).astype(np.float64)
    var = np.exp(log_var.astype(np.float64))
    vi = var[i]
    d2 = diff * diff
    return 0.5 * np.sum((d2 + vi) / var + (d2 + var) / vi - 2.0, axis=1)


def row_sq_norms(x: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Squared row norms in float64, a block of rows at a time (no float64 copy of ``x``)."""
    out = np.empty(x.shape[0])
    for s in range(0, x.shape[0], chunk):
        b = np.asarray(x[s : s + chunk], dtype=np.float64)
        out[s : s + chunk] = np.einsum("ij,ij->i", b, b)
    return out


def max_distance_bound(metric: str, mean: np.ndarray) -> float:
    """The thesis's linear-time normaliser: twice the largest distance of a point to the origin
    (squared for the squared Euclidean distance); 1 for the cosine distance, already in [0, 1].
    By the triangle inequality it bounds every Euclidean distance in the data."""
    if metric == "cosine":
        return 1.0
    r = float(np.sqrt(row_sq_norms(mean).max()))
    bound = 2.0 * r
    if metric == "sqeuclidean":
        bound = bound * bound
    return max(bound, 1e-12)
