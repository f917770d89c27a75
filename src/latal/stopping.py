"""Stopping criteria for a labeling session: when more labels stop paying off.

Each criterion sees, after every round's fit, the pool and the fitted learner, and answers whether it
fires. The loop records the label count at which each first fires (and can halt there); the label
counts are what a team needs to decide when to stop paying annotators.
"""

from __future__ import annotations

import numpy as np

from latal.registry import Registry
from latal.strategies.uncertainty import UNCERTAINTY

STOPPING: Registry = Registry("stopping criterion", "stopping criteria")


class StoppingCriterion:
    """Base: :meth:`update` is called once per round, after the learner is fitted."""

    name = ""

    def update(self, pool, learner, rng: np.random.Generator) -> bool:
        raise NotImplementedError

    #: what the last update measured (reported in the round's record)
    last_value_: float | None = None


def cohen_kappa(a: np.ndarray, b: np.ndarray, n_classes: int) -> float:
    """Cohen's kappa between two label vectors (1.0 when they agree everywhere)."""
    a, b = np.asarray(a), np.asarray(b)
    observed = float(np.mean(a == b))
    pa = np.bincount(a, minlength=n_classes) / a.size
    pb = np.bincount(b, minlength=n_classes) / b.size
    expected = float(pa @ pb)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


class StabilizingPredictions(StoppingCriterion):
    """Stabilizing predictions (Bloodgood & Vijay-Shanker, CoNLL 2009): fires when consecutive models
    agree on a fixed *stop set* of unlabeled items: the mean Cohen's kappa of the last ``window``
    consecutive pairs reaches ``threshold``.

    Parameters
    ----------
    threshold : float, default 0.99 (the paper's)
    window : int, default 3 (the paper's: three consecutive agreements)
    stop_set : int, default 2000
        Size of the stop set, drawn once from the items unlabeled when the criterion first runs.
    """

    name = "stabilizing"

    def __init__(self, threshold: float = 0.99, window: int = 3, stop_set: int = 2000):
        if not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"threshold must lie in (0, 1]; got {threshold}.")
        if int(window) < 1 or int(stop_set) < 1:
            raise ValueError("window and stop_set must be positive integers.")
        self.threshold = float(threshold)
        self.window = int(window)
        self.stop_set = int(stop_set)
        self._set = None
        self._previous = None
        self.kappas_: list[float] = []

    def update(self, pool, learner, rng) -> bool:
        if self._set is None:
            unl = np.asarray(pool.unlabeled)
            size = min(self.stop_set, unl.size)
            self._set = np.sort(rng.choice(unl, size=size, replace=False)) if size else unl
        predictions = np.asarray(learner.predict(pool.mean[self._set]))
        if self._previous is not None:
            self.kappas_.append(cohen_kappa(self._previous, predictions, pool.n_classes))
        self._previous = predictions
        if len(self.kappas_) < self.window:
            self.last_value_ = self.kappas_[-1] if self.kappas_ else None
            return False
        self.last_value_ = float(np.mean(self.kappas_[-self.window:]))
        return self.last_value_ >= self.threshold

    def __repr__(self) -> str:
        return f"StabilizingPredictions(threshold={self.threshold}, window={self.window}, stop_set={self.stop_set})"


class UncertaintyBelow(StoppingCriterion):
    """Fires when the learner's uncertainty over the unlabeled pool drops below ``threshold`` (Zhu, Wang &
    Hovy, 2008). ``statistic="max"`` is their max-confidence rule (even the most uncertain item left is
    confident); ``"mean"`` their overall-uncertainty rule.

    Parameters
    ----------
    threshold : float, default 0.1 for the max, 0.01 for the mean
    measure : {"least_confident", "margin", "entropy"}, default "entropy" (normalised, in [0, 1])
    subsample : int or None, default 10000
        Estimate the statistic on this many random unlabeled items (None: all of them).
    """

    def __init__(self, threshold: float | None = None, statistic: str = "max", measure: str = "entropy",
                 subsample: int | None = 10000):
        if statistic not in ("max", "mean"):
            raise ValueError(f"statistic must be 'max' or 'mean'; got {statistic!r}.")
        if measure not in UNCERTAINTY:
            raise ValueError(f"unknown uncertainty measure {measure!r}; use one of {sorted(UNCERTAINTY)}.")
        self.statistic = statistic
        self.threshold = float(threshold if threshold is not None else (0.1 if statistic == "max" else 0.01))
        self.measure = measure
        self.subsample = None if subsample is None else int(subsample)
        self.name = "max_uncertainty" if statistic == "max" else "mean_uncertainty"

    def update(self, pool, learner, rng) -> bool:
        unl = np.asarray(pool.unlabeled)
        if unl.size == 0:
            self.last_value_ = 0.0
            return True
        if self.subsample is not None and unl.size > self.subsample:
            unl = np.sort(rng.choice(unl, size=self.subsample, replace=False))
        scores = UNCERTAINTY[self.measure]()(learner.predict_proba(pool.mean[unl]))
        self.last_value_ = float(scores.max() if self.statistic == "max" else scores.mean())
        return self.last_value_ < self.threshold

    def __repr__(self) -> str:
        return f"UncertaintyBelow(threshold={self.threshold}, statistic={self.statistic!r}, measure={self.measure!r})"


