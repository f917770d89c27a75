"""A contrastive, augmentation-invariant encoder: SimCLR (Chen et al., ICML 2020) for small images on a CPU.

Two random views of every image of a batch go through a small CNN and a projection head; the NT-Xent loss
pulls each view towards its twin and away from the other ``2 * batch - 2`` views. The latent vector is the
CNN's pooled feature (before the head), scaled to unit length, so Euclidean neighbours are cosine neighbours.
Unlike the autoencoders, nothing rewards it for keeping what a view changes (position, scale, contrast,
occlusion), so its neighbourhoods follow what stays: the kind of object.
"""

from __future__ import annotations

import math

import numpy as np

from latal.encoders.torch_base import TorchEncoder


def random_views(xb, gen, *, crop: float = 0.5, degrees: float = 15.0, flip: bool = False,
                 jitter: float = 0.4, erase: float = 0.5):
    """One random view of each image of a batch (n, c, h, w) in [0, 1]: a random crop of at least ``crop`` of the
    area resized to the full image, rotated by up to ``degrees``, mirrored half the time with ``flip``; contrast
    and brightness each scaled by up to ``jitter``; and, with probability ``erase``, a random rectangle of up to a
    quarter of the image set to zero (random erasing). One affine resampling per view, all batched."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = xb.shape
    u = torch.rand(n, 11, generator=gen)
    side = torch.sqrt(crop + (1 - crop) * u[:, 0])  # crop side as a share of the image's
    angle = (u[:, 1] * 2 - 1) * math.radians(degrees)
    mirror = torch.where(u[:, 2] < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    tx, ty = (u[:, 3] * 2 - 1) * (1 - side), (u[:, 4] * 2 - 1) * (1 - side)  # the crop stays inside
    cos, sin = torch.cos(angle) * side, torch.sin(angle) * side
    theta = torch.stack([torch.stack([cos * mirror, -sin, tx], 1), torch.stack([sin * mirror, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(xb.dtype), list(xb.shape), align_corners=False)
    out = F.grid_sample(xb, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    contrast = 1 + (u[:, 5] * 2 - 1) * jitter
    brightness = 1 + (u[:, 6] * 2 - 1) * jitter
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * contrast[:, None, None, None] + mean) * brightness[:, None, None, None]
    if erase > 0:
        eh, ew = (u[:, 7] * 0.5 * h).ceil(), (u[:, 8] * 0.5 * w).ceil()
        y0, x0 = u[:, 9] * (h - eh), u[:, 10] * (w - ew)
        rows = torch.arange(h, dtype=xb.dtype)[None, :]
        cols = torch.arange(w, dtype=xb.dtype)[None, :]
        in_r = (rows >= y0[:, None]) & (rows < (y0 + eh)[:, None])
        in_c = (cols >= x0[:, None]) & (cols < (x0 + ew)[:, None])
        hit = (torch.rand(n, generator=gen) < erase)[:, None, None]
        keep = ~(in_r[:, :, None] & in_c[:, None, :] & hit)
        out = out * keep[:, None].to(out.dtype)
    return out.clamp(0, 1)


def nt_xent(z1, z2, temperature: float):
    """SimCLR's normalized-temperature cross-entropy over the ``2n`` views of ``n`` pairs, mean per view."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def _simclr_net(input_shape, width: int, projection_dim: int):
    import torch.nn as nn

    from latal._torch import conv_bn_blocks

    channels, features = input_shape[0], 4 * width

    class SimCLRNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(*conv_bn_blocks(channels, width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Sequential(nn.Linear(features, features), nn.ReLU(), nn.Linear(features, projection_dim))
            self.input_shape = tuple(input_shape)
            self.latent_dim = features

        def encode(self, x):
            import torch.nn.functional as F

            return (F.normalize(self.body(x), dim=1),)

        def forward(self, x):
            return self.head(self.body(x))

    return SimCLRNet()


class SimCLREncoder(TorchEncoder):
    """SimCLR on the pool's images (Chen et al., 2020), sized for a CPU: a CNN of three 3x3 conv blocks (``width``,
    ``2 * width``, ``4 * width`` filters, batch norm, ReLU, 2x2 max-pooling), global average pooling, and a
    two-layer projection head to ``projection_dim``; NT-Xent loss at ``temperature`` over batches of
    ``batch_size`` pairs of views (:func:`random_views`). The latent is the pooled feature (``4 * width``
    dimensions) at unit length.

    Parameters (besides :class:`TorchEncoder`'s)
    ----------
    width : int, default 32
    projection_dim : int, default 64
    temperature : float, default 0.2
    crop, degrees, flip, jitter, erase
        The views (:func:`random_views`). ``flip`` (a left-right mirror) suits objects whose mirror image is the
        same kind of object (clothing, photos), not digits or letters, hence off by default.
    """

    has_decoder = False  # nothing is trained to map a feature back to an image

    def __init__(self, epochs: int = 30, batch_size: int = 256, lr: float = 1e-3, width: int = 32,
                 projection_dim: int = 64, temperature: float = 0.2, crop: float = 0.5, degrees: float = 15.0,
                 flip: bool = False, jitter: float = 0.4, erase: float = 0.5, optimizer: str = "adam",
                 val_fraction: float = 0.0, patience: int = 3, random_state: int = 0, device: str = "auto",
                 progress: bool = True):
        super().__init__(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                         val_fraction=val_fraction, patience=patience, random_state=random_state, device=device,
                         progress=progress)
        self.width = width
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.crop = crop
        self.degrees = degrees
        self.flip = flip
        self.jitter = jitter
        self.erase = erase

    def _check_params(self) -> None:
        if not (0 < float(self.crop) <= 1):
            raise ValueError(f"crop must be in (0, 1] (the least share of the image a view keeps); got {self.crop}.")
        if float(self.temperature) <= 0:
            raise ValueError(f"temperature must be positive; got {self.temperature}.")
        if int(self.width) < 1 or int(self.projection_dim) < 1:
            raise ValueError("width and projection_dim must be positive integers.")
        if not (0 <= float(self.erase) <= 1) or not (0 <= float(self.jitter) < 1):
            raise ValueError("erase must be a probability in [0, 1] and jitter in [0, 1).")

    def _fit(self, X: np.ndarray) -> None:
        from latal.exceptions import DataError

        self._check_params()
        if X.ndim < 3:
            raise DataError(f"SimCLR needs images (n, h, w) or (n, h, w, c); got rows of shape {X.shape[1:]}: "
                            "use a VAE or PCA encoder for feature vectors.")
        if X.shape[0] < 2:
            raise DataError("SimCLR needs at least 2 images: each view is told apart from the others.")
        super()._fit(X)

    def _build(self, input_shape):
        return _simclr_net(input_shape, int(self.width), int(self.projection_dim))

    def _views(self, x):
        return random_views(x, None, crop=float(self.crop), degrees=float(self.degrees), flip=bool(self.flip),
                            jitter=float(self.jitter), erase=float(self.erase))

    def _loss(self, model, x):
        loss = nt_xent(model(self._views(x)), model(self._views(x)), float(self.temperature))
        return loss, {"nt_xent": loss}

    def decode(self, z) -> np.ndarray:
        raise NotImplementedError("SimCLREncoder has no decoder: a contrastive encoder is not trained to draw "
                                  "images back; use conv_vae for reconstructions.")
