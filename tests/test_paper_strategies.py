"""The strategies of papers 000 and 004 against their definitions."""

import numpy as np
import pytest

from latal import Pool
from latal.learners import MLPClassifier, make_learner
from latal.strategies import (
    DFAL, EGL, CoreSet, DBSCANSampler, DiscriminativeAL, KMeansSampler, MCDropout, MeanShiftSampler, QueryContext,
)
from latal.strategies.bayesian import bald, max_entropy, variation_ratio
from latal.strategies.clustering import tune_dbscan
from latal.strategies.coreset import k_center_greedy, min_sq_distances
from latal.strategies.dfal import deepfool_norms
from latal.strategies.egl import expected_gradient_length

from conftest import make_pool


def test_k_center_greedy_matches_brute_force():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(80, 3)).astype(np.float32)
    labeled = np.zeros(80, bool)
    labeled[[0, 5]] = True
    chosen = k_center_greedy(pts, labeled, 6)
    centres = [0, 5]
    for c in chosen:
        d = ((pts[:, None] - pts[centres][None]) ** 2).sum(-1).min(1)
        d[centres] = -1
        assert c == int(np.argmax(d))
        centres.append(int(c))


def test_min_sq_distances_chunked():
    rng = np.random.default_rng(1)
    p, c = rng.normal(size=(50, 4)), rng.normal(size=(7, 4))
    brute = ((p[:, None] - c[None]) ** 2).sum(-1).min(1)
    assert min_sq_distances(p, c, chunk_elems=60) == pytest.approx(brute, rel=1e-4, abs=1e-5)


def test_robust_coreset_skips_the_outlier():
    pool, _ = make_pool(n=300, d=2, labeled=10)
    mean = np.asarray(pool.mean).copy()
    mean[123] = [500.0, 500.0]
    p = Pool(mean, pool.class_names)
    p.add_labels(pool.labeled_indices, pool.labels[pool.labeled_indices])
    ctx = QueryContext(pool=p.view())
    assert 123 in CoreSet().select(ctx, 3, 0)
    assert 123 not in CoreSet(outlier_fraction=0.01).select(ctx, 3, 0)


def test_dbscan_auto_tuning_lands_near_the_batch():
    pool, _ = make_pool(n=2000, d=2, labeled=20)
    for k in (5, 10, 20):
        s = DBSCANSampler()
        s.select(QueryContext(pool=pool.view()), k, np.random.default_rng(k))
        assert abs(s.last_reachable_ - k) <= 2
    manual = DBSCANSampler(eps=0.3, min_samples=4)
    manual.select(QueryContext(pool=pool.view()), 5, 0)
    assert manual.last_params_ == {"eps": 0.3, "min_samples": 4}
    with pytest.raises(ValueError, match="both eps and min_samples"):
        DBSCANSampler(eps=0.3)


def test_tune_dbscan_objective():
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 0.05, (30, 2)), rng.normal(5, 0.05, (30, 2)), rng.uniform(-10, 10, (40, 2))])
    unl = np.ones(100, bool)
    eps, m, reach = tune_dbscan(z, unl, 60)
    assert reach == 60  # exactly the two tight blobs


@pytest.mark.parametrize("cls", [KMeansSampler, MeanShiftSampler])
def test_centre_samplers_take_points_near_centres(cls):
    pool, _ = make_pool(n=1000, d=2, labeled=10)
    s = cls()
    chosen = s.select(QueryContext(pool=pool.view()), 5, 0)
    assert len(chosen) == 5 and s.last_radius_ > 0


def test_egl_matches_autograd():
    import torch

    rng = np.random.default_rng(0)
    h = rng.normal(size=(6, 4))
    W, b = rng.normal(size=(3, 4)), rng.normal(size=3)
    logits = h @ W.T + b
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = []
    for i in range(6):
        total = 0.0
        for y in range(3):
            Wt = torch.tensor(W, requires_grad=True)
            bt = torch.tensor(b, requires_grad=True)
            loss = torch.nn.functional.cross_entropy((torch.tensor(h[i]) @ Wt.T + bt)[None], torch.tensor([y]))
            gW, gb = torch.autograd.grad(loss, [Wt, bt])
            total += p[i, y] * float(torch.sqrt((gW ** 2).sum() + (gb ** 2).sum()))
        expected.append(total)
    assert expected_gradient_length(p, h) == pytest.approx(expected, rel=1e-6)


