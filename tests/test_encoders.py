import numpy as np
import pytest

from latal.encoders import ENCODERS, Encoder, make_encoder
from latal.exceptions import DataError


SIMPLE = [n for n in ENCODERS.names() if not getattr(ENCODERS.entry(n).factory, "cacheable", False)]


@pytest.mark.parametrize("name", SIMPLE)  # the neural ones: test_neural_encoders.py
def test_contract(name, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(120, 8, 8), dtype=np.uint8)
    enc = make_encoder(name)
    latent = enc.fit(X).encode(X)
    assert latent.mean.dtype == np.float32 and latent.mean.shape[0] == 120
    assert np.isfinite(latent.mean).all()
    again = Encoder.load(enc.save(tmp_path / "enc.pkl")).encode(X[:10])
    assert np.allclose(again.mean, latent.mean[:10], atol=1e-5)
    with pytest.raises(DataError, match="fitted on items of shape"):
        enc.encode(X[:, :4, :4])
    with pytest.raises(DataError, match="NaN"):
        enc.encode(np.full((2, 8, 8), np.nan))


def test_identity_scales_pixels():
    X = np.array([[[0, 255]], [[51, 102]]], dtype=np.uint8)
    z = make_encoder("identity").fit(X).encode(X).mean
    assert np.allclose(z, [[0.0, 1.0], [0.2, 0.4]])


def test_pca_components_and_spec():
    X = np.random.default_rng(0).random((100, 30)).astype(np.float32)
    assert make_encoder("pca:n_components=7").fit(X).encode(X).mean.shape == (100, 7)
    assert make_encoder("pca").fit(X).encode(X).mean.shape == (100, 30)  # capped at the input dimension


def test_not_fitted_and_bad_file(tmp_path):
    with pytest.raises(Exception, match="not fitted"):
        make_encoder("pca").encode(np.zeros((2, 3)))
    bad = tmp_path / "x.pkl"
    bad.write_bytes(b"nonsense")
    with pytest.raises(DataError, match="not a saved latal encoder"):
        Encoder.load(bad)


def _stripes(vertical: bool, n: int = 2, size: int = 16) -> np.ndarray:
    line = (np.arange(size) // 2) % 2
    img = np.tile(line, (size, 1)) if vertical else np.tile(line[:, None], (1, size))
    return np.repeat(img[None].astype(np.float32), n, axis=0)


def test_hog_puts_an_edge_in_its_orientation_bin():
    from latal.encoders.hog import hog_features

    # vertical stripes: the gradient is horizontal (0 degrees, bin 0); horizontal stripes: 90 degrees, which
    # falls half way between bins 4 and 5 of 9
    for vertical, heavy in ((True, [0]), (False, [4, 5])):
        f = hog_features(_stripes(vertical), cell=4, bins=9, block=2, clip=1.0)
        per_bin = f.reshape(2, -1, 9).sum(axis=(0, 1))
        assert set(np.flatnonzero(per_bin > 0.2 * per_bin.sum())) == set(heavy), per_bin
    assert np.allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    # unit-length blocks: the same image at a tenth of the contrast gives the same features
    img = np.random.default_rng(0).random((3, 12, 12)).astype(np.float32)
    assert np.allclose(hog_features(img), hog_features(0.1 * img), atol=1e-4)


def test_hog_encoder_dims_colour_chunks_and_bad_input(monkeypatch):
    from latal.encoders import hog

    X = np.random.default_rng(1).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    enc = make_encoder("hog")
    z = enc.fit_encode(X).mean
    assert z.shape == (50, 6 * 6 * 4 * 9) == (50, enc.dim_)
    monkeypatch.setattr(hog, "CHUNK", 7)  # a pool larger than a chunk is encoded piece by piece, the same
    assert np.allclose(enc.encode(X).mean, z)
    # colour: each pixel's strongest channel; a grey image in three channels gives the grey features
    rgb = np.repeat(X[..., None], 3, axis=-1)
    assert np.allclose(make_encoder("hog").fit_encode(rgb).mean, z, atol=1e-5)
    assert make_encoder("hog:cell=7").fit_encode(X).mean.shape == (50, 3 * 3 * 4 * 9)
    with pytest.raises(DataError, match="needs images"):
        make_encoder("hog").fit(np.zeros((5, 30)))
    with pytest.raises(DataError, match="at least 16x16 pixels"):
        make_encoder("hog:cell=8").fit(X[:, :10, :10])
    with pytest.raises(ValueError, match="bins >= 2"):
        make_encoder("hog:bins=1").fit(X)


def test_hog_neighbours_are_purer_than_the_pixels_on_fashion_mnist(datasets_dir):
    """Why hog is offered: on Fashion-MNIST its nearest neighbours share the item's class more often
    than the pixels' do (83.0 % against 79.3 % of the 10-NN graph's on the 60,000 images, BENCHMARKS.md;
    79.9 % against 75.6 % of 10 neighbours on these 6,000)."""
    from sklearn.neighbors import NearestNeighbors

    from latal.data import load_dataset

    ds = load_dataset("fashion-mnist", datasets_dir, download=False, progress=False)
    x, y = ds.x[:6000], np.asarray(ds.y[:6000])

    def purity(f):
        idx = NearestNeighbors(n_neighbors=11).fit(f).kneighbors(f, return_distance=False)[:, 1:]
        return float(np.mean(y[idx] == y[:, None]))

    pixels = purity(make_encoder("identity").fit_encode(x).mean)
    hogs = purity(make_encoder("hog").fit_encode(x).mean)
    assert hogs > pixels + 0.03, (hogs, pixels)
