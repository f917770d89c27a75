"""Nearest-neighbour indexes over a latent pool: exact (scikit-learn, brute force in chunks) or
approximate (FAISS HNSW, an optional dependency: ``pip install latal[fast]``)."""

from __future__ import annotations

import numpy as np

from latal.exceptions import MissingRequirementError

BACKENDS = ("exact", "hnsw")


class NeighborIndex:
    """k nearest pool items (Euclidean) of query points.

    Parameters
    ----------
    data : (n, d) array, the pool latents (kept by reference where the backend allows)
    backend : {"exact", "hnsw"}, default "exact"
        ``exact``: scikit-learn brute force, chunked (no build cost; a query batch costs O(n d)).
        ``hnsw``: FAISS's HNSW graph (build O(n log n) once, then queries in about O(log n)); about a
        minute to build on a million 32-d points with 2 cores, then milliseconds per query batch.
    hnsw_m, ef_search : HNSW graph degree and search breadth.
    """

    def __init__(self, data: np.ndarray, backend: str = "exact", hnsw_m: int = 32, ef_search: int = 128):
        if backend not in BACKENDS:
            raise ValueError(f"unknown neighbour index {backend!r}; use one of {BACKENDS}.")
        self.backend = backend
        self.n = int(data.shape[0])
        if backend == "exact":
            from sklearn.neighbors import NearestNeighbors

            self._nn = NearestNeighbors(algorithm="brute").fit(np.asarray(data, dtype=np.float32))
        else:
            try:
                import faiss
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise MissingRequirementError(
                    "the 'hnsw' neighbour index needs FAISS: pip install 'latal[fast]' (or faiss-cpu), "
                    "or use index=exact."
                ) from exc
            index = faiss.IndexHNSWFlat(int(data.shape[1]), int(hnsw_m))
            index.hnsw.efSearch = int(ef_search)
            for s in range(0, self.n, 1 << 18):  # add in blocks: read-only / memory-mapped pools stay uncopied
                index.add(np.ascontiguousarray(data[s : s + (1 << 18)], dtype=np.float32))
            self._faiss = index

    def query(self, X: np.ndarray, k: int, return_distance: bool = False):
        """Indices (m, min(k, n)) of the nearest pool items of each row of ``X``, nearest first (and their
        Euclidean distances with ``return_distance``)."""
        k = int(min(k, self.n))
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.shape[0] == 0:
            empty = np.empty((0, k), dtype=np.int64)
            return (np.empty((0, k)), empty) if return_distance else empty
        if self.backend == "exact":
            if return_distance:
                dist, idx = self._nn.kneighbors(X, n_neighbors=k, return_distance=True)
                return dist.astype(np.float64), idx.astype(np.int64)
            return self._nn.kneighbors(X, n_neighbors=k, return_distance=False).astype(np.int64)
        self._faiss.hnsw.efSearch = max(self._faiss.hnsw.efSearch, k)
        d2, idx = self._faiss.search(X, k)
        idx = idx.astype(np.int64)  # -1 where HNSW found fewer than k
        if return_distance:
            return np.sqrt(np.maximum(d2.astype(np.float64), 0.0)), idx
        return idx


    def others(self, data: np.ndarray, k: int, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
        """For every item of the indexed ``data``: its ``k`` nearest *other* items, ``(dist, idx)`` of shape
        (n, k), nearest first. The item itself is dropped (or, when duplicates push it out of the
        ``k + 1`` found, the farthest of them); ``idx`` is -1 (and ``dist`` 0) where HNSW found too few."""
        n = data.shape[0]
        k = int(min(k, n - 1))
        dist = np.zeros((n, k))
        idx = np.full((n, k), -1, dtype=np.int64)
        for s in range(0, n, chunk):
            d, i = self.query(data[s : s + chunk], k + 1, return_distance=True)
            own = i == np.arange(s, s + i.shape[0])[:, None]
            drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
            keep = np.ones_like(own)
            keep[np.arange(i.shape[0]), drop] = False
            i = i[keep].reshape(-1, k)
            dist[s : s + i.shape[0]] = np.where(i >= 0, d[keep].reshape(-1, k), 0.0)
            idx[s : s + i.shape[0]] = i
        return dist, idx


def default_backend(n: int, exact_limit: int = 200_000) -> str:
    """``exact`` up to ``exact_limit`` items (or without FAISS), ``hnsw`` above: an all-items k-NN query is
    O(n^2) exact (hours at a million items) and about O(n log n) through HNSW."""
    if n <= exact_limit:
        return "exact"
    try:
        import faiss  # noqa: F401
    except ImportError:
        return "exact"
    return "hnsw"
