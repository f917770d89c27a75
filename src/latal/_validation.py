"""Input checks shared by every component (scikit-learn's ``check_array`` habit)."""

from __future__ import annotations

import numbers

import numpy as np

from latal.exceptions import DataError


def check_latent(x, name: str = "latent", *, dtype=np.float32, allow_empty: bool = False) -> np.ndarray:
    """Return ``x`` as a finite 2-D float array of shape (n, d), or raise :class:`DataError`.

    Memory-mapped and already-correct arrays are returned without a copy.
    """
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise DataError(
            f"{name} must be a 2-D array of shape (n_samples, n_dims); got shape {arr.shape}. "
            "Flatten images first or pass the encoder's output."
        )
    if not allow_empty and arr.shape[0] == 0:
        raise DataError(f"{name} is empty (0 rows): give at least one sample.")
    if arr.shape[1] == 0:
        raise DataError(f"{name} has 0 columns: the representation must have at least one dimension.")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"{name} must be numeric; got dtype {arr.dtype}.")
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    check_finite(arr, name)
    return arr


def check_finite(arr: np.ndarray, name: str, chunk: int = 1 << 20) -> None:
    """Raise :class:`DataError` naming the first row that holds NaN or infinity (chunked, no big temporaries)."""
    if not np.issubdtype(arr.dtype, np.floating):
        return
    flat_rows = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(-1, 1)
    step = max(1, chunk // max(1, flat_rows.shape[1]))
    for start in range(0, flat_rows.shape[0], step):
        block = flat_rows[start : start + step]
        ok = np.isfinite(block).all(axis=1)
        if not ok.all():
            row = start + int(np.argmin(ok))
            raise DataError(
                f"{name} contains NaN or infinite values (first at row {row}). "
                "Clean or impute the data before building a pool."
            )


def check_k(k) -> int:
    """A batch size must be a positive integer."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"batch size k must be a positive integer; got {k!r}.")
    if k <= 0:
        raise ValueError(f"batch size k must be a positive integer; got {k}.")
    return int(k)


def check_fraction(value, name: str, *, low: float = 0.0, high: float = 1.0, low_inclusive: bool = False) -> float:
    value = float(value)
    ok_low = value >= low if low_inclusive else value > low
    if not (ok_low and value <= high) or not np.isfinite(value):
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{name} must lie in {bracket}{low}, {high}]; got {value}.")
    return value


def as_rng(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a SeedSequence or a Generator (returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def int_tuple(value, name: str = "widths") -> tuple[int, ...]:
    """Layer widths from a tuple/list, an int, or a spec string such as ``"256x256"`` or ``"256-256"``."""
    if isinstance(value, str):
        value = value.replace("x", " ").replace("-", " ").split()
    elif isinstance(value, numbers.Integral):
        value = (value,)
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be integers such as 256x256; got {value!r}.") from exc
    return out


def constructor_params(obj) -> dict:
    """scikit-learn's ``get_params``: the constructor's arguments as stored on the object."""
    import inspect

    sig = inspect.signature(type(obj).__init__)
    return {n: getattr(obj, n) for n in sig.parameters if n != "self" and hasattr(obj, n)}
