"""The PyTorch encoders: contract, determinism, persistence, early stopping, cache, diagnostics."""

import json

import numpy as np
import pytest

from latal.encoders import ENCODERS, ConvAE, ConvVAE, DenseVAE, Encoder, make_encoder
from latal.encoders.cache import fit_encode
from latal.encoders.diagnostics import active_dimensions
from latal.exceptions import DataError

NEURAL = [n for n in ENCODERS.names() if getattr(ENCODERS.entry(n).factory, "cacheable", False)]


def _images(n=240, shape=(28, 28), seed=0):
    """Two kinds of blobs, so there is something to learn."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    yy, xx = np.mgrid[:h, :w]
    y = np.arange(n) % 2
    cx = np.where(y == 0, w * 0.3, w * 0.7) + rng.normal(0, 1, n)
    img = np.exp(-(((xx[None] - cx[:, None, None]) ** 2 + (yy[None] - h / 2) ** 2) / 20.0))
    img = (255 * img).astype(np.uint8)
    if len(shape) == 3:
        img = np.repeat(img[..., None], shape[2], axis=-1)
    return img, y


@pytest.mark.parametrize("name", NEURAL)
def test_contract(name, tmp_path):
    X, _ = _images()
    enc = make_encoder(name, epochs=1, progress=False)
    latent = enc.fit(X).encode(X)
    d = enc.latent_dim_
    assert latent.mean.shape == (240, d) and latent.mean.dtype == np.float32
    assert (latent.log_var is not None) == enc.variational
    if enc.variational:
        assert latent.log_var.shape == (240, d)
    if enc.has_decoder:
        assert enc.decode(latent.mean[:3]).shape == (3, 28, 28)
        rec = enc.reconstruct(X[:3])
        assert rec.min() >= 0 and rec.max() <= 1
    else:
        with pytest.raises(NotImplementedError, match="no decoder"):
            enc.decode(latent.mean[:3])
    loaded = Encoder.load(enc.save(tmp_path / "e.pkl"))
    assert np.allclose(loaded.encode(X[:20]).mean, latent.mean[:20], atol=1e-5)
    assert len(enc.history_["train_loss"]) == 1


def test_paper_configurations_by_name():
    assert (ENCODERS.build("conv_vae_thesis").filters, ENCODERS.build("conv_vae_thesis").optimizer) == (64, "rmsprop")
    assert ENCODERS.build("conv_vae_thesis").batch_size == 100
    assert ENCODERS.build("dense_vae").hidden == (512, 256)
    assert ENCODERS.build("dense_vae").kl_reduction == "sum"       # the Keras dense example: the ELBO
    assert ENCODERS.build("conv_vae").kl_reduction == "mean"       # the Keras conv example: KL / d
    assert ENCODERS.build("conv_vae_000").latent_dim == 2
    assert ENCODERS.build("conv_vae_000_paper").epochs == 400
    assert ENCODERS.build("conv_ae").latent_dim == 10 and ENCODERS.build("conv_ae_paper").epochs == 50


@pytest.mark.parametrize("shape", [(32, 32), (28, 28, 3), (32, 32, 3)])
def test_conv_vae_any_channels_and_32px(shape):
    X, _ = _images(n=120, shape=shape)
    enc = ConvVAE(epochs=1, progress=False, latent_dim=4).fit(X)
    assert enc.decode(enc.encode(X[:2]).mean).shape == (2, *shape)


def test_same_seed_same_latents():
    X, _ = _images()
    a = DenseVAE(epochs=2, random_state=3, progress=False).fit(X).encode(X).mean
    b = DenseVAE(epochs=2, random_state=3, progress=False).fit(X).encode(X).mean
    c = DenseVAE(epochs=2, random_state=4, progress=False).fit(X).encode(X).mean
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_early_stopping_keeps_the_best_epoch():
    X, _ = _images(n=300)
    enc = DenseVAE(epochs=40, patience=2, lr=3e-2, progress=False, latent_dim=2).fit(X)  # a high rate plateaus fast
    h = enc.history_
    assert len(h["train_loss"]) < 40
    assert enc.best_epoch_ == int(np.argmin(h["val_loss"])) + 1
    assert len(h["val_loss"]) - enc.best_epoch_ == 2  # stopped after `patience` epochs without improvement


def test_learns_something():
    X, y = _images(n=400)
    enc = ConvVAE(epochs=8, latent_dim=2, progress=False).fit(X)
    h = enc.history_["train_loss"]
    assert h[-1] < h[0]
    z = enc.encode(X).mean
    from sklearn.linear_model import LogisticRegression

    assert LogisticRegression().fit(z, y).score(z, y) > 0.9  # the two kinds of blob are apart in latent space


def test_kl_reduction_changes_the_objective():
    import torch

    from latal.encoders.torch_base import vae_loss

    X, _ = _images(n=50)
    enc = ConvVAE(epochs=1, latent_dim=5, progress=False).fit(X)
    x = torch.from_numpy(enc._prepare(enc._scaled(X)))
    torch.manual_seed(0)
    _, parts_sum = vae_loss(enc.model_, x, "sum")
    torch.manual_seed(0)
    total_mean, parts_mean = vae_loss(enc.model_, x, "mean")
    assert float(parts_mean["kl"].detach()) == pytest.approx(float(parts_sum["kl"].detach()) / 5, rel=1e-5)
    with pytest.raises(ValueError, match="kl_reduction"):
        vae_loss(enc.model_, x, "max")


def test_bad_geometry_is_explained():
    with pytest.raises(DataError, match="square"):
        ConvVAE(epochs=1, progress=False).fit(np.zeros((120, 28, 20), np.uint8))
    with pytest.raises(DataError, match="at least 12x12"):
        ConvAE(epochs=1, progress=False).fit(np.zeros((120, 8, 8), np.uint8))
    with pytest.raises(DataError, match="even image size"):
        ConvVAE(epochs=1, progress=False).fit(np.zeros((120, 27, 27), np.uint8))


def test_cache_reuses_and_retrains(tmp_path):
    X, _ = _images()
    Xt, _ = _images(n=40, seed=1)
    first = fit_encode(DenseVAE(epochs=1, progress=False), X, Xt, cache_dir=tmp_path)
    second = fit_encode(DenseVAE(epochs=1, progress=False), X, Xt, cache_dir=tmp_path)
    assert not first.cached and second.cached and first.key == second.key
    assert np.array_equal(first.latent.mean, second.latent.mean)
    assert np.array_equal(first.test_latent.log_var, second.test_latent.log_var)
    other_seed = fit_encode(DenseVAE(epochs=1, random_state=9, progress=False), X, Xt, cache_dir=tmp_path)
    other_data = fit_encode(DenseVAE(epochs=1, progress=False), X[:-1], Xt, cache_dir=tmp_path)
    assert len({first.key, other_seed.key, other_data.key}) == 3
    forced = fit_encode(DenseVAE(epochs=1, progress=False), X, Xt, cache_dir=tmp_path, use_cache=False)
    assert not forced.cached
    (second.path / "latents.npz").write_bytes(b"broken")  # a damaged entry is rebuilt
    rebuilt = fit_encode(DenseVAE(epochs=1, progress=False), X, Xt, cache_dir=tmp_path)
    assert not rebuilt.cached and np.allclose(rebuilt.latent.mean, first.latent.mean)


def test_active_dimensions():
    rng = np.random.default_rng(0)
    z = np.hstack([rng.normal(size=(500, 3)), rng.normal(0, 0.01, size=(500, 2))])
    assert active_dimensions(z).tolist() == [0, 1, 2]
    small = z * 0.05  # the same latents on a scale with no prior (unit-length features have variance ~1/d)
    assert active_dimensions(small).tolist() == []
    assert active_dimensions(small, relative=True).tolist() == [0, 1, 2]


def test_encode_command_writes_pictures_and_summary(tmp_path, capsys):
    from latal.cli import main

    X, y = _images(n=300)
    np.savez(tmp_path / "blobs.npz", x=X, y=y)
    args = ["encode", "--dataset", str(tmp_path / "blobs.npz"), "--encoder", "conv_vae", "--latent-dim", "2",
            "--epochs", "2", "--out", str(tmp_path / "out"), "--probe", "--quiet"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["latent_dim"] == 2 and summary["cached"] is False and summary["epochs_run"] == 2
    assert {"final_train_loss", "final_val_loss", "train_seconds", "used_dimensions"} <= set(summary)
    assert set(summary["probe"]) == {"latent", "pixels"}
    for name in ("reconstructions.png", "interpolations.png", "manifold.png", "latent_scatter.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(args) == 0  # the second time the encoder comes from the cache
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["cached"] is True
    assert "read from cache" in capsys.readouterr().out


def test_run_uses_the_cache_on_the_second_run(tmp_path, monkeypatch):
    from latal.cli import main

    monkeypatch.setenv("LATAL_CACHE", str(tmp_path / "cache"))
    X, y = _images(n=300)
    np.savez(tmp_path / "blobs.npz", x=X, y=y)
    base = ["run", "--quiet", "--dataset", str(tmp_path / "blobs.npz"), "--encoder", "conv_vae:epochs=1,latent_dim=4",
            "--learner", "logistic", "--initial", "10", "--batch", "10", "--rounds", "2"]
    timings = []
    for extra in ([], [], ["--no-cache"]):
        assert main(base + extra + ["--json", str(tmp_path / "r.json")]) == 0
        timings.append(json.loads((tmp_path / "r.json").read_text())["timing"]["encoder_cached"])
    assert timings == [False, True, False]


def test_a_stack_joins_parts_at_unit_length_and_caches_part_by_part(tmp_path):
    from latal.encoders import StackedEncoder
    from latal.strategies.distances import unit_rows

    X, _ = _images()
    Xt, _ = _images(n=40, seed=1)
    stack = make_encoder("dense_vae:epochs=1,latent_dim=4+pca:n_components=3", progress=False)
    assert isinstance(stack, StackedEncoder) and len(stack.parts) == 2
    first = fit_encode(stack, X, Xt, cache_dir=tmp_path)
    assert first.latent.mean.shape == (len(X), 7) and first.test_latent.mean.shape == (40, 7)
    assert first.latent.log_var is None  # the parts' variances are on different scales: none for the stack
    assert np.allclose(np.linalg.norm(first.latent.mean[:, :4], axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(first.latent.mean[:, 4:], axis=1), 1, atol=1e-5)
    # the neural part went to the cache under its own key: alone it is read back, not retrained
    alone = fit_encode(DenseVAE(epochs=1, latent_dim=4, progress=False), X, Xt, cache_dir=tmp_path)
    assert alone.cached
    assert np.allclose(unit_rows(alone.latent.mean), first.latent.mean[:, :4], atol=1e-6)
    # and a second stack with that part reads it too; the whole stack is cached only when every part is
    again = fit_encode(make_encoder("dense_vae:epochs=1,latent_dim=4+pca:n_components=3", progress=False), X, Xt,
                       cache_dir=tmp_path)
    assert np.allclose(again.latent.mean, first.latent.mean, atol=1e-6) and not again.cached and again.key is None
    both = fit_encode(make_encoder("dense_vae:epochs=1,latent_dim=4+dense_vae:epochs=1,latent_dim=4,random_state=3",
                                   progress=False), X, Xt, cache_dir=tmp_path)
    assert both.key is not None and both.latent.mean.shape[1] == 8
    assert fit_encode(make_encoder("dense_vae:epochs=1,latent_dim=4+dense_vae:epochs=1,latent_dim=4,random_state=3",
                                   progress=False), X, Xt, cache_dir=tmp_path).cached
    # new items are encoded as the parts encode them, joined the same way
    z = first.encoder.encode(Xt[:5]).mean
    assert np.allclose(z, first.test_latent.mean[:5], atol=1e-5)
    with pytest.raises(DataError, match="fitted on items of shape"):
        first.encoder.encode(np.zeros((2, 5, 5), np.uint8))


def test_stack_specs_are_checked():
    from latal.encoders import StackedEncoder

    with pytest.raises(ValueError, match="empty part"):
        make_encoder("pca+")
    with pytest.raises(ValueError, match="at least two"):
        StackedEncoder([make_encoder("pca")])
    with pytest.raises(ValueError, match="another stack"):
        StackedEncoder([make_encoder("pca"), make_encoder("pca+identity")])
    with pytest.raises(ValueError, match="takes no parameter"):
        make_encoder("pca+identity:bogus=1")
    with pytest.raises(Exception, match="not fitted"):
        make_encoder("pca+identity").encode(np.zeros((2, 4)))
