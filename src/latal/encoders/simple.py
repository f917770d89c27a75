"""Encoders without a network: ``identity`` (scaled, flattened pixels) and ``pca``."""

from __future__ import annotations

import numpy as np

from latal.encoders.base import Encoder, Latent


class IdentityEncoder(Encoder):
    """Flattened pixels scaled to [0, 1]: the pixel-space baseline the thesis compares latents with."""

    def _fit(self, X: np.ndarray) -> None:
        self.dim_ = int(np.prod(X.shape[1:]))

    def _encode(self, X: np.ndarray) -> Latent:
        return Latent(mean=np.ascontiguousarray(X.reshape(X.shape[0], -1), dtype=np.float32))


class PCAEncoder(Encoder):
    """Principal components of the scaled, flattened pixels (scikit-learn ``PCA``).

    Parameters
    ----------
    n_components : int, default 50
        Capped at the input dimension and the number of items.
    whiten : bool, default False
    random_state : int or None, default 0
        Seeds the randomised SVD used on large inputs.
    """

    def __init__(self, n_components: int = 50, whiten: bool = False, random_state: int | None = 0):
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state

    def _fit(self, X: np.ndarray) -> None:
        from sklearn.decomposition import PCA

        flat = X.reshape(X.shape[0], -1)
        k = int(min(self.n_components, flat.shape[1], flat.shape[0]))
        if k < 1:
            raise ValueError(f"n_components must be >= 1; got {self.n_components}.")
        self.pca_ = PCA(n_components=k, whiten=self.whiten, random_state=self.random_state).fit(flat)
        self.dim_ = k

    def _encode(self, X: np.ndarray) -> Latent:
        flat = X.reshape(X.shape[0], -1)
        return Latent(mean=self.pca_.transform(flat).astype(np.float32))
