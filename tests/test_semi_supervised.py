"""Learners that use the unlabeled pool, cold-start selection, the latent refinement."""

import numpy as np
import pytest

from latal import Pool
from latal.learners import LabelSpreading, PoissonLearning, SelfTraining, make_learner
from latal.learners.semi import knn_graph, poisson_potentials, spread_labels
from latal.strategies import QueryContext, make_strategy
from latal.strategies.typical import MaxHerding, ProbCover, TypiClust, purity_radius


def _moons(n=600, seed=0):
    from sklearn.datasets import make_moons

    z, y = make_moons(n_samples=n, noise=0.05, random_state=seed)
    return z.astype(np.float32), y


def test_knn_graph_is_symmetric_weighted_and_cached():
    z, _ = _moons()
    W, index = knn_graph(z, 8)
    assert (abs(W - W.T) > 1e-12).nnz == 0 and W.diagonal().sum() == 0
    assert W.data.min() > 0 and W.data.max() <= 1.0
    assert (np.diff(W.indptr) >= 8).all()  # every node keeps at least its own k neighbours
    assert knn_graph(z, 8)[0] is W  # the same latents: the same graph, not rebuilt


def test_label_spreading_follows_the_manifold_where_a_plain_learner_cannot():
    z, y = _moons()
    pool = Pool(z, ["a", "b"])
    seeds = np.array([np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]])
    pool.add_labels(seeds, y[seeds])
    Z, yl = pool.labeled_data()
    ls = LabelSpreading(n_neighbors=8).fit(Z, yl, n_classes=2, pool=pool.view())
    assert (ls.transductive_proba().argmax(1) == y).mean() > 0.98
    test, yt = _moons(300, seed=1)
    assert ls.score(test, yt) > 0.97
    assert make_learner("logistic").fit(Z, yl, n_classes=2).score(test, yt) < 0.9
    proba = ls.predict_proba(test)
    assert np.allclose(proba.sum(1), 1) and proba.shape == (300, 2)


def test_spread_labels_balances_classes_and_handles_unreached_nodes():
    import scipy.sparse as sp

    # a path 0-1-2-3 plus an isolated node 4
    W = sp.csr_matrix(np.array([[0, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], float))
    F = spread_labels(W, np.array([0, 0, -1, 1, -1]), 2, alpha=0.9)
    assert F[1].argmax() == 0 and F[2].argmax() == 1  # two class-0 seeds weigh as much as one class-1 seed
    assert np.allclose(F[4], 0.5)


def test_poisson_potentials_solve_the_graph_poisson_equation():
    z, _ = _moons(200)
    W, _ = knn_graph(z, 8)
    labels = np.full(200, -1)
    labels[[0, 1, 2, 3]] = [0, 1, 0, 1]  # balanced labels: the prior / c rescaling is 1
    u = poisson_potentials(W, labels, 2, min_iter=20000, max_iter=20000)
    deg = np.asarray(W.sum(axis=1)).ravel()
    b = np.zeros((200, 2))
    b[[0, 1, 2, 3]] = np.eye(2)[[0, 1, 0, 1]] - 0.5
    residual = deg[:, None] * u - W @ u - b  # L u = b, L = D - W
    assert np.abs(residual).max() < 1e-6 * np.abs(b).max()


def test_poisson_learning_labels_one_point_per_class_and_respects_priors():
    z, y = _moons(1000)
    pool = Pool(z, ["a", "b", "unseen"])
    seeds = np.array([np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]])
    pool.add_labels(seeds, y[seeds])
    Z, yl = pool.labeled_data()
    pl = make_learner("poisson", n_neighbors=8).fit(Z, yl, n_classes=3, pool=pool.view())
    p = pl.transductive_proba()
    assert (p.argmax(1) == y).mean() > 0.98
    assert np.allclose(p.sum(1), 1) and (p[:, 2] == 0).all()  # a class nobody labeled is never predicted
    test, yt = _moons(300, seed=1)
    assert pl.score(test, yt) > 0.97
    # the temperature changes the confidence, not the decision
    cool = PoissonLearning(n_neighbors=8, temperature=0.1).fit(Z, yl, n_classes=3, pool=pool.view())
    assert np.array_equal(cool.transductive_proba().argmax(1), p.argmax(1))
    assert cool.transductive_proba().max(1).mean() > p.max(1).mean()
    # priors move the boundary between touching classes: a class expected to be larger takes more of the pool
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [2.5, 0], [1.25, 2.2]])
    blobs = (centres.repeat(300, axis=0) + rng.normal(0, 1, (900, 2))).astype(np.float32)
    three = Pool(blobs, ["a", "b", "c"])
    three.add_labels([0, 300, 600], [0, 1, 2])
    share = [(PoissonLearning(class_priors=pr).fit(*three.labeled_data(), n_classes=3, pool=three.view())
              .transductive_proba().argmax(1) == 0).mean() for pr in (None, [0.8, 0.1, 0.1])]
    assert 0.2 < share[0] < 0.45 and share[1] > share[0] + 0.05, share
    for bad, match in (({"class_priors": [0.5, 0.5]}, "3 positive numbers"), ({"temperature": 0}, "temperature"),
                       ({"class_priors": [1, -1, 1]}, "positive")):
        with pytest.raises(ValueError, match=match):
            PoissonLearning(**bad).fit(Z, yl, n_classes=3, pool=pool.view())


