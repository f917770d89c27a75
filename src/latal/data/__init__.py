"""Loaders. Every one returns a validated :class:`Dataset`; :func:`load_dataset` picks one by name or path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latal.data.arrays import load_array_dataset
from latal.data.dataset import Dataset, pixel_range, scale_pixels
from latal.data.embedded import TABLES, load_digits_dataset, load_table_dataset, make_waveform
from latal.data.folders import load_image_folder
from latal.data.idx import IDX_DATASETS, load_idx_dataset, read_idx
from latal.data.rgb import RGB_DATASETS, load_cifar10, load_svhn
from latal.exceptions import DataError

NAMED_DATASETS = ("digits", *TABLES, "waveform", *IDX_DATASETS, "svhn", "cifar10")


def load_dataset(source: str, data_dir=None, *, download: bool = True, image_size=None, progress: bool = True) -> Dataset:
    """Load a dataset by name (``digits``, ``iris``, ``wine``, ``breast-cancer``, ``waveform`` (generated, seed 0),
    ``mnist``, ``fashion-mnist``, ``svhn``, ``cifar10``; the last two only from ``data_dir``) or path
    (``.npy``/``.npz`` file, or a folder of images)."""
    key = str(source).lower().replace("_", "-")
    if key == "digits":
        return load_digits_dataset()
    if key in TABLES:
        return load_table_dataset(key)
    if key == "waveform":
        return make_waveform()
    if key in IDX_DATASETS:
        return load_idx_dataset(key, data_dir, download=download, progress=progress)
    if key in RGB_DATASETS:
        return RGB_DATASETS[key](data_dir)
    path = Path(source)
    if path.is_dir():
        return load_image_folder(path, image_size=image_size)
    if path.is_file():
        return load_array_dataset(path)
    raise DataError(
        f"unknown dataset {source!r}: give one of {list(NAMED_DATASETS)}, a .npy/.npz file, or a folder of images."
    )


def split_dataset(ds: Dataset, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """Return ``ds`` with a held-out test split: the source's own when it has one, otherwise a
    stratified ``test_fraction`` of the items (seeded)."""
    if ds.x_test is not None:
        return ds
    if ds.y is None:
        raise DataError(f"{ds.name} has no labels, so no test set can be split off; a simulated run needs labels.")
    from sklearn.model_selection import train_test_split

    idx = np.arange(ds.n)
    counts = np.bincount(ds.y)
    stratify = ds.y if counts[counts > 0].min() >= 2 else None
    train, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=stratify)
    train.sort()
    test.sort()
    paths = [ds.paths[i] for i in train] if ds.paths is not None else None
    return Dataset(
        name=ds.name, x=ds.x[train], y=ds.y[train], class_names=ds.class_names,
        x_test=ds.x[test], y_test=ds.y[test], paths=paths,
        meta={**ds.meta, "test_split": {"fraction": test_fraction, "seed": seed}},
    )


__all__ = [
    "Dataset", "NAMED_DATASETS", "load_array_dataset", "load_dataset", "load_digits_dataset",
    "load_cifar10", "load_idx_dataset", "load_image_folder", "load_svhn", "pixel_range", "read_idx", "scale_pixels", "split_dataset",
]
