"""The SimCLR encoder: its views, its loss, what it learns, and its errors."""

import math

import numpy as np
import pytest

from latal.encoders import SimCLREncoder, make_encoder
from latal.encoders.contrastive import nt_xent, random_views
from latal.exceptions import DataError


def _patterns(n, seed):
    """Smooth random patterns: every image its own instance, told apart by its content only."""
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(np.random.default_rng(seed).normal(size=(n, 20, 20)), (0, 2, 2))
    f = (f - f.min((1, 2), keepdims=True)) / np.ptp(f, (1, 2), keepdims=True)
    return (255 * f).astype(np.uint8)


def _twin_retrieval(enc, X):
    """Share of images whose first view's nearest second view (cosine) is its own."""
    import torch

    g = torch.Generator().manual_seed(5)
    x = torch.from_numpy(X[:, None].astype(np.float32) / 255)
    v1, v2 = random_views(x, g), random_views(x, g)
    with torch.no_grad():
        a, b = enc.model_.encode(v1)[0], enc.model_.encode(v2)[0]
    return float(((a @ b.T).argmax(1) == torch.arange(len(X))).float().mean())


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


def test_training_makes_two_views_of_an_image_each_others_neighbours():
    X, Xt = _patterns(240, 0), _patterns(100, 1)
    untrained = SimCLREncoder(epochs=1, lr=0.0, batch_size=60, width=8, progress=False).fit(X)
    enc = SimCLREncoder(epochs=40, batch_size=60, width=8, progress=False, random_state=0).fit(X)
    z = enc.encode(X).mean
    assert z.shape == (240, 32) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    h = enc.history_["train_loss"]
    assert h[-1] < h[0]
    before, after = _twin_retrieval(untrained, Xt), _twin_retrieval(enc, Xt)  # held-out images; chance is 0.01
    assert after > 2 * before + 0.05, (before, after)
    again = SimCLREncoder(epochs=40, batch_size=60, width=8, progress=False, random_state=0).fit(X)
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
