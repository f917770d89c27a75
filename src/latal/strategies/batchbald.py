"""BatchBALD (Kirsch, van Amersfoort & Gal, NeurIPS 2019): greedy maximisation of the mutual information
between the *joint* labels of a batch and the model weights, from MC-dropout samples.

``a(x_1..x_n) = H(y_1..y_n) - sum_i E_w H(y_i | w)``. The greedy step adds the candidate that most
increases it. The joint entropy is exact while the configurations of the batch's labels number at most
``n_configs`` (C^n); beyond that it is estimated from ``n_configs`` label configurations sampled from the
model's predictive distribution (draw a dropout mask t, then each label from p_t), with importance
weights, as in the paper's implementation.
"""

from __future__ import annotations

import numpy as np

from latal.strategies.base import Needs, QueryContext, Strategy
from latal.strategies.batch import top_k
from latal.strategies.bayesian import _entropy, bald, mc_samples


def _joint_entropies(P: np.ndarray, q: np.ndarray | None, probs: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Entropy of (batch labels, y_i) for every candidate i.

    ``P`` (M, T): probability of each batch configuration under each sample; ``q`` (M,) the
    configurations' sampling probabilities (None: P enumerates every configuration exactly);
    ``probs`` (N, T, C) the candidates' per-sample class probabilities."""
    M, T = P.shape
    N, _, C = probs.shape
    out = np.empty(N)
    for s in range(0, N, chunk):
        block = probs[s : s + chunk]  # (b, T, C)
        J = (P @ block.transpose(1, 0, 2).reshape(T, -1)).reshape(M, block.shape[0], C) / T  # (M, b, C)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(J > 0, J * np.log(J), 0.0)
        if q is None:
            out[s : s + chunk] = -terms.sum(axis=(0, 2))
        else:
            out[s : s + chunk] = -(terms.sum(axis=2) / q[:, None]).mean(axis=0)
    return out


def batchbald_greedy(samples: np.ndarray, k: int, rng: np.random.Generator, n_configs: int = 1000) -> tuple[np.ndarray, list[float]]:
    """Greedy BatchBALD over MC samples ``(T, N, C)``; returns the chosen positions and the batch's
    BatchBALD value after each addition (in nats)."""
    T, N, C = samples.shape
    probs = np.ascontiguousarray(samples.transpose(1, 0, 2), dtype=np.float64)  # (N, T, C)
    cond = _entropy(probs).mean(axis=1)  # E_w H(y_i | w), (N,)
    chosen: list[int] = []
    values: list[float] = []
    P = np.ones((1, T))
    q = None
    configs = None  # sampled mode: (M, len(chosen)) labels, and the mask each configuration was drawn under
    masks = None
    available = np.ones(N, dtype=bool)
    for _ in range(min(k, N)):
        joint = _joint_entropies(P, q, probs)
        score = joint - cond - (cond[chosen].sum() if chosen else 0.0)
        score[~available] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        values.append(float(score[best]))
        available[best] = False
        p_best = probs[best]  # (T, C)
        if q is None and P.shape[0] * C <= n_configs:  # still exact: enumerate the configurations
            P = (P[:, None, :] * p_best.T[None, :, :]).reshape(-1, T)
            continue
        if q is None:  # switch to sampling: draw configurations of the whole batch so far
            masks = rng.integers(0, T, size=n_configs)
            configs = np.stack([_draw(probs[j][masks], rng) for j in chosen], axis=1)
            P = np.ones((n_configs, T))
            for col, j in enumerate(chosen):
                P *= probs[j][:, configs[:, col]].T
        else:
            y = _draw(p_best[masks], rng)
            configs = np.concatenate([configs, y[:, None]], axis=1)
            P = P * p_best[:, y].T
        q = P.mean(axis=1)
    return np.asarray(chosen, dtype=np.int64), values


def _draw(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``p`` (rows sum to 1)."""
    cdf = np.cumsum(p, axis=1)
    u = rng.random(p.shape[0])[:, None] * cdf[:, -1:]
    return np.minimum((u > cdf).sum(axis=1), p.shape[1] - 1)


class BatchBALD(Strategy):
    """BatchBALD with MC dropout.

    Parameters
    ----------
    n_samples : int, default 20
        T, stochastic forward passes.
    n_configs : int, default 1000
        Label configurations: exact enumeration up to this many, sampled estimation beyond.
    subsample : int or None, default 5000
        MC passes over this many random unlabeled items per round (None: the whole pool).
    candidates : int or None, default 1000
        The greedy search runs over the ``candidates`` items of highest BALD among those (None: all):
        the first greedy pick is the BALD maximum anyway, and later ones rarely come from far down the
        BALD ranking.
    """

    needs = Needs.LEARNER | Needs.SAMPLING
    description = "BatchBALD: greedy joint mutual information over MC-dropout samples (T=20)"

    def __init__(self, n_samples: int = 20, n_configs: int = 1000, subsample: int | None = 5000,
                 candidates: int | None = 1000):
        for name, v in (("n_samples", n_samples), ("n_configs", n_configs)):
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive integer; got {v}.")
        self.n_samples = int(n_samples)
        self.n_configs = int(n_configs)
        self.subsample = None if subsample is None else int(subsample)
        self.candidates = None if candidates is None else int(candidates)

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        cand, samples = mc_samples(ctx, self.subsample, self.n_samples, k, rng)
        if self.candidates is not None and self.candidates < cand.size:
            keep = np.sort(top_k(bald(samples), max(k, self.candidates)))
            cand, samples = cand[keep], samples[:, keep]
        chosen, values = batchbald_greedy(samples, k, rng, self.n_configs)
        self.last_info_ = {"batchbald_nats": values[-1] if values else 0.0}
        return cand[chosen]

    def __repr__(self) -> str:
        return f"BatchBALD(n_samples={self.n_samples}, n_configs={self.n_configs})"
