"""The Strategy contract: ``select(ctx, k, rng) -> int64 pool indices``, never a labeled one."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Flag, auto

import numpy as np

from latal._memo import cached_by_array
from latal._validation import as_rng, check_finite, check_k
from latal.exceptions import DataError, EmptyPoolError, MissingRequirementError
from latal.pool import PoolView


class Needs(Flag):
    """What a strategy reads besides the latent means, so a loop can refuse an impossible
    combination before any training."""

    NOTHING = 0
    LEARNER = auto()    # a fitted learner's predict_proba
    LOG_VAR = auto()    # encoder variances (variational encoders)
    SAMPLING = auto()   # learner.predict_proba_samples (MC dropout)
    INPUTS = auto()     # the raw items
    LABELS = auto()     # at least one labeled item (not usable as the cold-start strategy)


@dataclass
class QueryContext:
    """Everything a strategy may read in one round. Strategies never mutate it (``cache`` aside,
    which holds pool-level quantities that do not change between rounds, such as densities)."""

    pool: PoolView
    learner: object | None = None
    encoder: object | None = None
    inputs: np.ndarray | None = None
    cache: dict = field(default_factory=dict)
    #: seconds a strategy spent on named phases (``"score"``), read by the loop's history
    timings: dict = field(default_factory=dict)
    #: rows of latents gathered per call to the learner (bounds the copy ``mean[indices]`` on big pools)
    chunk_rows: int = 1 << 18
    #: the pool as the learner reads it, when learners and strategies see different representations
    #: (``learn_on`` of an experiment); None: the learner reads :attr:`pool`'s ``mean`` like the strategies
    learner_mean: np.ndarray | None = None

    @property
    def learner_rows(self) -> np.ndarray:
        """The pool items' rows in the learner's representation (what :meth:`predict_proba` feeds it)."""
        return self.pool.mean if self.learner_mean is None else self.learner_mean

    def predict_proba(self, indices: np.ndarray) -> np.ndarray:
        """The learner's class probabilities for pool items ``indices`` (checked finite, rows sum to 1)."""
        if self.learner is None:
            raise MissingRequirementError("no fitted learner in this round; label an initial batch first.")
        indices = np.asarray(indices)
        proba = None
        for s in range(0, indices.size, self.chunk_rows):  # gather rows a block at a time: no pool-sized copy
            part = np.asarray(self.learner.predict_proba(self.learner_rows[indices[s : s + self.chunk_rows]]),
                              dtype=np.float64)
            if proba is None:
                proba = np.empty((indices.size, *part.shape[1:]))
            if part.shape[0] != min(self.chunk_rows, indices.size - s):
                return self._checked(part, indices.size)  # a malformed answer: report it
            proba[s : s + part.shape[0]] = part
        if proba is None:
            proba = np.empty((0, self.pool.n_classes))
        return self._checked(proba, len(indices))

    def proba_and_features(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and the features the learner's softmax layer reads (float32): the MLP's last hidden
        layer in the same forward pass, or the latents themselves for a linear learner."""
        learner = self.learner
        if hasattr(learner, "predict_proba_embed"):
            proba, feats = learner.predict_proba_embed(self.learner_rows[indices])
            return self._checked(proba, len(indices)), feats
        proba = self.predict_proba(indices)
        z = self.learner_rows[indices]
        feats = learner.embed(z) if hasattr(learner, "embed") else z
        return proba, np.asarray(feats, dtype=np.float32)

    def _checked(self, proba, n: int) -> np.ndarray:
        if proba.shape != (n, self.pool.n_classes):
            raise DataError(
                f"the learner returned probabilities of shape {proba.shape}; expected "
                f"({n}, {self.pool.n_classes}). Fit it with n_classes={self.pool.n_classes}."
            )
        if not np.isfinite(proba).all():
            raise DataError("the learner returned NaN or infinite probabilities; check its training data.")
        return proba

    def pool_cached(self, key: tuple, compute):
        """``compute()`` once per pool latent matrix (the same array across the rounds of a run), kept in
        :attr:`cache` under ``key``. For quantities that depend on the latents only (densities, clusters,
        neighbour indexes)."""
        return cached_by_array(self.cache, self.pool.mean, key, compute)


def subsample_unlabeled(ctx: QueryContext, size: int | None, k: int, rng: np.random.Generator) -> np.ndarray:
    """The unlabeled pool indices, or a sorted random ``max(k, size)`` of them when ``size`` is smaller
    (strategies whose scoring is too costly for the whole pool: BADGE, MC dropout, BatchBALD)."""
    cand = np.asarray(ctx.pool.unlabeled)
    if size is not None and size < cand.size:
        cand = np.sort(rng.choice(cand, size=max(k, size), replace=False))
    return cand


def validate_view(view: PoolView, ctx: QueryContext | None = None) -> None:
    """Shapes and finiteness of a pool view (strategies may be handed views not built by ``Pool``).
    With ``ctx``, the finiteness scan of a latent matrix runs once per matrix and run (the latents of a
    pool never change; the scan is O(n d))."""
    mean = view.mean
    if mean.ndim != 2:
        raise DataError(f"pool latents must be 2-D (n, d); got shape {mean.shape}.")
    if view.labels.shape != (mean.shape[0],):
        raise DataError(f"pool labels have shape {view.labels.shape}; expected ({mean.shape[0]},).")
    if view.log_var is not None and view.log_var.shape != mean.shape:
        raise DataError(f"pool log_var shape {view.log_var.shape} does not match the latents' {mean.shape}.")
    for name, arr in (("latent mean", mean), ("latent log_var", view.log_var)):
        if arr is None:
            continue
        def scan(arr=arr, name=name):
            try:
                check_finite(arr, f"pool {name}")
            except DataError as exc:
                raise DataError(f"{exc} Re-encode the data.") from None
            return True

        if ctx is None:
            scan()
        else:
            cached_by_array(ctx.cache, arr, ("_finite",), scan)


class Strategy:
    """Base class of every query strategy.

    Subclasses set :attr:`needs` and implement :meth:`_select`, which may assume that
    ``1 <= k < len(ctx.pool.unlabeled)`` and that the requirements are met.
    """

    needs: Needs = Needs.NOTHING
    #: one line for ``latal strategies``
    description: str = ""

    def check_setup(self, *, variational: bool, learner=None) -> None:
        """Refuse, before any training, a combination that cannot work."""
        if Needs.LOG_VAR in self.needs and not variational:
            raise MissingRequirementError(
                f"{self!r} needs latent variances (log_var), but the encoder is not variational. "
                "Use a VAE encoder, or a measure that reads only the latent means."
            )
        if Needs.SAMPLING in self.needs and learner is not None and not getattr(learner, "supports_sampling", False):
            raise MissingRequirementError(
                f"{self!r} needs Monte-Carlo samples (predict_proba_samples); {type(learner).__name__} has none. "
                "Use the mlp learner."
            )

    def select(self, ctx: QueryContext, k: int, rng=None) -> np.ndarray:
        """Choose ``k`` unlabeled pool indices (all remaining ones when fewer than ``k`` are left).

        Raises
        ------
        ValueError
            ``k`` is not a positive integer.
        EmptyPoolError
            Every pool item is labeled already.
        MissingRequirementError
            The strategy needs a learner, variances or samples the context lacks.
        DataError
            The pool view is malformed (wrong shapes, NaN).
        """
        k = check_k(k)
        view = ctx.pool
        if ctx.cache.get("_validated_view") is not view:
            validate_view(view, ctx)
            ctx.cache["_validated_view"] = view
        unlabeled = np.asarray(view.unlabeled, dtype=np.int64)
        if unlabeled.size == 0:
            raise EmptyPoolError(
                f"the pool of {view.n} items has no unlabeled item left to select; "
                "stop the loop or add items to the pool."
            )
        self.check_setup(variational=view.log_var is not None, learner=ctx.learner)
        if Needs.LEARNER in self.needs and ctx.learner is None:
            raise MissingRequirementError(
                f"{self!r} needs a fitted learner, and no label exists yet; start with a batch chosen "
                "without labels (e.g. the 'random' strategy)."
            )
        if Needs.LABELS in self.needs and view.labeled.size == 0:
            raise MissingRequirementError(
                f"{self!r} needs at least one labeled item; start with a batch chosen without labels "
                "(e.g. the 'random' strategy)."
            )
        if Needs.INPUTS in self.needs and ctx.inputs is None:
            raise MissingRequirementError(
                f"{self!r} reads the raw items (images), and the query context has none; pass inputs= "
                "(latal run does, from the dataset)."
            )
        if Needs.INPUTS in self.needs and len(ctx.inputs) != view.n:
            raise DataError(f"the context holds {len(ctx.inputs)} raw items for a pool of {view.n}.")
        if k >= unlabeled.size:
            return unlabeled.copy()
        chosen = np.asarray(self._select(ctx, k, as_rng(rng)), dtype=np.int64)
        if chosen.shape != (k,) or np.unique(chosen).size != k or (view.labels[chosen] != -1).any():
            raise AssertionError(f"{self!r} broke the strategy contract: {chosen!r}")
        return chosen

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__ + "()"
