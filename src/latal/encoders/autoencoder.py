"""Paper 003's convolutional autoencoder (section 3.4, after DCEC's CAE): three conv layers with batch
norm, a linear embedding of size 10, a mirrored decoder, mean squared error."""

from __future__ import annotations

from latal._validation import int_tuple
from latal.encoders.torch_base import TorchEncoder
from latal.exceptions import DataError


def conv_ae_module(channels: int, size: int, latent_dim: int = 10, filters=(32, 64, 128)):
    """conv(32, k5, s2) -> conv(64, k5, s2) -> conv(128, k3, s2, valid), batch norm, -> linear(10);
    linear -> convT(64, k3, s2, valid) -> convT(32, k5, s2) -> convT(c, k5, s2), batch norm."""
    import torch
    import torch.nn as nn

    if size % 4:
        raise DataError(f"the conv autoencoder needs an image size divisible by 4 (28, 32); got {size}.")
    if size < 12:
        raise DataError(f"the conv autoencoder needs images of at least 12x12; got {size}x{size}.")
    f1, f2, f3 = (int(f) for f in filters)
    q = size // 4               # after two stride-2 'same' convs
    r = (q - 3) // 2 + 1        # after the stride-2 'valid' conv
    flat = f3 * r * r
    out_pad = q - ((r - 1) * 2 + 3)  # so that the first transposed conv gives back q

    class ConvAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.latent_dim = latent_dim
            self.input_shape = (channels, size, size)
            self.body = nn.Sequential(
                nn.Conv2d(channels, f1, 5, stride=2, padding=2), nn.ReLU(),
                nn.Conv2d(f1, f2, 5, stride=2, padding=2), nn.ReLU(),
                nn.Conv2d(f2, f3, 3, stride=2), nn.BatchNorm2d(f3), nn.ReLU(),
                nn.Flatten(), nn.Linear(flat, latent_dim),
            )
            self.head = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU(), nn.Unflatten(1, (f3, r, r)))
            self.tail = nn.Sequential(
                nn.ConvTranspose2d(f3, f2, 3, stride=2, output_padding=out_pad), nn.BatchNorm2d(f2), nn.ReLU(),
                nn.ConvTranspose2d(f2, f1, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
                nn.ConvTranspose2d(f1, channels, 5, stride=2, padding=2, output_padding=1),
            )

        def encode(self, x):
            return (self.body(x),)

        def decode_logits(self, z):
            return self.tail(self.head(z))

        def decode(self, z):
            return torch.sigmoid(self.decode_logits(z))

    return ConvAE()


class ConvAE(TorchEncoder):
    """Convolutional autoencoder of paper 003 (deterministic: no ``log_var``).

    Parameters
    ----------
    latent_dim : int, default 10
    filters : tuple of 3 ints, default (32, 64, 128)
    """

    variational = False

    def __init__(self, latent_dim: int = 10, filters=(32, 64, 128), epochs: int = 10, batch_size: int = 100,
                 lr: float = 1e-3, optimizer: str = "adam", val_fraction: float = 0.1, patience: int = 3,
                 random_state: int = 0, device: str = "auto", progress: bool = True):
        super().__init__(epochs, batch_size, lr, optimizer, val_fraction, patience, random_state, device, progress)
        self.latent_dim = latent_dim
        self.filters = filters

    def _build(self, input_shape):
        c, h, w = input_shape
        if h != w:
            raise DataError(f"ConvAE needs square images; got {h}x{w}.")
        return conv_ae_module(c, h, int(self.latent_dim), int_tuple(self.filters, "filters"))

    def _loss(self, model, x):
        import torch
        import torch.nn.functional as F

        (z,) = model.encode(x)
        rec = F.mse_loss(torch.sigmoid(model.decode_logits(z)), x, reduction="none").flatten(1).sum(dim=1)
        return rec.mean(), {"reconstruction": rec.mean()}
