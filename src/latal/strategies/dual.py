"""Zero-label selection: DUAL (Li et al., "On Deep Unsupervised Active Learning", IJCAI 2020; paper 002)
and the k-means-centroid baseline.

DUAL learns a nonlinear latent space with an encoder-decoder (three fully connected layers each way,
ReLU) and, at the junction, a selection block of two bias-free linear maps:

* Q (n x n, zero diagonal) reconstructs every latent code from the others: ||Z - ZQ||_F^2 + lambda ||Q||_{2,1};
* P (n x k) reconstructs the k-means centroids C of the codes: ||C - ZP||_F^2 + gamma ||P||_{2,1};

and the decoder reconstructs the inputs from ZQ. Training has the paper's three stages: pre-train the
autoencoder; k-means on the codes; then everything jointly, the whole candidate set as one batch (Adam).
An item's score is the sum of the min-max normalised l2 norms of its rows of Q and P (how much the
others and the centroids use it); the top-scoring items are selected. (Z is d x n there, one column per
item; here codes are rows, so Q's rows are the columns of the n x n map applied to the codes.)

Settings the text lost (learning rate, the trade-off and cluster grids) are parameters; the defaults
are stated in :func:`dual_scores` and used in BENCHMARKS.md.
"""

from __future__ import annotations

import time

import numpy as np

from latal._validation import int_tuple
from latal.strategies.base import QueryContext, Strategy, subsample_unlabeled


def _mlp(sizes):
    import torch.nn as nn

    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def dual_scores(X, *, n_clusters: int = 10, hidden=(128, 64), latent_dim: int = 32, alpha: float = 1.0,
                beta: float = 1.0, lam: float = 1.0, gamma: float = 1.0, pretrain_epochs: int = 100,
                epochs: int = 1000, lr: float = 1e-3, batch_size: int = 128, standardize: bool = True,
                seed: int = 0, device: str = "auto") -> tuple[np.ndarray, dict]:
    """DUAL's representativeness score of every row of ``X`` (higher: select first) and what training took.

    Parameters
    ----------
    X : (n, f) array, the candidate set
    n_clusters : k of the k-means step (and the columns of P)
    hidden, latent_dim : encoder widths f -> hidden[0] -> hidden[1] -> latent_dim (three layers), mirrored by
        the decoder
    alpha, beta : weights of the Q (self-representation) and P (centroid) terms; ``beta=0`` is the paper's
        DUAL w/o ablation
    lam, gamma : weights of the l2,1 norms of Q and P
    pretrain_epochs : autoencoder pre-training (mini-batches of ``batch_size``)
    epochs : full-batch Adam steps of the joint stage (1,000: on scikit-learn's wine and iris, 300 steps
        leave Q far from converged and the selection worse than random)
    lr : Adam's learning rate in both stages (the paper's value is lost from the text)
    """
    import torch
    import torch.nn.functional as F
    from sklearn.cluster import KMeans

    from latal._torch import make_optimizer, resolve_device, seeded

    t0 = time.perf_counter()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"DUAL needs a 2-D candidate matrix with at least 2 rows; got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("DUAL's candidate matrix holds NaN or infinite values.")
    if standardize:
        X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    n, f = X.shape
    k = int(max(1, min(n_clusters, n)))
    dev = resolve_device(device)
    with seeded(seed, dev):
        enc = _mlp([f, *int_tuple(hidden), latent_dim]).to(dev)
        dec = _mlp([latent_dim, *reversed(int_tuple(hidden)), f]).to(dev)
        Xt = torch.tensor(X, dtype=torch.float32, device=dev)
        opt = make_optimizer("adam", list(enc.parameters()) + list(dec.parameters()), lr)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(int(pretrain_epochs)):                       # stage 1: the autoencoder alone
            for idx in torch.randperm(n, generator=gen).split(int(batch_size)):
                xb = Xt[idx]
                loss = F.mse_loss(dec(enc(xb)), xb)
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():                                          # stage 2: k-means on the codes
            Z0 = enc(Xt).cpu().numpy()
        C = torch.tensor(KMeans(k, n_init=10, random_state=seed).fit(Z0).cluster_centers_, dtype=torch.float32,
                         device=dev)
        A = torch.nn.Parameter(torch.full((n, n), 1e-4, device=dev))  # Z_hat = A Z, A = Q^T
        B = torch.nn.Parameter(torch.full((k, n), 1e-4, device=dev))  # C_hat = B Z, B = P^T
        off_diag = 1.0 - torch.eye(n, device=dev)
        opt = make_optimizer("adam", [*enc.parameters(), *dec.parameters(), A, B], lr)
        history = []
        for step in range(int(epochs)):                                # stage 3: jointly, one full batch
            Am = A * off_diag                                           # diag(Q) = 0
            Z = enc(Xt)
            Zq = Am @ Z
            rec = ((dec(Zq) - Xt) ** 2).sum()
            self_rep = ((Z - Zq) ** 2).sum() + lam * Am.norm(dim=0).sum()
            cent = ((C - B @ Z) ** 2).sum() + gamma * B.norm(dim=0).sum()
            loss = rec + alpha * self_rep + beta * cent
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 50 == 0 or step == int(epochs) - 1:
                history.append(float(loss.detach()))
        with torch.no_grad():
            q = (A * off_diag).norm(dim=0).cpu().numpy()               # row norms of Q
            p = B.norm(dim=0).cpu().numpy()                             # row norms of P

    def minmax(v):
        span = v.max() - v.min()
        return (v - v.min()) / span if span > 0 else np.zeros_like(v)

    score = minmax(q) + (minmax(p) if beta > 0 else 0.0)
    return score, {"seconds": time.perf_counter() - t0, "loss": history, "n_clusters": k}


