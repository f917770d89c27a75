"""On-disk cache of trained encoders and their latents, keyed by the data, the encoder's
configuration and its seed, so loops and benchmarks never retrain needlessly."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latal.encoders.base import Encoder, Latent

#: parameters that do not change what an encoder learns
_IGNORED = {"progress", "device"}
#: bump when a change to the encoders' code makes earlier cached models stale
_FORMAT = 2


def fingerprint(*arrays: np.ndarray | None) -> str:
    """A content hash of arrays (shape, dtype and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}|{a.dtype.str}|".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def encoder_key(encoder: Encoder, data_fingerprint: str) -> str:
    params = {k: v for k, v in encoder.get_params().items() if k not in _IGNORED}
    from latal import __version__

    text = json.dumps({"format": _FORMAT, "latal": __version__, "class": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
                       "params": params, "data": data_fingerprint}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@dataclass
class CachedEncoding:
    encoder: Encoder
    latent: Latent
    test_latent: Latent | None
    cached: bool          # True when read from the cache, False when trained now
    key: str | None
    seconds: float        # time spent (training + encoding, or reading)
    path: Path | None


def _save_latent(prefix: str, latent: Latent | None, out: dict) -> None:
    if latent is None:
        return
    out[f"{prefix}mean"] = latent.mean
    if latent.log_var is not None:
        out[f"{prefix}log_var"] = latent.log_var


def _load_latent(prefix: str, store) -> Latent | None:
    if f"{prefix}mean" not in store:
        return None
    lv = store[f"{prefix}log_var"] if f"{prefix}log_var" in store else None
    return Latent(mean=store[f"{prefix}mean"], log_var=lv)


def fit_encode(encoder: Encoder, x: np.ndarray, x_test: np.ndarray | None = None, *, dataset: str = "",
               cache_dir=None, use_cache: bool = True) -> CachedEncoding:
    """Fit ``encoder`` on ``x`` and encode ``x`` and ``x_test``, through the cache when the encoder is
    ``cacheable`` (the neural ones) and ``use_cache`` is true. ``use_cache=False`` retrains and
    overwrites the cached entry."""
    t0 = time.perf_counter()
    from latal.encoders.stack import StackedEncoder

    if isinstance(encoder, StackedEncoder):  # part by part, so each part's cache entry is shared
        done = [fit_encode(p, x, x_test, dataset=dataset, cache_dir=cache_dir, use_cache=use_cache)
                for p in encoder.parts]
        encoder.parts = [d.encoder for d in done]
        encoder._mark_fitted(x)
        return CachedEncoding(encoder, encoder.join([d.latent for d in done]),
                              encoder.join([d.test_latent for d in done]) if x_test is not None else None,
                              all(d.cached for d in done), encoder.join_keys([d.key for d in done]),
                              time.perf_counter() - t0, None)
    if not getattr(encoder, "cacheable", False):
        encoder.fit(x)
        return CachedEncoding(encoder, encoder.encode(x), encoder.encode(x_test) if x_test is not None else None,
                              False, None, time.perf_counter() - t0, None)
    from latal.data.idx import default_cache_dir

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = encoder_key(encoder, fingerprint(x, x_test))
    folder = root / "encoders" / key
    if use_cache and (folder / "meta.json").is_file():
        try:
            loaded = Encoder.load(folder / "encoder.pkl")
            with np.load(folder / "latents.npz") as store:
                latent, test_latent = _load_latent("", store), _load_latent("test_", store)
            loaded.device, loaded.progress = encoder.device, encoder.progress
            return CachedEncoding(loaded, latent, test_latent, True, key, time.perf_counter() - t0, folder)
        except Exception:  # a damaged entry is rebuilt, never trusted
            shutil.rmtree(folder, ignore_errors=True)

    encoder.fit(x)
    latent = encoder.encode(x)
    test_latent = encoder.encode(x_test) if x_test is not None else None
    seconds = time.perf_counter() - t0
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
    try:
        encoder.save(tmp / "encoder.pkl")
        arrays: dict = {}
        _save_latent("", latent, arrays)
        _save_latent("test_", test_latent, arrays)
        np.savez(tmp / "latents.npz", **arrays)
        meta = {"key": key, "dataset": dataset, "encoder": repr(encoder), "class": type(encoder).__name__,
                "params": {k: v for k, v in encoder.get_params().items() if k not in _IGNORED},
                "fit_encode_seconds": seconds, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return CachedEncoding(encoder, latent, test_latent, False, key, seconds, folder)
