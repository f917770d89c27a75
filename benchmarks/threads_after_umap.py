"""Torch's thread count after a UMAP refinement in the same process (issue 9's fresh-machine runs).

numba's OpenMP layer, under UMAP, sets OpenMP's thread count to every core; torch's convolutions then
follow it even under ``LATAL_THREADS=1``. This runs ``--procs`` processes at once, as the benchmarks do
one per core, each with one torch thread, and times the same CNN-student training steps three times in
each: before any UMAP, after a plain ``umap.UMAP`` fit (what the refinement did before ``threads_kept``),
and after latal's ``UMAPRefiner`` fit (torch's count put back). It prints the seconds and the ratio to
the first timing, and writes JSON.

    python benchmarks/threads_after_umap.py
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402


def _worker(steps: int, seed: int, queue) -> None:
    os.environ["LATAL_THREADS"] = "1"
    import torch
    import umap

    from latal._torch import configure_threads
    from latal.encoders.refine import UMAPRefiner
    from latal.learners.student import _cnn

    configure_threads()
    gen = torch.Generator().manual_seed(seed)
    net = _cnn(1, (28, 28), 10, 32, 0.3)
    opt = torch.optim.Adam(net.parameters())
    x, y = torch.rand(128, 1, 28, 28, generator=gen), torch.randint(0, 10, (128,), generator=gen)
    Z = np.random.default_rng(seed).normal(size=(3000, 10)).astype(np.float32)

    def timed() -> tuple[float, int]:
        start = time.perf_counter()
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - start, torch.get_num_threads()

    out = {"before any UMAP": timed()}
    umap.UMAP(n_components=10, n_neighbors=20, min_dist=0.0, random_state=seed).fit_transform(Z)
    out["after plain umap.UMAP"] = timed()
    torch.set_num_threads(1)  # undo, so the next row starts where the first did
    UMAPRefiner(random_state=seed).fit(Z)
    out["after latal's UMAPRefiner"] = timed()
    queue.put(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", default="benchmarks/results/threads_after_umap.json")
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(args.steps, i, queue)) for i in range(args.procs)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    rows, summary = [], {}
    for name in results[0]:
        seconds = float(np.mean([r[name][0] for r in results]))
        summary[name] = {"seconds": seconds, "torch_threads": [r[name][1] for r in results]}
    base = summary["before any UMAP"]["seconds"]
    for name, cell in summary.items():
        cell["ratio"] = cell["seconds"] / base
        rows.append([name, f"{cell['seconds']:.2f}", f"{cell['ratio']:.2f}", cell["torch_threads"]])
    write_json(args.out, "threads_after_umap", args, summary=summary)
    print(markdown_table([f"{args.steps} student steps, {args.procs} processes at once", "s (mean)",
                          "ratio to before", "torch threads"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
