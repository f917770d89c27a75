"""Semi-supervised active learning with a convolutional autoencoder, a clustering layer and the
clustering contrastive loss (Roda & Geva, Front. Artif. Intell. 2024; paper 003).

Algorithm 1 of the paper, here :class:`ClusterContrastiveModel`:

1. pre-train the convolutional autoencoder of section 3.4 (the ``conv_ae`` encoder's network: 3 conv
   layers, batch norm, a 10-d linear embedding; the decoder mirrors it) on every image, labeled or
   not, with the MSE loss (Eq. 5);
2. initialise the clustering layer's centroids with the mean latent of each class of the labeled
   pool (Eq. 6), so that cluster j is class j;
3. each round: query the unlabeled images whose soft cluster assignment q (Student's t, Eq. 1) has
   the highest entropy (Eq. 4); after they are labeled, train for ``epochs`` on labeled and unlabeled
   images with ``alpha1 * L_rec + alpha2 * KL(P || Q) + alpha3 * L_ccl``. The target distribution P
   (Eq. 3) is recomputed over all images every ``update_interval`` (80) steps; L_ccl (Eq. 7) pulls
   each labeled latent toward its class's centroid and away from the latents of the other classes.

An image's class is its cluster (argmax q). The paper gives no values for the loss weights, the
temperature or the learning rate: the defaults follow DCEC (Guo et al. 2017), whose clustering layer
the paper uses (clustering weight 0.1, Adam), with alpha3 = 0.1 and tau = 1 on cosine similarities (Eq. 7's raw
dot products collapse the clusters: BENCHMARKS.md); ``ccl=False`` (alpha3 = 0)
is the paper's "clustering only" ablation (Table 2).

:class:`ClusterContrastive` is the strategy form: ``latal run --strategy cluster_contrastive`` (images
as inputs; the model is kept across rounds and trained on the new labels before each query).
"""

from __future__ import annotations

import time

import numpy as np

from latal.strategies.base import Needs, QueryContext, Strategy


def soft_assign(z, centroids):
    """Student's t soft assignment (Eq. 1), one degree of freedom."""
    d2 = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    q = 1.0 / (1.0 + d2)
    return q / q.sum(1, keepdim=True)


def target_distribution(q: np.ndarray) -> np.ndarray:
    """Eq. 3: sharpen q and normalise by cluster frequency."""
    w = q ** 2 / q.sum(0)
    return w / w.sum(1, keepdims=True)


def clustering_contrastive_loss(z, y, centroids, tau: float, similarity: str = "cosine"):
    """Eq. 7: for each labeled latent z_i of class c, -log exp(s(z_i, mu_c)/tau) / sum_{z' not in c}
    exp(s(z', mu_c)/tau), averaged over the labeled latents whose batch holds another class (the sum over
    the other classes' latents is empty otherwise).

    ``similarity`` s: ``"dot"`` is Eq. 7 to the letter (z . mu); ``"cosine"`` normalises both first, as
    the supervised contrastive loss it revises does (Khosla et al. 2020); ``"distance"`` is minus the
    squared Euclidean distance, the geometry of the clustering layer."""
    import torch

    if similarity == "dot":
        logits = z @ centroids.T
    elif similarity == "cosine":
        logits = torch.nn.functional.normalize(z, dim=1) @ torch.nn.functional.normalize(centroids, dim=1).T
    elif similarity == "distance":
        logits = -torch.cdist(z, centroids) ** 2
    else:
        raise ValueError(f"similarity must be 'dot', 'cosine' or 'distance'; got {similarity!r}.")
    logits = logits / tau                                    # (m, C): s(z_j, mu_c) / tau
    other = y[None, :] != y[:, None]                         # other[i, j]: j is of another class than i
    col = logits[:, y].T                                     # col[i, j] = z_j . mu_{y_i} / tau
    neg = torch.logsumexp(col.masked_fill(~other, float("-inf")), dim=1)
    pos = logits[torch.arange(len(y)), y]
    keep = other.any(1)
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return (neg - pos)[keep].mean()


