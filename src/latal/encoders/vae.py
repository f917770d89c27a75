"""Variational autoencoders: the thesis's dense and convolutional VAEs (section 3.2, 4.2.1, Table 4.1)
and the convolutional VAE of paper 000 (section 3.1)."""

from __future__ import annotations

import numpy as np

from latal._validation import int_tuple
from latal.encoders.torch_base import TorchEncoder, vae_loss
from latal.exceptions import DataError


def _nn():
    import torch.nn as nn

    return nn


# --------------------------------------------------------------------------- models (layers only)
def _vae_module(encoder_body, flat_dim: int, hidden: int | None, latent_dim: int, decoder_head, decoder_body,
                input_shape):
    """Assemble a VAE: body -> [dense hidden] -> (mu, log_var); z -> head -> body -> logits."""
    import torch
    import torch.nn as nn

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.latent_dim = latent_dim
            self.input_shape = tuple(input_shape)
            self.body = encoder_body
            self.hidden = nn.Sequential(nn.Linear(flat_dim, hidden), nn.ReLU()) if hidden else nn.Identity()
            width = hidden or flat_dim
            self.mu = nn.Linear(width, latent_dim)
            self.log_var = nn.Linear(width, latent_dim)
            self.head = decoder_head
            self.tail = decoder_body

        def encode(self, x):
            h = self.hidden(self.body(x))
            return self.mu(h), self.log_var(h)

        def decode_logits(self, z):
            return self.tail(self.head(z))

        def decode(self, z):
            return torch.sigmoid(self.decode_logits(z))

    return VAE()


def dense_vae_module(n_features: int, hidden: tuple[int, ...], latent_dim: int):
    nn = _nn()
    enc, width = [], n_features
    for h in hidden:
        enc += [nn.Linear(width, h), nn.ReLU()]
        width = h
    dec, w2 = [], latent_dim
    for h in reversed(hidden):
        dec += [nn.Linear(w2, h), nn.ReLU()]
        w2 = h
    dec.append(nn.Linear(w2, n_features))
    return _vae_module(nn.Sequential(*enc), width, None, latent_dim, nn.Sequential(*dec), nn.Identity(),
                       (n_features,))


