import numpy as np
import pytest

from latal.stopping import (STOPPING, AccuracyReached, Budget, StabilizingPredictions, UncertaintyBelow, cohen_kappa,
                            make_stopping, wilson_interval)

from conftest import make_pool
from test_loop import _run


class _Fixed:
    """A learner whose predictions are set by the test."""

    def __init__(self, pred, proba=None):
        self.pred, self.proba = pred, proba

    def predict(self, Z):
        return self.pred[: len(Z)]

    def predict_proba(self, Z):
        return self.proba[: len(Z)]


def test_cohen_kappa():
    a = np.array([0, 1, 2, 0, 1, 2])
    assert cohen_kappa(a, a, 3) == 1.0
    b = np.array([0, 1, 2, 0, 1, 0])
    from sklearn.metrics import cohen_kappa_score
    assert cohen_kappa(a, b, 3) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(np.zeros(4, int), np.zeros(4, int), 2) == 1.0


def test_stabilizing_predictions_fires_after_window_agreements():
    pool, _ = make_pool(n=300, labeled=10)
    view = pool.view()
    c = StabilizingPredictions(threshold=0.99, window=2, stop_set=50)
    rng = np.random.default_rng(0)
    p1 = np.arange(50) % 3
    p2 = p1.copy()
    p2[:20] = (p2[:20] + 1) % 3
    fired = [c.update(view, _Fixed(p), rng) for p in (p1, p2, p2, p2)]
    assert fired == [False, False, False, True]   # kappas: low, 1.0, 1.0 -> mean of last two = 1
    assert c.kappas_[0] < 0.7 and c.kappas_[1:] == [1.0, 1.0]
    assert c._set.size == 50 and (pool.labels[c._set] == -1).all()


def test_uncertainty_below_max_and_mean():
    pool, _ = make_pool(n=100, labeled=10)
    view = pool.view()
    n_unl = view.unlabeled.size
    confident = np.tile([0.99, 0.005, 0.005], (n_unl, 1))
    one_doubt = confident.copy()
    one_doubt[3] = [0.4, 0.3, 0.3]
    rng = np.random.default_rng(0)
    assert UncertaintyBelow(statistic="max").update(view, _Fixed(None, confident), rng)
    assert not UncertaintyBelow(statistic="max").update(view, _Fixed(None, one_doubt), rng)
    mean_rule = UncertaintyBelow(statistic="mean", threshold=0.1)
    assert mean_rule.update(view, _Fixed(None, one_doubt), rng)  # one doubt barely moves the mean
    assert mean_rule.last_value_ < 0.1


def test_budget_and_registry_specs():
    pool, _ = make_pool(n=100, labeled=30)
    assert Budget(30).update(pool.view(), None, None) and not Budget(31).update(pool.view(), None, None)
    assert make_stopping("stabilizing:threshold=0.95,window=2").threshold == 0.95
    assert make_stopping("max_uncertainty").statistic == "max"
    assert make_stopping("mean_uncertainty").threshold == 0.01
    assert set(STOPPING.names()) >= {"stabilizing", "max_uncertainty", "mean_uncertainty", "budget"}
    for bad in ("budget:labels=0", "stabilizing:threshold=1.5", "max_uncertainty:measure=foo"):
        with pytest.raises(ValueError):
            make_stopping(bad)


def test_loop_records_when_each_criterion_fires_without_changing_queries():
    _, plain = _run(seed=2)
    _, h = _run(seed=2, stopping=[Budget(40), StabilizingPredictions(threshold=0.5, window=1)])
    assert h.queries() == plain.queries() and h.accuracy == plain.accuracy
    assert h.stopped["budget"] == 40
    fired = [r.stopping["budget"]["fired"] for r in h.rounds]
    assert fired == [r.n_labeled >= 40 for r in h.rounds]
    assert "stabilizing" in h.rounds[-1].stopping and "stopped" in h.to_dict()


def test_loop_halts_on_stop():
    pool, h = _run(stopping=[Budget(40)], halt_on_stop=True)
    assert h.n_labeled == [20, 30, 40] and pool.n_labeled == 40 and h.rounds[-1].queried == []


def test_duplicate_criterion_names_are_refused():
    with pytest.raises(ValueError, match="distinct names"):
        _run(stopping=[Budget(40), Budget(50)])


def test_accuracy_reached_reads_the_audit_items_lower_bound():
    pool, _ = make_pool()
    c = make_stopping("accuracy:target=0.8")
    assert isinstance(c, AccuracyReached) and c.needs_audit
    rng = np.random.default_rng(0)
    assert not c.update(pool, None, rng, audit=(0, 0)) and c.last_value_ is None  # nothing measured yet
    assert not c.update(pool, None, rng, audit=(9, 10))  # 90 % of 10: the lower bound is 59.6 %
    assert c.last_value_ == pytest.approx(wilson_interval(9, 10)[0])
    assert c.update(pool, None, rng, audit=(95, 100))  # 95 % of 100: 88.8 %
    assert AccuracyReached(target=0.8, confidence=0.5).update(pool, None, rng, audit=(9, 10))  # a looser bound
    with pytest.raises(ValueError, match="latal label --audit"):
        c.update(pool, None, rng)
    for bad in ("accuracy:target=1.0", "accuracy:target=0", "accuracy:confidence=1"):
        with pytest.raises(ValueError, match="must lie in"):
            make_stopping(bad)


def test_the_accuracy_criterion_needs_audit_items(tmp_path, capsys):
    from latal.cli import main

    assert main(["run", "--stop", "accuracy", "--rounds", "1"]) == 2
    assert "only the labeling page" in capsys.readouterr().err
    db = tmp_path / "p.sqlite"
    assert main(["label", "--db", str(db), "--stop", "accuracy:target=0.95", "--init-only"]) == 2
    assert "add --audit SHARE" in capsys.readouterr().err and not db.exists()
    assert main(["label", "--db", str(db), "--stop", "accuracy:target=0.95", "--audit", "0.1", "--init-only"]) == 0
