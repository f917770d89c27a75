"""The ``Dataset`` every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from latal._validation import check_finite
from latal.exceptions import DataError


@dataclass
class Dataset:
    """Images (or feature rows) with labels and class names.

    Attributes
    ----------
    name : str
    x : array (n, ...)
        Training pool: images (n, h, w) or (n, h, w, c), uint8 or float, or feature rows (n, f).
    y : int64 array (n,) or None
        Class indices into ``class_names``; None for an unlabeled pool.
    class_names : list of str
    x_test, y_test : arrays or None
        A held-out test split where the source provides one.
    paths : list of str or None
        Source file per training item (image folders), so a person can be shown the original.
    """

    name: str
    x: np.ndarray
    y: np.ndarray | None
    class_names: list[str]
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    paths: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.x = _check_x(self.x, f"{self.name}: x")
        self.y = _check_y(self.y, self.x.shape[0], self.class_names, f"{self.name}: y")
        if (self.x_test is None) != (self.y_test is None):
            raise DataError(f"{self.name}: give both x_test and y_test, or neither.")
        if self.x_test is not None:
            self.x_test = _check_x(self.x_test, f"{self.name}: x_test")
            if self.x_test.shape[1:] != self.x.shape[1:]:
                raise DataError(
                    f"{self.name}: test items have shape {self.x_test.shape[1:]}, "
                    f"training items {self.x.shape[1:]}; they must match."
                )
            self.y_test = _check_y(self.y_test, self.x_test.shape[0], self.class_names, f"{self.name}: y_test")
        if self.paths is not None and len(self.paths) != self.x.shape[0]:
            raise DataError(f"{self.name}: {len(self.paths)} paths for {self.x.shape[0]} items.")

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def is_labeled(self) -> bool:
        return self.y is not None

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def __repr__(self) -> str:
        test = f", test={self.x_test.shape[0]}" if self.x_test is not None else ""
        return (
            f"Dataset({self.name!r}, n={self.n}, shape={self.image_shape}, "
            f"classes={len(self.class_names)}, labeled={self.is_labeled}{test})"
        )


def _check_x(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim < 2:
        raise DataError(f"{name} must have one row per item (at least 2-D); got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise DataError(f"{name} holds no items: the pool is empty.")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise DataError(f"{name} must be numeric (uint8 pixels or floats); got dtype {arr.dtype}.")
    check_finite(arr, name)
    return arr


def _check_y(y, n: int, class_names, name: str) -> np.ndarray | None:
    if y is None:
        return None
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"{name} must have shape ({n},), one label per item; got {arr.shape}.")
    if arr.dtype.kind not in "iu":
        raise DataError(f"{name} must hold integer class indices; got dtype {arr.dtype}.")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= len(class_names)):
        raise DataError(
            f"{name} holds class index {int(arr.max() if arr.max() >= len(class_names) else arr.min())}, "
            f"outside 0..{len(class_names) - 1} for classes {list(class_names)}."
        )
    return arr


def pixel_range(x: np.ndarray) -> tuple[float, float]:
    """The (low, high) range that maps ``x`` to [0, 1]: (0, 255) for uint8, (0, max) for other integers,
    (0, 1) for floats already inside [0, 1], else the observed (min, max)."""
    if x.dtype == np.uint8:
        return 0.0, 255.0
    if np.issubdtype(x.dtype, np.integer):
        return 0.0, float(max(int(x.max()), 1))
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    return lo, max(hi, lo + 1e-12)


def scale_pixels(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``(x - lo) / (hi - lo)`` as float32."""
    out = x.astype(np.float32)
    if lo != 0.0:
        out -= np.float32(lo)
    if hi - lo != 1.0:
        out *= np.float32(1.0 / (hi - lo))
    return out
