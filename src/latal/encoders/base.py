"""The Encoder contract: ``fit(X) -> self``, ``encode(X) -> Latent``, optional ``decode``, ``save``/``load``."""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latal._validation import constructor_params
from latal.data.dataset import pixel_range, scale_pixels
from latal.exceptions import DataError, LatalError

_FORMAT = "latal-encoder/1"


@dataclass(frozen=True)
class Latent:
    """What an encoder returns: ``mean`` (n, d) float32 and, for variational encoders, ``log_var`` (n, d)."""

    mean: np.ndarray
    log_var: np.ndarray | None = None
    #: a stack's parts' widths, in column order (:meth:`~latal.encoders.stack.StackedEncoder.join`); None otherwise
    parts: tuple[int, ...] | None = None

    @property
    def variational(self) -> bool:
        return self.log_var is not None

    def __len__(self) -> int:
        return self.mean.shape[0]


class NotFittedError(LatalError, RuntimeError):
    """A model was used before ``fit``."""


class Encoder(ABC):
    """Base class of every encoder.

    Constructors only store parameters (scikit-learn's habit); the work happens in
    :meth:`fit`. Inputs are raw items ``(n, ...)`` (images of any shape, or feature rows);
    the pixel range is learned in ``fit`` so that ``encode`` scales new data the same way.
    """

    #: whether :meth:`encode` returns ``log_var``
    variational: bool = False
    #: whether :meth:`decode` maps latent vectors back to items
    has_decoder: bool = False

    def fit(self, X) -> Encoder:
        X = self._check_input(X, fitting=True)
        self.input_shape_ = tuple(X.shape[1:])
        self.pixel_range_ = pixel_range(X)
        self._fit(self._scaled(X))
        return self

    def encode(self, X) -> Latent:
        self._check_fitted()
        X = self._check_input(X)
        if tuple(X.shape[1:]) != self.input_shape_:
            raise DataError(
                f"{type(self).__name__} was fitted on items of shape {self.input_shape_}; got {tuple(X.shape[1:])}."
            )
        return self._encode(self._scaled(X))

    def fit_encode(self, X) -> Latent:
        return self.fit(X).encode(X)

    def decode(self, z) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no decoder.")

    # ------------------------------------------------------------- persistence
    def save(self, path) -> Path:
        """Write the fitted encoder to ``path`` (a pickle with a format header)."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            pickle.dump({"format": _FORMAT, "class": f"{type(self).__module__}.{type(self).__qualname__}",
                         "encoder": self}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @classmethod
    def load(cls, path) -> Encoder:
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                payload = pickle.load(fh)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
            raise DataError(f"{path} is not a saved latal encoder ({exc}).") from exc
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise DataError(f"{path} is not a saved latal encoder (format {_FORMAT} expected).")
        enc = payload["encoder"]
        if not isinstance(enc, cls):
            raise DataError(f"{path} holds a {type(enc).__name__}, not a {cls.__name__}.")
        return enc

    # ---------------------------------------------------------------- helpers
    def get_params(self) -> dict:
        return constructor_params(self)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "input_shape_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(X) first.")

    @staticmethod
    def _check_input(X, fitting: bool = False) -> np.ndarray:
        from latal._validation import check_finite

        X = np.asarray(X)
        if X.ndim < 2:
            raise DataError(f"encoder input must have one row per item (at least 2-D); got shape {X.shape}.")
        if X.shape[0] == 0:
            raise DataError("encoder input is empty: give at least one item.")
        if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
            raise DataError(f"encoder input must be numeric; got dtype {X.dtype}.")
        check_finite(X, "encoder input")
        return X

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """Items scaled to [0, 1] by the fitted pixel range, shape kept."""
        lo, hi = self.pixel_range_
        return scale_pixels(X, lo, hi)

    @abstractmethod
    def _fit(self, X: np.ndarray) -> None:
        """Fit on scaled items (n, ...) float32."""

    @abstractmethod
    def _encode(self, X: np.ndarray) -> Latent:
        """Encode scaled items."""
