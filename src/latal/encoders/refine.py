"""Refinements of a learned latent space: a latent -> latent map fitted on the pool's latents once
(after the encoder) and applied to every later item, e.g. UMAP of the VAE latents."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from latal._torch import threads_kept
from latal.encoders.base import Latent
from latal.exceptions import MissingRequirementError
from latal.registry import Registry

REFINERS: Registry = Registry("latent refinement")


class UMAPRefiner:
    """UMAP (McInnes et al., 2018) of the latents: a neighbour-graph embedding that pulls each class's
    manifold into a tight cluster, the step N2D (McConville et al., 2020) adds after an autoencoder.

    Parameters (N2D's for clustering)
    ----------
    n_components : int, default 10
    n_neighbors : int, default 20
    min_dist : float, default 0.0
    random_state : int, default 0
        Seeded UMAP runs single-threaded (UMAP's rule), so the same seed gives the same embedding.
    """

    def __init__(self, n_components: int = 10, n_neighbors: int = 20, min_dist: float = 0.0,
                 random_state: int = 0):
        self.n_components = int(n_components)
        self.n_neighbors = int(n_neighbors)
        self.min_dist = float(min_dist)
        self.random_state = int(random_state)

    def get_params(self) -> dict:
        return {"n_components": self.n_components, "n_neighbors": self.n_neighbors, "min_dist": self.min_dist,
                "random_state": self.random_state}

    def fit(self, Z: np.ndarray) -> UMAPRefiner:
        try:
            import umap
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingRequirementError("the umap refinement needs umap-learn: pip install 'latal[refine]'.") from exc
        # n_jobs=1 is what a seed makes UMAP use anyway; saying so spares the user its warning about it
        self.model_ = umap.UMAP(n_components=self.n_components, n_neighbors=self.n_neighbors,
                                min_dist=self.min_dist, random_state=self.random_state, n_jobs=1)
        with threads_kept():
            self.embedding_ = self.model_.fit_transform(np.asarray(Z, dtype=np.float32)).astype(np.float32)
        return self

    def transform(self, Z: np.ndarray) -> np.ndarray:
        with threads_kept():
            return self.model_.transform(np.asarray(Z, dtype=np.float32)).astype(np.float32)

    def __repr__(self) -> str:
        return f"UMAPRefiner({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"


REFINERS.register("umap", UMAPRefiner, "UMAP of the latents (10-d, 20 neighbours, min_dist 0: N2D's clustering setting)")


def refine_latents(spec: str, latent: Latent, test_latent: Latent | None, *, base_key: str | None,
                   cache_dir=None, use_cache: bool = True) -> tuple[Latent, Latent | None, dict]:
    """Fit the refinement ``spec`` on the pool latents and map pool and test latents through it; cached
    next to the encoder when the encoder was (``base_key``). The refined latents are plain (no log_var)."""
    from latal import __version__
    from latal.data.idx import default_cache_dir
    from latal.encoders.cache import fingerprint

    refiner = REFINERS.build(spec)
    t0 = time.perf_counter()
    text = json.dumps({"refine": spec, "params": refiner.get_params(), "latal": __version__,
                       "base": base_key or fingerprint(latent.mean, None if test_latent is None else test_latent.mean)},
                      sort_keys=True)
    key = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "refined" / f"{key}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path) as store:
                test = Latent(store["test"]) if "test" in store else None
                return Latent(store["pool"]), test, {"refine_seconds": time.perf_counter() - t0, "refine_cached": True}
        except Exception:  # a damaged entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    refiner.fit(latent.mean)
    pool = Latent(refiner.embedding_)
    test = Latent(refiner.transform(test_latent.mean)) if test_latent is not None else None
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    arrays = {"pool": pool.mean} | ({"test": test.mean} if test is not None else {})
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return pool, test, {"refine_seconds": seconds, "refine_cached": False}
