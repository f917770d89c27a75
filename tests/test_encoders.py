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
