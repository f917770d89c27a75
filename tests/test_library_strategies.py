"""BADGE, BatchBALD, Cluster-Margin, VAAL and SEALS: each checked against a brute-force or known answer."""

import itertools

import numpy as np
import pytest

from latal import Pool
from latal.exceptions import MissingRequirementError
from latal.learners import make_learner
from latal.neighbors import NeighborIndex
from latal.strategies import BADGE, SEALS, VAAL, BatchBALD, ClusterMargin, QueryContext, make_strategy
from latal.strategies.badge import gradient_factors, kmeans_pp_factored
from latal.strategies.batchbald import _joint_entropies, batchbald_greedy
from latal.strategies.bayesian import bald
from latal.strategies.cluster_margin import hac_clusters, nearest_centre, round_robin

from conftest import make_pool


# ---------------------------------------------------------------- BADGE
def _kmeans_pp_explicit(g, k, rng):
    """Reference: BADGE's seeding on the materialised gradient matrix."""
    chosen = [int(np.argmax((g * g).sum(1)))]
    dist = ((g - g[chosen[0]]) ** 2).sum(1)
    dist[chosen[0]] = 0.0
    taken = np.zeros(len(g), bool)
    taken[chosen[0]] = True
    while len(chosen) < k:
        nxt = int(rng.choice(len(g), p=dist / dist.sum()))
        chosen.append(nxt)
        taken[nxt] = True
        dist = np.minimum(dist, ((g - g[nxt]) ** 2).sum(1))
        dist[taken] = 0.0
    return chosen


def test_badge_factorised_seeding_equals_the_materialised_one():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(5) * 0.5, size=200)
    h = rng.normal(size=(200, 16)).astype(np.float32)
    a, hh = gradient_factors(proba, h)
    g = (a[:, :, None] * hh[:, None, :]).reshape(200, -1).astype(np.float64)
    # the gradient of the cross-entropy at the predicted label, w.r.t. the softmax weights
    yhat = proba.argmax(1)
    expected = (proba - np.eye(5)[yhat])[:, :, None] * h[:, None, :]
    assert np.allclose(g, expected.reshape(200, -1), atol=1e-5)
    fact = kmeans_pp_factored(a, hh, 12, np.random.default_rng(3)).tolist()
    assert fact == _kmeans_pp_explicit(g, 12, np.random.default_rng(3))


def test_badge_first_pick_is_the_longest_gradient_and_batch_is_spread():
    pool, _ = make_pool(n=600, labeled=15, seed=2)
    Z, y = pool.labeled_data()
    learner = make_learner("mlp:hidden=32,epochs=5", random_state=0).fit(Z, y, n_classes=3)
    ctx = QueryContext(pool=pool.view(), learner=learner)
    chosen = BADGE().select(ctx, 10, 0)
    proba, feats = ctx.proba_and_features(pool.unlabeled_indices)
    a, h = gradient_factors(proba, feats)
    longest = pool.unlabeled_indices[np.argmax((a * a).sum(1) * (h * h).sum(1))]
    assert chosen[0] == longest
    assert BADGE(subsample=100).select(ctx, 10, 5).tolist() == BADGE(subsample=100).select(ctx, 10, 5).tolist()


def test_badge_with_a_linear_learner_uses_the_latents():
    pool, _ = make_pool(n=200, labeled=15)
    Z, y = pool.labeled_data()
    ctx = QueryContext(pool=pool.view(), learner=make_learner("logistic").fit(Z, y, n_classes=3))
    proba, feats = ctx.proba_and_features(pool.unlabeled_indices)
    assert np.allclose(feats, pool.mean[pool.unlabeled_indices])
    assert len(BADGE().select(ctx, 7, 0)) == 7