def test_poisson_priors_from_the_labels_follow_their_proportions():
    # a pool where class a is four times as common as b and c, labeled in those proportions (as a random or
    # representative sample would be): uniform priors hand the touching regions to the rare classes, the
    # labels' proportions do not
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [2.5, 0], [1.25, 2.2]])
    sizes = [800, 200, 200]
    blobs = np.vstack([c + rng.normal(0, 1, (n, 2)) for c, n in zip(centres, sizes)]).astype(np.float32)
    truth = np.repeat([0, 1, 2], sizes)
    pool = Pool(blobs, ["a", "b", "c"])
    picks = np.r_[rng.choice(800, 16, replace=False), 800 + rng.choice(200, 4, replace=False),
                  1000 + rng.choice(200, 4, replace=False)]
    pool.add_labels(picks, truth[picks])

    def fit(priors):
        return PoissonLearning(class_priors=priors).fit(*pool.labeled_data(), n_classes=3, pool=pool.view())

    uniform, labels = (fit(p).transductive_proba().argmax(1) for p in ("uniform", "labels"))
    assert np.array_equal(uniform, fit(None).transductive_proba().argmax(1))  # "uniform" is the default
    assert (labels == 0).mean() > (uniform == 0).mean() + 0.015
    assert (labels == truth).mean() > (uniform == truth).mean()
    # the labels' proportions, given outright, are the same rule
    c = np.bincount(truth[picks], minlength=3) / picks.size
    assert np.array_equal(labels, fit(list(c)).transductive_proba().argmax(1))
    with pytest.raises(ValueError, match="'uniform', 'labels', 'auto'"):
        fit("pool")
    # "auto": 16, 4 and 4 labels are too uneven for three equal classes, so it takes their proportions, and
    # says so; four labels on each class are not, so it keeps the classes equal
    auto = fit("auto")
    assert np.allclose(auto.class_priors_, c) and np.array_equal(auto.transductive_proba().argmax(1), labels)
    even = Pool(blobs, ["a", "b", "c"])
    picks = np.r_[0:4, 800:804, 1000:1004]
    even.add_labels(picks, truth[picks])
    fitted = PoissonLearning(class_priors="auto").fit(*even.labeled_data(), n_classes=3, pool=even.view())
    assert np.allclose(fitted.class_priors_, 1 / 3)


def test_poisson_mbo_gives_each_class_its_prior_share_of_the_pool():
    # three touching blobs of 300, one label each: Poisson learning's regions are 244 / 306 / 350 items;
    # Poisson MBO's volume constraint makes them 300 each and gets more of the pool right
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [2.5, 0], [1.25, 2.2]])
    blobs = (centres.repeat(300, axis=0) + rng.normal(0, 1, (900, 2))).astype(np.float32)
    truth = np.repeat([0, 1, 2], 300)
    pool = Pool(blobs, ["a", "b", "c"])
    pool.add_labels([0, 300, 600], [0, 1, 2])

    def fit(**kw):
        return PoissonLearning(**kw).fit(*pool.labeled_data(), n_classes=3, pool=pool.view())

    plain, mbo = fit(), fit(mbo=20)
    assert not plain.mbo_applied_ and mbo.mbo_applied_
    p_plain, p_mbo = plain.transductive_proba(), mbo.transductive_proba()
    assert np.allclose(p_mbo.sum(1), 1)
    counts = np.bincount(p_mbo.argmax(1), minlength=3)
    assert np.abs(counts - 300).max() <= 1, counts
    assert np.abs(np.bincount(p_plain.argmax(1), minlength=3) - 300).max() > 40
    assert (p_mbo.argmax(1) == truth).mean() > (p_plain.argmax(1) == truth).mean() + 0.02
    # given priors set the volumes
    counts = np.bincount(fit(mbo=20, class_priors=[0.5, 0.25, 0.25]).transductive_proba().argmax(1), minlength=3)
    assert np.abs(counts - [450, 225, 225]).max() <= 1, counts
    # a class without a label: the constraint would hand its share to the wrong items, so MBO is not run
    partial = Pool(blobs, ["a", "b", "c"])
    partial.add_labels([0, 300], [0, 1])
    skipped = PoissonLearning(mbo=20).fit(*partial.labeled_data(), n_classes=3, pool=partial.view())
    assert not skipped.mbo_applied_
    assert np.array_equal(skipped.transductive_proba(), PoissonLearning().fit(
        *partial.labeled_data(), n_classes=3, pool=partial.view()).transductive_proba())
    assert make_learner("poisson:mbo=20").mbo == 20
    for bad in ({"mbo": -1}, {"mbo_steps": 0}, {"mbo_mu": 0}):
        with pytest.raises(ValueError, match="mbo must be >= 0"):
            fit(**bad)


