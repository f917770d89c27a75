"""Memoising quantities that depend on a latent matrix only (densities, clusters, neighbour graphs),
keyed by the array a chain of numpy views was taken from: a pool's latents never change, and each
round's read-only view of them shares that root."""

from __future__ import annotations

import numpy as np


def array_root(arr: np.ndarray) -> np.ndarray:
    """The array a chain of numpy views was taken from."""
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def cached_by_array(store: dict, arr: np.ndarray, key: tuple, compute, keep: int | None = None):
    """``compute()`` once per (root of ``arr``, the part of the root ``arr`` covers, ``key``), kept in
    ``store``: every round's view of a pool shares the entry, a slice of it (``mean[:12]``) gets its own.
    The entry holds the root, so its ``id`` cannot be reused by another array while the entry lives. ``keep`` bounds the entries
    (oldest dropped first) for module-level stores."""
    root = array_root(arr)
    full_key = (*key, id(root), root.shape, arr.shape, arr.strides, arr.__array_interface__["data"][0])
    hit = store.get(full_key)
    if hit is not None and hit[0] is root:
        return hit[1]
    value = compute()
    if keep is not None:
        while len(store) >= keep:
            store.pop(next(iter(store)))
    store[full_key] = (root, value)
    return value
