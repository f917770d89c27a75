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