def test_volume_weights_meet_the_shares_and_warm_start():
    from latal.learners.semi import volume_weights

    s = np.random.default_rng(0).random((1000, 4))
    priors = np.array([0.1, 0.2, 0.3, 0.4])
    w, _ = volume_weights(s, priors)
    scaled = (s - s.min()) / (s.max() - s.min())
    assert np.array_equal(np.bincount(np.argmax(scaled * w, axis=1), minlength=4), [100, 200, 300, 400])
    assert np.array_equal(volume_weights(s, priors, w)[0], w)  # already met: the warm start is kept


def test_uneven_counts_is_a_seeded_test_of_equal_class_shares():
    from latal.learners.semi import uneven_counts

    assert not uneven_counts([2, 2, 2, 2, 2, 2, 2, 2, 2, 2]) and not uneven_counts([3, 1, 2, 2, 4, 1, 2, 3, 1, 1])
    assert uneven_counts([12, 4, 2, 1, 1, 0, 0, 0, 0, 0]) and uneven_counts([16, 4, 4])
    assert not uneven_counts([8, 2, 2])  # p = 0.05: could be chance
    assert not uneven_counts([1]) and not uneven_counts([1, 0])  # one label says nothing
    # 3,000 MaxHerding picks on balanced MNIST: no chance among equal classes, but under 2:1, so not an
    # imbalanced pool
    picks = [297, 329, 312, 328, 344, 220, 305, 287, 288, 290]
    assert uneven_counts(picks, ratio=1.0) and not uneven_counts(picks)
    # calibrated: labels drawn from equal classes are called uneven about as often as the level says
    rng = np.random.default_rng(0)
    rate = np.mean([uneven_counts(rng.multinomial(30, np.full(10, 0.1))) for _ in range(300)])
    assert rate < 0.04, rate
    # and it answers the same for the same counts (no hidden randomness)
    assert all(uneven_counts([5, 1, 1, 0, 1]) == uneven_counts([5, 1, 1, 0, 1]) for _ in range(3))


def test_self_training_uses_pseudo_labels():
    z, y = _moons(800)
    pool = Pool(z, ["a", "b"])
    seeds = np.concatenate([np.flatnonzero(y == 0)[:2], np.flatnonzero(y == 1)[:2]])
    pool.add_labels(seeds, y[seeds])
    Z, yl = pool.labeled_data()
    st = SelfTraining(base="random_forest", threshold=0.9, random_state=0).fit(Z, yl, 2, pool=pool.view())
    test, yt = _moons(300, seed=2)
    alone = make_learner("random_forest", random_state=0).fit(Z, yl, n_classes=2).score(test, yt)
    assert st.n_pseudo_ > 500 and st.score(test, yt) > 0.95 > alone
    again = SelfTraining(base="random_forest", threshold=0.9, random_state=0).fit(Z, yl, 2, pool=pool.view())
    assert np.array_equal(st.predict_proba(test), again.predict_proba(test))
    with pytest.raises(ValueError, match="teacher"):
        SelfTraining(teacher="oracle").fit(Z, yl, 2, pool=pool.view())


def _blobs(n_per=200, k=6, seed=0, spread=8.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, (k, 5))
    y = np.repeat(np.arange(k), n_per)
    return (centres[y] + rng.normal(size=(k * n_per, 5))).astype(np.float32), y


