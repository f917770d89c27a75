"""Does retraining an encoder give the same latents? The same ``conv_vae`` spec and seed trained in fresh
processes, each with its own ``LATAL_THREADS``, on the first ``--n`` Fashion-MNIST images; the largest absolute
difference of each run's latent means from the first run's, and the seconds. Bit-for-bit equal on the same
thread count; not across thread counts (torch's float sums run in another order), which is why a cache rebuilt
on another thread count is another build of the encoder (BENCHMARKS.md, "The student over the unrefined latents").

    python benchmarks/thread_determinism.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

_TRAIN = """
import sys
import numpy as np
from latal.data import load_dataset
from latal.encoders import ENCODERS
ds = load_dataset(sys.argv[1], sys.argv[2])
enc = ENCODERS.build(sys.argv[3])
enc.progress = False
x = ds.x[: int(sys.argv[4])]
np.save(sys.argv[5], enc.fit(x).encode(x).mean)
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--encoder", default="conv_vae:epochs=1")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 1, 2, 2])
    ap.add_argument("--out", default="benchmarks/results/thread_determinism.json")
    args = ap.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, threads in enumerate(args.threads):
            path = Path(tmp) / f"{k}.npy"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", _TRAIN, args.dataset, args.data_dir, args.encoder, str(args.n), str(path)],
                           check=True, env={**os.environ, "LATAL_THREADS": str(threads)})
            runs.append((threads, np.load(path), time.perf_counter() - t0))
    first = runs[0][1]
    same = {}  # the first run on each thread count
    out = []
    for t, z, s in runs:
        ref = same.setdefault(t, z)
        out.append({"threads": t, "max_abs_diff_from_run_0": float(np.abs(z - first).max()),
                    "identical_to_first_run_on_these_threads": bool(np.array_equal(z, ref)), "seconds": s})
    rows = [[str(k), str(r["threads"]), f"{r['max_abs_diff_from_run_0']:.3g}",
             str(r["identical_to_first_run_on_these_threads"]), f"{r['seconds']:.1f}"] for k, r in enumerate(out)]
    print(markdown_table(["run", "LATAL_THREADS", "largest absolute difference from run 0",
                          "identical to the first run on these threads", "seconds"], rows))
    write_json(args.out, "thread_determinism", args, runs=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