# ---------------------------------------------------------------- BatchBALD
def _joint_entropy_brute(samples, batch):
    """H(y_batch) by enumerating every label configuration."""
    T, _, C = samples.shape
    h = 0.0
    for config in itertools.product(range(C), repeat=len(batch)):
        p = np.mean(np.prod([samples[:, j, c] for j, c in zip(batch, config)], axis=0))
        h -= p * np.log(p) if p > 0 else 0.0
    return h


def _cond(samples, j):
    p = samples[:, j]
    return -np.mean(np.sum(p * np.log(p), axis=1))


def test_batchbald_exact_values_match_enumeration():
    rng = np.random.default_rng(1)
    samples = rng.dirichlet(np.ones(3), size=(8, 12))  # T=8, N=12, C=3
    chosen, values = batchbald_greedy(samples, 3, rng, n_configs=10**6)
    for n in range(1, 4):
        b = chosen[:n].tolist()
        expected = _joint_entropy_brute(samples, b) - sum(_cond(samples, j) for j in b)
        assert values[n - 1] == pytest.approx(expected, rel=1e-9)
    # greedy: the first pick is the BALD maximum
    assert chosen[0] == int(np.argmax(bald(samples)))


def test_batchbald_sampled_joint_entropy_is_close_to_the_exact_one():
    rng = np.random.default_rng(2)
    samples = rng.dirichlet(np.ones(3) * 0.7, size=(10, 8))
    batch = [0, 1, 2, 3, 4]
    exact = _joint_entropy_brute(samples, batch + [5])
    # sampled configurations of the first five labels, each drawn under its own mask
    probs = samples.transpose(1, 0, 2)
    masks = rng.integers(0, 10, size=20000)
    P = np.ones((20000, 10))
    for j in batch:
        cdf = np.cumsum(probs[j][masks], axis=1)
        y = (rng.random(20000)[:, None] > cdf).sum(1).clip(max=2)
        P *= probs[j][:, y].T
    est = _joint_entropies(P, P.mean(1), probs[[5]])[0]
    assert est == pytest.approx(exact, rel=0.02)


def test_batchbald_does_not_take_duplicates_that_bald_would():
    # items 0 and 1 are the same highly informative item; item 2 is slightly less informative but independent
    rng = np.random.default_rng(0)
    T = 40
    a = np.stack([rng.permutation(np.r_[np.ones(20), np.zeros(20)]) for _ in range(1)])[0]
    disagree = np.stack([a, 1 - a], axis=1) * 0.98 + 0.01          # (T, 2): weights disagree wholly
    other = np.stack([rng.permutation(a), 1 - rng.permutation(a)], axis=1)
    other = np.stack([other[:, 0], 1 - other[:, 0]], axis=1) * 0.9 + 0.05
    quiet = np.tile([0.5, 0.5], (T, 1))
    samples = np.stack([disagree, disagree, other, quiet], axis=1)  # (T, 4, 2)
    assert np.argsort(-bald(samples))[:2].tolist() == [0, 1] or np.argsort(-bald(samples))[:2].tolist() == [1, 0]
    chosen, _ = batchbald_greedy(samples, 2, rng, n_configs=1000)
    assert sorted(chosen.tolist()) in ([0, 2], [1, 2])


def test_batchbald_strategy_runs_exact_then_sampled():
    pool, _ = make_pool(n=400, labeled=12, seed=3)
    Z, y = pool.labeled_data()
    learner = make_learner("mlp:hidden=32,epochs=5", random_state=0).fit(Z, y, n_classes=3)
    ctx = QueryContext(pool=pool.view(), learner=learner)
    s = BatchBALD(n_samples=8, n_configs=30, candidates=60)  # 3^3 = 27 exact, sampled from the 4th pick
    a = s.select(ctx, 8, 4)
    assert len(set(a.tolist())) == 8
    assert a.tolist() == BatchBALD(n_samples=8, n_configs=30, candidates=60).select(ctx, 8, 4).tolist()
    with pytest.raises(MissingRequirementError, match="Monte-Carlo"):
        BatchBALD().select(QueryContext(pool=pool.view(), learner=make_learner("logistic").fit(Z, y, n_classes=3)), 3, 0)