@pytest.mark.parametrize("strategy", [TypiClust(), ProbCover(), MaxHerding()])
def test_cold_start_covers_every_cluster_with_one_label_each(strategy):
    z, y = _blobs()
    pool = Pool(z, [str(i) for i in range(6)])
    chosen = strategy.select(QueryContext(pool=pool.view()), 6, 0)
    assert sorted(y[chosen].tolist()) == list(range(6))
    pool.add_labels(chosen, y[chosen])
    more = strategy.select(QueryContext(pool=pool.view()), 6, 1)
    if isinstance(strategy, (TypiClust, MaxHerding)):  # one label per blob already: the next 6 again hit every blob
        assert sorted(y[more].tolist()) == list(range(6))
    else:  # 95 %-pure balls are as wide as the blobs here: six of them cover the pool
        assert strategy.last_info_["covered"] == 1.0


def test_probcover_with_small_balls_keeps_picking_uncovered_points():
    z, y = _blobs()
    pool = Pool(z, [str(i) for i in range(6)])
    s = ProbCover(delta=2.0)
    first = s.select(QueryContext(pool=pool.view()), 6, 0)
    pool.add_labels(first, y[first])
    more = s.select(QueryContext(pool=pool.view()), 10, 1)
    # greedy coverage, checked by brute force: the next pick's ball holds the most still-uncovered points
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    uncovered = d[:, first].min(axis=1) >= 2.0
    gain = ((d < 2.0) & uncovered[None, :]).sum(axis=1)
    gain[first] = -1
    assert gain[more[0]] == gain.max() and s.last_info_["covered"] < 1.0


def _assert_greedy_coverage(z, s, labeled, picks, density_power=0.0):
    """Each of ``picks`` adds the most kernel coverage (MaxHerding's objective, by brute force in float64,
    without lazy bounds or sampling; each item weighted by its kernel density to the power -density_power)
    given the labels and the picks before it, up to float32 rounding."""
    z = z.astype(np.float64)
    K = np.exp(-((z[:, None] - z[None]) ** 2).sum(-1) / (2 * s * s))
    weight = K.mean(axis=1) ** -density_power
    cover = K[labeled].max(axis=0) if len(labeled) else np.zeros(len(z))
    taken = list(labeled)
    for p in picks:
        gain = np.maximum(K - cover, 0) @ weight
        gain[taken] = -1
        assert p not in taken and gain[p] >= gain.max() * (1 - 1e-5)
        taken.append(p)
        cover = np.maximum(cover, K[p])


def test_maxherding_is_the_greedy_maximiser_of_kernel_coverage():
    z, y = _blobs(n_per=60, spread=3.0)  # blobs that touch: the kernel's tails matter
    pool = Pool(z, [str(i) for i in range(6)])
    s = MaxHerding(bandwidth=1.5)
    first = s.select(QueryContext(pool=pool.view()), 8, 0)
    _assert_greedy_coverage(z, 1.5, [], first.tolist())
    pool.add_labels(first[:3], y[first[:3]])  # labels count as coverage: the next picks fill the rest
    more = s.select(QueryContext(pool=pool.view()), 70, 1)  # more than 64: the lazy bounds get refreshed
    _assert_greedy_coverage(z, 1.5, first[:3].tolist(), more.tolist())
    assert 0 < s.last_info_["coverage"] < 1 and s.last_info_["bandwidth"] == 1.5


def test_maxherding_with_density_power_finds_a_rare_cluster_and_stays_the_greedy_maximiser():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), [600, 400, 300, 200, 12])  # the last class: 12 items of 1,512
    z = (rng.normal(0, 8, (5, 5))[y] + rng.normal(size=(y.size, 5))).astype(np.float32)
    pool = Pool(z, [str(i) for i in range(5)])
    counts = {p: np.bincount(y[MaxHerding(bandwidth=3.0, density_power=p).select(QueryContext(pool=pool.view()), 5, 0)],
                             minlength=5).tolist() for p in (0.0, 0.5, 1.0)}
    assert counts[0.0] == [2, 1, 1, 1, 0]  # coverage of the mass: the big class's second label first
    assert counts[0.5] == counts[1.0] == [1, 1, 1, 1, 1]  # coverage flattened by density: one on every class
    s = MaxHerding(bandwidth=1.5, density_power=0.5)
    picks = s.select(QueryContext(pool=pool.view()), 70, 1)  # more than 64: the lazy bounds get refreshed
    _assert_greedy_coverage(z, 1.5, [], picks.tolist(), density_power=0.5)
    assert 0 < s.last_info_["coverage"] < 1
    assert make_strategy("maxherding:density_power=0.5").density_power == 0.5
    assert "density_power=0.5" in repr(s) and "density_power" not in repr(MaxHerding())


