"""Datasets that ship inside installed packages (no download)."""

from __future__ import annotations

import numpy as np

from latal.data.dataset import Dataset


def load_digits_dataset() -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits (pixel values 0..16), classes "0".."9"."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.uint8)  # 0..16 integers
    return Dataset(
        name="digits", x=x, y=bunch.target.astype(np.int64),
        class_names=[str(c) for c in bunch.target_names], meta={"source": "sklearn.datasets.load_digits"},
    )
