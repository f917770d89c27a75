import numpy as np
import pytest

from latal.exceptions import BudgetExceedsPoolError, MissingRequirementError
from latal.learners import make_learner
from latal.loop import run_active_learning
from latal.oracles import SimulatedOracle
from latal.strategies import make_strategy

from conftest import make_pool


def _run(strategy="margin", seed=0, **kw):
    pool, y = make_pool(n=600, d=5, n_classes=4, labeled=0, seed=1)
    test = make_pool(n=200, d=5, n_classes=4, labeled=0, seed=1)[0]
    args = dict(initial=20, batch=10, rounds=5, seed=seed, test=(np.asarray(test.mean), np.arange(200) % 4))
    args.update(kw)
    h = run_active_learning(pool, make_learner("mlp:epochs=5,hidden=32"), make_strategy(strategy),
                            SimulatedOracle(y), **args)
    return pool, h


def test_rounds_and_history():
    pool, h = _run()
    assert [r.n_labeled for r in h.rounds] == [20, 30, 40, 50, 60, 70]
    assert pool.n_labeled == 70
    assert all(0 <= r.accuracy <= 1 for r in h.rounds)
    assert {"fit", "evaluate", "score", "select", "label"} <= set(h.rounds[0].seconds)
    assert h.rounds[0].round_seconds == pytest.approx(sum(h.rounds[0].seconds[k] for k in ("fit", "score", "select")))
    assert h.rounds[-1].queried == [] and len(h.rounds[0].queried) == 10
    flat = sum(h.queries(), [])
    assert len(flat) == len(set(flat)) == 70
    assert pool.label_order.tolist() == flat
    assert sum(h.rounds[-1].class_counts) == 70


def test_same_seed_same_queries_and_curve():
    _, a = _run(seed=3)
    _, b = _run(seed=3)
    _, c = _run(seed=4)
    assert a.queries() == b.queries() and a.accuracy == b.accuracy
    assert a.queries() != c.queries()


def test_budget_larger_than_pool():
    with pytest.raises(BudgetExceedsPoolError, match="lower --rounds"):
        _run(initial=100, batch=100, rounds=6)


def test_initial_strategy_needing_labels_is_refused_before_training():
    with pytest.raises(MissingRequirementError, match="no label exists"):
        _run(initial_strategy=make_strategy("margin"))


def test_variance_strategy_refused_for_deterministic_encoder():
    pool, y = make_pool(n=100, labeled=0, variational=False)
    with pytest.raises(MissingRequirementError, match="not variational"):
        run_active_learning(pool, make_learner("logistic"), make_strategy("margin_kl_to_prior"), SimulatedOracle(y),
                            initial=10, batch=5, rounds=1)
    assert pool.n_labeled == 0


def test_density_initial_strategy_runs_without_labels():
    pool, h = _run(initial_strategy=make_strategy("density"))
    assert len(h.initial) == 20


class _Spy:
    """Wraps a learner and records the rows it is fitted on and asked about."""

    def __init__(self, inner, seen):
        self.inner, self.seen = inner, seen

    def get_params(self):
        return self.inner.get_params()

    def clone(self, **params):
        return _Spy(self.inner.clone(**params), self.seen)

    def fit(self, Z, y, n_classes=None, **extra):
        self.seen.append(("fit", np.array(Z), extra.get("pool")))
        self.inner.fit(Z, y, n_classes=n_classes)
        return self

    def predict_proba(self, Z):
        self.seen.append(("proba", np.array(Z), None))
        return self.inner.predict_proba(Z)

    def predict(self, Z):
        return self.predict_proba(Z).argmax(axis=1)


def test_learner_space_is_what_the_learner_reads_and_strategies_do_not():
    """Strategies choose in pool.mean; the learner fits, predicts for the strategies and is evaluated in
    learner_space (a representation where the classes separate while pool.mean is noise)."""
    rng = np.random.default_rng(0)
    n, k = 400, 4
    y = np.arange(n) % k
    noise = rng.normal(size=(n, 6)).astype(np.float32)  # what strategies see: no class information
    space = (np.eye(k)[y] * 6 + rng.normal(scale=0.5, size=(n, k))).astype(np.float32)
    y_test = np.arange(100) % k
    test_space = (np.eye(k)[y_test] * 6 + rng.normal(scale=0.5, size=(100, k))).astype(np.float32)
    from latal import Pool

    def run(learner_space, test):
        pool = Pool(noise, [f"c{i}" for i in range(k)])
        seen: list = []
        h = run_active_learning(pool, _Spy(make_learner("logistic"), seen), make_strategy("margin"),
                                SimulatedOracle(y), initial=12, batch=8, rounds=2, seed=0, test=test,
                                learner_space=learner_space)
        return pool, h, seen

    pool, h, seen = run(space, (test_space, y_test))
    assert [r.accuracy for r in h.rounds] == [1.0, 1.0, 1.0]  # it learned in the separable space
    fits = [z for kind, z, _ in seen if kind == "fit"]
    labeled_after = [sorted(h.initial), sorted(h.initial + h.rounds[0].queried)]
    for z, idx in zip(fits, labeled_after):
        np.testing.assert_array_equal(z, space[idx])  # fitted on learner_space rows, in pool order
    asked = [z for kind, z, _ in seen if kind == "proba" and z.shape[0] > 100]  # margin scoring the pool
    assert asked and all(z.shape[1] == k for z in asked)
    # without learner_space the same learner sees the noise and cannot separate the classes
    _, h_noise, seen_noise = run(None, (rng.normal(size=(100, 6)).astype(np.float32), y_test))
    assert h_noise.rounds[-1].accuracy < 0.6
    assert all(z.shape[1] == 6 for kind, z, _ in seen_noise)


def test_learner_space_errors():
    from latal import Pool
    from latal.exceptions import DataError

    pool, y = make_pool(n=100, d=4, n_classes=2, labeled=0)
    common = dict(initial=10, batch=5, rounds=1)
    with pytest.raises(DataError, match="learner_space has 99 rows; the pool has 100"):
        run_active_learning(pool, make_learner("logistic"), make_strategy("margin"), SimulatedOracle(y),
                            learner_space=np.zeros((99, 3), np.float32), **common)
    with pytest.raises(DataError, match="NaN"):
        bad = np.zeros((100, 3), np.float32)
        bad[5, 1] = np.nan
        run_active_learning(pool, make_learner("logistic"), make_strategy("margin"), SimulatedOracle(y),
                            learner_space=bad, **common)
    with pytest.raises(DataError, match=r"the learner reads the pool as \(n, 3\)"):
        run_active_learning(Pool(pool.mean, pool.class_names), make_learner("logistic"), make_strategy("margin"),
                            SimulatedOracle(y), learner_space=np.ones((100, 3), np.float32),
                            test=(np.zeros((10, 4), np.float32), np.zeros(10, int)), **common)
    assert pool.n_labeled == 0  # refused before anything was labeled
