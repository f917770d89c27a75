"""The SimCLR encoder: its views, its loss, what it learns, and its errors."""

import math

import numpy as np
import pytest

from latal.encoders import SimCLREncoder, make_encoder
from latal.encoders.contrastive import nt_xent, random_views
from latal.exceptions import DataError


def _bars(n=200, size=20, seed=0):
    """Class 0: a horizontal bar, class 1: a vertical one, each at a random place and length."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        at, start = rng.integers(3, size - 3), rng.integers(1, 5)
        length = rng.integers(size // 2, size - start - 1)
        if y[i] == 0:
            X[i, at - 1 : at + 1, start : start + length] = 255
        else:
            X[i, start : start + length, at - 1 : at + 1] = 255
    return X, y


def test_views_are_seeded_in_range_and_the_identity_when_switched_off():
    import torch

    x = torch.rand(16, 1, 12, 12)
    a = random_views(x, torch.Generator().manual_seed(1))
    b = random_views(x, torch.Generator().manual_seed(1))
    c = random_views(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    same = random_views(x, torch.Generator().manual_seed(3), crop=1.0, degrees=0.0, jitter=0.0, erase=0.0)
    assert torch.allclose(same, x, atol=1e-5)
    mirrored = random_views(x, torch.Generator().manual_seed(3), crop=1.0, degrees=0.0, jitter=0.0, erase=0.0,
                            flip=True)
    is_mirror = torch.isclose(mirrored, x.flip(-1), atol=1e-5).flatten(1).all(1)
    is_same = torch.isclose(mirrored, x, atol=1e-5).flatten(1).all(1)
    assert bool((is_mirror | is_same).all()) and 0 < int(is_mirror.sum()) < 16


def test_views_crop_and_erase():
    import torch

    x = torch.ones(200, 1, 16, 16)
    erased = random_views(x, torch.Generator().manual_seed(0), crop=1.0, degrees=0.0, jitter=0.0, erase=1.0)
    holes = (erased < 0.5).flatten(1).float().mean(1)
    assert bool((holes > 0).all()) and float(holes.max()) <= 0.25 + 1e-6  # at most half of each side
    cropped = random_views(torch.zeros(1, 1, 16, 16).index_fill_(3, torch.arange(8), 1.0).expand(50, 1, 16, 16),
                           torch.Generator().manual_seed(0), crop=0.3, degrees=0.0, jitter=0.0, erase=0.0)
    left = cropped[..., :8].flatten(1).mean(1)
    assert float(left.std()) > 0.1  # crops of different places see different shares of the white half


def test_nt_xent_matches_its_definition():
    import torch

    torch.manual_seed(0)
    z1, z2 = torch.randn(3, 4), torch.randn(3, 4)
    t = 0.5
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T / t).exp()
    want = 0.0
    for i in range(6):
        j = (i + 3) % 6
        want += -math.log(float(sim[i, j]) / float(sim[i].sum() - sim[i, i]))
    assert float(nt_xent(z1, z2, t)) == pytest.approx(want / 6, rel=1e-5)
    twins = torch.eye(4)[:3] * 10
    assert float(nt_xent(twins, twins, 0.05)) < 1e-3  # each view's twin is the only close one


def test_learns_orientation_not_position():
    X, y = _bars(n=240)
    enc = SimCLREncoder(epochs=12, batch_size=60, width=8, progress=False, random_state=0).fit(X)
    z = enc.encode(X).mean
    assert z.shape == (240, 32) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    h = enc.history_["train_loss"]
    assert h[-1] < h[0]
    from sklearn.neighbors import KNeighborsClassifier

    Xt, yt = _bars(n=100, seed=1)
    knn = KNeighborsClassifier(5).fit(z, y)
    assert knn.score(enc.encode(Xt).mean, yt) > 0.9
    again = SimCLREncoder(epochs=12, batch_size=60, width=8, progress=False, random_state=0).fit(X)
    assert np.array_equal(again.encode(X[:10]).mean, z[:10])


def test_spec_and_bad_input_are_explained():
    enc = make_encoder("simclr:flip=True,epochs=3")
    assert enc.flip is True and enc.epochs == 3 and enc.temperature == 0.2 and not enc.has_decoder
    with pytest.raises(DataError, match="needs images"):
        SimCLREncoder(epochs=1, progress=False).fit(np.zeros((20, 30)))
    with pytest.raises(DataError, match="at least 2"):
        SimCLREncoder(epochs=1, progress=False).fit(np.zeros((1, 12, 12)))
    with pytest.raises(ValueError, match="crop"):
        SimCLREncoder(epochs=1, crop=0.0, progress=False).fit(np.zeros((20, 12, 12)))
    with pytest.raises(ValueError, match="temperature"):
        SimCLREncoder(epochs=1, temperature=0, progress=False).fit(np.zeros((20, 12, 12)))