def thesis_conv_vae_module(channels: int, size: int, latent_dim: int, filters: int = 64, dense: int = 128):
    """Table 4.1: conv(c, k2, s1, same) -> conv(F, k2, s2) -> conv(F, k3, same) x2 -> flatten ->
    dense 128 -> (mu, log_var); dense 128 -> dense (s/2)^2 F -> reshape -> convT(F, k3, same) x2 ->
    convT(F, k3, s2, valid) -> conv(c, k2, valid), sigmoid."""
    nn = _nn()
    if size % 2:
        raise DataError(f"the thesis conv VAE needs an even image size (28 or 32); got {size}.")
    half = size // 2
    flat = half * half * filters
    first = nn.Conv2d(channels, channels, 2)
    # This layer has as few filters as the input has channels, followed by a ReLU; on non-negative
    # pixels it is dead from the start (and stays dead) when its initial weights come out negative,
    # which happens for some seeds. Non-negative initial weights keep the architecture and avoid it.
    import torch

    with torch.no_grad():
        first.weight.abs_()
    body = nn.Sequential(
        nn.ZeroPad2d((0, 1, 0, 1)), first, nn.ReLU(),                          # k2 'same' (Keras pads right/bottom)
        nn.Conv2d(channels, filters, 2, stride=2), nn.ReLU(),                     # k2 s2 'same' = no padding at even size
        nn.Conv2d(filters, filters, 3, padding=1), nn.ReLU(),
        nn.Conv2d(filters, filters, 3, padding=1), nn.ReLU(),
        nn.Flatten(),
    )
    head = nn.Sequential(nn.Linear(latent_dim, dense), nn.ReLU(), nn.Linear(dense, flat), nn.ReLU(),
                         nn.Unflatten(1, (filters, half, half)))
    tail = nn.Sequential(
        nn.ConvTranspose2d(filters, filters, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(filters, filters, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(filters, filters, 3, stride=2), nn.ReLU(),             # -> size + 1
        nn.Conv2d(filters, channels, 2),                                          # -> size (sigmoid in the loss/decode)
    )
    return _vae_module(body, flat, dense, latent_dim, head, tail, (channels, size, size))


def conv_vae_000_module(channels: int, size: int, latent_dim: int, filters: int = 32, dense: int = 128):
    """Paper 000: encoder of four conv layers, flatten, three dense layers (hidden, mu, log_var);
    decoder of one dense layer and two (transposed) conv layers."""
    nn = _nn()
    if size % 4:
        raise DataError(f"the paper-000 conv VAE needs an image size divisible by 4; got {size}.")
    q = size // 4
    flat = q * q * 2 * filters
    body = nn.Sequential(
        nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(),
        nn.Conv2d(filters, 2 * filters, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(2 * filters, 2 * filters, 3, padding=1), nn.ReLU(),
        nn.Conv2d(2 * filters, 2 * filters, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(),
    )
    head = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU(), nn.Unflatten(1, (2 * filters, q, q)))
    tail = nn.Sequential(
        nn.ConvTranspose2d(2 * filters, filters, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(filters, channels, 4, stride=2, padding=1),
    )
    return _vae_module(body, flat, dense, latent_dim, head, tail, (channels, size, size))


# --------------------------------------------------------------------------- encoders
class _VAEEncoder(TorchEncoder):
    variational = True
    kl_reduction = "sum"

    def _loss(self, model, x):
        return vae_loss(model, x, self.kl_reduction)

    def _image_geometry(self, shape):
        c, h, w = shape
        if h != w:
            raise DataError(f"{type(self).__name__} needs square images; got {h}x{w}.")
        return c, h


class DenseVAE(_VAEEncoder):
    """Dense VAE (thesis 3.2, 4.2.1): encoder 512-256, symmetric decoder, ReLU, sigmoid output.

    Parameters
    ----------
    latent_dim : int, default 30 (the thesis uses 2, 30 and 50)
    hidden : tuple of int, default (512, 256)
    epochs, batch_size, lr, optimizer, ... : see :class:`TorchEncoder`
    """

    def __init__(self, latent_dim: int = 30, hidden=(512, 256), epochs: int = 30, batch_size: int = 100,
                 lr: float = 1e-3, optimizer: str = "adam", val_fraction: float = 0.1, patience: int = 3,
                 random_state: int = 0, device: str = "auto", progress: bool = True):
        super().__init__(epochs, batch_size, lr, optimizer, val_fraction, patience, random_state, device, progress)
        self.latent_dim = latent_dim
        self.hidden = hidden

    def _prepare(self, X):
        return np.ascontiguousarray(X.reshape(X.shape[0], -1), dtype=np.float32)

    def _build(self, input_shape):
        return dense_vae_module(int(input_shape[0]), int_tuple(self.hidden, "hidden"), int(self.latent_dim))


class ConvVAE(_VAEEncoder):
    """The thesis's convolutional VAE (Table 4.1) for square images of even size (28, 32, ...), any channels.

    Parameters
    ----------
    latent_dim : int, default 30
    filters : int, default 32 (the thesis: 64; ``conv_vae_thesis`` keeps it)
    dense : int, default 128
    kl_reduction : {"mean", "sum"}, default "mean"
        "mean" as the Keras conv VAE example the thesis used (KL averaged over latent dimensions);
        "sum" for the plain evidence lower bound. See :func:`~latal.encoders.torch_base.vae_loss`.
    """

    def __init__(self, latent_dim: int = 30, filters: int = 32, dense: int = 128, kl_reduction: str = "mean",
                 epochs: int = 10, batch_size: int = 100, lr: float = 1e-3, optimizer: str = "adam",
                 val_fraction: float = 0.1, patience: int = 3, random_state: int = 0, device: str = "auto",
                 progress: bool = True):
        super().__init__(epochs, batch_size, lr, optimizer, val_fraction, patience, random_state, device, progress)
        self.latent_dim = latent_dim
        self.filters = filters
        self.dense = dense
        self.kl_reduction = kl_reduction

    def _build(self, input_shape):
        c, s = self._image_geometry(input_shape)
        return thesis_conv_vae_module(c, s, int(self.latent_dim), int(self.filters), int(self.dense))


class ConvVAE000(_VAEEncoder):
    """Paper 000's convolutional VAE (four conv layers, three dense layers; dense + two conv layers back),
    with a 2-D latent space by default."""

    def __init__(self, latent_dim: int = 2, filters: int = 32, dense: int = 128, epochs: int = 10,
                 batch_size: int = 100, lr: float = 1e-3, optimizer: str = "adam", val_fraction: float = 0.1,
                 patience: int = 3, random_state: int = 0, device: str = "auto", progress: bool = True):
        super().__init__(epochs, batch_size, lr, optimizer, val_fraction, patience, random_state, device, progress)
        self.latent_dim = latent_dim
        self.filters = filters
        self.dense = dense

    def _build(self, input_shape):
        c, s = self._image_geometry(input_shape)
        return conv_vae_000_module(c, s, int(self.latent_dim), int(self.filters), int(self.dense))
