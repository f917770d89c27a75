"""How long `latal bench PROTOCOL --quick` takes for every shipped protocol (the issue's bound: under two
minutes each). SVHN and CIFAR-10 protocols run on small synthetic files of the official formats (300 training
images), the others on the real data. Each protocol runs in its own process, one at a time, with --jobs 2;
the `latal run` default job on the embedded digits runs first, in the same way, as the reference.

    python benchmarks/bench_quick.py --data-dir ../shared/datasets --out benchmarks/results/bench_quick.json
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.bench import list_protocols, load_protocol  # noqa: E402


def synthetic_rgb(folder: Path) -> None:
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    for split, n in (("train", 300), ("test", 60)):
        savemat(folder / f"{split}_32x32.mat", {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                                "y": (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)})
    py = folder / "cifar-10-batches-py"
    py.mkdir(exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (py / name).write_bytes(pickle.dumps({b"data": rng.integers(0, 256, (60, 3072), dtype=np.uint8),
                                              b"labels": [i % 10 for i in range(60)]}))


def timed(cmd: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    return time.perf_counter() - t, done.returncode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", default="benchmarks/results/bench_quick.json")
    ap.add_argument("--only", nargs="+", default=None, help="these protocols only (default: every shipped one)")
    args = ap.parse_args(argv)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthetic_rgb(tmp)
        ref, rc = timed([sys.executable, "-m", "latal.cli", "run"])
        results["latal run (reference)"] = {"seconds": ref, "returncode": rc}
        rows.append(["latal run (reference)", "digits", f"{ref:.0f}", "1.0", "ok" if rc == 0 else f"exit {rc}"])
        for name, _ in list_protocols():
            if args.only and name not in args.only:
                continue
            p = load_protocol(name)
            data = str(tmp) if set(p.datasets) & {"svhn", "cifar10"} else args.data_dir
            seconds, rc = timed([sys.executable, "-m", "latal.cli", "bench", name, "--quick", "--jobs", "2",
                                 "--data-dir", data, "--out", str(tmp / name)])
            results[name] = {"seconds": seconds, "returncode": rc, "data": "synthetic" if data == str(tmp) else "real"}
            rows.append([name, ", ".join(p.quickened().datasets) + (" (synthetic)" if data == str(tmp) else ""),
                         f"{seconds:.0f}", f"{seconds / ref:.1f}", "ok" if rc == 0 and seconds < 120 else
                         ("over 2 min" if rc == 0 else f"exit {rc}")])
            print(rows[-1], file=sys.stderr, flush=True)
    print(markdown_table(["protocol --quick", "data", "seconds", "x latal run", "under 2 min"], rows))
    write_json(args.out, "bench_quick", args, results=results)
    return 0 if all(r["returncode"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