class ClusterContrastiveModel:
    """Paper 003's model and training (see the module docstring).

    Parameters
    ----------
    n_classes : int
    latent_dim : int, default 10 (the paper's embedding size)
    pretrain_epochs : int, default 50 (the paper's)
    epochs : int, default 10 (per active-learning round, the paper's)
    batch_size : int, default 256
    lr : float, default 1e-3 (Adam)
    alpha1, alpha2, alpha3 : loss weights of reconstruction, clustering (KL) and contrastive terms
    tau : temperature of L_ccl
    update_interval : steps between recomputations of the target distribution P (80, the paper's)
    labeled_batch : labeled images drawn for L_ccl at every step (they are few among the unlabeled)
    ccl : bool, default True; False is the "clustering only" ablation
    seed, device, progress
    """

    def __init__(self, n_classes: int, *, latent_dim: int = 10, pretrain_epochs: int = 50, epochs: int = 10,
                 batch_size: int = 256, lr: float = 1e-3, alpha1: float = 1.0, alpha2: float = 0.1,
                 alpha3: float = 0.1, tau: float = 1.0, update_interval: int = 80, labeled_batch: int = 128,
                 ccl: bool = True, similarity: str = "cosine", seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.n_classes = int(n_classes)
        self.latent_dim = int(latent_dim)
        self.pretrain_epochs, self.epochs = int(pretrain_epochs), int(epochs)
        self.batch_size, self.lr = int(batch_size), float(lr)
        self.alpha1, self.alpha2, self.alpha3 = float(alpha1), float(alpha2), float(alpha3) if ccl else 0.0
        self.tau, self.update_interval, self.labeled_batch = float(tau), int(update_interval), int(labeled_batch)
        self.ccl, self.seed, self.device, self.progress = bool(ccl), int(seed), device, progress
        self.similarity = similarity
        self.seconds: dict[str, float] = {"pretrain": 0.0, "train": 0.0}
        self.centroids_ = None

    # ------------------------------------------------------------------ data
    def _images(self, x: np.ndarray) -> np.ndarray:
        """(n, H, W) or (n, H, W, C) images -> (n, C, H, W) float32 in [0, 1], scaled as every encoder scales."""
        from latal.data.dataset import pixel_range, scale_pixels
        from latal.encoders.torch_base import to_nchw

        x = np.asarray(x)
        return to_nchw(scale_pixels(x, *pixel_range(x)))

    # ------------------------------------------------------------------ training
    def pretrain(self, x) -> ClusterContrastiveModel:
        import torch
        import torch.nn.functional as F

        from latal._torch import make_optimizer, resolve_device, training_batches
        from latal.encoders.autoencoder import conv_ae_module

        t0 = time.perf_counter()
        self.dev_ = resolve_device(self.device)
        X = self._images(x)
        self.shape_ = X.shape[1:]
        self.gen_ = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        c, h, w = self.shape_
        if h != w:
            raise ValueError(f"cluster_contrastive needs square images; got {h} x {w}.")
        self.module_ = conv_ae_module(c, h, self.latent_dim).to(self.dev_)  # the `conv_ae` encoder's network
        self.encoder_, self.decoder_ = self.module_.body, self.module_.decode
        self.opt_ = make_optimizer("adam", self.module_.parameters(), self.lr)
        self.X_ = torch.from_numpy(X)
        for _ in range(self.pretrain_epochs):
            for idx in training_batches(torch.randperm(len(X), generator=self.gen_), self.batch_size):
                xb = self.X_[idx].to(self.dev_)
                loss = F.mse_loss(self.decoder_(self.encoder_(xb)), xb)
                self.opt_.zero_grad()
                loss.backward()
                self.opt_.step()
        self.seconds["pretrain"] += time.perf_counter() - t0
        return self

    def encode(self, x=None) -> np.ndarray:
        """Latents of ``x`` (default: the training images)."""
        import torch

        from latal._torch import batched_apply

        X = self.X_ if x is None else torch.from_numpy(self._images(x))
        self.encoder_.eval()
        try:
            return batched_apply(self.encoder_, X.numpy(), 2048, self.dev_)[0]
        finally:
            self.encoder_.train()

    def init_centroids(self, labeled: np.ndarray, y: np.ndarray) -> None:
        """Eq. 6: each class's mean latent over the labeled pool (a class without labels starts at a random
        latent of the pool)."""
        import torch

        Z = self.encode()
        rng = np.random.default_rng(self.seed)
        mu = np.stack([Z[labeled[y == c]].mean(0) if np.any(y == c) else Z[rng.integers(len(Z))]
                       for c in range(self.n_classes)])
        self.centroids_ = torch.nn.Parameter(torch.from_numpy(mu.astype(np.float32)).to(self.dev_))
        self.opt_.add_param_group({"params": [self.centroids_]})

    def q(self, x=None) -> np.ndarray:
        import torch

        with torch.no_grad():
            Z = torch.from_numpy(self.encode(x)).to(self.dev_)
            return soft_assign(Z, self.centroids_).cpu().numpy()

    def train_round(self, labeled: np.ndarray, y: np.ndarray, epochs: int | None = None) -> None:
        """Train on every image with the labels of ``labeled`` (Algorithm 1, lines 8-19)."""
        import torch
        import torch.nn.functional as F

        from latal._torch import training_batches

        t0 = time.perf_counter()
        labeled = torch.as_tensor(np.array(labeled, dtype=np.int64))
        y_all = torch.as_tensor(np.asarray(y, dtype=np.int64))
        n = len(self.X_)
        step = 0
        P = None
        for _ in range(self.epochs if epochs is None else int(epochs)):
            for idx in training_batches(torch.randperm(n, generator=self.gen_), self.batch_size):
                if step % self.update_interval == 0:
                    P = torch.from_numpy(target_distribution(self.q())).to(self.dev_)
                step += 1
                xb = self.X_[idx].to(self.dev_)
                z = self.encoder_(xb)
                loss = self.alpha1 * F.mse_loss(self.decoder_(z), xb)
                q = soft_assign(z, self.centroids_)
                loss = loss + self.alpha2 * F.kl_div(q.clamp_min(1e-12).log(), P[idx], reduction="batchmean")
                if self.alpha3 > 0 and len(labeled):
                    pick = torch.randint(len(labeled), (min(self.labeled_batch, len(labeled)),), generator=self.gen_)
                    zl = self.encoder_(self.X_[labeled[pick]].to(self.dev_))
                    loss = loss + self.alpha3 * clustering_contrastive_loss(
                        zl, y_all[pick].to(self.dev_), self.centroids_, self.tau, self.similarity)
                self.opt_.zero_grad()
                loss.backward()
                self.opt_.step()
        self.seconds["train"] += time.perf_counter() - t0

    def query(self, candidates: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` candidates whose cluster assignment has the highest entropy (Eq. 4)."""
        q = self.q()[candidates]
        h = -(q * np.log(np.clip(q, 1e-12, None))).sum(1)
        top = np.argpartition(-h, k - 1)[:k] if k < len(candidates) else np.arange(len(candidates))
        return np.asarray(candidates)[top[np.argsort(-h[top], kind="stable")]]

    def predict(self, x) -> np.ndarray:
        """Class = cluster (argmax q)."""
        return self.q(x).argmax(1)


class ClusterContrastive(Strategy):
    """Paper 003 as a strategy over the pool's images (``ctx.inputs``): the model is pre-trained at the
    first query and kept; before every later query it trains ``epochs`` on the labels so far."""

    needs = Needs.INPUTS | Needs.LABELS
    description = "paper 003: conv autoencoder + clustering layer + clustering contrastive loss, entropy of q"

    def __init__(self, pretrain_epochs: int = 50, epochs: int = 10, latent_dim: int = 10, alpha1: float = 1.0,
                 alpha2: float = 0.1, alpha3: float = 0.1, tau: float = 1.0, ccl: bool = True, batch_size: int = 256,
                 lr: float = 1e-3, similarity: str = "cosine", seed: int = 0, device: str = "auto"):
        self.params = dict(pretrain_epochs=pretrain_epochs, epochs=epochs, latent_dim=latent_dim, alpha1=alpha1,
                           alpha2=alpha2, alpha3=alpha3, tau=tau, ccl=ccl, batch_size=batch_size, lr=lr,
                           similarity=similarity, seed=seed,
                           device=device)
        self.model_ = None
        self._inputs = None

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        view = ctx.pool
        y = np.asarray(view.labels)[view.labeled]
        if self.model_ is None or self._inputs is not ctx.inputs:
            self.model_ = ClusterContrastiveModel(view.n_classes, **self.params).pretrain(ctx.inputs)
            self.model_.init_centroids(np.asarray(view.labeled), y)
            self._inputs = ctx.inputs
        else:
            self.model_.train_round(np.asarray(view.labeled), y)
        return self.model_.query(np.asarray(view.unlabeled), k)

    def __repr__(self) -> str:
        return "ClusterContrastive(" + ", ".join(f"{k}={v!r}" for k, v in self.params.items()) + ")"
