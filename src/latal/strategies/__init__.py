"""Query strategies. ``STRATEGIES`` maps short names to factories; ``make_strategy`` builds from a spec."""

from latal.strategies.badge import BADGE
from latal.strategies.base import Needs, QueryContext, Strategy
from latal.strategies.batchbald import BatchBALD
from latal.strategies.cluster_margin import ClusterMargin
from latal.strategies.bayesian import MCDropout
from latal.strategies.clustering import DBSCANSampler, KMeansSampler, MeanShiftSampler
from latal.strategies.coreset import CoreSet
from latal.strategies.dfal import DFAL
from latal.strategies.discriminative import DiscriminativeAL
from latal.strategies.egl import EGL
from latal.strategies.batch import GreedyDiversity, RandomPartitions, Subsample, TopK
from latal.strategies.informativeness import Informativeness
from latal.strategies.random import RandomSampling
from latal.strategies.registry import STRATEGIES, informativeness, make_strategy
from latal.strategies.representativeness import Density, DistanceToOrigin, KLToPrior
from latal.strategies.seals import SEALS
from latal.strategies.vaal import VAAL
from latal.strategies.uncertainty import Entropy, LeastConfident, Margin, entropy, least_confident, margin

__all__ = [
    "BADGE", "BatchBALD", "ClusterMargin", "SEALS", "VAAL", "CoreSet", "DBSCANSampler", "DFAL", "DiscriminativeAL", "EGL", "KMeansSampler", "MCDropout", "MeanShiftSampler",
    "STRATEGIES", "Density", "DistanceToOrigin", "Entropy", "GreedyDiversity", "Informativeness",
    "KLToPrior", "LeastConfident", "Margin", "Needs", "QueryContext", "RandomPartitions", "RandomSampling",
    "Strategy", "Subsample", "TopK", "entropy", "informativeness", "least_confident", "make_strategy", "margin",
]
