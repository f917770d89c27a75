"""Encoders map raw items to a latent space. ``ENCODERS`` maps short names to classes."""

from latal.encoders.base import Encoder, Latent, NotFittedError
from latal.encoders.simple import IdentityEncoder, PCAEncoder
from latal.registry import Registry

ENCODERS: Registry = Registry("encoder")
ENCODERS.register("identity", IdentityEncoder, "flattened pixels scaled to [0, 1] (pixel-space baseline)")
ENCODERS.register("pca", PCAEncoder, "principal components of the pixels (scikit-learn PCA, 50 by default)")


def make_encoder(spec: str, **overrides) -> Encoder:
    """Build an encoder from a spec such as ``pca`` or ``pca:n_components=30``."""
    return ENCODERS.build(spec, **overrides)


__all__ = ["ENCODERS", "Encoder", "IdentityEncoder", "Latent", "NotFittedError", "PCAEncoder", "make_encoder"]