def test_maxherding_samples_big_pools_by_seed_and_defaults_to_probcovers_radius():
    z, y = _blobs(n_per=100)
    pool = Pool(z, [str(i) for i in range(6)])
    s = MaxHerding(max_points=200)
    a = s.select(QueryContext(pool=pool.view()), 6, 0)
    assert s.last_info_["sample"] == 200
    assert np.array_equal(a, s.select(QueryContext(pool=pool.view()), 6, 0))  # same seed, same queries
    assert sorted(y[a].tolist()) == list(range(6))  # a sample of 200 still hits every blob
    assert not np.array_equal(a, s.select(QueryContext(pool=pool.view()), 6, 1))  # another seed, another sample
    radius = purity_radius(z, 6, 0.95, 0)
    assert np.isclose(s.last_info_["bandwidth"], radius)
    half = MaxHerding(scale=0.5)
    half.select(QueryContext(pool=pool.view()), 2, 0)
    assert np.isclose(half.last_info_["bandwidth"], 0.5 * radius)
    assert make_strategy("maxherding:scale=0.5,max_points=300").max_points == 300
    # the sample holds fewer unlabeled items than asked for: the rest come at random, all distinct
    few = MaxHerding(max_points=5).select(QueryContext(pool=pool.view()), 8, 0)
    assert len(set(few.tolist())) == 8


def test_probcover_and_maxherding_compute_the_pool_radius_once(monkeypatch):
    import latal.strategies.typical as typical

    calls = []
    real = typical.purity_radius
    monkeypatch.setattr(typical, "purity_radius", lambda *a: calls.append(a) or real(*a))
    z, _ = _blobs(n_per=50, seed=3)
    pool = Pool(z, [str(i) for i in range(6)])
    ProbCover().select(QueryContext(pool=pool.view()), 3, 0)
    mh = MaxHerding()
    mh.select(QueryContext(pool=pool.view()), 3, 0)
    assert len(calls) == 1 and np.isclose(mh.last_info_["bandwidth"], real(z, 6, 0.95, 0))


@pytest.mark.parametrize("kwargs, match", [({"bandwidth": 0}, "bandwidth"), ({"scale": -1}, "scale"),
                                           ({"purity": 1.0}, "purity"), ({"max_points": 1}, "max_points"),
                                           ({"density_power": 1.5}, "density_power"),
                                           ({"density_power": -0.5}, "density_power")])
def test_maxherding_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaxHerding(**kwargs)


def test_typiclust_picks_the_densest_point_of_a_cluster():
    rng = np.random.default_rng(0)
    core = rng.normal(0, 0.1, (50, 2))
    halo = rng.normal(0, 2.0, (50, 2))
    z = np.vstack([core, halo]).astype(np.float32)
    chosen = TypiClust(min_cluster_size=1).select(QueryContext(pool=Pool(z, ["a", "b"]).view()), 1, 0)
    assert chosen[0] < 50


def test_probcover_radius_keeps_the_balls_pure():
    z, y = _blobs(spread=10.0)
    delta = purity_radius(z, 6, 0.95, 0)
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    pure = [(y[d[i] < delta] == y[i]).all() for i in range(len(z))]
    assert np.mean(pure) >= 0.95 and delta > 1.0
    info = ProbCover().select(QueryContext(pool=Pool(z, [str(i) for i in range(6)]).view()), 3, 0)
    assert len(info) == 3


def test_umap_refinement_is_cached_and_separates_blobs(tmp_path):
    pytest.importorskip("umap")
    from latal.encoders.base import Latent
    from latal.encoders.refine import refine_latents

    z, y = _blobs(n_per=100, k=4)
    pool, test, info = refine_latents("umap:n_components=2,n_neighbors=10", Latent(z), Latent(z[:20]),
                                      base_key="k1", cache_dir=tmp_path)
    assert pool.mean.shape == (400, 2) and test.mean.shape == (20, 2) and not info["refine_cached"]
    again, _, info2 = refine_latents("umap:n_components=2,n_neighbors=10", Latent(z), None, base_key="k1",
                                     cache_dir=tmp_path)
    assert info2["refine_cached"] and np.array_equal(again.mean, pool.mean)
    from sklearn.neighbors import KNeighborsClassifier
    assert KNeighborsClassifier(5).fit(pool.mean, y).score(pool.mean, y) > 0.99


