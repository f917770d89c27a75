"""The Learner contract (scikit-learn's): ``fit(Z, y) -> self``, ``predict_proba(Z)``, ``predict(Z)``."""

from __future__ import annotations

import copy

import numpy as np

from latal._validation import check_latent, constructor_params
from latal.encoders.base import NotFittedError
from latal.exceptions import DataError


class Learner:
    """Base class. Constructors only store parameters; ``fit`` starts from scratch every call
    (the thesis re-initialises the classifier each round).

    ``fit`` takes ``n_classes`` so that ``predict_proba`` always has one column per class of the
    pool, even when some class has no label yet.
    """

    #: whether the learner can draw Monte-Carlo samples (``predict_proba_samples``)
    supports_sampling: bool = False

    def get_params(self) -> dict:
        return constructor_params(self)

    def set_params(self, **params) -> Learner:
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {key!r}; it has {sorted(valid)}.")
            setattr(self, key, value)
        return self

    def clone(self, **params) -> Learner:
        """An unfitted copy with the same parameters (``params`` override)."""
        new = type(self)(**{k: copy.deepcopy(v) for k, v in self.get_params().items()})
        return new.set_params(**params)

    def predict(self, Z) -> np.ndarray:
        return np.argmax(self.predict_proba(Z), axis=1).astype(np.int64)

    def score(self, Z, y) -> float:
        y = np.asarray(y)
        return float(np.mean(self.predict(Z) == y))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _check_fit_input(Z, y, n_classes):
        Z = check_latent(Z, "training latents")
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != Z.shape[0]:
            raise DataError(f"y must have shape ({Z.shape[0]},), one label per row of Z; got {y.shape}.")
        if y.dtype.kind not in "iu":
            raise DataError(f"y must hold integer class indices; got dtype {y.dtype}.")
        y = y.astype(np.int64)
        if y.min() < 0:
            raise DataError("y holds a negative class index; unlabeled items cannot be used for fitting.")
        n_classes = int(n_classes) if n_classes is not None else int(y.max()) + 1
        if y.max() >= n_classes:
            raise DataError(f"y holds class {int(y.max())} but n_classes is {n_classes}.")
        return Z, y, n_classes

    def _check_predict_input(self, Z) -> np.ndarray:
        if not hasattr(self, "n_classes_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(Z, y) first.")
        Z = check_latent(Z, "latents to predict")
        if Z.shape[1] != self.n_features_:
            raise DataError(f"{type(self).__name__} was fitted on {self.n_features_} dimensions; got {Z.shape[1]}.")
        return Z


def fit_extras(learner: Learner, pool=None, inputs=None) -> dict:
    """The keyword arguments ``learner.fit`` takes beyond ``(Z, y, n_classes)``: the pool view for a learner
    that uses the unlabeled pool (``uses_pool``), the pool's raw items for one that reads them (``uses_inputs``)."""
    extra = {}
    if getattr(learner, "uses_pool", False):
        extra["pool"] = pool
    if getattr(learner, "uses_inputs", False):
        extra["inputs"] = inputs
    return extra


def pool_proba(model: Learner, rows, inputs=None, items=None) -> np.ndarray:
    """Class distributions of the pool's items (all, or those indexed by ``items``) from ``model``, fitted on
    this pool: what a transductive learner computed for the pool (label spreading's and Poisson learning's
    propagated distributions, which their inductive vote only approximates), else ``predict_proba`` on the
    items' ``rows`` (and their raw items, ``inputs``, for a learner that reads them). ``rows`` are the whole
    pool's, one per item. Returns ``(n or len(items), n_classes)``."""
    rows = np.asarray(rows)
    transductive = getattr(model, "transductive_proba", None)
    proba = transductive() if transductive is not None else None
    if proba is not None and np.shape(proba)[0] == rows.shape[0]:
        proba = np.asarray(proba)
        return proba if items is None else proba[np.asarray(items, dtype=np.int64)]
    if items is not None:
        items = np.asarray(items, dtype=np.int64)
        rows = rows[items]
        inputs = None if inputs is None else np.asarray(inputs)[items]
    if getattr(model, "uses_inputs", False):
        return np.asarray(model.predict_proba(rows, inputs=inputs))
    return np.asarray(model.predict_proba(rows))
