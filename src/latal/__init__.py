"""latal: latent active learning.

Learn a representation of the whole unlabeled pool once (an :class:`~latal.encoders.Encoder`),
then run fast active-learning rounds in that latent space with a cheap learner.

The data flow is one-directional::

    data -> encoder.fit(pool).encode(...) -> Pool -> strategy.select(ctx, k, rng)
         -> oracle.label(indices) -> pool.add_labels(...) -> learner.fit(...)
"""

from latal.exceptions import (
    BudgetExceedsPoolError,
    DataError,
    EmptyPoolError,
    LatalError,
    MissingRequirementError,
)
from latal.pool import Pool, PoolView

__version__ = "0.1.0"

__all__ = [
    "BudgetExceedsPoolError",
    "DataError",
    "EmptyPoolError",
    "LatalError",
    "MissingRequirementError",
    "Pool",
    "PoolView",
    "__version__",
]
