"""Paper 002 (DUAL), the k-means-centroid baseline, Breiman's waveform data, and paper 003's clustering
contrastive active learning."""

import numpy as np
import pytest

from latal import Pool
from latal.data import load_dataset
from latal.data.embedded import make_waveform, waveform_bases
from latal.strategies import STRATEGIES
from latal.strategies.base import QueryContext
from latal.strategies.dual import dual_scores, nearest_distinct


def blobs(n_per=40, centres=((0, 0), (8, 0), (0, 8), (8, 8)), seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(c, 0.6, size=(n_per, 2)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(len(centres)), n_per)
    return X, y


def test_waveform_follows_breiman():
    h = waveform_bases()
    assert h.shape == (3, 21) and h[0].max() == 6 and h[0].argmax() == 10
    assert h[1].argmax() == 14 and h[2].argmax() == 6
    ds = make_waveform(3000, seed=1)
    assert ds.x.shape == (3000, 40) and set(np.unique(ds.y)) == {0, 1, 2}
    # class 0 mixes h1 and h2: its mean wave is (h1 + h2) / 2 on the first 21 attributes
    assert np.allclose(ds.x[ds.y == 0, :21].mean(0), (h[0] + h[1]) / 2, atol=0.25)
    assert abs(ds.x[:, 21:].mean()) < 0.05 and abs(ds.x[:, 21:].std() - 1) < 0.05  # pure noise attributes
    # the Bayes error is about 14 %: a linear classifier reaches the low to mid 80s
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    acc = LinearDiscriminantAnalysis().fit(ds.x[:1500], ds.y[:1500]).score(ds.x[1500:], ds.y[1500:])
    assert 0.80 < acc < 0.89
    assert np.array_equal(make_waveform(50, seed=3).x, make_waveform(50, seed=3).x)
    assert load_dataset("waveform").x.shape == (5000, 40)
    with pytest.raises(ValueError):
        make_waveform(0)


def test_embedded_tables_load():
    assert load_dataset("wine").x.shape == (178, 13)
    assert load_dataset("breast_cancer").class_names == ["malignant", "benign"]


def test_dual_scores_are_seeded_and_training_converges():
    X, y = blobs()
    score, info = dual_scores(X, n_clusters=4, pretrain_epochs=30, epochs=150, seed=0, device="cpu")
    assert score.shape == (len(X),) and 0 <= score.min() and score.max() <= 2
    again, _ = dual_scores(X, n_clusters=4, pretrain_epochs=30, epochs=150, seed=0, device="cpu")
    assert np.allclose(score, again)
    assert info["loss"][-1] < 0.1 * info["loss"][0]
    assert len(set(y[np.argsort(-score)[:8]])) == 4  # the top of the ranking spans every blob
    ablated, _ = dual_scores(X, n_clusters=4, beta=0.0, pretrain_epochs=30, epochs=150, seed=0, device="cpu")
    assert ablated.max() <= 1.0 and not np.allclose(ablated, score)  # DUAL w/o: the Q branch alone


@pytest.mark.parametrize("name", ["dual:pretrain_epochs=30,epochs=150", "kmeans_centroids"])
def test_zero_label_strategies_cover_every_cluster(name):
    X, y = blobs()
    pool = Pool(X, ["a", "b", "c", "d"])
    strategy = STRATEGIES.build(name)
    chosen = strategy.select(QueryContext(pool=pool.view()), 4, np.random.default_rng(0))
    assert len(set(y[chosen])) >= 3 if name.startswith("dual") else set(y[chosen]) == {0, 1, 2, 3}
    again = STRATEGIES.build(name).select(QueryContext(pool=pool.view()), 4, np.random.default_rng(0))
    assert np.array_equal(np.sort(chosen), np.sort(again))


def test_dual_is_a_cold_start_strategy_of_the_loop():
    from latal.experiment import ExperimentConfig, run_experiment

    out = run_experiment(ExperimentConfig(dataset="iris", encoder="identity", learner="logistic", strategy="margin",
                                          initial_strategy="dual:pretrain_epochs=20,epochs=100", initial=6, batch=6,
                                          rounds=1))
    assert len(out["initial"]) == 6 and out["rounds"][-1]["n_labeled"] == 12


def test_nearest_distinct_resolves_collisions():
    Z = np.array([[0.0, 0], [1, 0], [5, 5]])
    picked = nearest_distinct(Z, np.array([[0.1, 0], [0.2, 0], [4.9, 5]]))
    assert sorted(picked.tolist()) == [0, 1, 2] and picked[2] == 2


def test_dual_refuses_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        dual_scores(np.array([[0.0, np.nan], [1, 1]]))
    with pytest.raises(ValueError, match="n_clusters"):
        STRATEGIES.build("dual:n_clusters=0")


def test_clustering_contrastive_loss_pulls_own_class_and_pushes_others():
    import torch

    from latal.strategies.cluster_contrastive import clustering_contrastive_loss

    mu = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[2.0, 0.1], [1.5, -0.1], [0.1, 2.0], [-0.1, 1.2]])
    bad = good.flip(1)  # every point sits on the other class's centroid
    for sim in ("dot", "cosine", "distance"):
        assert clustering_contrastive_loss(good, y, mu, 0.5, sim) < clustering_contrastive_loss(bad, y, mu, 0.5, sim)
    z = good.clone().requires_grad_(True)
    clustering_contrastive_loss(z, y, mu, 0.5, "distance").backward()
    assert z.grad[0, 0] > 0  # the step -grad moves z_0 toward mu_0 = (1, 0)
    one_class = clustering_contrastive_loss(good[:2], y[:2], mu, 0.5)
    assert float(one_class) == 0.0  # no other class in the batch: nothing to contrast


