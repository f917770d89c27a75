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
