"""What an encoder learned: used latent dimensions, pictures (PNG) and a label probe."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def active_dimensions(mean: np.ndarray, threshold: float = 0.01, relative: bool = False) -> np.ndarray:
    """Latent dimensions in use: those whose mean varies across the data, ``Var_x(E[z_d | x]) > threshold``
    (the active-units criterion of Burda et al., 2016). Collapsed dimensions stay near 0 for every
    item, which is what the thesis reads off the min/max histograms (section 5.1.2). ``relative``
    measures the threshold in units of the mean variance per dimension, for latents with no prior to
    fix their scale (autoencoders, PCA, unit-length contrastive features)."""
    var = np.var(np.asarray(mean, dtype=np.float64), axis=0)
    return np.flatnonzero(var > threshold * (var.mean() if relative else 1.0))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _show(ax, img):
    img = np.clip(img, 0, 1)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_reconstructions(encoder, x: np.ndarray, path, n: int = 10, seed: int = 0) -> Path:
    """Random test images (top row) above their reconstructions (bottom row)."""
    plt = _plt()
    idx = np.sort(np.random.default_rng(seed).choice(x.shape[0], size=min(n, x.shape[0]), replace=False))
    originals = encoder._scaled(x[idx])
    rec = encoder.reconstruct(x[idx])
    fig, axes = plt.subplots(2, len(idx), figsize=(1.2 * len(idx), 2.7))
    for j in range(len(idx)):
        _show(axes[0, j], originals[j])
        _show(axes[1, j], rec[j])
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("decoded")
    fig.suptitle("reconstructions of random test images")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_interpolations(encoder, x: np.ndarray, path, pairs: int = 4, steps: int = 10, seed: int = 1) -> Path:
    """Decoded points on the straight line between the latent means of two test images, per row."""
    plt = _plt()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(pairs, steps, figsize=(1.1 * steps, 1.2 * pairs))
    axes = np.atleast_2d(axes)
    for row in range(pairs):
        a, b = rng.choice(x.shape[0], size=2, replace=False)
        za, zb = encoder.encode(x[[a, b]]).mean
        t = np.linspace(0, 1, steps, dtype=np.float32)[:, None]
        imgs = encoder.decode((1 - t) * za + t * zb)
        for j in range(steps):
            _show(axes[row, j], imgs[j])
    fig.suptitle("interpolations between two test images in latent space")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_manifold(encoder, path, n: int = 20) -> Path:
    """2-D latents: images decoded on a grid of standard-normal quantiles (thesis Figure 5.2)."""
    from scipy.stats import norm

    plt = _plt()
    grid = norm.ppf(np.linspace(0.05, 0.95, n))
    zs = np.array([[gx, gy] for gy in grid[::-1] for gx in grid], dtype=np.float32)
    imgs = encoder.decode(zs)
    h, w = imgs.shape[1:3]
    canvas = np.zeros((n * h, n * w) + imgs.shape[3:], dtype=np.float32)
    for k, img in enumerate(imgs):
        r, c = divmod(k, n)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    fig, ax = plt.subplots(figsize=(8, 8))
    _show(ax, canvas)
    ax.set_title("decoded manifold over Gaussian quantiles of the 2-D latent space")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_latent_scatter(mean: np.ndarray, y: np.ndarray | None, class_names, path, max_points: int = 10000,
                        seed: int = 0) -> Path:
    """Test latents coloured by class (thesis Figure 5.4); above two dimensions, their first two
    principal components."""
    plt = _plt()
    rng = np.random.default_rng(seed)
    idx = rng.choice(mean.shape[0], size=min(max_points, mean.shape[0]), replace=False)
    pts = mean[idx]
    title = "test set in the 2-D latent space"
    if pts.shape[1] > 2:
        from sklearn.decomposition import PCA

        pts = PCA(2, random_state=seed).fit_transform(pts)
        title = f"test set in the {mean.shape[1]}-D latent space (first two principal components)"
    fig, ax = plt.subplots(figsize=(8, 7))
    if y is None:
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
    else:
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=y[idx], s=2, cmap="tab10", alpha=0.7)
        handles = [plt.Line2D([], [], marker="o", ls="", color=sc.cmap(sc.norm(k))) for k in range(len(class_names))]
        ax.legend(handles, class_names, markerscale=1.5, fontsize=8, loc="best")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def probe(z_train, y_train, z_test, y_test, *, seed: int = 0, device: str = "auto") -> dict:
    """The thesis's full-label check (Tables 5.2/5.3): its MLP (512, 512; dropout 0.2; 20 epochs;
    RMSprop) trained on every training label; test accuracy and seconds."""
    from latal.learners import MLPClassifier

    t0 = time.perf_counter()
    mlp = MLPClassifier(random_state=seed, device=device).fit(z_train, y_train)
    return {"accuracy": mlp.score(z_test, y_test), "seconds": time.perf_counter() - t0}
