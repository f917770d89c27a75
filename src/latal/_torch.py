"""Torch set-up in one place: device choice and thread count (set once)."""

from __future__ import annotations

import os

_CONFIGURED = False


def configure_threads() -> None:
    """Set torch's intra-op threads once: ``$LATAL_THREADS`` if given, else torch's own default."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    import torch

    threads = os.environ.get("LATAL_THREADS")
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    _CONFIGURED = True


def resolve_device(device: str = "auto"):
    """``"auto"`` is CUDA when present, else CPU; any other string is passed to ``torch.device``."""
    import torch

    configure_threads()
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was asked for but CUDA is not available here; use --device cpu or auto.")
    return dev