def test_umap_refinement_leaves_torchs_thread_count_alone(monkeypatch):
    """numba's OpenMP layer (under UMAP) resets OpenMP's thread count to every core; torch's convolutions
    followed it, and the CNN student trained after a refinement ran oversubscribed under LATAL_THREADS=1."""
    pytest.importorskip("umap")
    torch = pytest.importorskip("torch")
    from latal.encoders.refine import UMAPRefiner

    before = torch.get_num_threads()
    monkeypatch.setenv("LATAL_THREADS", "1")
    torch.set_num_threads(1)
    try:
        refiner = UMAPRefiner(n_components=2).fit(np.random.default_rng(0).normal(size=(2000, 6)).astype(np.float32))
        assert torch.get_num_threads() == 1
        refiner.transform(np.zeros((5, 6), np.float32))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_umap_refinement_does_not_warn_about_its_own_seeding():
    """A seeded UMAP runs on one thread; left at its default n_jobs it told every `latal run --refine umap`
    user so in a UserWarning they could do nothing about."""
    pytest.importorskip("umap")
    import warnings

    from latal.encoders.refine import UMAPRefiner

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        UMAPRefiner(n_components=2).fit(np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32))
    assert not [w for w in caught if "n_jobs" in str(w.message)]


def test_graph_cache_tells_a_slice_from_the_whole_pool():
    """A slice of the pool's latents shares their memory; its graph must not stand in for the pool's."""
    from latal.learners.semi import LabelSpreading

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(200, 4)).astype(np.float32)
    y = np.arange(12) % 3
    small = LabelSpreading().fit(Z[:12], y, n_classes=3)
    assert small.transductive_proba().shape == (12, 3)
    labels = np.full(200, -1)
    labels[:12] = y
    pool = type("View", (), {"mean": Z, "labels": labels})()
    big = LabelSpreading().fit(Z[:12], y, n_classes=3, pool=pool)
    assert big.transductive_proba().shape == (200, 3)
    assert big.predict_proba(Z).shape == (200, 3)


def test_learn_on_gives_the_learner_the_unrefined_latents_or_both():
    """``learn_on``: strategies choose in the refined latents; the learner reads the refined ones (default),
    the encoder's unrefined ones, or one learner each, probabilities averaged ("both")."""
    import dataclasses

    from latal.encoders.base import Latent
    from latal.experiment import ExperimentConfig, Prepared, prepare, run_experiment
    from latal.learners import make_learner

    base = ExperimentConfig(dataset="iris", encoder="identity", learner="logistic", strategy="margin",
                            initial_strategy="kmeans", initial=6, batch=6, rounds=2)
    p = prepare(base)
    refined = Prepared(p.dataset, p.encoder, Latent(p.latent.mean[:, :2] * 10), Latent(p.test_latent.mean[:, :2] * 10),
                       dict(p.timing), p.latent, p.test_latent)  # a stand-in for UMAP: two columns, rescaled
    assert refined.learner_latents("refined")[0] is None
    raw, raw_test = refined.learner_latents("latents")
    np.testing.assert_array_equal(raw, p.latent.mean)
    np.testing.assert_array_equal(raw_test, p.test_latent.mean)
    both, both_test = refined.learner_latents("both")
    np.testing.assert_array_equal(both, np.hstack([refined.latent.mean, raw]))
    assert both_test.shape == (raw_test.shape[0], 2 + 4)
    assert refined.learner_latents("both")[0] is both  # one array per Prepared: runs share its neighbour graphs

    runs = {on: run_experiment(dataclasses.replace(base, refine="umap", learn_on=on), prepared=refined)
            for on in ("refined", "latents", "both")}
    # the first batch is chosen in the refined latents, whatever the learner reads
    assert runs["refined"]["initial"] == runs["latents"]["initial"] == runs["both"]["initial"]
    assert runs["latents"]["config"]["learn_on"] == "latents"
    assert "SummedViews" in runs["both"]["config"]["resolved"]["learner"]
    # each learner was fitted on its own rows of the same labels and evaluated on its own test rows
    idx = np.sort(runs["refined"]["initial"])
    y, y_test = p.dataset.y, p.dataset.y_test
    proba = {}
    for on, (Z, Z_test) in {"refined": (refined.latent.mean, refined.test_latent.mean), "latents": (raw, raw_test)}.items():
        proba[on] = make_learner("logistic").fit(Z[idx], y[idx], n_classes=3).predict_proba(Z_test)
        assert runs[on]["rounds"][0]["accuracy"] == pytest.approx(float(np.mean(proba[on].argmax(1) == y_test)))
    averaged = (proba["refined"] + proba["latents"]) / 2
    assert runs["both"]["rounds"][0]["accuracy"] == pytest.approx(float(np.mean(averaged.argmax(1) == y_test)))
    assert runs["refined"]["rounds"][0]["accuracy"] != runs["latents"]["rounds"][0]["accuracy"]
    with pytest.raises(ValueError, match="learn_on='latents' needs a refinement"):
        run_experiment(dataclasses.replace(base, learn_on="latents"), prepared=p)
    with pytest.raises(ValueError, match="unknown learn_on 'umap'"):
        run_experiment(dataclasses.replace(base, refine="umap", learn_on="umap"), prepared=refined)
    with pytest.raises(ValueError, match="needs a refinement"):
        p.learner_latents("both")


