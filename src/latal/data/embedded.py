"""Datasets that ship inside installed packages (no download)."""

from __future__ import annotations

import numpy as np

from latal.data.dataset import Dataset


def load_digits_dataset() -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits, classes "0".."9".

    The source's 17 grey levels (0..16) are spread over 0..255 (uint8), like every other image
    source, so that encoders scale all images the same way."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return Dataset(
        name="digits", x=x, y=bunch.target.astype(np.int64),
        class_names=[str(c) for c in bunch.target_names], meta={"source": "sklearn.datasets.load_digits"},
    )


#: scikit-learn's embedded feature tables (paper 002's protocol uses them in place of its UCI sets)
TABLES = {"iris": "load_iris", "wine": "load_wine", "breast-cancer": "load_breast_cancer"}


def load_table_dataset(name: str) -> Dataset:
    """One of scikit-learn's embedded tables (``iris``, ``wine``, ``breast-cancer``) as float feature rows."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, TABLES[name])()
    return Dataset(name=name, x=bunch.data.astype(np.float32), y=bunch.target.astype(np.int64),
                   class_names=[str(c) for c in bunch.target_names], meta={"source": f"sklearn.datasets.{TABLES[name]}"})


def waveform_bases(length: int = 21) -> np.ndarray:
    """Breiman's three triangular base waves h1, h2, h3 on ``length`` points: h1 peaks (height 6) at the
    middle point; h2 and h3 are h1 shifted 4 points right and left."""
    i = np.arange(1, length + 1)
    mid = (length + 1) // 2
    h1 = np.maximum(6 - np.abs(i - mid), 0)
    return np.stack([h1, np.maximum(6 - np.abs(i - mid - 4), 0), np.maximum(6 - np.abs(i - mid + 4), 0)]).astype(float)


def make_waveform(n: int = 5000, noise_features: int = 19, seed: int = 0) -> Dataset:
    """Breiman's waveform data (CART, 1984; UCI "Waveform Database Generator"): 3 equally likely classes,
    each a random convex combination of two of the base waves plus unit Gaussian noise on 21 attributes
    (class 0: h1 and h2, class 1: h1 and h3, class 2: h2 and h3), followed by ``noise_features`` pure
    N(0, 1) attributes (19 in the 40-attribute version paper 002 uses)."""
    if n < 1 or noise_features < 0:
        raise ValueError(f"n must be >= 1 and noise_features >= 0; got {n}, {noise_features}.")
    rng = np.random.default_rng(seed)
    h = waveform_bases()
    pairs = np.array([[0, 1], [0, 2], [1, 2]])
    y = rng.integers(0, 3, size=n)
    u = rng.uniform(size=(n, 1))
    x = u * h[pairs[y, 0]] + (1 - u) * h[pairs[y, 1]] + rng.normal(size=(n, h.shape[1]))
    x = np.concatenate([x, rng.normal(size=(n, noise_features))], axis=1).astype(np.float32)
    return Dataset(name="waveform", x=x, y=y.astype(np.int64), class_names=["0", "1", "2"],
                   meta={"source": f"Breiman's waveform generator, seed {seed}", "noise_features": noise_features})
