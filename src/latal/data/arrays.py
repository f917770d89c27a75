"""NumPy array files as datasets: ``.npy`` (images only, unlabeled) and ``.npz`` (with labels)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from latal.data.dataset import Dataset
from latal.exceptions import DataError

_X_KEYS = ("x", "X", "images", "x_train", "data")
_Y_KEYS = ("y", "labels", "y_train", "targets")


def _first(store, keys):
    for key in keys:
        if key in store:
            return key
    return None


def load_array_dataset(path, *, mmap: bool = False) -> Dataset:
    """Load ``.npy`` (an unlabeled array of items) or ``.npz``.

    An ``.npz`` holds the items under one of ``x``, ``X``, ``images``, ``x_train``, ``data``;
    optionally labels (``y``, ``labels``, ``y_train``, ``targets``; integers, or strings that
    become class names), ``x_test``/``y_test`` and ``class_names``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"array file not found: {path}")
    try:
        if path.suffix == ".npy":
            x = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
            return Dataset(name=path.stem, x=x, y=None, class_names=[], meta={"source": str(path)})
        if path.suffix != ".npz":
            raise DataError(f"{path}: expected a .npy or .npz file.")
        with np.load(path, allow_pickle=False) as store:
            keys = set(store.files)
            xkey = _first(keys, _X_KEYS)
            if xkey is None:
                raise DataError(f"{path} holds arrays {sorted(keys)}; put the items under one of {list(_X_KEYS)}.")
            x = store[xkey]
            ykey = _first(keys, _Y_KEYS)
            y = store[ykey] if ykey else None
            names = [str(c) for c in store["class_names"].tolist()] if "class_names" in keys else None
            x_test = store["x_test"] if "x_test" in keys else None
            y_test = store["y_test"] if "y_test" in keys else None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path} could not be read as a NumPy file ({exc}); it may be corrupt or truncated.") from exc

    y, names = _encode_labels(y, names, f"{path}: labels")
    if y_test is not None:
        y_test, _ = _encode_labels(y_test, names, f"{path}: y_test")
    return Dataset(name=path.stem, x=x, y=y, class_names=names or [], x_test=x_test, y_test=y_test,
                   meta={"source": str(path)})


def _encode_labels(y, names, what):
    if y is None:
        return None, names
    y = np.asarray(y)
    if y.dtype.kind in "US":
        labels = y.astype(str)
        if names is None:
            names = sorted(set(labels.tolist()))
        index = {n: i for i, n in enumerate(names)}
        unknown = sorted(set(labels.tolist()) - set(index))
        if unknown:
            raise DataError(f"{what} name classes {unknown} that are not in class_names {names}.")
        return np.array([index[v] for v in labels.tolist()], dtype=np.int64), names
    if y.dtype.kind not in "iu":
        raise DataError(f"{what} must be integers or strings; got dtype {y.dtype}.")
    if names is None:
        names = [str(i) for i in range(int(y.max()) + 1 if y.size else 0)]
    return y.astype(np.int64), names
