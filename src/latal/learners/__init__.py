"""Learners fit on labeled latents and give class probabilities. ``LEARNERS`` maps short names."""

from latal.learners.base import Learner
from latal.learners.mlp import MLPClassifier
from latal.learners.semi import LabelSpreading, PoissonLearning, SelfTraining
from latal.learners.student import CNNStudent
from latal.learners.sklearn import SklearnLearner, logistic_regression, random_forest
from latal.registry import Registry

LEARNERS: Registry = Registry("learner")
LEARNERS.register("mlp", MLPClassifier, "thesis MLP: hidden (512, 512), dropout 0.2, RMSprop, batch 100, 20 epochs")
LEARNERS.register("logistic", logistic_regression, "scikit-learn logistic regression")
LEARNERS.register("random_forest", random_forest, "scikit-learn random forest (100 trees)")
LEARNERS.register("label_spreading", LabelSpreading,
                  "label spreading over the pool's 10-NN graph (uses the unlabeled pool; kNN vote for new points)")
LEARNERS.register("poisson", PoissonLearning,
                  "Poisson learning over the pool's 10-NN graph (Calder et al. 2020; robust at one label per class; "
                  "mbo=20: Poisson MBO, equal class shares or class_priors)")
LEARNERS.register("self_training", SelfTraining,
                  "MLP (5 epochs) on labels + label-spreading pseudo-labels with confidence >= 0.9 (uses the pool)")
LEARNERS.register("cnn_student", CNNStudent,
                  "small CNN on the pool's images: labels + Poisson-learning pseudo-labels (uses pool and images)")


def make_learner(spec: str, **overrides) -> Learner:
    """Build a learner from a spec such as ``mlp`` or ``mlp:hidden=256x256,epochs=30``."""
    return LEARNERS.build(spec, **overrides)


__all__ = ["CNNStudent", "LEARNERS", "LabelSpreading", "Learner", "MLPClassifier", "PoissonLearning", "SelfTraining", "SklearnLearner", "make_learner"]
