"""The pool: the latent matrix and who is labeled with what. The only mutable state of a loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from latal._validation import check_latent
from latal.exceptions import DataError, LabelError

UNLABELED = -1


def _readonly(arr: np.ndarray | None) -> np.ndarray | None:
    if arr is None:
        return None
    view = arr.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True)
class PoolView:
    """A read-only snapshot of a :class:`Pool` handed to strategies.

    Attributes
    ----------
    mean : (n, d) float32 array, read-only
        Latent means (or the plain representation for non-variational encoders).
    log_var : (n, d) float32 array or None
        Latent log-variances where the encoder is variational.
    labels : (n,) int64 array, read-only
        Class index per item, ``-1`` where unlabeled.
    labeled, unlabeled : int64 arrays, read-only
        Sorted pool indices.
    n_classes : int
    class_names : tuple of str
    """

    mean: np.ndarray
    log_var: np.ndarray | None
    labels: np.ndarray
    labeled: np.ndarray
    unlabeled: np.ndarray
    n_classes: int
    class_names: tuple[str, ...]

    @property
    def n(self) -> int:
        return self.mean.shape[0]

    @property
    def dim(self) -> int:
        return self.mean.shape[1]


class Pool:
    """Latent pool with labels.

    Parameters
    ----------
    mean : array (n, d)
        Latent representation (the encoder's mean). Stored as float32; a float32
        array (including a memory map) is kept without a copy.
    class_names : sequence of str
        Names of the classes; labels are indices into this list.
    log_var : array (n, d), optional
        Latent log-variances of a variational encoder.

    Labels are recorded with :meth:`add_labels`; nothing else changes a pool.
    """

    def __init__(self, mean, class_names: Sequence[str], log_var=None):
        self._mean = check_latent(mean, "pool latent mean")
        if log_var is not None:
            log_var = check_latent(log_var, "pool latent log_var")
            if log_var.shape != self._mean.shape:
                raise DataError(
                    f"log_var shape {log_var.shape} does not match the latent mean's shape {self._mean.shape}."
                )
        self._log_var = log_var
        names = tuple(str(c) for c in class_names)
        if len(names) < 2:
            raise DataError(f"a pool needs at least 2 classes to learn from; got {list(names)}.")
        if len(set(names)) != len(names):
            raise DataError(f"class names must be unique; got {list(names)}.")
        self._class_names = names
        self._class_index = {name: i for i, name in enumerate(names)}
        self._labels = np.full(self._mean.shape[0], UNLABELED, dtype=np.int64)
        self._order: list[int] = []  # indices in the order they were labeled

    # ------------------------------------------------------------------ queries
    @property
    def n(self) -> int:
        return self._mean.shape[0]

    @property
    def n_classes(self) -> int:
        return len(self._class_names)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._class_names

    @property
    def mean(self) -> np.ndarray:
        return _readonly(self._mean)

    @property
    def log_var(self) -> np.ndarray | None:
        return _readonly(self._log_var)

    @property
    def labels(self) -> np.ndarray:
        return _readonly(self._labels)

    @property
    def labeled_indices(self) -> np.ndarray:
        return np.flatnonzero(self._labels != UNLABELED).astype(np.int64)

    @property
    def unlabeled_indices(self) -> np.ndarray:
        return np.flatnonzero(self._labels == UNLABELED).astype(np.int64)

    @property
    def n_labeled(self) -> int:
        return len(self._order)

    @property
    def label_order(self) -> np.ndarray:
        """Pool indices in the order their labels arrived."""
        return np.asarray(self._order, dtype=np.int64)

    def labeled_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``(latent[labeled], labels[labeled])`` for fitting a learner."""
        idx = self.labeled_indices
        return self._mean[idx], self._labels[idx]

    def class_counts(self) -> np.ndarray:
        lab = self._labels[self._labels != UNLABELED]
        return np.bincount(lab, minlength=self.n_classes)

    def view(self) -> PoolView:
        """An immutable snapshot for strategies (arrays are read-only views, no copies of the latents)."""
        labeled = self.labeled_indices
        unlabeled = self.unlabeled_indices
        return PoolView(
            mean=_readonly(self._mean),
            log_var=_readonly(self._log_var),
            labels=_readonly(self._labels.copy()),
            labeled=_readonly(labeled),
            unlabeled=_readonly(unlabeled),
            n_classes=self.n_classes,
            class_names=self._class_names,
        )

    # ---------------------------------------------------------------- mutation
    def class_to_index(self, labels) -> np.ndarray:
        """Map class names or class indices to int64 class indices, rejecting unknown ones."""
        arr = np.asarray(labels)
        if arr.ndim != 1:
            arr = arr.reshape(-1)
        if arr.dtype.kind in "USO":
            out = np.empty(arr.shape[0], dtype=np.int64)
            for i, name in enumerate(arr.tolist()):
                if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
                    out[i] = int(name)
                    continue
                if name not in self._class_index:
                    raise LabelError(
                        f"unknown class {name!r}; known classes are {list(self._class_names)}."
                    )
                out[i] = self._class_index[name]
        elif arr.dtype.kind in "iu":
            out = arr.astype(np.int64)
        elif arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            out = arr.astype(np.int64)
        elif arr.size == 0:
            out = arr.astype(np.int64)
        else:
            raise LabelError(f"labels must be class names or integer class indices; got dtype {arr.dtype}.")
        bad = (out < 0) | (out >= self.n_classes)
        if bad.any():
            raise LabelError(
                f"unknown class index {int(out[bad][0])}; valid indices are 0..{self.n_classes - 1} "
                f"({list(self._class_names)})."
            )
        return out

    def add_labels(self, indices, labels) -> None:
        """Record labels for pool items.

        Parameters
        ----------
        indices : int array-like
            Pool indices, each unlabeled and in range, no duplicates.
        labels : array-like of class names or class indices, same length

        Raises
        ------
        LabelError
            On an unknown class, an out-of-range, duplicated or already-labeled index,
            or mismatched lengths. Nothing is recorded when any item is rejected.
        """
        idx = np.asarray(indices)
        if idx.ndim != 1:
            idx = idx.reshape(-1)
        if idx.size and idx.dtype.kind not in "iu":
            if idx.dtype.kind == "f" and np.all(idx == np.round(idx)):
                idx = idx.astype(np.int64)
            else:
                raise LabelError(f"pool indices must be integers; got dtype {idx.dtype}.")
        idx = idx.astype(np.int64)
        lab = self.class_to_index(labels)
        if idx.shape[0] != lab.shape[0]:
            raise LabelError(f"got {idx.shape[0]} indices but {lab.shape[0]} labels; give one label per index.")
        out_of_range = (idx < 0) | (idx >= self.n)
        if out_of_range.any():
            raise LabelError(
                f"pool index {int(idx[out_of_range][0])} is out of range for a pool of {self.n} items."
            )
        uniq, counts = np.unique(idx, return_counts=True)
        if (counts > 1).any():
            raise LabelError(f"pool index {int(uniq[counts > 1][0])} appears more than once in one call.")
        already = self._labels[idx] != UNLABELED
        if already.any():
            raise LabelError(
                f"pool index {int(idx[already][0])} is already labeled "
                f"({self._class_names[self._labels[idx[already][0]]]!r}); relabeling is not a pool operation."
            )
        self._labels[idx] = lab
        self._order.extend(idx.tolist())

    def __repr__(self) -> str:
        return f"Pool(n={self.n}, dim={self._mean.shape[1]}, labeled={self.n_labeled}, classes={self.n_classes})"
