"""Core-Set (Sener & Savarese, 2018): k-center greedy over the latent space."""

from __future__ import annotations

import numpy as np

from latal._validation import check_fraction
from latal.strategies.base import QueryContext, Strategy
from latal.strategies.distances import row_sq_norms


def min_sq_distances(points: np.ndarray, centres: np.ndarray, chunk_elems: int = 1 << 22) -> np.ndarray:
    """Squared Euclidean distance of every row of ``points`` to its nearest row of ``centres``: blocks of
    rows against blocks of centres, each a matrix product of about ``chunk_elems`` distances (never a
    full points x centres matrix; the points are read once per centre block, not once per centre)."""
    n = points.shape[0]
    out = np.full(n, np.inf, dtype=np.float64)
    if centres.shape[0] == 0:
        return out
    c_all = np.asarray(centres, dtype=np.float32)
    c_sq_all = np.einsum("ij,ij->i", c_all, c_all)
    c_step = min(c_all.shape[0], 4096)
    rows = max(1, chunk_elems // c_step)
    for r0 in range(0, n, rows):
        p = np.asarray(points[r0 : r0 + rows], dtype=np.float32)
        p_sq = np.einsum("ij,ij->i", p, p)
        for c0 in range(0, c_all.shape[0], c_step):
            c, c_sq = c_all[c0 : c0 + c_step], c_sq_all[c0 : c0 + c_step]
            d2 = (c_sq[None, :] - 2.0 * (p @ c.T)).min(axis=1) + p_sq
            np.minimum(out[r0 : r0 + rows], d2, out=out[r0 : r0 + rows])
    return np.maximum(out, 0.0)


def _as_tensor(points: np.ndarray):
    """A float32 torch view of ``points`` (no copy for float32 arrays, read-only ones and memory maps
    included: nothing here writes to it)."""
    import warnings

    import torch

    a = np.ascontiguousarray(points, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "non-writable array": it is only read
        return torch.from_numpy(a)


def k_center_greedy(points: np.ndarray, labeled_mask: np.ndarray, k: int, n_outliers: int = 0) -> np.ndarray:
    """Greedy 2-approximation of the k-center problem: repeatedly take the point farthest from every
    centre so far (the labeled points, then the chosen ones). One running minimum-distance vector:
    O(n k d) time, O(n) memory.

    Each step is one fused matrix-vector product ``|x|^2 - 2 X c`` (torch ``addmv``, multi-threaded,
    float32) and an in-place minimum: one read of the points per centre, no n x d temporary.

    ``n_outliers > 0`` is the robust variant: at each step the ``n_outliers`` farthest points are
    treated as outliers and the next one is taken instead, so isolated points are not queried.
    """
    import torch

    P = _as_tensor(points)
    sq = torch.from_numpy(row_sq_norms(points).astype(np.float32))
    chosen: list[int] = []
    if labeled_mask.any():
        dist = torch.from_numpy(min_sq_distances(points, points[labeled_mask]).astype(np.float32))
    else:  # no centre yet: start from the point nearest the data's mean
        m = torch.from_numpy(points.mean(axis=0, dtype=np.float64).astype(np.float32))
        chosen.append(int(torch.argmin(torch.addmv(sq, P, m, alpha=-2.0))))
        dist = torch.clamp(torch.addmv(sq, P, P[chosen[0]], alpha=-2.0) + sq[chosen[0]], min=0.0)
    taken = torch.from_numpy(labeled_mask.copy())
    if chosen:
        taken[chosen[0]] = True
    dist[taken] = -1.0  # taken points stay at -1: minimum() with a distance >= 0 keeps them there
    new = torch.empty_like(dist)
    while len(chosen) < k:
        if n_outliers > 0:
            rank = min(n_outliers, int((dist >= 0).sum()) - 1)
            nxt = int(torch.topk(dist, rank + 1).indices[rank])
        else:
            nxt = int(torch.argmax(dist))
        chosen.append(nxt)
        torch.addmv(sq, P, P[nxt], alpha=-2.0, out=new)
        new += sq[nxt]
        torch.minimum(dist, new.clamp_(min=0.0), out=dist)
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
