"""Adapter for any scikit-learn classifier with ``predict_proba``."""

from __future__ import annotations

import numpy as np

from latal.learners.base import Learner


class SklearnLearner(Learner):
    """Wrap a scikit-learn classifier.

    The estimator is cloned on every ``fit`` (from scratch, like the MLP). Its probabilities are
    spread over all ``n_classes`` columns, with zeros for classes it has not seen yet.

    Parameters
    ----------
    estimator : scikit-learn classifier with ``predict_proba``
    random_state : int or None
        Passed to the estimator's ``random_state`` when it has one.
    """

    def __init__(self, estimator, random_state: int | None = None):
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, Z, y, n_classes: int | None = None) -> SklearnLearner:
        from sklearn.base import clone

        if not hasattr(self.estimator, "predict_proba"):
            raise TypeError(f"{type(self.estimator).__name__} has no predict_proba; latal needs probabilities.")
        Z, y, n_classes = self._check_fit_input(Z, y, n_classes)
        est = clone(self.estimator)
        if self.random_state is not None and "random_state" in est.get_params():
            est.set_params(random_state=int(self.random_state))
        self.n_classes_ = n_classes
        self.n_features_ = Z.shape[1]
        self.classes_ = np.arange(n_classes)
        self.seen_ = np.unique(y)
        if len(self.seen_) == 1:  # most scikit-learn classifiers refuse one class
            self.estimator_ = None
            return self
        self.estimator_ = est.fit(Z, y)
        return self

    def predict_proba(self, Z) -> np.ndarray:
        Z = self._check_predict_input(Z)
        out = np.zeros((Z.shape[0], self.n_classes_), dtype=np.float64)
        if self.estimator_ is None:
            out[:, self.seen_[0]] = 1.0
            return out
        out[:, np.asarray(self.estimator_.classes_, dtype=np.int64)] = self.estimator_.predict_proba(Z)
        return out


def logistic_regression(C: float = 1.0, max_iter: int = 1000, random_state: int | None = None) -> SklearnLearner:
    from sklearn.linear_model import LogisticRegression

    return SklearnLearner(LogisticRegression(C=C, max_iter=max_iter), random_state=random_state)


def random_forest(n_estimators: int = 100, random_state: int | None = None) -> SklearnLearner:
    from sklearn.ensemble import RandomForestClassifier

    return SklearnLearner(RandomForestClassifier(n_estimators=n_estimators, n_jobs=1), random_state=random_state)
