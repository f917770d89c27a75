"""Encoders map raw items to a latent space. ``ENCODERS`` maps short names to classes.

The neural encoders have a ``fast`` default (practical on a 2-core CPU) and the papers'
configurations under their own names (``*_thesis``, ``*_paper``).
"""

from latal.encoders.autoencoder import ConvAE
from latal.encoders.base import Encoder, Latent, NotFittedError
from latal.encoders.contrastive import SimCLREncoder
from latal.encoders.hog import HOGEncoder
from latal.encoders.simple import IdentityEncoder, PCAEncoder
from latal.encoders.stack import StackedEncoder, split_stack
from latal.encoders.vae import ConvVAE, ConvVAE000, DenseVAE
from latal.registry import Registry, parse_spec

ENCODERS: Registry = Registry("encoder")
ENCODERS.register("identity", IdentityEncoder, "flattened pixels scaled to [0, 1] (pixel-space baseline)")
ENCODERS.register("hog", HOGEncoder, "histograms of oriented gradients (Dalal-Triggs; 4x4 cells, 9 bins, 2x2 blocks, L2-Hys), training-free")
ENCODERS.register("pca", PCAEncoder, "principal components of the pixels (scikit-learn PCA, 50 by default)")
ENCODERS.register("dense_vae", DenseVAE, "dense VAE 512-256, latent 30, Adam, up to 30 epochs (fast)")
ENCODERS.register("dense_vae_thesis", DenseVAE, "thesis dense VAE: 512-256, latent 30, RMSprop, 64 epochs",
                  optimizer="rmsprop", epochs=64, patience=5)
ENCODERS.register("conv_vae", ConvVAE, "thesis conv VAE (Table 4.1) with 32 filters, latent 30, Adam, 10 epochs (fast)")
ENCODERS.register("conv_vae_thesis", ConvVAE, "thesis conv VAE (Table 4.1): 64 filters, dense 128, latent 30, RMSprop, 64 epochs",
                  filters=64, optimizer="rmsprop", epochs=64, patience=5)
ENCODERS.register("conv_vae_000", ConvVAE000, "paper 000 conv VAE (4 conv + 3 dense; dense + 2 conv), latent 2, 10 epochs (fast)")
ENCODERS.register("conv_vae_000_paper", ConvVAE000, "paper 000 conv VAE, latent 2, Adam lr 1e-3, 400 epochs",
                  epochs=400, patience=20)
ENCODERS.register("conv_ae", ConvAE, "paper 003 conv autoencoder (3 conv + batch norm, embedding 10, MSE), 10 epochs (fast)")
ENCODERS.register("simclr", SimCLREncoder, "SimCLR contrastive CNN (3 conv blocks of 32-64-128 + batch norm, NT-Xent), 30 epochs; "
                  "latent 128 at unit length; add flip=True for mirror-symmetric classes")
ENCODERS.register("conv_ae_paper", ConvAE, "paper 003 conv autoencoder, 50 epochs of pre-training", epochs=50, patience=5)


def make_encoder(spec: str, **overrides) -> Encoder:
    """Build an encoder from a spec such as ``pca``, ``pca:n_components=30`` or ``conv_vae:latent_dim=2``;
    specs joined by ``+`` (``conv_vae+simclr:flip=True``) give a :class:`StackedEncoder` of those parts
    (each of ``overrides`` then goes to the parts that take it)."""
    if "+" not in str(spec):
        return ENCODERS.build(spec, **overrides)
    parts, used = [], set()
    for part in split_stack(spec):
        entry = ENCODERS.entry(parse_spec(part)[0])
        mine = {k: v for k, v in overrides.items() if entry.accepts_any() or k in entry.parameters()}
        used.update(mine)
        parts.append(ENCODERS.build(part, **mine))
    if set(overrides) - used:
        raise ValueError(f"no part of {spec!r} takes {', '.join(sorted(set(overrides) - used))}.")
    return StackedEncoder(parts)


__all__ = ["ENCODERS", "ConvAE", "ConvVAE", "ConvVAE000", "DenseVAE", "Encoder", "HOGEncoder", "IdentityEncoder", "Latent",
           "NotFittedError", "PCAEncoder", "SimCLREncoder", "StackedEncoder", "make_encoder"]
