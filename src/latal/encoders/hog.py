"""``hog``: histograms of oriented gradients (Dalal and Triggs, CVPR 2005), computed for the whole pool at once.

A training-free encoder. Each image's gradient (central differences; for colour images the channel with the
largest gradient at each pixel) votes with its magnitude into ``bins`` unsigned orientation bins (0 to 180
degrees, each vote shared linearly between the two nearest bins) of its ``cell`` x ``cell`` cell; each block
of ``block`` x ``block`` cells (stride one cell) is normalised by L2-Hys (unit length, clipped at ``clip``,
unit length again); the feature is all blocks side by side, at unit length.

Why it is here (issue 9): it is the cheapest representation with a purer neighbour graph than the pixels.
On Fashion-MNIST's 60,000 images, 83.0 % of the 10-NN graph's neighbours share an item's class, against
79.3 % for the pixels and 81.6 % for ``conv_vae`` (``benchmarks/representations.py``), and beside the VAE
84.1 % (``conv_vae+hog``). It costs seconds and has nothing to train, so it adds no build-to-build variance.
It did not help ten labels: Poisson learning with one random label per class gets 58.0 % of the pool
over it (62.2 % over ``conv_vae``), and MaxHerding + Poisson with ``hog`` beside ``conv_vae`` + ``simclr``
gave 62.90 against 65.97 % without it (BENCHMARKS.md, "Histograms of oriented gradients").
"""

from __future__ import annotations

import numpy as np

from latal.encoders.base import Encoder, Latent
from latal.exceptions import DataError

#: images per chunk: bounds the working memory (about 40 float32 copies of a chunk) on large pools
CHUNK = 4096


def hog_features(images: np.ndarray, cell: int = 4, bins: int = 9, block: int = 2, clip: float = 0.2) -> np.ndarray:
    """HOG features of ``images`` (n, h, w) or (n, h, w, c) in [0, 1]; rows at unit length, float32.

    The image is cropped (centred) to whole cells; it must hold at least ``block`` cells each way."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    n, h, w, _ = x.shape
    cy, cx = h // cell, w // cell
    top, left = (h - cy * cell) // 2, (w - cx * cell) // 2
    x = x[:, top:top + cy * cell, left:left + cx * cell]
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    gy[:, 1:-1] = x[:, 2:] - x[:, :-2]
    mag = np.hypot(gx, gy)
    if x.shape[-1] > 1:  # the strongest channel at each pixel
        pick = np.argmax(mag, axis=-1)[..., None]
        gx, gy, mag = (np.take_along_axis(a, pick, -1) for a in (gx, gy, mag))
    gx, gy, mag = gx[..., 0], gy[..., 0], mag[..., 0]
    pos = (np.arctan2(gy, gx) % np.pi) * (bins / np.pi)  # unsigned orientation in bin units, [0, bins]
    lower = np.floor(pos)
    upper_share = pos - lower
    lower = lower.astype(np.int64) % bins
    upper = (lower + 1) % bins
    hist = np.empty((n, cy, cx, bins), dtype=np.float32)
    for b in range(bins):
        vote = mag * ((lower == b) * (1 - upper_share) + (upper == b) * upper_share)
        hist[..., b] = vote.reshape(n, cy, cell, cx, cell).sum(axis=(2, 4))
    # (n, blocks down, blocks across, bins, block, block) -> each block's cells in order, bins last
    blocks = np.lib.stride_tricks.sliding_window_view(hist, (block, block), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
    blocks = np.ascontiguousarray(blocks).reshape(n, cy - block + 1, cx - block + 1, -1)
    blocks = blocks / np.sqrt(np.sum(blocks ** 2, axis=-1, keepdims=True) + 1e-6)
    blocks = np.minimum(blocks, clip)
    blocks = blocks / np.sqrt(np.sum(blocks ** 2, axis=-1, keepdims=True) + 1e-6)
    feats = blocks.reshape(n, -1)
    norm = np.linalg.norm(feats, axis=1, keepdims=True)
    return (feats / np.maximum(norm, 1e-12)).astype(np.float32)


class HOGEncoder(Encoder):
    """Histograms of oriented gradients of the pool's images (training-free; see the module docstring).

    Parameters
    ----------
    cell : int, default 4
        Cell side in pixels (4 on 28x28 images: 7 x 7 cells, 6 x 6 blocks, 1,296 features with the defaults).
    bins : int, default 9
        Unsigned orientation bins over 0 to 180 degrees.
    block : int, default 2
        Block side in cells; blocks overlap by all but one cell.
    clip : float, default 0.2
        L2-Hys clipping of each normalised block.
    """

    has_decoder = False
    variational = False

    def __init__(self, cell: int = 4, bins: int = 9, block: int = 2, clip: float = 0.2):
        self.cell = cell
        self.bins = bins
        self.block = block
        self.clip = clip

    def _fit(self, X: np.ndarray) -> None:
        if int(self.cell) < 1 or int(self.bins) < 2 or int(self.block) < 1:
            raise ValueError(f"cell and block must be >= 1 and bins >= 2; got cell={self.cell}, "
                             f"bins={self.bins}, block={self.block}.")
        if not float(self.clip) > 0:
            raise ValueError(f"clip must be positive; got {self.clip}.")
        if X.ndim not in (3, 4):
            raise DataError(f"hog needs images (n, h, w) or (n, h, w, c); got rows of shape {X.shape[1:]}: "
                            "use pca or a VAE encoder for feature vectors.")
        h, w = X.shape[1:3]
        need = int(self.cell) * int(self.block)
        if min(h, w) < need:
            raise DataError(f"hog with cell={self.cell} and block={self.block} needs images of at least "
                            f"{need}x{need} pixels; got {h}x{w}. Lower cell or block.")
        cells = (h // int(self.cell) - int(self.block) + 1) * (w // int(self.cell) - int(self.block) + 1)
        self.dim_ = int(cells * int(self.block) ** 2 * int(self.bins))

    def _encode(self, X: np.ndarray) -> Latent:  # X has the fitted image shape (Encoder.encode checks it)
        out = np.empty((X.shape[0], self.dim_), dtype=np.float32)
        for start in range(0, X.shape[0], CHUNK):
            out[start:start + CHUNK] = hog_features(X[start:start + CHUNK], int(self.cell), int(self.bins),
                                                    int(self.block), float(self.clip))
        return Latent(mean=out)
