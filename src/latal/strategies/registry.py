"""Every strategy under a short name. ``make_strategy("margin:gamma=0.5,repr=density_cosine")``.

The uncertainty entries (``least_confident``, ``margin``, ``entropy`` and their presets) all take
the same parameters, so any thesis combination is one spec away:

- ``repr``: a representativeness measure (``density_cosine``, ``density_euclidean``,
  ``density_sqeuclidean``, ``density_jdiv``, ``kl_to_prior``, ``distance_to_origin``,
  ``sq_distance_to_origin``), mixed in by ``gamma``;
- ``batch``: ``topk``, ``partitions`` or ``greedy`` (with ``alpha``, ``beta``, ``distance``);
- ``subsample``: a fraction of the unlabeled pool scored each round (0 or 1 = all of it).
"""

from __future__ import annotations

from latal.registry import Registry
from latal.strategies.base import Strategy
from latal.strategies.badge import BADGE
from latal.strategies.batchbald import BatchBALD
from latal.strategies.bayesian import MCDropout
from latal.strategies.cluster_margin import ClusterMargin
from latal.strategies.clustering import DBSCANSampler, KMeansSampler, MeanShiftSampler
from latal.strategies.coreset import CoreSet
from latal.strategies.dfal import DFAL
from latal.strategies.discriminative import DiscriminativeAL
from latal.strategies.egl import EGL
from latal.strategies.batch import BATCH_RULES, GreedyDiversity, Subsample
from latal.strategies.informativeness import Informativeness
from latal.strategies.random import RandomSampling
from latal.strategies.representativeness import REPRESENTATIVENESS
from latal.strategies.seals import SEALS
from latal.strategies.typical import MaxHerding, ProbCover, TypiClust
from latal.strategies.uncertainty import UNCERTAINTY
from latal.strategies.vaal import VAAL

STRATEGIES: Registry = Registry("strategy", "strategies")


def _pick(table: dict, name: str, what: str):
    key = str(name).lower().replace("-", "_")
    if key not in table:
        raise ValueError(f"unknown {what} {name!r}; use one of {sorted(table)}.")
    return table[key]


def informativeness(uncertainty: str | None = "margin", repr: str | None = None, gamma: float | None = None,
                    batch: str = "topk", subsample: float | None = None, alpha: float = 0.5, beta: float = 0.0,
                    distance: str = "euclidean", description: str = "") -> Informativeness:
    """Build an :class:`Informativeness` strategy from plain values (what specs and configs hold)."""
    measure = _pick(UNCERTAINTY, uncertainty, "uncertainty measure")() if uncertainty else None
    rep = _pick(REPRESENTATIVENESS, repr, "representativeness measure")() if repr else None
    rule_cls = _pick(BATCH_RULES, batch, "batch rule")
    rule = rule_cls(alpha=alpha, beta=beta, distance=distance) if rule_cls is GreedyDiversity else rule_cls()
    if subsample is not None and 0.0 < float(subsample) < 1.0:
        rule = Subsample(float(subsample), rule)
    elif subsample is not None and float(subsample) not in (0.0, 1.0):
        raise ValueError(f"subsample must be a fraction in (0, 1] (or 0 for none); got {subsample}.")
    return Informativeness(measure, rep, gamma, rule, description=description)


def _entry(name: str, description: str, **defaults) -> None:
    def factory(**params):
        return informativeness(**{**defaults, **params, "description": description})

    factory.__signature__ = __import__("inspect").signature(informativeness)
    STRATEGIES.register(name, factory, description)


STRATEGIES.register("random", RandomSampling, RandomSampling.description)
for _m in ("least_confident", "margin", "entropy"):
    _entry(_m, f"{_m.replace('_', ' ')} uncertainty, top-k", uncertainty=_m)
_entry("margin_partitions", "margin, random partitions of the pool", batch="partitions")
_entry("margin_subsample", "margin, 10% subsample, random partitions (thesis's best, section 5.4)",
       batch="partitions", subsample=0.1)
_entry("margin_subsample_topk", "margin, 10% subsample, top-k", subsample=0.1)
for _d in ("euclidean", "cosine", "sqeuclidean", "jdiv"):
    _entry(f"margin_greedy{'' if _d == 'euclidean' else '_' + _d}",
           f"margin, 1% subsample, greedy diversity (alpha 0.5, {_d} distance)",
           batch="greedy", subsample=0.01, distance=_d)
for _r in REPRESENTATIVENESS:
    _entry(f"margin_{_r}", f"0.5 margin + 0.5 {_r.replace('_', ' ')}, 10% subsample, random partitions",
           repr=_r, gamma=0.5, batch="partitions", subsample=0.1)
STRATEGIES.register(
    "density", lambda metric="cosine", batch="topk", subsample=None: informativeness(
        uncertainty=None, repr=f"density_{metric}", batch=batch, subsample=subsample,
        description="most representative items (no learner needed)"),
    "representativeness alone (cosine density): needs no labels",
)


# the other papers' strategies (issue: paper 000 clustering, Core-Set, EGL, MC dropout, DAL, DFAL)
STRATEGIES.register("dbscan", DBSCANSampler, DBSCANSampler.description)
STRATEGIES.register("kmeans", KMeansSampler, KMeansSampler.description)
STRATEGIES.register("meanshift", MeanShiftSampler, MeanShiftSampler.description)
STRATEGIES.register("coreset", CoreSet, CoreSet.description)
STRATEGIES.register("coreset_robust", CoreSet, "Core-Set, robust variant: 1% of the unlabeled pool may stay outliers",
                    outlier_fraction=0.01)
STRATEGIES.register("egl", EGL, EGL.description)
for _acq in ("bald", "max_entropy", "variation_ratio"):
    STRATEGIES.register(_acq, MCDropout, f"MC dropout (T=20), {_acq.replace('_', ' ')}, top-k", acquisition=_acq)
STRATEGIES.register("bayesian", MCDropout, "paper 000's Bayesian baseline: MC dropout (T=20), least confident mean prediction",
                    acquisition="least_confident")
STRATEGIES.register("dal", DiscriminativeAL, DiscriminativeAL.description)
STRATEGIES.register("dfal", DFAL, DFAL.description)


# what the best libraries have that the papers do not (issue 10)
STRATEGIES.register("badge", BADGE, BADGE.description)
STRATEGIES.register("batchbald", BatchBALD, BatchBALD.description)
STRATEGIES.register("cluster_margin", ClusterMargin, ClusterMargin.description)
STRATEGIES.register("vaal", VAAL, VAAL.description)
STRATEGIES.register("typiclust", TypiClust, TypiClust.description)
STRATEGIES.register("probcover", ProbCover, ProbCover.description)
STRATEGIES.register("maxherding", MaxHerding, MaxHerding.description)
STRATEGIES.register("seals", SEALS, "SEALS: a base strategy (default margin) over the labeled items' nearest neighbours")


def make_strategy(spec: str, **overrides) -> Strategy:
    """Build a strategy from a spec such as ``margin`` or ``margin:repr=kl_to_prior,gamma=0.7``."""
    return STRATEGIES.build(spec, **overrides)

from latal.strategies.cluster_contrastive import ClusterContrastive  # noqa: E402

STRATEGIES.register("cluster_contrastive", ClusterContrastive, ClusterContrastive.description)

from latal.strategies.dual import DUAL, KMeansCentroids  # noqa: E402

STRATEGIES.register("dual", DUAL, DUAL.description)
STRATEGIES.register("kmeans_centroids", KMeansCentroids, KMeansCentroids.description)
