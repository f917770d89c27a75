"""Every registered strategy through the same invariants (scikit-activeml's habit)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from latal.exceptions import DataError, EmptyPoolError, MissingRequirementError
from latal.learners import make_learner
from latal.pool import PoolView
from latal.strategies import STRATEGIES, Needs, QueryContext
from latal.strategies import make_strategy as _make_strategy

from conftest import make_pool

NAMES = STRATEGIES.names()
# cheaper settings where a default is costly; the invariants under test do not depend on them
_FAST = {"dal": {"max_epochs": 3}, "dfal": {"max_iter": 5}, "bald": {"n_samples": 4},
         "max_entropy": {"n_samples": 4}, "variation_ratio": {"n_samples": 4}, "bayesian": {"n_samples": 4},
         "vaal": {"iterations": 5}, "batchbald": {"n_samples": 4}, "dual": {"pretrain_epochs": 2, "epochs": 5},
         "cluster_contrastive": {"pretrain_epochs": 1, "epochs": 1}}


def make_strategy(name, **kw):
    return _make_strategy(name, **{**_FAST.get(name, {}), **kw})
_LEARNER = make_learner("mlp:hidden=16,epochs=3", random_state=0)  # MC dropout and DFAL need the MLP


def _ctx(pool, fitted=True):
    learner = None
    if fitted and pool.n_labeled:
        Z, y = pool.labeled_data()
        learner = _LEARNER.clone().fit(Z, y, n_classes=pool.n_classes)
    # raw items for the strategies that read them (paper 003's autoencoder): 16 x 16 images
    inputs = np.random.default_rng(pool.n).integers(0, 256, size=(pool.n, 16, 16), dtype=np.uint8)
    return QueryContext(pool=pool.view(), learner=learner, inputs=inputs)


def test_registry_is_not_empty():
    for expected in ("badge", "batchbald", "cluster_margin", "vaal", "seals","random", "least_confident", "margin", "entropy", "margin_subsample", "margin_greedy",
                     "margin_greedy_cosine", "margin_greedy_sqeuclidean", "margin_greedy_jdiv",
                     "margin_density_cosine", "margin_density_euclidean", "margin_density_sqeuclidean",
                     "margin_density_jdiv", "margin_kl_to_prior", "margin_distance_to_origin",
                     "margin_sq_distance_to_origin", "margin_partitions", "margin_subsample_topk"):
        assert expected in NAMES


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(20, 400), k=st.integers(1, 60), labeled=st.integers(3, 15), seed=st.integers(0, 2**16))
@example(n=257, k=1, labeled=3, seed=0)  # one item past a 256 batch: batch norm cannot train on it alone
def test_k_unique_unlabeled_indices(name, n, k, labeled, seed):
    pool, _ = make_pool(n=n, labeled=labeled, seed=seed)
    strategy = make_strategy(name)
    chosen = strategy.select(_ctx(pool), k, np.random.default_rng(seed))
    remaining = n - pool.n_labeled
    assert chosen.dtype == np.int64
    assert len(chosen) == min(k, remaining)
    assert len(np.unique(chosen)) == len(chosen)
    assert np.all(pool.labels[chosen] == -1)
    assert np.all((chosen >= 0) & (chosen < n))


@pytest.mark.parametrize("name", NAMES)
def test_whole_remaining_pool_when_k_exceeds_it(name):
    pool, _ = make_pool(n=40, labeled=33)
    chosen = make_strategy(name).select(_ctx(pool), 100, np.random.default_rng(0))
    assert sorted(chosen.tolist()) == pool.unlabeled_indices.tolist()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_answer(name):
    pool, _ = make_pool(n=500, labeled=20)
    ctx = _ctx(pool)
    a = make_strategy(name).select(ctx, 25, np.random.default_rng(7))
    b = make_strategy(name).select(ctx, 25, np.random.default_rng(7))
    c = make_strategy(name).select(ctx, 25, 7)  # an int seed is accepted too
    assert a.tolist() == b.tolist() == c.tolist()


@pytest.mark.parametrize("name", NAMES)
def test_does_not_mutate_pool(name):
    pool, _ = make_pool(n=200, labeled=20)
    before = (pool.labels.copy(), pool.mean.copy())
    make_strategy(name).select(_ctx(pool), 10, 0)
    assert np.array_equal(pool.labels, before[0]) and np.array_equal(pool.mean, before[1])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_bad_k(name, k):
    pool, _ = make_pool(n=50)
    with pytest.raises(ValueError, match="positive integer"):
        make_strategy(name).select(_ctx(pool), k, 0)


@pytest.mark.parametrize("name", NAMES)
def test_empty_pool(name):
    pool, y = make_pool(n=30, labeled=0)
    pool.add_labels(np.arange(30), y)
    with pytest.raises(EmptyPoolError, match="no unlabeled item"):
        make_strategy(name).select(QueryContext(pool=pool.view(), learner=None), 5, 0)


def _view_with(pool, **changes):
    v = pool.view()
    fields = {f: getattr(v, f) for f in ("mean", "log_var", "labels", "labeled", "unlabeled", "n_classes", "class_names")}
    fields.update(changes)
    return PoolView(**fields)


@pytest.mark.parametrize("name", NAMES)
def test_nan_latents(name):
    pool, _ = make_pool(n=60)
    mean = pool.mean.copy()
    mean[17, 2] = np.nan
    ctx = _ctx(pool)
    ctx.pool = _view_with(pool, mean=mean)
    with pytest.raises(DataError, match="NaN"):
        make_strategy(name).select(ctx, 5, 0)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_shapes(name):
    pool, _ = make_pool(n=60)
    ctx = _ctx(pool)
    ctx.pool = _view_with(pool, labels=pool.labels[:-1])
    with pytest.raises(DataError, match="labels have shape"):
        make_strategy(name).select(ctx, 5, 0)
    ctx.pool = _view_with(pool, log_var=pool.log_var[:, :-1])
    with pytest.raises(DataError, match="log_var shape"):
        make_strategy(name).select(ctx, 5, 0)


@pytest.mark.parametrize("name", NAMES)
def test_requirements_are_explicit(name):
    strategy = make_strategy(name)
    pool, _ = make_pool(n=80, labeled=10, variational=False)
    ctx = _ctx(pool)
    if Needs.LOG_VAR in strategy.needs:
        with pytest.raises(MissingRequirementError, match="variances"):
            strategy.select(ctx, 5, 0)
    else:
        assert len(strategy.select(ctx, 5, 0)) == 5
    if Needs.INPUTS in strategy.needs:
        no_inputs = QueryContext(pool=ctx.pool, learner=ctx.learner)
        with pytest.raises(MissingRequirementError, match="raw items"):
            strategy.select(no_inputs, 5, 0)
    if Needs.LEARNER in strategy.needs:
        pool, _ = make_pool(n=80, labeled=0)
        with pytest.raises(MissingRequirementError, match="needs a fitted learner"):
            strategy.select(QueryContext(pool=pool.view(), learner=None), 5, 0)
    elif Needs.LABELS in strategy.needs:
        pool, _ = make_pool(n=80, labeled=0)
        with pytest.raises(MissingRequirementError, match="needs at least one labeled item"):
            strategy.select(QueryContext(pool=pool.view(), learner=None), 5, 0)
    else:  # usable as the cold-start strategy
        pool, _ = make_pool(n=80, labeled=0)
        assert len(strategy.select(QueryContext(pool=pool.view(), learner=None), 5, 0)) == 5


def test_unknown_strategy_names_close_matches():
    with pytest.raises(KeyError, match="Did you mean margin"):
        make_strategy("margn")


def test_spec_parameters():
    s = make_strategy("margin:repr=density_euclidean,gamma=0.3,batch=greedy,distance=cosine,subsample=0.5")
    assert s.gamma == 0.3 and s.batch.fraction == 0.5 and s.batch.inner.distance == "cosine"
    with pytest.raises(ValueError, match="takes no parameter"):
        make_strategy("margin:gamme=0.3")
    with pytest.raises(ValueError, match="gamma"):
        make_strategy("margin:gamma=0.3")  # no representativeness to mix in
