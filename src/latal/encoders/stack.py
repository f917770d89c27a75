"""Several encoders side by side: ``conv_vae+simclr:flip=True`` (issue 9).

Two encoders trained on the same pool err on different pairs of items, so the nearest neighbours of the
joined latents are purer than either's (Fashion-MNIST, 10-NN purity: ``conv_vae`` 81.5 %, ``simclr`` 77.7 %,
both 82.7 %; BENCHMARKS.md). Each part's rows are scaled to unit length before they are joined, so each part
weighs the same in every distance whatever its dimension or scale.

Each part is trained and cached on its own (:func:`latal.encoders.cache.fit_encode` handles a stack part by
part), so a stack reuses encoders trained earlier and adding a part costs only that part.
"""

from __future__ import annotations

import hashlib

import numpy as np

from latal.encoders.base import Encoder, Latent
from latal.exceptions import DataError
from latal.strategies.distances import unit_rows


def split_stack(spec: str) -> list[str]:
    """``"conv_vae+simclr:flip=True"`` -> ``["conv_vae", "simclr:flip=True"]``; a plain spec gives one part."""
    parts = [p.strip() for p in str(spec).split("+")]
    if any(not p for p in parts):
        raise ValueError(f"encoder spec {spec!r} has an empty part: join encoder specs with '+', "
                         "e.g. 'conv_vae+simclr:flip=True'.")
    return parts


class StackedEncoder(Encoder):
    """The latents of ``parts`` side by side, each part's rows at unit length.

    Parameters
    ----------
    parts : list of Encoder
        At least two encoders; each is fitted on the same items. Variational parts contribute their means
        (the stack has no ``log_var``: the parts' variances are on different scales).
    """

    has_decoder = False
    variational = False

    def __init__(self, parts: list[Encoder]):
        parts = list(parts)
        if len(parts) < 2:
            raise ValueError(f"a stack joins at least two encoders; got {len(parts)}. Use the encoder alone.")
        for p in parts:
            if not isinstance(p, Encoder):
                raise TypeError(f"stack parts must be encoders; got {type(p).__name__}.")
            if isinstance(p, StackedEncoder):
                raise ValueError("a stack cannot hold another stack: join all the parts in one spec.")
        self.parts = parts

    # progress is forwarded to the parts (the loop and the app set it on the encoder)
    @property
    def progress(self) -> bool:
        return any(getattr(p, "progress", False) for p in self.parts)

    @progress.setter
    def progress(self, value: bool) -> None:
        for p in self.parts:
            if hasattr(p, "progress"):
                p.progress = value

    def get_params(self) -> dict:
        return {"parts": [repr(p) for p in self.parts]}

    def fit(self, X) -> StackedEncoder:
        X = self._check_input(X, fitting=True)
        for p in self.parts:
            p.fit(X)
        self._mark_fitted(X)
        return self

    def _mark_fitted(self, X) -> None:
        self.input_shape_ = tuple(np.shape(X)[1:])

    def encode(self, X) -> Latent:
        self._check_fitted()
        X = self._check_input(X)
        if tuple(X.shape[1:]) != self.input_shape_:
            raise DataError(f"the stack was fitted on items of shape {self.input_shape_}; got {tuple(X.shape[1:])}.")
        return self.join([p.encode(X) for p in self.parts])

    @staticmethod
    def join(latents: list[Latent]) -> Latent:
        """The parts' latent means side by side, each row of each part at unit length."""
        return Latent(np.hstack([unit_rows(np.asarray(z.mean, dtype=np.float32)) for z in latents]),
                      parts=tuple(int(np.shape(z.mean)[1]) for z in latents))

    @staticmethod
    def join_keys(keys: list[str | None]) -> str | None:
        """A cache key for the stack from its parts' keys (None when a part is not cached)."""
        if any(k is None for k in keys):
            return None
        return hashlib.blake2b("+".join(keys).encode(), digest_size=12).hexdigest()

    def _fit(self, X: np.ndarray) -> None:  # pragma: no cover - fit is overridden
        raise NotImplementedError

    def _encode(self, X: np.ndarray) -> Latent:  # pragma: no cover - encode is overridden
        raise NotImplementedError


def parse_part_weights(text) -> tuple[float, ...]:
    """``"1,1.73"`` (or a sequence of numbers) -> ``(1.0, 1.73)``: one positive, finite weight per part."""
    items = str(text).split(",") if isinstance(text, str) else list(text)
    try:
        weights = tuple(float(w) for w in items)
    except (TypeError, ValueError):
        raise ValueError(f"part weights {text!r} must be numbers separated by commas, e.g. 1,1.73.") from None
    if not weights or not all(np.isfinite(w) and w > 0 for w in weights):
        raise ValueError(f"part weights {text!r} must be positive and finite, one per part of the stack, e.g. 1,1.73.")
    return weights


def part_weights_text(weights) -> str:
    """``(1.0, 1.73)`` -> ``"1,1.73"``, as ``--learn-weights`` takes them."""
    return ",".join(f"{float(w):g}" for w in weights)


def check_part_weights(weights, encoder_spec: str) -> tuple[float, ...]:
    """``weights`` parsed, one per part of the stacked encoder ``encoder_spec``; else a ValueError saying why."""
    weights = parse_part_weights(weights)
    n = len(split_stack(encoder_spec))
    if n < 2:
        raise ValueError(f"part weights {part_weights_text(weights)} weigh the parts of a stacked encoder "
                         f"('a+b'); encoder {encoder_spec!r} has one part. Drop the weights or join encoders with '+'.")
    if len(weights) != n:
        raise ValueError(f"part weights {part_weights_text(weights)} give {len(weights)} weights for the {n} "
                         f"parts of encoder {encoder_spec!r}; give one per part (e.g. when --encoder replaces a "
                         "preset's stack, give --learn-weights too).")
    return weights


def weigh_parts(latent: Latent, weights) -> np.ndarray:
    """A stack's joined latents with each part's columns times its weight (a new float32 array)."""
    if latent.parts is None:
        raise ValueError("part weights need a stacked encoder's latents (encoder 'a+b'); these have no parts.")
    weights = parse_part_weights(weights)
    if len(weights) != len(latent.parts):
        raise ValueError(f"{len(weights)} part weights for latents of {len(latent.parts)} parts; give one per part.")
    scale = np.repeat(np.asarray(weights, dtype=np.float32), latent.parts)
    return np.asarray(latent.mean, dtype=np.float32) * scale
