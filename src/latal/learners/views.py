"""One learner on each of two representations of the same items, their class probabilities averaged."""

from __future__ import annotations

import dataclasses

import numpy as np

from latal.exceptions import DataError
from latal.learners.base import Learner, fit_extras


class SummedViews(Learner):
    """``learner`` fitted separately on the columns ``[:split]`` and ``[split:]`` of the latents (two
    representations of the same items side by side, such as a UMAP refinement and the encoder's latents),
    predicting the mean of the two fits' class probabilities. A pool-aware learner sees the pool through
    the matching block; a learner that reads the raw items gets them in both fits (twice the cost).

    At 10 labels chosen in the UMAP space, Poisson learning over both graphs beat the UMAP graph alone on
    MNIST and Fashion-MNIST (``learn_on="both"``; BENCHMARKS.md, "Choose in the UMAP space, learn over the
    unrefined latents too").
    """

    def __init__(self, learner: Learner, split: int):
        if int(split) < 1:
            raise ValueError(f"split must be at least 1 (the first block's width); got {split}.")
        self.learner = learner
        self.split = int(split)

    @property
    def uses_pool(self) -> bool:
        return bool(getattr(self.learner, "uses_pool", False))

    @property
    def uses_inputs(self) -> bool:
        return bool(getattr(self.learner, "uses_inputs", False))

    def get_params(self) -> dict:
        params = {"learner": self.learner, "split": self.split}
        if "random_state" in self.learner.get_params():  # the loop reseeds each round's fit through it
            params["random_state"] = self.learner.get_params()["random_state"]
        return params

    def set_params(self, **params) -> SummedViews:
        self.learner = params.pop("learner", self.learner)
        self.split = int(params.pop("split", self.split))
        if params:  # the rest (random_state) belongs to the learner it wraps
            self.learner.set_params(**params)
        return self

    def clone(self, **params) -> SummedViews:
        split = params.pop("split", self.split)
        return SummedViews(params.pop("learner", self.learner).clone(**params), split)

    def _blocks(self, Z) -> tuple[np.ndarray, np.ndarray]:
        Z = np.asarray(Z)
        if Z.ndim != 2 or Z.shape[1] <= self.split:
            raise DataError(f"SummedViews(split={self.split}) needs latents with more than {self.split} columns "
                            f"(two representations side by side); got shape {Z.shape}.")
        return Z[:, : self.split], Z[:, self.split :]

    def fit(self, Z, y, n_classes: int | None = None, pool=None, inputs=None) -> SummedViews:
        self.models_ = []
        for part, cols in zip(self._blocks(Z), (slice(0, self.split), slice(self.split, None))):
            view = None if pool is None else dataclasses.replace(pool, mean=np.asarray(pool.mean)[:, cols], log_var=None)
            self.models_.append(self.learner.clone().fit(part, y, n_classes=n_classes,
                                                         **fit_extras(self.learner, view, inputs)))
        self.n_classes_ = self.models_[0].n_classes_
        self.n_features_ = np.asarray(Z).shape[1]
        return self

    def predict_proba(self, Z, **kwargs) -> np.ndarray:
        if not hasattr(self, "models_"):
            from latal.encoders.base import NotFittedError

            raise NotFittedError("SummedViews is not fitted yet: call fit(Z, y) first.")
        a, b = self._blocks(Z)
        return (np.asarray(self.models_[0].predict_proba(a, **kwargs)) + np.asarray(self.models_[1].predict_proba(b, **kwargs))) / 2

    def transductive_proba(self) -> np.ndarray | None:
        """The mean of the two blocks' propagated pool distributions, when both learners propagate over the
        pool (None otherwise: then :func:`~latal.learners.base.pool_proba` predicts the pool's rows)."""
        parts = [getattr(m, "transductive_proba", None) for m in getattr(self, "models_", ())]
        if len(parts) != 2 or any(p is None for p in parts):
            return None
        a, b = (np.asarray(p()) for p in parts)
        return (a + b) / 2 if a.shape == b.shape else None

    def predict(self, Z, **kwargs) -> np.ndarray:
        return np.argmax(self.predict_proba(Z, **kwargs), axis=1).astype(np.int64)

    def __repr__(self) -> str:
        return f"SummedViews({self.learner!r}, split={self.split})"
