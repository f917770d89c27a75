"""Passive learning: a uniformly random batch."""

from __future__ import annotations

import numpy as np

from latal.strategies.base import QueryContext, Strategy


class RandomSampling(Strategy):
    """Uniformly random unlabeled items (the thesis's passive-learning baseline)."""

    description = "uniformly random batch (passive learning baseline)"

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        return np.sort(rng.choice(ctx.pool.unlabeled, size=k, replace=False))
