"""Errors latal raises on purpose. Each message says what was wrong and what to do."""


class LatalError(Exception):
    """Base class of every error latal raises on purpose."""


class DataError(LatalError, ValueError):
    """Input data is malformed: wrong shape, NaN, a corrupt or truncated file."""


class LabelError(LatalError, ValueError):
    """A label cannot be recorded: unknown class, index out of range, already labeled."""


class EmptyPoolError(LatalError):
    """There is nothing left to select from: every pool item is labeled (or the pool is empty)."""


class BudgetExceedsPoolError(LatalError, ValueError):
    """The requested labeling budget is larger than the pool."""


class MissingRequirementError(LatalError):
    """A strategy needs something the run does not provide (a fitted learner, encoder variances, ...)."""


class DownloadError(LatalError):
    """A dataset could not be downloaded or failed its checksum."""
