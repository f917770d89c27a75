"""The CNN student: trained on the pool's images with the labels and the teacher's pseudo-labels."""

import numpy as np
import pytest

from latal.exceptions import DataError, MissingRequirementError
from latal.learners import LEARNERS, make_learner
from latal.learners.student import CNNStudent, cutout, images_nchw, random_affine, shifted_proba, strong_view
from latal.loop import run_active_learning
from latal.oracles import SimulatedOracle
from latal.pool import Pool
from latal.strategies import make_strategy

FAST = {"epochs": 1, "min_steps": 300, "width": 16, "random_state": 0}


def bars(n=600, size=12, seed=0):
    """Three classes of 12x12 images: a horizontal bar, a vertical bar or a diagonal, at a random offset,
    in noise; and 6-d latents in three overlapping blobs (what an encoder would give: a teacher that is
    mostly, not always, right)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(0, 0.15, size=(n, size, size)).astype(np.float32)
    pos = rng.integers(2, size - 2, size=n)
    for i in range(n):
        if y[i] == 0:
            X[i, pos[i], :] += 1
        elif y[i] == 1:
            X[i, :, pos[i]] += 1
        else:
            X[i][np.eye(size, k=int(pos[i]) - size // 2, dtype=bool)] += 1
    X = np.clip(X, 0, 1)
    centres = np.random.default_rng(99).normal(0, 1.6, size=(3, 6))
    Z = (centres[y] + rng.normal(size=(n, 6))).astype(np.float32)
    return X, Z, y


def _pool(Z, y, labeled):
    pool = Pool(Z, ["h", "v", "d"])
    pool.add_labels(labeled, y[labeled])
    return pool


def test_student_learns_from_images_with_a_few_labels():
    X, Z, y = bars()
    Xt, Zt, yt = X[450:], Z[450:], y[450:]
    X, Z, y = X[:450], Z[:450], y[:450]
    labeled = np.array([0, 1, 2, 3, 4, 5])
    pool = _pool(Z, y, labeled)
    Zl, yl = pool.labeled_data()
    student = make_learner("cnn_student", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    acc = float(np.mean(student.predict(Zt, inputs=Xt) == yt))
    teacher = make_learner("poisson").fit(Zl, yl, n_classes=3, pool=pool.view())  # its default teacher
    # the images separate the classes better than the overlapping latents: the student beats its teacher
    assert acc > 0.97 and acc > float(np.mean(teacher.predict(Zt) == yt)) + 0.02
    # what `latal export --predictions` writes for the pool: the student's own guesses on the pool's images
    from latal.learners.base import pool_proba

    on_pool = pool_proba(student, Z, X)
    np.testing.assert_array_equal(on_pool, student.predict_proba(Z, inputs=X))
    assert float(np.mean(on_pool.argmax(1) == y)) > float(np.mean(teacher.transductive_proba().argmax(1) == y))
    soft = make_learner("cnn_student", targets="soft", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert float(np.mean(soft.predict(Zt, inputs=Xt) == yt)) > 0.95  # the teacher's whole distributions
    assert not np.array_equal(soft.predict_proba(Zt, inputs=Xt), student.predict_proba(Zt, inputs=Xt))
    affine = make_learner("cnn_student", augment="affine", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert float(np.mean(affine.predict(Zt, inputs=Xt) == yt)) > 0.95  # its own transform for every image
    deep = make_learner("cnn_student", arch="conv3bn", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert float(np.mean(deep.predict(Zt, inputs=Xt) == yt)) > 0.95  # three conv blocks with batch norm
    convs = [m for m in deep.model_.modules() if type(m).__name__ == "Conv2d"]
    assert [c.out_channels for c in convs] == [16, 32, 64]
    assert sum(type(m).__name__ == "BatchNorm2d" for m in deep.model_.modules()) == 3
    assert not deep.model_.training  # batch norm predicts with its running statistics
    again = make_learner("cnn_student", arch="conv3bn", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert np.array_equal(again.predict_proba(Zt, inputs=Xt), deep.predict_proba(Zt, inputs=Xt))
    # tta=1: the same network, predicting the mean over the image and its four 1-pixel shifts
    tta = make_learner("cnn_student", tta=1, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    shifted = shifted_proba(student.model_, images_nchw(Xt), student.device_)
    np.testing.assert_allclose(tta.predict_proba(Zt, inputs=Xt), shifted, atol=1e-6)
    assert not np.allclose(shifted, student.predict_proba(Zt, inputs=Xt))
    assert float(np.mean(tta.predict(Zt, inputs=Xt) == yt)) > 0.97
    # latents only (what strategies hand): the student's pool predictions voted to the latents
    p = student.predict_proba(Zt)
    assert p.shape == (150, 3) and np.allclose(p.sum(1), 1) and (p >= 0).all()
    assert student.pool_proba_.shape == (450, 3)
    # the same seed gives the same model; another seed another one
    again = make_learner("cnn_student", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert np.array_equal(again.predict_proba(Zt, inputs=Xt), student.predict_proba(Zt, inputs=Xt))
    other = make_learner("cnn_student", **{**FAST, "random_state": 1}).fit(Zl, yl, n_classes=3, pool=pool.view(),
                                                                          inputs=X)
    assert not np.array_equal(other.predict_proba(Zt, inputs=Xt), student.predict_proba(Zt, inputs=Xt))


def test_further_generations_learn_from_the_labels_propagated_over_the_students_features(monkeypatch):
    import dataclasses

    import torch

    from latal.learners import student as mod

    X, Z, y = bars(300)
    labeled = np.arange(30)
    pool = _pool(Z, y, labeled)
    Zl, yl = pool.labeled_data()
    seen, train = [], mod.CNNStudent._train

    def recording(self, X_, target, weight, labeled_, n_classes, seed, device, epochs, arch, mixup, per_batch):
        net = train(self, X_, target, weight, labeled_, n_classes, seed, device, epochs, arch, mixup, per_batch)
        seen.append((target.copy(), weight.copy(), seed, net, epochs, arch, mixup, per_batch))
        return net

    monkeypatch.setattr(mod.CNNStudent, "_train", recording)
    student = make_learner("cnn_student", generations=3, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert len(seen) == 3 and len({s[2] for s in seen}) == 3  # a fresh network, with its own seed, per generation
    unlabeled = np.setdiff1d(np.arange(300), labeled)
    images = images_nchw(X)
    assert [s[4] for s in seen] == [1, 1, 1]  # final_epochs unset: every student trains for ``epochs``
    assert [s[6] for s in seen] == [0.0, 0.0, 0.0]  # mixup off unless asked
    for (_, _, _, before, *_), (target, weight, *_) in zip(seen, seen[1:]):
        # each generation's targets: the teacher re-fitted with the same labels on the previous network's
        # normalised features, never that network's own guesses; the labels stay clamped with weight 1
        feats = mod.batched_features(before, images, student.device_)
        feats /= np.linalg.norm(feats, axis=1, keepdims=True)
        fview = dataclasses.replace(pool.view(), mean=feats, log_var=None)
        expected = make_learner("poisson").fit(feats[labeled], y[labeled], 3, pool=fview).transductive_proba()
        assert np.array_equal(target[unlabeled].argmax(1), expected[unlabeled].argmax(1))
        assert np.allclose(weight[unlabeled], expected[unlabeled].max(1), atol=1e-5)
        assert np.array_equal(target[labeled].argmax(1), y[labeled]) and np.all(weight[labeled] == 1)
    assert float(np.mean(student.predict(Z, inputs=X) == y)) > 0.95
    assert np.array_equal(student.pool_proba_, mod.batched_proba(seen[-1][3], images, student.device_))
    with pytest.raises(ValueError, match="generations must be a positive integer"):
        make_learner("cnn_student", generations=0, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    # only the last student, trained on the best pseudo-labels, takes final_epochs passes
    seen.clear()
    make_learner("cnn_student", generations=2, final_epochs=3, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(),
                                                                          inputs=X)
    assert [s[4] for s in seen] == [1, 3]
    # and final_arch changes only the last one's network
    seen.clear()
    make_learner("cnn_student", generations=2, final_arch="conv3bn", **FAST).fit(Zl, yl, n_classes=3,
                                                                                pool=pool.view(), inputs=X)
    assert [s[5] for s in seen] == ["conv2", "conv3bn"]
    assert [sum(type(m).__name__ == "BatchNorm2d" for m in s[3].modules()) for s in seen] == [0, 3]
    # mixup trains every generation's student, final_mixup the last one's alone (and overrides mixup there)
    for kw, expected in (({"mixup": 0.5}, [0.5, 0.5]), ({"final_mixup": 0.75}, [0.0, 0.75]),
                         ({"mixup": 0.5, "final_mixup": 0.0}, [0.5, 0.0])):
        seen.clear()
        make_learner("cnn_student", generations=2, **kw, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
        assert [s[6] for s in seen] == expected, kw
    # self_distill: one more student with the last generation's settings, taught by that student's own pool
    # distributions (confidence-weighted, the labels clamped), not by a graph
    seen.clear()
    distilled = make_learner("cnn_student", generations=2, final_epochs=2, final_mixup=0.5, self_distill=1, **FAST)
    distilled.fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert len(seen) == 3 and [(s[4], s[6]) for s in seen] == [(1, 0.0), (2, 0.5), (2, 0.5)]
    assert [s[2] for s in seen] == [seen[0][2], seen[0][2] + 1, seen[0][2] + 2]
    taught = mod.batched_proba(seen[1][3], images, distilled.device_).astype(np.float32)
    target, weight = seen[2][0], seen[2][1]
    assert np.allclose(target[unlabeled], taught[unlabeled]) and np.allclose(weight[unlabeled], taught[unlabeled].max(1))
    assert np.array_equal(target[labeled].argmax(1), y[labeled]) and np.all(weight[labeled] == 1)
    assert distilled.model_ is seen[2][3]  # the distilled student is the model
    # final_generations: the last N generations take the final settings, each on the labels propagated
    # over the one before's features (a strong student makes the next one's graph), not on its guesses
    seen.clear()
    chained = make_learner("cnn_student", generations=3, final_generations=2, targets="soft", final_epochs=2,
                           final_arch="conv3bn", final_mixup=0.5, **FAST)
    chained.fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert [(s[4], s[5], s[6]) for s in seen] == [(1, "conv2", 0.0), (2, "conv3bn", 0.5), (2, "conv3bn", 0.5)]
    assert [s[7] for s in seen] == [8, 8, 8]  # labeled_per_batch's default in every generation
    expected = mod.propagate_over_features("poisson", seen[1][3], images, pool.view(), y[labeled], 3, chained.device_)
    assert np.allclose(seen[2][0][unlabeled], expected[unlabeled], atol=1e-5)
    assert np.allclose(seen[2][1][unlabeled], expected[unlabeled].max(1), atol=1e-5)
    assert chained.model_ is seen[2][3]
    # graph="features+latents": the next generation's graph holds the features beside the pool's latents (each
    # block L2-normalised, the latents' at half weight), so its targets differ from the features' graph alone
    seen.clear()
    beside = make_learner("cnn_student", generations=2, graph="features+latents", **FAST)
    beside.fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    feats = mod.batched_features(seen[0][3], images, beside.device_)
    rows = np.hstack([mod.unit_rows(feats), 0.5 * mod.unit_rows(Z.astype(np.float32))])
    expected = mod.propagate_over_rows("poisson", rows, pool.view(), y[labeled], 3)
    alone = mod.propagate_over_features("poisson", seen[0][3], images, pool.view(), y[labeled], 3, beside.device_)
    assert np.allclose(seen[1][1][unlabeled], expected[unlabeled].max(1), atol=1e-5)
    assert np.array_equal(seen[1][0][unlabeled].argmax(1), expected[unlabeled].argmax(1))
    assert not np.allclose(expected[unlabeled], alone[unlabeled], atol=1e-3)
    # final_labeled_per_batch: more of the labels in the batches of the strong (final_generations) students only,
    # and a self-distilled student after them keeps it; on the same targets and seed, 8 and 32 train other weights
    seen.clear()
    more = make_learner("cnn_student", generations=3, final_generations=2, labeled_per_batch=4,
                        final_labeled_per_batch=32, self_distill=1, **FAST)
    more.fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert [s[7] for s in seen] == [4, 32, 32, 32]
    same = (torch.from_numpy(images), seen[1][0], seen[1][1], labeled, 3, seen[1][2], more.device_, 1, "conv2", 0.0)
    net_8, net_32 = train(more, *same, 8), train(more, *same, 32)
    assert not np.allclose(mod.batched_proba(net_8, images, more.device_), mod.batched_proba(net_32, images, more.device_))
    for bad, message in (({"generations": 2, "final_generations": 3}, "cannot be larger"),
                         ({"final_labeled_per_batch": -1}, "final_labeled_per_batch must be >= 0"),
                         ({"final_generations": 0}, "final_generations must be a positive integer")):
        with pytest.raises(ValueError, match=message):
            make_learner("cnn_student", **bad, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    with pytest.raises(ValueError, match="final_arch must be one of conv2, conv3bn"):
        make_learner("cnn_student", final_arch="big", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    # and it really trains longer: 3 batches (one pass) learn nothing, 100 passes learn the bars
    short = {**FAST, "min_steps": 0}
    once = make_learner("cnn_student", **short).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    longer = make_learner("cnn_student", final_epochs=100, **short).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    assert float(np.mean(once.predict(Z, inputs=X) == y)) < 0.8 < 0.95 < float(np.mean(longer.predict(Z, inputs=X) == y))
    with pytest.raises(ValueError, match="final_epochs must be a positive integer or None"):
        make_learner("cnn_student", final_epochs=0, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)


def test_student_in_the_loop_with_every_kind_of_strategy_and_test_images():
    X, Z, y = bars(450)
    Xt, Zt, yt = bars(150, seed=1)
    for strategy in ("margin", "random", "coreset"):
        h = run_active_learning(Pool(Z, ["h", "v", "d"]), make_learner("cnn_student", **FAST), make_strategy(strategy),
                                SimulatedOracle(y), initial=6, batch=6, rounds=1, test=(Zt, yt, Xt), seed=0, inputs=X)
        assert [r.n_labeled for r in h.rounds] == [6, 12]
        assert all(r.accuracy > 0.8 for r in h.rounds), (strategy, [r.accuracy for r in h.rounds])


def test_random_affine_moves_each_image_its_own_way_and_mirrors_only_when_asked():
    import torch

    x = torch.zeros(64, 1, 15, 15)
    x[:, 0, 7, 7] = 1.0  # one bright pixel at the centre
    same = random_affine(x, 0, torch.Generator().manual_seed(0), degrees=0, scale=0)
    assert torch.allclose(same, x, atol=1e-5)  # nothing to draw: the images come back unchanged
    moved = random_affine(x, 2, torch.Generator().manual_seed(0), degrees=0, scale=0)
    centre = torch.stack(torch.meshgrid(torch.arange(15.0), torch.arange(15.0), indexing="ij"))
    mass = moved.sum(dim=(1, 2, 3))
    where = (moved[:, 0, None] * centre).sum(dim=(2, 3)) / mass[:, None]  # (row, col) of the pixel's mass
    assert (where - 7).abs().max() <= 2.0 + 1e-4 and (where - 7).abs().max() > 1.0
    assert len({tuple(np.round(w, 2)) for w in where.numpy()}) > 32  # one translation per image, not per batch
    assert torch.equal(moved, random_affine(x, 2, torch.Generator().manual_seed(0), degrees=0, scale=0))
    left = torch.zeros(64, 1, 15, 15)
    left[:, 0, :, 2] = 1.0  # a bar near the left edge
    plain = random_affine(left, 1, torch.Generator().manual_seed(1))
    mirrored = random_affine(left, 1, torch.Generator().manual_seed(1), flip=True)
    right = lambda t: (t[:, 0, :, 8:].sum(dim=(1, 2)) > t[:, 0, :, :7].sum(dim=(1, 2)))  # noqa: E731
    assert not right(plain).any() and 16 < int(right(mirrored).sum()) < 48  # about half, only with flip
    # augment="shift_flip": each image its own translation and a mirror half the time, no rotation or scale
    flipped = CNNStudent(augment="shift_flip")._weak_view(left, 1, torch.Generator().manual_seed(2))
    assert 16 < int(right(flipped).sum()) < 48
    kept = flipped[~right(flipped)]  # the unmirrored bars: still vertical (every row the same), moved by at most 1
    cols, middle = kept[:, 0].sum(dim=1), kept[:, 0, 3:12]  # mass per column; rows clear of the edges
    assert torch.allclose(middle, middle.mean(dim=1, keepdim=True).expand_as(middle), atol=1e-5)
    assert ((cols * torch.arange(15.0)).sum(dim=1) / cols.sum(dim=1) - 2).abs().max() <= 1.0 + 1e-4
    assert not right(CNNStudent(augment="shift")._weak_view(left, 1, torch.Generator().manual_seed(2))).any()


def test_mixup_and_the_consistency_term_train_students_of_their_own_and_repeat_with_the_seed():
    X, Z, y = bars()
    Xt, Zt, yt = X[450:], Z[450:], y[450:]
    X, Z, y = X[:450], Z[:450], y[:450]
    pool = _pool(Z, y, np.arange(6))
    Zl, yl = pool.labeled_data()

    def fit(**kw):
        return make_learner("cnn_student", **FAST, **kw).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)

    plain = fit().predict_proba(Zt, inputs=Xt)
    for kw in ({"mixup": 0.75}, {"consistency": 1.0, "threshold": 0.8}, {"mixup": 0.75, "consistency": 1.0},
               {"final_mixup": 0.75}):
        proba = fit(**kw).predict_proba(Zt, inputs=Xt)
        assert float(np.mean(proba.argmax(1) == yt)) > 0.95, kw  # still learns the bars
        assert not np.allclose(proba, plain), kw  # the option changed the training
        assert np.array_equal(fit(**kw).predict_proba(Zt, inputs=Xt), proba), kw  # the same seed, the same model
    # with one generation the last student is the only one: final_mixup trains exactly what mixup trains
    assert np.array_equal(fit(final_mixup=0.75).predict_proba(Zt, inputs=Xt), fit(mixup=0.75).predict_proba(Zt, inputs=Xt))


def test_ema_makes_the_student_the_moving_average_of_its_weights():
    import torch

    X, Z, y = bars(450)
    pool = _pool(Z, y, np.arange(6))
    Zl, yl = pool.labeled_data()

    def fit(**kw):
        return make_learner("cnn_student", arch="conv3bn", **FAST, **kw).fit(Zl, yl, n_classes=3, pool=pool.view(),
                                                                             inputs=X)

    def state(student):
        return torch.cat([t.detach().float().flatten() for t in student.model_.state_dict().values()])

    plain, averaged = fit(), fit(ema=0.99)
    # a decay next to 0 keeps the last step's weights and batch-norm statistics: the same training as without it
    assert torch.allclose(state(fit(ema=1e-12)), state(plain), atol=1e-6)
    assert not torch.allclose(state(averaged), state(plain), atol=1e-3)  # the average of the last steps is not
    assert float(np.mean(averaged.predict(Z, inputs=X) == y)) > 0.95  # and it still knows the bars
    assert torch.equal(state(fit(ema=0.99)), state(averaged))  # the same seed, the same average
    assert not averaged.model_.training
    with pytest.raises(ValueError, match=r"ema is the moving average's decay per step, in \[0, 1\)"):
        fit(ema=1.0)


def test_the_consistency_term_trains_on_the_students_own_confident_guesses(monkeypatch):
    import torch

    from latal.learners import student as mod

    X, Z, y = bars(150)
    pool = _pool(Z, y, np.arange(6))
    Zl, yl = pool.labeled_data()
    seen, real = [], mod.strong_view
    monkeypatch.setattr(mod, "strong_view", lambda xb, *a, **k: seen.append(xb.shape) or real(xb, *a, **k))
    calls = []
    real_ce = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy",
                        lambda out, cls, **k: calls.append((out.shape, cls.dtype)) or real_ce(out, cls, **k))
    make_learner("cnn_student", consistency=1.0, **{**FAST, "min_steps": 20}).fit(
        Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    # every step: a strong view of the batch (its pool items and labeled draws), a class target for each
    assert len(seen) == len(calls) >= 20 and all(s[1:] == (1, 12, 12) for s in seen)
    assert all(shape[0] == s[0] and dtype == torch.int64 for (shape, dtype), s in zip(calls, seen))


def test_cutout_and_the_strong_view():
    import torch

    x = torch.ones(32, 1, 28, 28)
    cut = cutout(x, 10, torch.Generator().manual_seed(0))
    zeros = (cut == 0).sum(dim=(1, 2, 3))
    assert (zeros <= 81).all() and (zeros >= 25).all()  # a 9x9 square, cut at the border
    assert len({tuple(torch.nonzero(c[0] == 0)[0].tolist()) for c in cut}) > 16  # each image its own square
    assert torch.equal(cut, cutout(x, 10, torch.Generator().manual_seed(0)))
    strong = strong_view(x, 2, torch.Generator().manual_seed(0))
    assert strong.shape == x.shape and (strong < 1).any(dim=(1, 2, 3)).all()


def test_student_refuses_what_it_cannot_use():
    X, Z, y = bars(120)
    pool = _pool(Z, y, np.arange(6))
    Zl, yl = pool.labeled_data()
    student = make_learner("cnn_student", **FAST)
    with pytest.raises(DataError, match="pool's images"):
        student.fit(Zl, yl, n_classes=3, pool=pool.view())
    with pytest.raises(DataError, match="119 images for a pool of 120"):
        student.fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X[:-1])
    with pytest.raises(ValueError, match="targets must be 'hard' or 'soft'"):
        make_learner("cnn_student", targets="medium", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    with pytest.raises(ValueError, match="augment must be one of shift, affine, affine_flip"):
        make_learner("cnn_student", augment="rotate", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    with pytest.raises(ValueError, match="graph must be one of features, features\\+latents; got 'pixels'"):
        make_learner("cnn_student", graph="pixels", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    with pytest.raises(ValueError, match="arch must be one of conv2, conv3bn"):
        make_learner("cnn_student", arch="resnet", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    for bad in ({"mixup": -1.0}, {"final_mixup": -0.5}, {"consistency": -0.5}, {"threshold": 1.0}):
        with pytest.raises(ValueError, match="mixup, final_mixup and consistency must be >= 0"):
            make_learner("cnn_student", **bad, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    with pytest.raises(ValueError, match="tta must be >= 0; got -1"):
        make_learner("cnn_student", tta=-1, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    with pytest.raises(ValueError, match="self_distill must be >= 0; got -1"):
        make_learner("cnn_student", self_distill=-1, **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    with pytest.raises(ValueError, match="transductive_proba"):
        make_learner("cnn_student", teacher="mlp", **FAST).fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    fitted = student.fit(Zl, yl, n_classes=3, pool=pool.view(), inputs=X)
    with pytest.raises(DataError, match="shape"):
        fitted.predict(Z[:5], inputs=np.zeros((5, 8, 8), np.float32))
    # the loop refuses before any training, and asks for the test images when it evaluates
    with pytest.raises(MissingRequirementError, match="inputs="):
        run_active_learning(Pool(Z, ["h", "v", "d"]), make_learner("cnn_student", **FAST), make_strategy("random"),
                            SimulatedOracle(y), initial=6, batch=6, rounds=0)
    with pytest.raises(DataError, match="X_test"):
        run_active_learning(Pool(Z, ["h", "v", "d"]), make_learner("cnn_student", **FAST), make_strategy("random"),
                            SimulatedOracle(y), initial=6, batch=6, rounds=0, test=(Z, y), inputs=X)


def test_images_nchw_layouts():
    g = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    assert images_nchw(g).shape == (2, 1, 4, 4) and images_nchw(g).max() == pytest.approx(31 / 255)
    rgb = np.random.default_rng(0).random((2, 5, 5, 3)).astype(np.float32)
    assert np.array_equal(images_nchw(rgb), np.moveaxis(rgb, -1, 1))
    assert images_nchw(np.moveaxis(rgb, -1, 1)).shape == (2, 3, 5, 5)
    with pytest.raises(DataError, match="images"):
        images_nchw(np.zeros((3, 64)))
    bad = rgb.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        images_nchw(bad)


def test_student_is_registered_and_described():
    assert "cnn_student" in LEARNERS.names()
    assert "images" in LEARNERS.entry("cnn_student").description



def test_read_only_images_are_accepted():
    rgb = np.random.default_rng(0).random((2, 5, 5, 3)).astype(np.float32)
    rgb.setflags(write=False)
    out = images_nchw(np.moveaxis(rgb, -1, 1))
    assert out.flags.writeable and np.array_equal(out, np.moveaxis(rgb, -1, 1))


def test_shifted_proba_is_the_mean_over_the_image_and_its_four_one_pixel_shifts():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 3)).eval()
    X = np.random.default_rng(0).random((7, 1, 6, 6)).astype(np.float32)

    def proba(images):
        with torch.no_grad():
            return net(torch.from_numpy(np.ascontiguousarray(images))).softmax(1).numpy()

    padded = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)))
    views = [X] + [padded[:, :, dy : dy + 6, dx : dx + 6] for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2))]
    assert not np.allclose(views[1], views[2])  # each view is its own translation
    expected = np.mean([proba(v) for v in views], axis=0)
    got = shifted_proba(net, X, torch.device("cpu"))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="shift"):
        shifted_proba(net, X, torch.device("cpu"), shift=0)
