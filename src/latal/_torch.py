"""Torch set-up in one place: device choice and thread count (set once)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

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


@contextmanager
def threads_kept():
    """Run a block that may use numba (UMAP, pynndescent) without it changing torch's thread count.

    numba's OpenMP threading layer sets OpenMP's thread count for the calling thread to its own (all
    cores); torch reads it back, and its convolutions then run on every core even under
    ``$LATAL_THREADS=1``. Two such processes on two cores trained the CNN student twice as slowly
    (``benchmarks/threads_after_umap.py``). The block's numba runs on ``$LATAL_THREADS`` threads when that
    is set, and torch's count is put back after."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    threads = os.environ.get("LATAL_THREADS")
    if threads:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba comes with umap-learn
            numba = None
        if numba is not None:
            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        if before is not None:
            torch.set_num_threads(before)


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


@contextmanager
def seeded(seed: int, device):
    """Run a block with torch's global generators seeded, restoring their state afterwards, so that
    fitting one model never shifts the random numbers of another."""
    import torch

    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(int(seed))
        yield


def conv_bn_blocks(channels: int, width: int) -> list:
    """Three 3x3 conv blocks of ``width``, ``2 * width`` and ``4 * width`` filters, each with batch norm, ReLU and
    2x2 max-pooling (``ceil_mode``, so odd sizes keep their last row): the ``conv3bn`` student's body and the
    SimCLR encoder's."""
    import torch.nn as nn

    layers, cin = [], channels
    for cout in (width, 2 * width, 4 * width):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                   nn.MaxPool2d(2, ceil_mode=True)]
        cin = cout
    return layers


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0):
    """``"adam"`` or ``"rmsprop"`` (with Keras's defaults, rho 0.9 and epsilon 1e-7, as in the thesis)."""
    import torch

    key = str(name).lower()
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if key == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop'; got {name!r}.")


def training_batches(order, batch_size: int) -> list:
    """Split a shuffled index array or tensor ``order`` into training batches of ``batch_size``, folding a
    last batch of a single item into the one before it: batch norm cannot train on one item (PyTorch
    raises "Expected more than 1 value per channel"), and a lone item would be one whole step's gradient."""
    bs, n = int(batch_size), len(order)
    if bs < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}.")
    starts = list(range(0, n, bs))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [order[s : (starts[i + 1] if i + 1 < len(starts) else n)] for i, s in enumerate(starts)]


def batched_apply(fn, array, batch: int, device, channels_last: bool = False) -> list:
    """Apply ``fn`` to float32 tensors of ``array`` in batches, without gradients, and gather each of its
    outputs (a tensor or a tuple of tensors) into a numpy array.

    The outputs are allocated once, at full size, after the first batch, and filled in place: the
    per-batch results are never kept in a list, so memory stays at the outputs plus one batch's
    temporaries (a list of a thousand small blocks interleaved with freed batch buffers fragments the
    heap: about 1 GB extra over a million rows). Read-only inputs (pool views, memory maps) are copied
    batch by batch, never as a whole."""
    import numpy as np
    import torch

    n = array.shape[0]
    outs = None
    with torch.no_grad():
        for start in range(0, n, int(batch)):
            block = np.ascontiguousarray(array[start : start + int(batch)], dtype=np.float32)
            t = (torch.from_numpy(block) if block.flags.writeable else torch.tensor(block)).to(device)
            if channels_last and t.ndim == 4 and device.type == "cpu":
                t = t.contiguous(memory_format=torch.channels_last)
            res = fn(t)
            res = res if isinstance(res, tuple) else (res,)
            if outs is None:
                outs = [np.empty((n, *r.shape[1:]), dtype=np.float32) for r in res]
            for out, r in zip(outs, res):
                out[start : start + r.shape[0]] = r.float().cpu().numpy()
    if outs is None:
        raise ValueError("batched_apply needs at least one row.")
    return outs