def test_mc_acquisitions():
    same = np.tile(np.array([[0.5, 0.5], [0.9, 0.1]]), (10, 1, 1))        # T=10 identical passes
    assert bald(same) == pytest.approx([0.0, 0.0], abs=1e-12)
    assert max_entropy(same)[0] == pytest.approx(1.0)
    flip = np.stack([np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])] * 5)  # confident, but disagreeing
    assert bald(flip) == pytest.approx([1.0])
    assert variation_ratio(flip) == pytest.approx([0.5])


def _fitted_pool(n=600, labeled=40, seed=0):
    pool, y = make_pool(n=n, d=4, n_classes=3, labeled=labeled, seed=seed)
    Z, yl = pool.labeled_data()
    learner = MLPClassifier(hidden=(32,), epochs=30, random_state=0, batch_size=16).fit(Z, yl, n_classes=3)
    return pool, learner


def test_mc_dropout_needs_sampling_learner():
    pool, _ = _fitted_pool()
    Z, y = pool.labeled_data()
    logistic = make_learner("logistic").fit(Z, y, n_classes=3)
    with pytest.raises(Exception, match="Monte-Carlo"):
        MCDropout("bald").select(QueryContext(pool=pool.view(), learner=logistic), 5, 0)


def test_dal_prefers_the_region_nobody_labeled():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.3, (300, 2))       # labeled region and its unlabeled neighbours
    b = rng.normal(6, 0.3, (60, 2))         # a region with no label at all
    pool = Pool(np.vstack([a, b]).astype(np.float32), ["x", "y"])
    pool.add_labels(np.arange(40), np.arange(40) % 2)
    chosen = DiscriminativeAL(n_mini_queries=1, unlabeled_ratio=None).select(QueryContext(pool=pool.view()), 10, 0)
    assert (chosen >= 300).all()


def test_deepfool_on_a_linear_model_is_the_exact_distance():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        model[0].bias.zero_()
    Z = np.array([[0.5, 3.0], [-2.0, 1.0], [0.1, 0.0]], dtype=np.float32)
    # the boundary is x = 0: the distance is |x|, times DeepFool's overshoot
    assert deepfool_norms(model, Z, overshoot=0.0) == pytest.approx([0.5, 2.0, 0.1], abs=2e-3)


def test_dfal_picks_points_nearest_the_boundary_and_needs_the_mlp():
    pool, learner = _fitted_pool()
    chosen = DFAL().select(QueryContext(pool=pool.view(), learner=learner), 10, 0)
    proba = learner.predict_proba(np.asarray(pool.mean)[chosen])
    others = learner.predict_proba(np.asarray(pool.mean)[pool.unlabeled_indices])
    margin = lambda p: np.sort(p, 1)[:, -1] - np.sort(p, 1)[:, -2]  # noqa: E731
    assert np.median(margin(proba)) < np.median(margin(others))
    Z, y = pool.labeled_data()
    with pytest.raises(Exception, match="not differentiable"):
        DFAL().select(QueryContext(pool=pool.view(), learner=make_learner("logistic").fit(Z, y, n_classes=3)), 5, 0)


def test_egl_with_the_mlp_uses_its_hidden_layer():
    pool, learner = _fitted_pool()
    assert learner.embed(np.asarray(pool.mean)[:5]).shape == (5, 32)
    assert len(EGL().select(QueryContext(pool=pool.view(), learner=learner), 7, 0)) == 7


def test_mc_dropout_subsample_is_seeded():
    pool, learner = _fitted_pool()
    ctx = QueryContext(pool=pool.view(), learner=learner)
    a = MCDropout("bald", n_samples=4, subsample=50).select(ctx, 8, 3)
    b = MCDropout("bald", n_samples=4, subsample=50).select(ctx, 8, 3)
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 8