class DUAL(Strategy):
    """DUAL (paper 002): zero-label selection by the self-representation and centroid coefficients of a
    selection block between an encoder and a decoder. Works without any label (a cold-start strategy).

    Runs on the pool's representation of up to ``max_candidates`` random unlabeled items (Q is n x n: one
    joint step at n = 2,500 takes about 0.1 s on this CPU, so 1,000 items by default).
    ``n_clusters`` defaults to the batch size. Other parameters: see :func:`dual_scores`.
    """

    description = "paper 002 DUAL: zero-label selection block (self-representation + k-means centroids)"

    def __init__(self, n_clusters: int | None = None, hidden=(128, 64), latent_dim: int = 32, alpha: float = 1.0,
                 beta: float = 1.0, lam: float = 1.0, gamma: float = 1.0, pretrain_epochs: int = 100,
                 epochs: int = 1000, lr: float = 1e-3, max_candidates: int = 1000, seed: int = 0,
                 device: str = "auto"):
        if n_clusters is not None and int(n_clusters) < 1:
            raise ValueError(f"n_clusters must be a positive integer; got {n_clusters!r}.")
        if int(max_candidates) < 2:
            raise ValueError(f"max_candidates must be at least 2; got {max_candidates!r}.")
        self.n_clusters = n_clusters
        self.params = dict(hidden=int_tuple(hidden), latent_dim=int(latent_dim), alpha=float(alpha),
                           beta=float(beta), lam=float(lam), gamma=float(gamma), pretrain_epochs=int(pretrain_epochs),
                           epochs=int(epochs), lr=float(lr), seed=int(seed), device=device)
        self.max_candidates = int(max_candidates)
        self.last_info_: dict | None = None

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        cand = subsample_unlabeled(ctx, self.max_candidates, k, rng)
        score, info = dual_scores(ctx.pool.mean[cand], n_clusters=self.n_clusters or k, **self.params)
        self.last_info_ = {"seconds": info["seconds"], "candidates": int(cand.size)}
        top = np.argsort(-score, kind="stable")[:k]
        return cand[top]

    def __repr__(self) -> str:
        return f"DUAL(n_clusters={self.n_clusters}, " + ", ".join(f"{a}={v!r}" for a, v in self.params.items()) + ")"


def nearest_distinct(Z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Row index of the point nearest each centre, every centre getting a different point (centres whose
    nearest point is taken get their next nearest)."""
    from sklearn.neighbors import NearestNeighbors

    m = min(len(Z), 16)
    nn = NearestNeighbors(n_neighbors=m).fit(Z)
    dist, idx = nn.kneighbors(centres)
    taken: set[int] = set()
    out = np.empty(len(centres), dtype=np.int64)
    for c in np.argsort(dist[:, 0], kind="stable"):
        free = [i for i in idx[c] if i not in taken]
        if not free:  # all 16 nearest are taken: search the whole set
            d = ((Z - centres[c]) ** 2).sum(1)
            d[list(taken)] = np.inf
            free = [int(np.argmin(d))]
        out[c] = free[0]
        taken.add(int(free[0]))
    return out


class KMeansCentroids(Strategy):
    """k-means (k = the batch size) on the unlabeled latents; the batch is the point nearest each centre.
    The classic zero-label baseline beside DUAL and random."""

    description = "zero-label baseline: k-means with k = batch, the unlabeled point nearest each centre"

    def __init__(self, n_init: int = 3, max_samples: int = 100_000):
        self.n_init = int(n_init)
        self.max_samples = int(max_samples)

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        from sklearn.cluster import KMeans

        cand = subsample_unlabeled(ctx, self.max_samples, k, rng)
        Z = np.asarray(ctx.pool.mean[cand], dtype=np.float64)
        km = KMeans(k, n_init=self.n_init, random_state=int(rng.integers(2**31 - 1))).fit(Z)
        return cand[nearest_distinct(Z, km.cluster_centers_)]

    def __repr__(self) -> str:
        return f"KMeansCentroids(n_init={self.n_init})"
