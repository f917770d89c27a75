"""Shared helpers of the labeling-app tests."""

from contextlib import contextmanager

import numpy as np
from latal.app.session import LabelingSession, SessionSettings
from latal.learners import LEARNERS
from latal.strategies import STRATEGIES

CLASSES = ["cat", "dog", "bird"]


def blobs(n=240, d=6, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = rng.normal(0, 4, size=(3, d))
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def make_session(store, *, strategy="margin", initial="random", stopping=(), clock=None, learner="logistic", **settings):
    mean, _ = blobs(store.n_items)
    kw = {"batch": 10, "cv_folds": 3, "max_wait": 5.0, **settings}
    return LabelingSession(store, (mean, None), LEARNERS.build(learner), STRATEGIES.build(strategy),
                           STRATEGIES.build(initial), stopping=stopping, settings=SessionSettings(**kw),
                           **({"clock": clock} if clock else {}))


def truth(item):
    return CLASSES[item % 3]


@contextmanager
def running(store, timeout: float = 30, **kw):
    """A started session whose first batch and latents are ready; closed afterwards."""
    s = make_session(store, **kw).start()
    try:
        assert s.wait_idle(timeout)
        yield s
    finally:
        s.close()
