"""Scores and batch rules against their definitions (brute force on small data)."""

import numpy as np
import pytest

from latal.strategies import QueryContext
from latal.strategies.batch import GreedyDiversity, RandomPartitions, Scored, Subsample, TopK, top_k
from latal.strategies.distances import max_distance_bound, point_to_set
from latal.strategies.representativeness import (
    Density, DistanceToOrigin, KLToPrior, mean_cosine_similarity, mean_euclidean, mean_jdiv, mean_sqeuclidean,
)
from latal.strategies.uncertainty import entropy, least_confident, margin

from conftest import make_pool

P = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.6, 0.3, 0.1]])


def test_uncertainty_values():
    assert least_confident(P) == pytest.approx([0.0, 2 / 3, 0.5, 0.4])
    assert margin(P) == pytest.approx([0.0, 1.0, 1.0, 0.7])
    assert entropy(P) == pytest.approx([0.0, 1.0, np.log(2) / np.log(3), -(0.6 * np.log(.6) + .3 * np.log(.3) + .1 * np.log(.1)) / np.log(3)])
    for fn in (least_confident, margin, entropy):
        v = fn(np.random.default_rng(0).dirichlet(np.ones(10), size=500))
        assert v.min() >= 0 and v.max() <= 1


def _brute_jdiv(mu, lv):
    var = np.exp(lv.astype(np.float64))
    n = mu.shape[0]
    out = np.zeros((n, n))
    for i in range(n):
        d2 = (mu[i] - mu) ** 2
        out[i] = 0.5 * np.sum((d2 + var[i]) / var + (d2 + var) / var[i] - 2, axis=1)
    return out


def test_closed_form_averages_match_brute_force():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(40, 5)).astype(np.float32)
    lv = rng.normal(-1, 0.5, size=(40, 5)).astype(np.float32)
    m = mu.astype(np.float64)
    off = ~np.eye(40, dtype=bool)
    unit = m / np.linalg.norm(m, axis=1, keepdims=True)
    cos = unit @ unit.T
    assert mean_cosine_similarity(mu) == pytest.approx(((1 + cos) / 2 * off).sum(1) / 39, rel=1e-6)
    sq = ((m[:, None] - m[None]) ** 2).sum(-1)
    assert mean_sqeuclidean(mu) == pytest.approx(sq.sum(1) / 39, rel=1e-6)
    assert mean_euclidean(mu) == pytest.approx(np.sqrt(sq).sum(1) / 39, rel=1e-4)
    assert mean_euclidean(mu, chunk_elems=50) == pytest.approx(np.sqrt(sq).sum(1) / 39, rel=1e-4)
    assert mean_jdiv(mu, lv) == pytest.approx(_brute_jdiv(mu, lv).sum(1) / 39, rel=1e-6)
    for i in (0, 7):
        assert point_to_set("jdiv", mu, lv, i) == pytest.approx(_brute_jdiv(mu, lv)[i], rel=1e-6)


def test_representativeness_in_unit_interval_and_ordering():
    pool, _ = make_pool(n=300, d=4, labeled=0)
    ctx = QueryContext(pool=pool.view())
    for measure in (Density("cosine"), Density("euclidean"), Density("sqeuclidean"), Density("jdiv"),
                    KLToPrior(), DistanceToOrigin(), DistanceToOrigin(squared=True)):
        r = measure.scores(ctx)
        assert r.shape == (300,) and r.min() >= 0 and r.max() <= 1
    # an outlier is the least representative point
    mean = pool.mean.copy()
    mean[0] = 100.0
    from latal.pool import Pool

    p2 = Pool(mean, pool.class_names, pool.log_var)
    ctx2 = QueryContext(pool=p2.view())
    for measure in (Density("euclidean"), Density("sqeuclidean"), DistanceToOrigin(), KLToPrior()):
        assert np.argmin(measure.scores(ctx2)) == 0


def test_euclidean_density_sampled_for_large_pools():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(3000, 3)).astype(np.float32)
    from latal.pool import Pool

    ctx = QueryContext(pool=Pool(mu, ["a", "b"]).view())
    exact = Density("euclidean").scores(ctx)
    approx = Density("euclidean", exact_limit=1000, n_reference=500).scores(ctx)
    assert np.corrcoef(exact, approx)[0, 1] > 0.99
    assert np.array_equal(approx, Density("euclidean", exact_limit=1000, n_reference=500).scores(QueryContext(pool=ctx.pool)))


def test_density_is_cached_per_pool():
    pool, _ = make_pool(n=100, labeled=0)
    ctx = QueryContext(pool=pool.view())
    a = Density("euclidean").scores(ctx)
    ctx.pool = pool.view()  # a new round's view of the same latents
    assert Density("euclidean").scores(ctx) is a


def _scored(info, mean=None, u=None):
    n = info.shape[0]
    mean = np.zeros((n, 2), np.float32) if mean is None else mean
    return Scored(np.arange(n), info, u if u is not None else info, None, mean, None, {})


def test_top_k_and_partitions():
    info = np.array([0.1, 0.9, 0.5, 0.9, 0.2, 0.8])
    assert top_k(info, 3).tolist() == [1, 3, 5]
    assert TopK().choose(_scored(info), 2, np.random.default_rng(0)).tolist() == [1, 3]
    rng = np.random.default_rng(3)
    big = rng.random(1000)
    chosen = RandomPartitions().choose(_scored(big), 10, np.random.default_rng(5))
    # re-derive the partitions: each choice is the best of its part
    perm = np.random.default_rng(5).permutation(1000)
    for part, c in zip(np.array_split(perm, 10), chosen):
        assert c == part[np.argmax(big[part])]


def test_subsample_scores_only_a_fraction():
    rule = Subsample(0.1, TopK())
    cand = rule.restrict(np.arange(5000), 20, np.random.default_rng(0))
    assert len(cand) == 500 and len(np.unique(cand)) == 500
    assert len(rule.restrict(np.arange(50), 20, np.random.default_rng(0))) == 20  # never below k


def test_greedy_diversity_spreads_the_batch():
    # two tight clusters, the most uncertain all in the first one
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, size=(50, 2)) + [5, 0]
    b = rng.normal(0, 0.01, size=(50, 2)) + [-5, 0]
    mean = np.vstack([a, b]).astype(np.float32)
    u = np.concatenate([np.full(50, 0.9), np.full(50, 0.5)]) + rng.random(100) * 1e-3
    top = TopK().choose(_scored(u, mean, u), 2, rng)
    assert (top < 50).all()
    greedy = GreedyDiversity(alpha=0.5, distance="euclidean").choose(_scored(u, mean, u), 2, rng)
    assert (greedy < 50).sum() == 1 and (greedy >= 50).sum() == 1
    assert GreedyDiversity(alpha=1.0).choose(_scored(u, mean, u), 2, rng).tolist() == top.tolist()


def test_max_distance_bound_is_an_upper_bound():
    mean = np.random.default_rng(0).normal(size=(200, 3))
    d = np.sqrt(((mean[:, None] - mean[None]) ** 2).sum(-1))
    assert d.max() <= max_distance_bound("euclidean", mean)
    assert (d ** 2).max() <= max_distance_bound("sqeuclidean", mean)
    assert point_to_set("cosine", mean, None, 0).max() <= 1.0


def test_greedy_rejects_bad_weights():
    with pytest.raises(ValueError, match="alpha"):
        GreedyDiversity(alpha=0.8, beta=0.5)