# ---------------------------------------------------------------- Cluster-Margin
def test_hac_recovers_separated_blobs_exactly_and_by_sampling():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 20, size=(6, 4))
    truth = np.repeat(np.arange(6), 300)
    z = (centres[truth] + rng.normal(size=(1800, 4))).astype(np.float32)
    for max_hac in (5000, 200):  # all points exactly; a 200-point sample plus nearest-point assignment
        labels = hac_clusters(z, 6, max_hac, np.random.default_rng(1))
        # a perfect partition: each blob is one cluster and no cluster spans two blobs
        pairs = set(zip(truth.tolist(), labels.tolist()))
        assert len(pairs) == 6 and len({p[1] for p in pairs}) == 6


def test_nearest_centre_matches_brute_force():
    rng = np.random.default_rng(0)
    p, c = rng.normal(size=(1000, 5)), rng.normal(size=(37, 5))
    brute = np.argmin(((p[:, None] - c[None]) ** 2).sum(-1), axis=1)
    assert np.array_equal(nearest_centre(p, c, chunk_rows=64), brute)


def test_round_robin_visits_smallest_clusters_first_and_spreads():
    cand = np.arange(20)
    clusters = np.array([0] * 10 + [1] * 6 + [2] * 3 + [3] * 1)
    chosen = round_robin(cand, clusters, 6, np.random.default_rng(0))
    assert clusters[chosen[:4]].tolist() == [3, 2, 1, 0]  # one per cluster, smallest first
    assert clusters[chosen[4:]].tolist() == [2, 1]          # second pass skips the exhausted cluster 3
    assert len(round_robin(cand, clusters, 20, np.random.default_rng(0))) == 20


def test_cluster_margin_takes_low_margin_candidates_from_many_clusters():
    pool, _ = make_pool(n=1500, labeled=20, seed=4, n_classes=5)
    Z, y = pool.labeled_data()
    learner = make_learner("logistic").fit(Z, y, n_classes=5)
    ctx = QueryContext(pool=pool.view(), learner=learner)
    s = ClusterMargin(n_clusters=30, candidates_factor=5)
    chosen = s.select(ctx, 20, 0)
    from latal.strategies.uncertainty import margin
    unl = pool.unlabeled_indices
    scores = margin(learner.predict_proba(pool.mean[unl]))
    cutoff = np.sort(scores)[::-1][100 - 1]
    assert (margin(learner.predict_proba(pool.mean[chosen])) >= cutoff - 1e-12).all()
    clusters = s.clusters(ctx, np.random.default_rng(0))
    assert len(set(clusters[chosen].tolist())) >= min(20, len(set(clusters[unl[scores >= cutoff]].tolist())))


# ---------------------------------------------------------------- VAAL
def test_vaal_prefers_the_region_nobody_labeled():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.3, (300, 4))
    b = rng.normal(4, 0.3, (60, 4))
    pool = Pool(np.vstack([a, b]).astype(np.float32), ["x", "y"])
    pool.add_labels(np.arange(100), np.arange(100) % 2)
    chosen = VAAL(iterations=300).select(QueryContext(pool=pool.view()), 20, 0)
    assert (chosen >= 300).mean() >= 0.9


def test_vaal_needs_a_label():
    pool, _ = make_pool(n=50, labeled=0)
    with pytest.raises(MissingRequirementError, match="at least one labeled item"):
        VAAL(iterations=2).select(QueryContext(pool=pool.view()), 3, 0)


# ---------------------------------------------------------------- SEALS and the neighbour index
def test_exact_index_matches_brute_force():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 6)).astype(np.float32)
    idx = NeighborIndex(z).query(z[:7], 10)
    brute = np.argsort(((z[:7, None] - z[None]) ** 2).sum(-1), axis=1)[:, :10]
    assert np.array_equal(np.sort(idx, 1), np.sort(brute, 1))


