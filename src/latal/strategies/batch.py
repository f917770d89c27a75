"""Batch rules (thesis section 3.4.3): how a batch of k is drawn from per-item scores.

A rule may first ``restrict`` the candidates (subsampling happens before anything is scored, so
the learner predicts only on the subsample), then ``choose`` positions among the scored candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from latal._validation import check_fraction
from latal._memo import cached_by_array
from latal.strategies.distances import check_metric, max_distance_bound, point_to_set, unit_rows


@dataclass
class Scored:
    """Candidates with their scores, as a batch rule sees them."""

    indices: np.ndarray            # pool indices of the candidates
    informativeness: np.ndarray    # gamma * u + (1 - gamma) * r, in [0, 1]
    uncertainty: np.ndarray | None
    representativeness: np.ndarray | None
    mean: np.ndarray               # (n_pool, d) latent means of the whole pool
    log_var: np.ndarray | None     # (n_pool, d) or None
    cache: dict


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores, best first (ties broken by position, deterministically)."""
    if k >= scores.shape[0]:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


class BatchRule:
    needs_log_var = False

    def restrict(self, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        return candidates

    def choose(self, scored: Scored, k: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({args})"


class TopK(BatchRule):
    """The k most informative candidates."""

    def choose(self, scored, k, rng):
        return top_k(scored.informativeness, k)


class RandomPartitions(BatchRule):
    """Split the candidates at random into k equal parts; take the most informative of each."""

    def choose(self, scored, k, rng):
        s = scored.informativeness
        n = s.shape[0]
        perm = rng.permutation(n)
        sizes = np.full(k, n // k)
        sizes[: n % k] += 1
        segment = np.repeat(np.arange(k), sizes)
        order = np.lexsort((-s[perm], segment))  # by segment, best score first inside it
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        return perm[order[starts]]


class Subsample(BatchRule):
    """Score only a random ``fraction`` of the unlabeled pool (at least k items), then apply ``inner``.

    Parameters
    ----------
    fraction : float in (0, 1], default 0.1
    inner : BatchRule, default RandomPartitions()
    """

    def __init__(self, fraction: float = 0.1, inner: BatchRule | None = None):
        self.fraction = check_fraction(fraction, "subsample fraction")
        self.inner = inner if inner is not None else RandomPartitions()
        self.needs_log_var = self.inner.needs_log_var

    def restrict(self, candidates, k, rng):
        m = max(k, int(math.ceil(self.fraction * candidates.shape[0])))
        if m >= candidates.shape[0]:
            sub = candidates
        else:
            sub = np.sort(rng.choice(candidates, size=m, replace=False))
        return self.inner.restrict(sub, k, rng)

    def choose(self, scored, k, rng):
        return self.inner.choose(scored, k, rng)


class GreedyDiversity(BatchRule):
    """Greedy informative, representative and diverse batch (after Xu et al., thesis section 3.4.3).

    Starts from the candidate with the highest informativeness, then repeatedly adds the candidate
    maximising ``alpha * u + beta * r + (1 - alpha - beta) * d(x, B) / d_max``, with
    ``d(x, B)`` the distance to the nearest batch member, kept as one running minimum vector
    (O(n) memory, O(n k d) time).

    ``d_max`` is the thesis's linear-time bound: twice the largest distance of a pool point to the
    origin (squared for the squared Euclidean distance); the cosine distance ``(1 - cos) / 2`` is in
    [0, 1] already. The J-divergence has no such bound; it is divided by the largest divergence from
    the first batch member, which bounds every later ``d(x, B)`` since the running minimum only falls.

    Parameters
    ----------
    alpha, beta : float, alpha + beta <= 1
    distance : {"euclidean", "cosine", "sqeuclidean", "jdiv"}
    """

    def __init__(self, alpha: float = 0.5, beta: float = 0.0, distance: str = "euclidean"):
        alpha, beta = float(alpha), float(beta)
        if not (0.0 <= alpha <= 1.0 and 0.0 <= beta <= 1.0 and alpha + beta <= 1.0 + 1e-12):
            raise ValueError(f"greedy diversity needs 0 <= alpha, beta and alpha + beta <= 1; got {alpha}, {beta}.")
        self.alpha = alpha
        self.beta = beta
        self.distance = check_metric(distance)
        self.needs_log_var = self.distance == "jdiv"

    def choose(self, scored, k, rng):
        idx = scored.indices
        mean = scored.mean[idx]
        log_var = scored.log_var[idx] if scored.log_var is not None else None
        unit = None
        if self.distance == "cosine":
            unit = unit_rows(mean)
        d_max = 1.0
        if self.distance != "jdiv":  # depends on the pool only: once per pool
            d_max = cached_by_array(scored.cache if scored.cache is not None else {}, scored.mean,
                                    ("max_distance_bound", self.distance),
                                    lambda: max_distance_bound(self.distance, scored.mean))
        u = scored.uncertainty if scored.uncertainty is not None else np.zeros(idx.shape[0])
        r = scored.representativeness if scored.representativeness is not None else np.zeros(idx.shape[0])
        static = self.alpha * u + self.beta * r
        first = int(np.argmax(scored.informativeness))
        nearest = point_to_set(self.distance, mean, log_var, first, unit)
        if self.distance == "jdiv":
            d_max = max(float(nearest.max()), 1e-12)
        chosen = [first]
        taken = np.zeros(idx.shape[0], dtype=bool)
        taken[first] = True
        w = 1.0 - self.alpha - self.beta
        for _ in range(k - 1):
            gain = static + w * np.clip(nearest / d_max, 0.0, 1.0)
            gain[taken] = -np.inf
            nxt = int(np.argmax(gain))
            chosen.append(nxt)
            taken[nxt] = True
            np.minimum(nearest, point_to_set(self.distance, mean, log_var, nxt, unit), out=nearest)
        return np.asarray(chosen, dtype=np.int64)


BATCH_RULES = {
    "topk": TopK,
    "partitions": RandomPartitions,
    "greedy": GreedyDiversity,
}
