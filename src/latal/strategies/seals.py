"""SEALS-style candidate restriction (Coleman et al., AAAI 2022, "Similarity Search for Efficient Active
Learning and Search of Rare Concepts"): score only the unlabeled nearest neighbours of the labeled set.

The candidate set starts as the k nearest neighbours of the labeled items and grows by the neighbours
of each newly labeled item, looked up once through a nearest-neighbour index built once per pool.
A round's scoring therefore costs O(|labeled| k) instead of O(pool).
"""

from __future__ import annotations

import numpy as np

from latal.neighbors import NeighborIndex
from latal.pool import PoolView
from latal.strategies.base import Needs, QueryContext, Strategy


def _readonly(a):
    if a is None:
        return None
    a = np.asarray(a)
    a.flags.writeable = False
    return a


class SEALS(Strategy):
    """Wrap ``base`` so that it only sees the unlabeled k-nearest neighbours of the labeled items.

    Parameters
    ----------
    base : str or Strategy, default "margin"
        The strategy run over the candidates (a registered name or spec without commas, or an instance).
    n_neighbors : int, default 100
        Neighbours added per labeled item (the SEALS paper's k = 100).
    index : {"exact", "hnsw"}, default "exact"
        Nearest-neighbour backend (see :class:`latal.neighbors.NeighborIndex`).

    When fewer than the batch's worth of candidates exist, the rest of the batch is drawn at random from
    the unlabeled pool (and those items' neighbours join the candidates once they are labeled).
    """

    description = "SEALS: the base strategy (margin) restricted to the labeled items' 100 nearest neighbours"

    def __init__(self, base="margin", n_neighbors: int = 100, index: str = "exact"):
        from latal.strategies.registry import make_strategy

        self.base = make_strategy(base) if isinstance(base, str) else base
        if int(n_neighbors) < 1:
            raise ValueError(f"n_neighbors must be a positive integer; got {n_neighbors}.")
        self.n_neighbors = int(n_neighbors)
        self.index = index
        self.needs = self.base.needs | Needs.LABELS
        self.description = f"SEALS({self.base!r}): scores only the labeled items' {self.n_neighbors} nearest neighbours"

    def check_setup(self, *, variational: bool, learner=None) -> None:
        self.base.check_setup(variational=variational, learner=learner)

    def candidates(self, ctx: QueryContext) -> np.ndarray:
        """The unlabeled neighbours of the labeled set (updated incrementally across rounds)."""
        view = ctx.pool
        index = ctx.pool_cached(("seals_index", self.index), lambda: NeighborIndex(view.mean, self.index))
        state = ctx.pool_cached(("seals_state", self.index, self.n_neighbors),
                                lambda: {"expanded": np.zeros(view.n, bool), "candidate": np.zeros(view.n, bool)})
        labeled = np.asarray(view.labeled)
        new = labeled[~state["expanded"][labeled]]
        if new.size:
            nbrs = index.query(view.mean[new], self.n_neighbors + 1).ravel()
            state["candidate"][nbrs[nbrs >= 0]] = True
            state["expanded"][new] = True
        cand = state["candidate"]
        cand[labeled] = False
        return np.flatnonzero(cand)

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        view = ctx.pool
        cand = self.candidates(ctx)
        self.last_info_ = {"candidates": int(cand.size)}
        if cand.size <= k:
            rest = np.setdiff1d(np.asarray(view.unlabeled), cand, assume_unique=True)
            return np.concatenate([cand, rng.choice(rest, size=k - cand.size, replace=False)])
        labeled = np.asarray(view.labeled)
        sub = np.concatenate([labeled, cand])
        order = np.argsort(sub, kind="stable")
        sub = sub[order]
        labels = np.asarray(view.labels[sub])
        positions = np.arange(sub.size)
        inner = PoolView(
            mean=_readonly(view.mean[sub]),
            log_var=None if view.log_var is None else _readonly(view.log_var[sub]),
            labels=_readonly(labels), labeled=_readonly(positions[labels != -1]),
            unlabeled=_readonly(positions[labels == -1]), n_classes=view.n_classes, class_names=view.class_names,
        )
        inner_ctx = QueryContext(pool=inner, learner=ctx.learner, encoder=ctx.encoder,
                                 inputs=None if ctx.inputs is None else ctx.inputs[sub], timings=ctx.timings,
                                 learner_mean=None if ctx.learner_mean is None else ctx.learner_mean[sub])
        return sub[self.base.select(inner_ctx, k, rng)]

    def __repr__(self) -> str:
        return f"SEALS({self.base!r}, n_neighbors={self.n_neighbors}, index={self.index!r})"