def test_learn_weights_scale_a_stacks_parts_in_what_the_learner_reads_only():
    """``learn_weights``: each part of a stacked encoder's unrefined latents times its weight, in the rows the
    learner reads (pool and test); the strategies' space is untouched, so the picks stay the same."""
    import dataclasses

    from latal.encoders.base import Latent
    from latal.experiment import ExperimentConfig, Prepared, prepare, run_experiment
    from latal.learners import make_learner

    base = ExperimentConfig(dataset="iris", encoder="identity+pca:n_components=2", learner="logistic",
                            strategy="margin", initial_strategy="kmeans", initial=6, batch=6, rounds=1,
                            refine="umap", learn_on="latents")
    p = prepare(dataclasses.replace(base, refine=None, learn_on="refined"))
    assert p.latent.parts == (4, 2) and p.test_latent.parts == (4, 2)  # the stack's widths, in column order
    refined = Prepared(p.dataset, p.encoder, Latent(p.latent.mean[:, :2] * 10), Latent(p.test_latent.mean[:, :2] * 10),
                       dict(p.timing), p.latent, p.test_latent)  # a stand-in for UMAP
    rows, test_rows = refined.learner_latents("latents", (1.0, 3.0))
    np.testing.assert_array_equal(rows[:, :4], p.latent.mean[:, :4])
    np.testing.assert_allclose(rows[:, 4:], 3 * p.latent.mean[:, 4:], rtol=1e-6)
    np.testing.assert_allclose(test_rows[:, 4:], 3 * p.test_latent.mean[:, 4:], rtol=1e-6)
    both = refined.learner_latents("both", (1.0, 3.0))[0]
    np.testing.assert_array_equal(both[:, 2:], rows)  # after the refined block
    assert refined.learner_latents("both")[0][:, 6:].max() <= 1.0 + 1e-6  # unweighted again: not the cached rows

    plain = run_experiment(base, prepared=refined)
    heavy = run_experiment(dataclasses.replace(base, learn_weights=(1.0, 3.0)), prepared=refined)
    assert plain["initial"] == heavy["initial"] and heavy["config"]["learn_weights"] == (1.0, 3.0)
    idx = np.sort(heavy["initial"])
    model = make_learner("logistic").fit(rows[idx], p.dataset.y[idx], n_classes=3)
    assert heavy["rounds"][0]["accuracy"] == pytest.approx(float(np.mean(model.predict(test_rows) == p.dataset.y_test)))

    for change, message in [({"learn_on": "refined"}, "only under learn_on 'latents' or 'both'"),
                            ({"encoder": "identity"}, "has one part"),
                            ({"learn_weights": (1.0, 2.0, 3.0)}, "3 weights for the 2 parts"),
                            ({"learn_weights": (1.0, -1.0)}, "positive and finite"),
                            ({"learn_weights": "1,x"}, "numbers separated by commas")]:
        cfg = dataclasses.replace(base, **{"learn_weights": (1.0, 3.0), **change})
        with pytest.raises(ValueError, match=message):
            run_experiment(cfg, prepared=refined)


def test_summed_views_fits_one_learner_per_block_and_passes_each_its_pool_block():
    import dataclasses

    from latal.exceptions import DataError
    from latal.learners.views import SummedViews

    from conftest import make_pool

    pool, y = make_pool(n=120, d=6, n_classes=3, labeled=12, variational=False)
    view = pool.view()
    lab = np.asarray(view.labeled)
    model = SummedViews(make_learner("label_spreading"), split=2).fit(view.mean[lab], y[lab], 3, pool=view)
    assert model.uses_pool and not model.uses_inputs
    a = make_learner("label_spreading").fit(view.mean[lab, :2], y[lab], 3, pool=dataclasses.replace(view, mean=view.mean[:, :2]))
    b = make_learner("label_spreading").fit(view.mean[lab, 2:], y[lab], 3, pool=dataclasses.replace(view, mean=view.mean[:, 2:]))
    Z = view.mean[:30]
    np.testing.assert_allclose(model.predict_proba(Z), (a.predict_proba(Z[:, :2]) + b.predict_proba(Z[:, 2:])) / 2,
                               rtol=1e-6)
    seeded = SummedViews(make_learner("mlp:epochs=2"), split=2)
    assert "random_state" in seeded.get_params()  # the loop reseeds every round's fit through it
    assert seeded.clone(random_state=7).learner.random_state == 7
    assert seeded.set_params(random_state=9).learner.random_state == 9 and seeded.get_params()["random_state"] == 9
    with pytest.raises(ValueError, match="no parameter 'epochz'"):
        seeded.set_params(epochz=3)
    with pytest.raises(DataError, match="more than 2 columns"):
        model.predict_proba(Z[:, :2])
    with pytest.raises(ValueError, match="split must be at least 1"):
        SummedViews(make_learner("logistic"), split=0)