def test_hnsw_index_finds_the_neighbours_of_clustered_latents():
    pytest.importorskip("faiss")  # installed by the test extra; optional for users
    rng = np.random.default_rng(0)
    z = (rng.normal(0, 5, (50, 8))[rng.integers(0, 50, 20000)] + rng.normal(size=(20000, 8))).astype(np.float32)
    approx = NeighborIndex(z, "hnsw").query(z[:50], 20)
    exact = NeighborIndex(z).query(z[:50], 20)
    recall = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(approx, exact)])
    assert recall > 0.9


def test_seals_candidates_are_the_labeled_items_unlabeled_neighbours():
    pool, y = make_pool(n=800, labeled=10, seed=5)
    Z, yl = pool.labeled_data()
    learner = make_learner("logistic").fit(Z, yl, n_classes=3)
    s = SEALS("margin", n_neighbors=15)
    cache: dict = {}
    ctx = QueryContext(pool=pool.view(), learner=learner, cache=cache)

    def brute():
        lab = pool.labeled_indices
        d = ((pool.mean[lab][:, None] - pool.mean[None]) ** 2).sum(-1)
        nb = np.unique(np.argsort(d, axis=1)[:, :16])
        return np.setdiff1d(nb, lab)

    assert np.array_equal(s.candidates(ctx), brute())
    chosen = s.select(ctx, 5, 0)
    assert set(chosen.tolist()) <= set(brute().tolist())
    # margin over the candidates only
    unl_c = brute()
    from latal.strategies.uncertainty import margin
    best = unl_c[np.argsort(-margin(learner.predict_proba(pool.mean[unl_c])), kind="stable")[:5]]
    assert sorted(chosen.tolist()) == sorted(best.tolist())
    # after labeling, the candidate set grows incrementally by the new items' neighbours
    pool.add_labels(chosen, y[chosen])
    ctx2 = QueryContext(pool=pool.view(), learner=learner, cache=cache)
    assert np.array_equal(s.candidates(ctx2), brute())


def test_seals_with_all_neighbours_equals_its_base_strategy():
    pool, _ = make_pool(n=300, labeled=12, seed=6)
    Z, y = pool.labeled_data()
    ctx = QueryContext(pool=pool.view(), learner=make_learner("logistic").fit(Z, y, n_classes=3))
    assert sorted(make_strategy("seals:n_neighbors=300").select(ctx, 9, 0).tolist()) == \
        sorted(make_strategy("margin").select(ctx, 9, 0).tolist())


def test_seals_fills_a_batch_larger_than_its_candidates():
    pool, _ = make_pool(n=300, labeled=3, seed=7)
    Z, y = pool.labeled_data()
    ctx = QueryContext(pool=pool.view(), learner=make_learner("logistic").fit(Z, y, n_classes=3))
    chosen = SEALS("margin", n_neighbors=2).select(ctx, 20, 0)
    assert len(set(chosen.tolist())) == 20 and (pool.labels[chosen] == -1).all()


def test_knn_density_matches_brute_force_and_index_choice():
    from latal.neighbors import default_backend
    from latal.strategies.representativeness import KNNDensity

    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 0.2, (150, 3)), rng.normal(5, 2.0, (50, 3))]).astype(np.float32)
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    avg = np.sort(d, axis=1)[:, :7].mean(1)
    expected = 1.0 - avg / avg.max()
    got = KNNDensity(k=7, chunk=33)._compute(z, None)
    assert np.allclose(got, expected, atol=1e-5)
    assert got[:150].mean() > got[150:].mean()  # the tight blob is denser
    assert default_backend(1000) == "exact"
    pool, _ = make_pool(n=300, labeled=10)
    assert len(make_strategy("margin:repr=knn_density,gamma=0.5").select(
        QueryContext(pool=pool.view(), learner=make_learner("logistic").fit(*pool.labeled_data(), n_classes=3)), 5, 0)) == 5
