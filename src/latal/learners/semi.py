"""Learners that use the unlabeled pool: label spreading over a k-nearest-neighbour graph of the
latents, and self-training of the MLP with confident pseudo-labels.

They declare ``uses_pool = True``; the loop then calls ``fit(Z, y, n_classes=..., pool=view)`` with the
round's :class:`~latal.pool.PoolView` (latents and labels of every item). ``Z, y`` stay the labeled
data, so every strategy and evaluation works unchanged.
"""

from __future__ import annotations

import numpy as np

from latal._memo import cached_by_array
from latal.exceptions import DataError
from latal.learners.base import Learner

#: kNN graphs of recent pools, keyed by the latent matrix they were built on (rounds share one graph)
_GRAPHS: dict = {}


def knn_graph(X: np.ndarray, n_neighbors: int = 10, index: str = "auto", chunk: int = 65536):
    """Symmetric sparse affinity matrix of the k-nearest-neighbour graph of ``X`` with self-tuning Gaussian
    weights ``exp(-d_ij^2 / (s_i s_j))``, ``s_i`` the distance to i's k-th neighbour (Zelnik-Manor &
    Perona, 2004). Built once per latent matrix and cached (rounds of a loop share it). Returns
    ``(W, index)``: the affinities (CSR, zero diagonal) and the neighbour index, reused for prediction."""
    import scipy.sparse as sp

    from latal.neighbors import NeighborIndex, default_backend

    def build():
        n = X.shape[0]
        k = int(min(n_neighbors, n - 1))
        nn = NeighborIndex(X, default_backend(n) if index == "auto" else index)
        dist, idx = nn.others(X, k, chunk)
        valid = idx >= 0
        scale = np.maximum(dist[:, -1], 1e-12)
        w = np.exp(-(dist ** 2) / (scale[:, None] * scale[np.where(valid, idx, 0)]))
        rows = np.repeat(np.arange(n), k)
        W = sp.csr_matrix((w[valid], (rows[valid.ravel()], idx[valid])), shape=(n, n))
        W = W.maximum(W.T).tocsr()  # symmetric: an edge if either end lists the other
        W.setdiag(0)
        W.eliminate_zeros()
        return W, nn

    return cached_by_array(_GRAPHS, X, (int(n_neighbors), index), build, keep=2)


def spread_labels(W, labels: np.ndarray, n_classes: int, alpha: float = 0.99, max_iter: int = 100,
                  tol: float = 1e-5) -> np.ndarray:
    """Label spreading (Zhou et al., NIPS 2003): iterate ``F <- alpha S F + (1 - alpha) Y`` with
    ``S = D^-1/2 W D^-1/2`` and ``Y`` the one-hot labels (``-1`` = unlabeled), each class's seeds
    weighted by the inverse of its label count so a class with many labels does not flood the graph.
    Returns row-normalised class distributions (n, n_classes)."""
    import scipy.sparse as sp

    n = W.shape[0]
    deg = np.asarray(W.sum(axis=1)).ravel()
    inv = 1.0 / np.sqrt(np.maximum(deg, 1e-12))
    S = sp.diags(inv) @ W @ sp.diags(inv)
    Y = np.zeros((n, n_classes))
    lab = np.flatnonzero(labels >= 0)
    counts = np.bincount(labels[lab], minlength=n_classes).astype(float)
    Y[lab, labels[lab]] = 1.0 / np.maximum(counts[labels[lab]], 1.0)
    F = Y.copy()
    for _ in range(int(max_iter)):
        new = alpha * (S @ F) + (1.0 - alpha) * Y
        done = np.abs(new - F).max() < tol * max(np.abs(new).max(), 1e-300)
        F = new
        if done:
            break
    F = np.maximum(F, 0.0)
    F /= np.maximum(F.sum(axis=1, keepdims=True), 1e-300)
    empty = F.sum(axis=1) == 0  # nodes no label reaches: uniform
    F[empty] = 1.0 / n_classes
    return F