def test_pool_proba_takes_what_a_transductive_learner_computed_for_the_pool():
    """`pool_proba` (behind `latal export --predictions`): the propagated distributions of a graph learner (both
    blocks' mean under SummedViews), predict_proba on the rows for any other learner."""
    from latal.learners.base import pool_proba
    from latal.learners.views import SummedViews

    from conftest import make_pool

    pool, y = make_pool(n=120, d=6, n_classes=3, labeled=12, variational=False)
    view = pool.view()
    lab = np.asarray(view.labeled)
    poisson = make_learner("poisson").fit(view.mean[lab], y[lab], 3, pool=view)
    p = pool_proba(poisson, view.mean)
    assert np.array_equal(p, poisson.transductive_proba()) and p.shape == (120, 3)
    assert not np.allclose(p, poisson.predict_proba(view.mean))  # the inductive vote only approximates it
    both = SummedViews(make_learner("poisson"), split=2).fit(view.mean[lab], y[lab], 3, pool=view)
    np.testing.assert_allclose(pool_proba(both, view.mean),
                               (both.models_[0].transductive_proba() + both.models_[1].transductive_proba()) / 2)
    mixed = SummedViews(make_learner("logistic"), split=2).fit(view.mean[lab], y[lab], 3)
    assert mixed.transductive_proba() is None
    np.testing.assert_allclose(pool_proba(mixed, view.mean), mixed.predict_proba(view.mean))
    # a graph learner fitted without the pool spread over the labels only: its rows are predicted instead
    alone = make_learner("label_spreading").fit(view.mean[lab], y[lab], 3)
    np.testing.assert_allclose(pool_proba(alone, view.mean), alone.predict_proba(view.mean))


def test_maxherding_top_and_gains_match_the_plain_numpy_they_replace():
    from latal.strategies.typical import _coverage_gains, _gaussian, _top

    rng = np.random.default_rng(0)
    values = rng.integers(0, 30, size=500).astype(float)  # many ties
    values[rng.choice(500, 40, replace=False)] = -np.inf
    for m in (1, 65, 499, 500, 600):
        assert np.array_equal(_top(values, m), np.argsort(-values, kind="stable")[:m])
    a, b = rng.standard_normal((37, 4)).astype(np.float32), rng.standard_normal((3000, 4)).astype(np.float32)
    K = _gaussian(a, b, 0.8)
    assert np.allclose(K, np.exp(-((a[:, None].astype(float) - b[None]) ** 2).sum(-1) / (2 * 0.64)), atol=1e-6)
    cover = rng.random(3000).astype(np.float32) * 0.5
    K = _gaussian(b[:300], b[:300], 0.8)
    assert np.allclose(_coverage_gains(K, cover[:300], block=64), np.maximum(K - cover[:300], 0).sum(axis=1), rtol=1e-5)
    w = rng.random(300).astype(np.float32) + 0.5
    assert np.allclose(_coverage_gains(K, cover[:300], w, block=64), np.maximum(K - cover[:300], 0) @ w, rtol=1e-5)


def test_maxherding_writes_every_selection_into_one_kept_kernel_matrix():
    import threading

    import latal.strategies.typical as typical

    z, y = _blobs(n_per=50)
    pool = Pool(z, [str(i) for i in range(6)])
    typical.free_kernel_scratch()
    first = MaxHerding().select(QueryContext(pool=pool.view()), 4, 0)
    kept = typical._SCRATCH["K"]
    assert kept.shape == (300, 300)
    pool.add_labels(first, y[first])
    again = MaxHerding(scale=1.2).select(QueryContext(pool=pool.view()), 4, 1)  # another instance, the same matrix
    assert typical._SCRATCH["K"] is kept and not set(first) & set(again)
    # while one thread holds it, a selection elsewhere gets its own matrix and the same answer
    with typical.kernel_scratch(300) as held:
        assert held is kept
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("p", MaxHerding(scale=1.2).select(QueryContext(pool=pool.view()), 4, 1)))
        t.start()
        t.join()
    assert np.array_equal(out["p"], again)
    typical.free_kernel_scratch()
    assert "K" not in typical._SCRATCH
