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


def poisson_sources(labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson learning's sources (Calder et al., ICML 2020): each labeled item (``labels >= 0``) is a source of
    ``e_y - c``, ``c`` the labels' class proportions. Returns ``(labeled indices, b (n, n_classes), c)``."""
    lab = np.flatnonzero(labels >= 0)
    if lab.size == 0:
        raise DataError("Poisson learning needs at least one label.")
    onehot = np.eye(n_classes)[labels[lab]]
    c = onehot.mean(axis=0)
    b = np.zeros((labels.shape[0], n_classes))
    b[lab] = onehot - c
    return lab, b, c


def poisson_potentials(W, labels: np.ndarray, n_classes: int, min_iter: int = 50, max_iter: int = 1000,
                       class_priors: np.ndarray | None = None) -> np.ndarray:
    """Poisson learning (Calder, Cook, Thorpe & Slepcev, ICML 2020, Algorithm 1): each labeled item is a
    source of ``e_y - c`` (``c`` the labels' class proportions) and the graph Poisson equation
    ``L u = b`` is solved by the random-walk iteration ``u <- u + D^-1 (b - L u)``, stopped once a walk
    started at the labels has mixed (at most ``max_iter`` steps). Unlike label spreading it does not
    flatten to a constant far from the few labels, which is where very low label rates fail. Class
    ``j``'s potential is then scaled by ``prior_j / c_j`` (the paper's balancing for labels that are not
    spread evenly over the classes); a class without any label gets ``-inf``. Returns ``(n, n_classes)``."""
    import scipy.sparse as sp

    n = W.shape[0]
    lab, b, c = poisson_sources(labels, n_classes)
    deg = np.asarray(W.sum(axis=1)).ravel() + 1e-10
    P = sp.diags(1.0 / deg) @ W
    Db = b / deg[:, None]
    walk_T = (W @ sp.diags(1.0 / deg)).tocsr()
    v = np.zeros(n)
    v[lab] = 1.0 / lab.size
    v_inf = deg / deg.sum()
    u = np.zeros((n, n_classes))
    for t in range(int(max_iter)):
        if t >= int(min_iter) and np.abs(v - v_inf).max() <= 1.0 / n:
            break
        u = Db + P @ u
        v = walk_T @ v
    prior = np.full(n_classes, 1.0 / n_classes) if class_priors is None else np.asarray(class_priors, dtype=float)
    seen = c > 0
    u[:, seen] *= prior[seen] / c[seen]
    u[:, ~seen] = -np.inf
    return u


def volume_weights(scores: np.ndarray, priors: np.ndarray, weights: np.ndarray | None = None, step: float = 0.1,
                   tol: float = 1e-3, max_iter: int = 10000, patience: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Class weights ``w`` such that ``argmax_j scores_ij w_j`` puts about ``priors_j`` of the rows in class ``j``
    (Calder et al., ICML 2020, the volume constraint of Poisson MBO): ``scores`` are taken to [0, 1] by their
    minimum and maximum, then each class's weight is lowered by ``step`` times the share of rows it takes beyond
    its prior (raised if it takes fewer), until no share is off by more than ``tol``, ``max_iter`` rounds have
    run, or ``patience`` rounds have not come closer (scores that are flat over whole clusters, as on a UMAP
    graph, can make the shares jump past the priors for ever). Returns the weights that came closest and the
    scaled scores they multiply. ``weights`` warm-starts the search (the MBO iterations reuse the last ones)."""
    s = scores - scores.min()
    s = s / max(float(s.max()), 1e-300)
    k = s.shape[1]
    w = np.ones(k) if weights is None else np.array(weights, dtype=float)
    best, best_gap, since = w, np.inf, 0
    for _ in range(int(max_iter)):
        share = np.bincount(np.argmax(s * w, axis=1), minlength=k) / s.shape[0]
        gap = share - priors
        off = float(np.abs(gap).max())
        if off < best_gap:
            best, best_gap, since = w, off, 0
        else:
            since += 1
        if off <= tol or since >= int(patience):
            break
        w = np.maximum(w - step * gap, 0.0)
        w = w / w.max()
    return best, s


def poisson_mbo(W, labels: np.ndarray, n_classes: int, priors: np.ndarray, iterations: int = 20, steps: int = 40,
                mu: float = 1.0, min_iter: int = 50, max_iter: int = 1000) -> np.ndarray:
    """Poisson MBO (Calder, Cook, Thorpe & Slepcev, ICML 2020): start from Poisson learning's
    labelling, then ``iterations`` times run ``steps`` explicit steps of the graph heat equation with the Poisson
    sources as a forcing term (``u <- u - dt L u + mu dt b``, ``dt = 1 / max degree``) and threshold the result
    back to one class per item under the volume constraint (:func:`volume_weights`: each class takes ``priors``
    of the pool). Every class must have a label. Returns ``(n, n_classes)`` scores whose row maximum is the
    class; the settings default to those of the authors' code (GraphLearning: 20 iterations of 40 steps,
    ``mu`` = 1), with which their published result files reproduce here (BENCHMARKS.md, "Poisson MBO")."""
    import scipy.sparse as sp

    n = W.shape[0]
    b = poisson_sources(labels, n_classes)[1]
    u0 = poisson_potentials(W, labels, n_classes, min_iter, max_iter, priors)
    deg = np.asarray(W.sum(axis=1)).ravel()
    dt = 1.0 / max(float(deg.max()), 1e-300)
    P = (sp.identity(n, format="csr") - dt * (sp.diags(deg) - W)).tocsr()
    forcing = float(mu) * dt * b
    u, w = np.eye(n_classes)[np.argmax(u0, axis=1)], None
    for _ in range(int(iterations)):
        for _ in range(int(steps)):
            u = P @ u + forcing
        w, scaled = volume_weights(u, priors, w)
        scores = scaled * w
        u = np.eye(n_classes)[np.argmax(scores, axis=1)]
    return scores if int(iterations) > 0 else u0


PRIOR_MODES = ("uniform", "labels", "auto")


def uneven_counts(counts, level: float = 0.01, ratio: float = 2.0, draws: int = 4000) -> bool:
    """Whether class counts are uneven enough to matter and too uneven to be chance: the most common class
    has at least ``ratio`` times the count of the least common, and counts this uneven would be rare
    (p-value below ``level``) if every class were equally common. The test is a chi-square test whose null
    distribution is simulated (``draws`` multinomial samples, a fixed seed, so the same counts always give
    the same answer), exact enough at the handful of labels where the asymptotic test is not; the ratio
    keeps thousands of labels from a representative strategy, which favours dense classes a little
    (MaxHerding's 3,000 MNIST picks hold 220 to 344 of each digit), from counting as an imbalanced pool."""
    counts = np.asarray(counts, dtype=np.int64).ravel()
    n, k = int(counts.sum()), counts.size
    if n < 2 or k < 2 or counts.max() < float(ratio) * counts.min():
        return False
    expected = n / k
    stat = float(((counts - expected) ** 2).sum() / expected)
    sims = np.random.default_rng(0).multinomial(n, np.full(k, 1.0 / k), size=int(draws))
    null = ((sims - expected) ** 2).sum(axis=1) / expected
    return (1 + int((null >= stat - 1e-9).sum())) / (int(draws) + 1) < float(level)


def potentials_to_proba(u: np.ndarray, temperature: float) -> np.ndarray:
    """Class distributions from potentials: a softmax of ``u / (temperature * s)``, ``s`` the spread
    (standard deviation) of the row-centred finite potentials, so the temperature does not depend on the
    graph's size or the number of labels."""
    finite = np.isfinite(u)
    centred = np.where(finite, u - np.where(finite, u, 0.0).sum(axis=1, keepdims=True)
                       / np.maximum(finite.sum(axis=1, keepdims=True), 1), -np.inf)
    scale = float(np.std(centred[finite])) if finite.any() else 1.0
    z = centred / max(float(temperature) * scale, 1e-300)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


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
        self._check_params()
        if pool is None:  # no pool given: spread over the labeled points themselves
            X, labels = Z, y
        else:
            X, labels = pool.mean, np.asarray(pool.labels)
            if X.shape[1] != Z.shape[1]:
                raise DataError(f"the pool's latents have {X.shape[1]} dimensions; the labeled ones {Z.shape[1]}.")
        W, index = knn_graph(X, int(self.n_neighbors), self.index)
        self.distributions_ = self._propagate(W, labels, n_classes)
        self.index_ = index
        self.pool_size_ = X.shape[0]
        self.n_classes_ = n_classes
        self.n_features_ = Z.shape[1]
        self.classes_ = np.arange(n_classes)
        return self

    def _check_params(self) -> None:
        if not 0.0 < float(self.alpha) < 1.0:
            raise ValueError(f"alpha must lie in (0, 1); got {self.alpha}.")

    def _propagate(self, W, labels: np.ndarray, n_classes: int) -> np.ndarray:
        return spread_labels(W, labels, n_classes, float(self.alpha), int(self.max_iter))

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


class PoissonLearning(LabelSpreading):
    """Poisson learning over the pool's kNN graph (Calder et al., ICML 2020): labels are sources and
    sinks of a graph Poisson equation instead of fixed boundary values, which keeps very low label rates
    (one label per class) from degenerating. Same graph, inductive vote and contract as
    :class:`LabelSpreading`; class distributions are a softmax of the balanced potentials.

    Parameters
    ----------
    n_neighbors : int, default 10
    temperature : float, default 0.5
        Softmax temperature, in units of the potentials' spread (lower: more confident distributions;
        the predicted class does not depend on it).
    min_iter, max_iter : int, default 50, 1000
        Bounds on the random-walk iterations (the paper's stopping rule decides in between).
    class_priors : sequence of float, "uniform", "labels" or "auto", default None (uniform)
        Expected class proportions in the pool. Uniform suits pools whose classes are about equally
        common; "labels" takes the labels' own proportions (no rebalancing: the potentials as the labels
        left them), for imbalanced pools labeled at random or by a representative strategy; "auto" takes
        them only when the most common class has twice the labels of the least and that is too uneven to
        be chance among equal classes (:func:`uneven_counts`, p < 0.01), uniform otherwise (both trust the
        labels' proportions as the pool's, which holds for random and coverage selection such as
        TypiClust or MaxHerding, not for uncertainty sampling, whose labels crowd the confusable
        classes); a sequence gives them outright (say from a labeled random sample). The proportions a
        fit used are in ``class_priors_``.
    mbo : int, default 0
        Iterations of Poisson MBO (:func:`poisson_mbo`; the paper's graph-cut refinement, 20 in the authors'
        code): after Poisson learning, diffuse and threshold again under the constraint that each class
        takes its prior share of the pool. It uses the class sizes as knowledge, so it needs every class to
        have a label and priors that hold; when a class has no label it is not run (``mbo_applied_`` says
        whether it ran). 0: plain Poisson learning. It pays at about one label per class drawn at random (test
        accuracy +3.6 points on MNIST, +2.0 on Fashion-MNIST over 10 draws, as the paper found) and costs at
        ten per class or after a coverage selection such as MaxHerding (-0.5 to -4.4 points; BENCHMARKS.md,
        "Poisson MBO"), hence off by default and in the presets.
    mbo_steps, mbo_mu : int, float, default 40, 1.0
        Heat-equation steps per MBO iteration and the weight of the label sources in them (the authors' code's).
    predict_neighbors : int, default 10
    index : {"auto", "exact", "hnsw"}, default "auto"
    """

    def __init__(self, n_neighbors: int = 10, temperature: float = 0.5, min_iter: int = 50, max_iter: int = 1000,
                 class_priors=None, mbo: int = 0, mbo_steps: int = 40, mbo_mu: float = 1.0,
                 predict_neighbors: int = 10, index: str = "auto"):
        self.n_neighbors = n_neighbors
        self.temperature = temperature
        self.min_iter = min_iter
        self.max_iter = max_iter
        self.class_priors = class_priors
        self.mbo = mbo
        self.mbo_steps = mbo_steps
        self.mbo_mu = mbo_mu
        self.predict_neighbors = predict_neighbors
        self.index = index

    def _check_params(self) -> None:
        if not float(self.temperature) > 0:
            raise ValueError(f"temperature must be > 0; got {self.temperature!r}.")
        if int(self.max_iter) < 1 or int(self.min_iter) < 0:
            raise ValueError(f"max_iter must be >= 1 and min_iter >= 0; got {self.max_iter!r}, {self.min_iter!r}.")
        if isinstance(self.class_priors, str) and self.class_priors not in PRIOR_MODES:
            raise ValueError(f"class_priors must be 'uniform', 'labels', 'auto' or one positive number per class; "
                             f"got {self.class_priors!r}.")
        if int(self.mbo) < 0 or int(self.mbo_steps) < 1 or not float(self.mbo_mu) > 0:
            raise ValueError(f"mbo must be >= 0 (0: plain Poisson learning; the authors use 20), mbo_steps >= 1 and "
                             f"mbo_mu > 0; got {self.mbo!r}, {self.mbo_steps!r}, {self.mbo_mu!r}.")

    def _propagate(self, W, labels: np.ndarray, n_classes: int) -> np.ndarray:
        priors = self.class_priors
        if isinstance(priors, str):  # one of PRIOR_MODES (checked with the other parameters)
            counts = np.bincount(labels[labels >= 0], minlength=n_classes)
            use_labels = priors == "labels" or (priors == "auto" and uneven_counts(counts))
            priors = counts / max(counts.sum(), 1) if use_labels else None
        elif priors is not None:
            priors = np.asarray(priors, dtype=float).ravel()
            if priors.shape != (n_classes,) or not np.isfinite(priors).all() or (priors <= 0).any():
                raise ValueError(f"class_priors must be {n_classes} positive numbers, one per class; "
                                 f"got {self.class_priors!r}.")
            priors = priors / priors.sum()
        self.class_priors_ = np.full(n_classes, 1.0 / n_classes) if priors is None else priors
        every_class = np.bincount(labels[labels >= 0], minlength=n_classes).min() > 0
        self.mbo_applied_ = int(self.mbo) > 0 and bool(every_class)
        if self.mbo_applied_:
            u = poisson_mbo(W, labels, n_classes, self.class_priors_, int(self.mbo), int(self.mbo_steps),
                            float(self.mbo_mu), int(self.min_iter), int(self.max_iter))
        else:
            u = poisson_potentials(W, labels, n_classes, int(self.min_iter), int(self.max_iter), priors)
        return potentials_to_proba(u, float(self.temperature))


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