def test_cluster_contrastive_runs_algorithm_1_on_small_images():
    from latal.strategies.cluster_contrastive import ClusterContrastiveModel, target_distribution

    q = np.array([[0.6, 0.4], [0.5, 0.5]])
    p = target_distribution(q)
    assert np.allclose(p.sum(1), 1) and p[0, 0] > q[0, 0]
    rng = np.random.default_rng(0)
    # two classes of 16 x 16 images: a bright left half or a bright right half
    y = np.arange(200) % 2
    x = rng.uniform(0, 60, size=(200, 16, 16))
    x[y == 0, :, :8] += 180
    x[y == 1, :, 8:] += 180
    x = x.astype(np.uint8)
    model = ClusterContrastiveModel(2, pretrain_epochs=3, epochs=2, batch_size=32, update_interval=5, seed=0,
                                    device="cpu")
    model.pretrain(x)
    labeled = np.array([0, 1, 2, 3])
    model.init_centroids(labeled, y[labeled])
    chosen = model.query(np.arange(4, 200), 10)
    assert len(set(chosen)) == 10 and not set(chosen) & set(labeled)
    model.train_round(np.concatenate([labeled, chosen]), y[np.concatenate([labeled, chosen])])
    assert np.mean(model.predict(x) == y) > 0.9
    # the strategy form keeps its model between rounds and trains it on the new labels
    pool = Pool(rng.normal(size=(200, 2)).astype(np.float32), ["l", "r"])
    pool.add_labels(labeled, y[labeled])
    strategy = STRATEGIES.build("cluster_contrastive:pretrain_epochs=2,epochs=1,batch_size=32")
    first = strategy.select(QueryContext(pool=pool.view(), inputs=x), 8, np.random.default_rng(0))
    pool.add_labels(first, y[first])
    model_before = strategy.model_
    strategy.select(QueryContext(pool=pool.view(), inputs=x), 8, np.random.default_rng(0))
    assert strategy.model_ is model_before and strategy.model_.seconds["train"] > 0
