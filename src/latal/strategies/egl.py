"""Expected gradient length (Settles, Craven & Ray, 2008): the expected norm of the loss gradient
if the item were labeled, the expectation taken over the learner's own predicted labels."""

from __future__ import annotations

import numpy as np

from latal.strategies.base import Needs, QueryContext, Strategy
from latal.strategies.batch import top_k


def expected_gradient_length(proba: np.ndarray, features: np.ndarray) -> np.ndarray:
    """EGL of the softmax layer, exactly and without forming a gradient.

    For label y the cross-entropy gradient with respect to the last layer's weights and bias is
    ``(p - e_y) (h, 1)^T``, whose norm is ``||p - e_y|| * sqrt(||h||^2 + 1)``; so
    ``EGL = sqrt(||h||^2 + 1) * sum_y p_y ||p - e_y||`` with
    ``||p - e_y||^2 = ||p||^2 - 2 p_y + 1``.
    """
    p = np.asarray(proba, dtype=np.float64)
    h = np.asarray(features, dtype=np.float64)
    p_sq = np.einsum("ij,ij->i", p, p)
    norms = np.sqrt(np.maximum(p_sq[:, None] - 2.0 * p + 1.0, 0.0))
    return np.sqrt(np.einsum("ij,ij->i", h, h) + 1.0) * np.sum(p * norms, axis=1)


class EGL(Strategy):
    """Top-k by expected gradient length of the learner's softmax layer. With the MLP the features are its
    last hidden layer (``learner.embed``); with a linear learner (logistic regression) they are the latents
    themselves, which makes the EGL exact for all of its parameters."""

    needs = Needs.LEARNER
    description = "expected gradient length of the learner's softmax layer, top-k"

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        cand = np.asarray(ctx.pool.unlabeled)
        proba, feats = ctx.proba_and_features(cand)
        return cand[top_k(expected_gradient_length(proba, feats), k)]