class LabelSpreading(Learner):
    """Transductive label spreading over the pool's kNN graph, with an inductive step for new points
    (a weighted vote of their nearest pool items).

    Parameters
    ----------
    n_neighbors : int, default 10
        Graph degree (the graph is built once per pool and reused across rounds).
    alpha : float, default 0.99
        Weight of the graph against the seeds (Zhou et al.'s usual setting).
    predict_neighbors : int, default 10
        Pool items voting for a point outside the pool.
    index : {"auto", "exact", "hnsw"}, default "auto"
    """

    uses_pool = True

    def __init__(self, n_neighbors: int = 10, alpha: float = 0.99, max_iter: int = 100,
                 predict_neighbors: int = 10, index: str = "auto"):
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.max_iter = max_iter
        self.predict_neighbors = predict_neighbors
        self.index = index

    def fit(self, Z, y, n_classes: int | None = None, pool=None) -> LabelSpreading:
        Z, y, n_classes = self._check_fit_input(Z, y, n_classes)
        if not 0.0 < float(self.alpha) < 1.0:
            raise ValueError(f"alpha must lie in (0, 1); got {self.alpha}.")
        if pool is None:  # no pool given: spread over the labeled points themselves
            X, labels = Z, y
        else:
            X, labels = pool.mean, np.asarray(pool.labels)
            if X.shape[1] != Z.shape[1]:
                raise DataError(f"the pool's latents have {X.shape[1]} dimensions; the labeled ones {Z.shape[1]}.")
        W, index = knn_graph(X, int(self.n_neighbors), self.index)
        self.distributions_ = spread_labels(W, labels, n_classes, float(self.alpha), int(self.max_iter))
        self.index_ = index
        self.pool_size_ = X.shape[0]
        self.n_classes_ = n_classes
        self.n_features_ = Z.shape[1]
        self.classes_ = np.arange(n_classes)
        return self

    def transductive_proba(self) -> np.ndarray:
        """The spread class distributions of the pool items, in pool order."""
        return self.distributions_

    def predict_proba(self, Z) -> np.ndarray:
        Z = self._check_predict_input(Z)
        k = int(min(self.predict_neighbors, self.pool_size_))
        out = np.empty((Z.shape[0], self.n_classes_))
        for s in range(0, Z.shape[0], 65536):
            d, i = self.index_.query(Z[s : s + 65536], k, return_distance=True)
            scale = np.maximum(d[:, -1:], 1e-12)
            w = np.exp(-(d / scale) ** 2) * (i >= 0)
            p = np.einsum("mk,mkc->mc", w, self.distributions_[np.maximum(i, 0)])
            out[s : s + 65536] = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)
        return out


class SelfTraining(Learner):
    """Self-training: fit a base learner on the labels, pseudo-label the unlabeled pool items it is
    confident about, refit on labels + pseudo-labels, repeat.

    Parameters
    ----------
    base : str, default "mlp:epochs=5"
        The learner trained on labels and pseudo-labels (a registered spec; 5 epochs, since the
        pseudo-labeled set is the size of the pool).
    teacher : {"self", "label_spreading"}, default "label_spreading"
        Who proposes the pseudo-labels in the first iteration: the base learner itself (classic
        self-training) or label spreading over the pool's kNN graph.
    threshold : float, default 0.9
        Minimum confidence of a pseudo-label.
    iterations : int, default 1
        Refits; from the second on, the base learner's own predictions propose the pseudo-labels.
    max_pseudo : int or None
        Keep at most this many pseudo-labels (the most confident).
    random_state : int or None
    """

    uses_pool = True

    def __init__(self, base: str = "mlp:epochs=5", teacher: str = "label_spreading", threshold: float = 0.9,
                 iterations: int = 1, max_pseudo: int | None = None, random_state: int | None = None):
        self.base = base
        self.teacher = teacher
        self.threshold = threshold
        self.iterations = iterations
        self.max_pseudo = max_pseudo
        self.random_state = random_state

    def _base(self, seed):
        from latal.learners import make_learner

        learner = make_learner(self.base)
        if "random_state" in learner.get_params():
            learner.set_params(random_state=seed)
        return learner

    def fit(self, Z, y, n_classes: int | None = None, pool=None) -> SelfTraining:
        Z, y, n_classes = self._check_fit_input(Z, y, n_classes)
        if self.teacher not in ("self", "label_spreading"):
            raise ValueError(f"teacher must be 'self' or 'label_spreading'; got {self.teacher!r}.")
        rng = np.random.default_rng(self.random_state)
        seed = lambda: int(rng.integers(2**31))  # noqa: E731
        if pool is None:
            self.model_ = self._base(seed()).fit(Z, y, n_classes=n_classes)
            self.n_pseudo_ = 0
        else:
            unl = np.asarray(pool.unlabeled)
            if self.teacher == "label_spreading":
                proba = LabelSpreading().fit(Z, y, n_classes, pool=pool).transductive_proba()[unl]
            else:
                proba = self._base(seed()).fit(Z, y, n_classes=n_classes).predict_proba(pool.mean[unl])
            for it in range(max(1, int(self.iterations))):
                conf = proba.max(axis=1)
                take = np.flatnonzero(conf >= float(self.threshold))
                if self.max_pseudo is not None and take.size > int(self.max_pseudo):
                    take = take[np.argsort(-conf[take], kind="stable")[: int(self.max_pseudo)]]
                Zs = np.concatenate([Z, np.asarray(pool.mean[unl[take]])])
                ys = np.concatenate([y, proba[take].argmax(axis=1)])
                self.model_ = self._base(seed()).fit(Zs, ys, n_classes=n_classes)
                self.n_pseudo_ = int(take.size)
                if it + 1 < int(self.iterations):
                    proba = self.model_.predict_proba(pool.mean[unl])
        self.n_classes_ = n_classes
        self.n_features_ = Z.shape[1]
        self.classes_ = np.arange(n_classes)
        return self

    def predict_proba(self, Z) -> np.ndarray:
        Z = self._check_predict_input(Z)
        return self.model_.predict_proba(Z)