class Budget(StoppingCriterion):
    """Fires once ``labels`` items are labeled."""

    name = "budget"

    def __init__(self, labels: int):
        if isinstance(labels, bool) or int(labels) < 1:
            raise ValueError(f"labels must be a positive integer; got {labels!r}.")
        self.labels = int(labels)

    def update(self, pool, learner, rng) -> bool:
        self.last_value_ = float(pool.labeled.size)
        return pool.labeled.size >= self.labels

    def __repr__(self) -> str:
        return f"Budget(labels={self.labels})"


def wilson_interval(hits: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``hits / n`` (95 % two-sided for the default ``z``, the normal
    distribution's 97.5 % quantile); right even at 0 or n hits."""
    if n <= 0:
        raise ValueError("an interval needs at least one trial.")
    p, z2 = hits / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


class AccuracyReached(StoppingCriterion):
    """Fires when the model is right on at least ``target`` of the pool with the given ``confidence``: the lower
    bound of the two-sided Wilson interval (95 % by default) of its accuracy on the *audit* items, drawn at random
    and held out of its training (``latal label --audit SHARE``), reaches ``target``. So a team that needs, say,
    90 % stops paying for labels once the random items show it, not on the queried items' biased figure.

    Parameters
    ----------
    target : float, default 0.9
        The accuracy the model must reach on the pool, in (0, 1).
    confidence : float, default 0.95
        Of the two-sided interval whose lower bound is compared (0.95: the page's interval).
    """

    name = "accuracy"
    #: the labeling page passes ``audit=(hits, n)``, the model on its audit items; ``latal run`` has none
    needs_audit = True

    def __init__(self, target: float = 0.9, confidence: float = 0.95):
        from scipy.stats import norm

        if not 0.0 < float(target) < 1.0 or not 0.0 < float(confidence) < 1.0:
            raise ValueError(f"target and confidence must lie in (0, 1); got target={target!r}, "
                             f"confidence={confidence!r}.")
        self.target = float(target)
        self.confidence = float(confidence)
        self._z = float(norm.ppf(0.5 + self.confidence / 2))

    def update(self, pool, learner, rng, audit: tuple[int, int] | None = None) -> bool:
        if audit is None:
            raise ValueError("the accuracy criterion reads the model's accuracy on audit items, which only the labeling "
                             "page draws: use it with latal label --audit SHARE (latal run measures the test set).")
        hits, n = audit
        if n <= 0:
            self.last_value_ = None
            return False
        self.last_value_ = wilson_interval(int(hits), int(n), self._z)[0]
        return self.last_value_ >= self.target

    def __repr__(self) -> str:
        return f"AccuracyReached(target={self.target}, confidence={self.confidence})"


STOPPING.register("stabilizing", StabilizingPredictions, "mean kappa of the last 3 consecutive models on a 2,000-item stop set >= 0.99")
STOPPING.register("max_uncertainty", UncertaintyBelow, "max normalised entropy over the unlabeled pool < 0.1",
                  statistic="max")
STOPPING.register("mean_uncertainty", UncertaintyBelow, "mean normalised entropy over the unlabeled pool < 0.01",
                  statistic="mean")
STOPPING.register("budget", Budget, "a fixed number of labels (budget:labels=N)")
STOPPING.register("accuracy", AccuracyReached, "the 95 % lower bound of the accuracy on the audit items (latal label "
                  "--audit) >= 0.9 (accuracy:target=0.95)")


def make_stopping(spec: str) -> StoppingCriterion:
    """``make_stopping("stabilizing:threshold=0.98")``."""
    return STOPPING.build(spec)
