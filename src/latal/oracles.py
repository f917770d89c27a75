"""Oracles answer label queries: the simulated one reads ground truth."""

from __future__ import annotations

import numpy as np

from latal.exceptions import DataError, LabelError


class Oracle:
    """``label(indices) -> labels`` (class indices)."""

    def label(self, indices) -> np.ndarray:
        raise NotImplementedError


class SimulatedOracle(Oracle):
    """Answers with the known labels of the pool (a simulated experiment).

    Parameters
    ----------
    labels : int array (n,)
        Ground-truth class index of every pool item.
    """

    def __init__(self, labels):
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"oracle labels must be a 1-D integer array; got {labels.dtype} of shape {labels.shape}.")
        self.labels = labels.astype(np.int64)
        self.n_queries = 0

    def label(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.labels.shape[0]):
            raise LabelError(f"query for item {int(idx.max())} outside a pool of {self.labels.shape[0]}.")
        self.n_queries += int(idx.size)
        return self.labels[idx]
