"""Informativeness sampling: an uncertainty measure, optionally mixed with a representativeness
measure by gamma, times a batch rule (thesis chapter 3)."""

from __future__ import annotations

import time

import numpy as np

from latal.strategies.base import Needs, QueryContext, Strategy
from latal.strategies.batch import BatchRule, Scored, TopK
from latal.strategies.representativeness import Representativeness


class Informativeness(Strategy):
    """``gamma * uncertainty + (1 - gamma) * representativeness``, selected with a batch rule.

    Parameters
    ----------
    uncertainty : callable (n, C) probabilities -> (n,) scores in [0, 1], or None
        :class:`Margin`, :class:`LeastConfident`, :class:`Entropy`. None scores by
        representativeness alone (no learner needed).
    representativeness : Representativeness or None
        :class:`Density`, :class:`KLToPrior`, :class:`DistanceToOrigin`.
    gamma : float in [0, 1], default 1 without representativeness, 0.5 with it
    batch : BatchRule, default TopK()
    """

    def __init__(self, uncertainty=None, representativeness: Representativeness | None = None,
                 gamma: float | None = None, batch: BatchRule | None = None, description: str = ""):
        if uncertainty is None and representativeness is None:
            raise ValueError("give an uncertainty measure, a representativeness measure, or both.")
        if gamma is None:
            gamma = 0.5 if (uncertainty is not None and representativeness is not None) else 1.0
        gamma = float(gamma)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1]; got {gamma}.")
        if uncertainty is not None and representativeness is None and gamma != 1.0:
            raise ValueError(f"gamma={gamma} mixes in representativeness, but none is given; add one or set gamma=1.")
        self.uncertainty = uncertainty
        self.representativeness = representativeness
        self.gamma = gamma
        self.batch = batch if batch is not None else TopK()
        self.description = description
        needs = Needs.NOTHING
        if uncertainty is not None:
            needs |= Needs.LEARNER
        if representativeness is not None:
            needs |= representativeness.needs
        if self.batch.needs_log_var:
            needs |= Needs.LOG_VAR
        self.needs = needs

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        t0 = time.perf_counter()
        candidates = self.batch.restrict(np.asarray(ctx.pool.unlabeled), k, rng)
        u = self.uncertainty(ctx.predict_proba(candidates)) if self.uncertainty is not None else None
        r = self.representativeness.scores(ctx)[candidates] if self.representativeness is not None else None
        if u is None:
            info = r
        elif r is None:
            info = u
        else:
            info = self.gamma * u + (1.0 - self.gamma) * r
        ctx.timings["score"] = ctx.timings.get("score", 0.0) + time.perf_counter() - t0
        scored = Scored(candidates, info, u, r, ctx.pool.mean, ctx.pool.log_var, ctx.cache)
        return candidates[self.batch.choose(scored, k, rng)]

    def __repr__(self) -> str:
        parts = [repr(self.uncertainty)] if self.uncertainty is not None else []
        if self.representativeness is not None:
            parts += [repr(self.representativeness), f"gamma={self.gamma}"]
        parts.append(repr(self.batch))
        return f"Informativeness({', '.join(parts)})"
