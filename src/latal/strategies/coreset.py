"""Core-Set (Sener & Savarese, 2018): k-center greedy over the latent space."""

from __future__ import annotations

import numpy as np

from latal._validation import check_fraction
from latal.strategies.base import QueryContext, Strategy


def min_sq_distances(points: np.ndarray, centres: np.ndarray, chunk_elems: int = 1 << 22) -> np.ndarray:
    """Squared Euclidean distance of every row of ``points`` to its nearest row of ``centres``, in chunks
    (never a full points x centres matrix)."""
    out = np.full(points.shape[0], np.inf, dtype=np.float64)
    if centres.shape[0] == 0:
        return out
    p = points.astype(np.float32, copy=False)
    p_sq = np.einsum("ij,ij->i", p, p)
    step = max(1, chunk_elems // max(1, points.shape[0]))
    for start in range(0, centres.shape[0], step):
        c = centres[start : start + step].astype(np.float32, copy=False)
        d2 = p_sq[:, None] + np.einsum("ij,ij->i", c, c)[None, :] - 2.0 * (p @ c.T)
        np.minimum(out, d2.min(axis=1), out=out)
    return np.maximum(out, 0.0)


def _sq_dist_to(points: np.ndarray, i: int, sq_norms: np.ndarray | None = None) -> np.ndarray:
    """Squared distances of every point to point ``i``: ``|x|^2 - 2 x.c + |c|^2`` with one matrix-vector
    product (one read of the points, no n x d temporary); clipped at 0."""
    if sq_norms is None:
        sq_norms = _row_sq_norms(points)
    d = points @ points[i]
    return np.maximum(sq_norms - 2.0 * d + sq_norms[i], 0.0)


def _row_sq_norms(points: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    out = np.empty(points.shape[0])
    for s in range(0, points.shape[0], chunk):
        b = np.asarray(points[s : s + chunk], dtype=np.float64)
        out[s : s + chunk] = np.einsum("ij,ij->i", b, b)
    return out


def k_center_greedy(points: np.ndarray, labeled_mask: np.ndarray, k: int, n_outliers: int = 0) -> np.ndarray:
    """Greedy 2-approximation of the k-center problem: repeatedly take the point farthest from every
    centre so far (the labeled points, then the chosen ones). One running minimum-distance vector:
    O(n k d) time, O(n) memory.

    ``n_outliers > 0`` is the robust variant: at each step the ``n_outliers`` farthest points are
    treated as outliers and the next one is taken instead, so isolated points are not queried.
    """
    chosen: list[int] = []
    sq_norms = _row_sq_norms(points)
    if labeled_mask.any():
        dist = min_sq_distances(points, points[labeled_mask])
    else:  # no centre yet: start from the point nearest the data's mean
        m = points.mean(axis=0, dtype=np.float64)
        chosen.append(int(np.argmin(sq_norms - 2.0 * (points @ m.astype(points.dtype)))))
        dist = _sq_dist_to(points, chosen[0], sq_norms)
    dist[labeled_mask] = -1.0  # taken points stay at -1: minimum() with a distance >= 0 keeps them there
    dist[chosen] = -1.0
    while len(chosen) < k:
        if n_outliers > 0:
            rank = min(n_outliers, int((dist >= 0).sum()) - 1)
            nxt = int(np.argpartition(-dist, rank)[rank])
        else:
            nxt = int(np.argmax(dist))
        chosen.append(nxt)
        np.minimum(dist, _sq_dist_to(points, nxt, sq_norms), out=dist)
        dist[nxt] = -1.0
    return np.asarray(chosen, dtype=np.int64)


class CoreSet(Strategy):
    """Core-Set: k-center greedy in latent space (Sener & Savarese, 2018; paper 000's baseline).

    Parameters
    ----------
    outlier_fraction : float, default 0.0
        Robust variant: skip this share of the unlabeled pool as outliers (the farthest points at each
        step), in the spirit of the paper's robust k-center with an outlier budget.
    """

    description = "Core-Set: k-center greedy over the latents (robust variant: outlier_fraction > 0)"

    def __init__(self, outlier_fraction: float = 0.0):
        self.outlier_fraction = check_fraction(outlier_fraction, "outlier_fraction", low_inclusive=True) \
            if outlier_fraction else 0.0

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        view = ctx.pool
        labeled = view.labels != -1
        n_out = int(self.outlier_fraction * view.unlabeled.shape[0])
        n_out = min(n_out, view.unlabeled.shape[0] - k)
        return k_center_greedy(np.asarray(view.mean, dtype=np.float32), labeled, k, n_out)

    def __repr__(self) -> str:
        return f"CoreSet(outlier_fraction={self.outlier_fraction})"
