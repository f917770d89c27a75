"""Uncertainty measures: tiny pure functions over probabilities, each in [0, 1] with 1 = most uncertain
(thesis section 3.4.1)."""

from __future__ import annotations

import numpy as np


def _check(proba) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities must have shape (n, classes>=2); got {p.shape}.")
    return p


def least_confident(proba) -> np.ndarray:
    """``1 - max_c p(c|x)`` (in [0, 1 - 1/C]; the thesis uses it unscaled, as here)."""
    p = _check(proba)
    return np.clip(1.0 - p.max(axis=1), 0.0, 1.0)


def margin(proba) -> np.ndarray:
    """``1 - (p_top1 - p_top2)``."""
    p = _check(proba)
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return np.clip(1.0 - (top2[:, 1] - top2[:, 0]), 0.0, 1.0)


def entropy(proba) -> np.ndarray:
    """Shannon entropy divided by ``log C``."""
    p = _check(proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    return np.clip(h / np.log(p.shape[1]), 0.0, 1.0)


class _Measure:
    fn = staticmethod(margin)
    name = ""

    def __call__(self, proba) -> np.ndarray:
        return type(self).fn(proba)

    def __repr__(self) -> str:
        return type(self).__name__ + "()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class LeastConfident(_Measure):
    """Least-confident uncertainty."""

    fn = staticmethod(least_confident)
    name = "least_confident"


class Margin(_Measure):
    """Margin uncertainty (the thesis's choice)."""

    fn = staticmethod(margin)
    name = "margin"


class Entropy(_Measure):
    """Normalised entropy."""

    fn = staticmethod(entropy)
    name = "entropy"


UNCERTAINTY = {m.name: m for m in (LeastConfident, Margin, Entropy)}
