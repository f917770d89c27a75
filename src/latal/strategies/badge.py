"""BADGE (Ash et al., ICLR 2020): k-means++ seeding over gradient embeddings of the learner's last layer.

The gradient embedding of item i under its own predicted label is ``g_i = (p_i - e_yhat_i) (x) h_i``
(C x H: the cross-entropy gradient with respect to the softmax layer's weights). Its inner products
factor: ``<g_i, g_j> = <a_i, a_j> <h_i, h_j>`` with ``a = p - onehot(argmax p)``, so every distance the
seeding needs is two small products and the n x (C H) matrix is never formed: a 60k pool with 10
classes and 512 hidden units needs 60k x 522 floats instead of 60k x 5,120.
"""

from __future__ import annotations

import numpy as np

from latal.strategies.base import Needs, QueryContext, Strategy, subsample_unlabeled
from latal.strategies.distances import row_sq_norms


def gradient_factors(proba: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a, h)`` with ``g_i = a_i (x) h_i``: ``a = p - onehot(argmax p)`` (n, C) and ``h`` (n, H), float32."""
    p = np.asarray(proba, dtype=np.float32)
    a = p.copy()
    a[np.arange(p.shape[0]), p.argmax(axis=1)] -= 1.0
    return a, np.asarray(features, dtype=np.float32)


def kmeans_pp_factored(a: np.ndarray, h: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding on ``g_i = a_i (x) h_i`` without forming ``g``: the first centre is the largest
    gradient, each next one is drawn with probability proportional to its squared distance to the
    nearest centre so far (one running vector; O(n (C + H)) per centre, O(n) extra memory)."""
    norm_g = row_sq_norms(a) * row_sq_norms(h)

    def sq_dist_to(c: int) -> np.ndarray:
        dot = (a @ a[c]).astype(np.float64) * (h @ h[c]).astype(np.float64)
        return np.maximum(norm_g + norm_g[c] - 2.0 * dot, 0.0)

    first = int(np.argmax(norm_g))
    chosen = [first]
    dist = sq_dist_to(first)
    dist[first] = 0.0
    taken = np.zeros(a.shape[0], dtype=bool)
    taken[first] = True
    while len(chosen) < k:
        cdf = np.cumsum(dist)
        total = cdf[-1]
        if total <= 0.0 or not np.isfinite(total):  # every remaining gradient coincides with a centre
            nxt = int(rng.choice(np.flatnonzero(~taken)))
        else:  # D^2 sampling: what rng.choice(n, p=dist / total) draws, without its O(n) checks and copies
            nxt = int(np.searchsorted(cdf, rng.random() * total, side="right"))
        chosen.append(nxt)
        taken[nxt] = True
        np.minimum(dist, sq_dist_to(nxt), out=dist)
        dist[taken] = 0.0
    return np.asarray(chosen, dtype=np.int64)


class BADGE(Strategy):
    """Batch Active learning by Diverse Gradient Embeddings (Ash et al., 2020).

    k-means++ seeding over the gradient embeddings of every unlabeled item (the learner's last layer,
    hypothesised label = its own prediction): uncertain items have long gradients, and the D^2
    sampling spreads the batch over distinct gradient directions. With the MLP the features are its
    last hidden layer; with a linear learner (``logistic``) they are the latents.

    Parameters
    ----------
    subsample : int or None, default None
        Seed over this many random unlabeled items (None: all of them, as in the paper).
    """

    needs = Needs.LEARNER
    description = "BADGE: k-means++ over last-layer gradient embeddings (factorised, never materialised)"

    def __init__(self, subsample: int | None = None):
        self.subsample = None if subsample is None else int(subsample)

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        cand = subsample_unlabeled(ctx, self.subsample, k, rng)
        proba, feats = ctx.proba_and_features(cand)
        a, h = gradient_factors(proba, feats)
        return cand[kmeans_pp_factored(a, h, k, rng)]

    def __repr__(self) -> str:
        return f"BADGE(subsample={self.subsample})"
