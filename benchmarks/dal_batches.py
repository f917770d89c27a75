"""Paper 004's point on MNIST latents: DAL against margin and random with query batches of 100 and of
1,000 (5 repeats each). Encoder: `conv_vae` (cached), learner: the thesis MLP.

    python benchmarks/dal_batches.py --data-dir ../shared/datasets --repeats 5
"""

from __future__ import annotations

import argparse
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import markdown_table, run_many, summarise, write_json  # noqa: E402

from latal.experiment import ExperimentConfig  # noqa: E402

# DAL costs 10 discriminator trainings per query on 11 x |L| items (each up to 200 epochs: in these
# latents the 98 % training accuracy is rarely reached first), about 43 s per query at |L| = 1,000 on
# 2 cores and growing linearly with |L|; the rounds are sized so that 5 repeats fit in minutes.
SETTINGS = {100: dict(initial=100, batch=100, rounds=5), 1000: dict(initial=1000, batch=1000, rounds=1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--encoder", default="conv_vae")
    ap.add_argument("--strategies", nargs="+", default=["dal", "margin", "random"])
    ap.add_argument("--batches", nargs="+", type=int, default=[100, 1000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/dal_batches.json")
    args = ap.parse_args(argv)
    results = {}
    for b in args.batches:
        cfgs = [ExperimentConfig(dataset="mnist", data_dir=args.data_dir, encoder=args.encoder, strategy=s, seed=seed,
                                 **SETTINGS[b]) for s in args.strategies for seed in range(args.repeats)]
        runs = run_many(cfgs, jobs=args.jobs, label=lambda c: f"batch {c.batch} {c.strategy} seed {c.seed}")
        st = SETTINGS[b]
        checkpoints = [st["initial"] + i * st["batch"] for i in range(st["rounds"] + 1)]
        summary = summarise(runs, lambda r: r["config"]["strategy"], checkpoints)
        results[b] = {"summary": summary, "runs": runs}
        write_json(args.out, "dal_batches", args, results=results)  # after each batch size: partial results persist
        print(f"\nbatch {b}:")
        print(markdown_table(["strategy"] + [f"{c} labels" for c in checkpoints] + ["median round s"],
                             [[s] + [f"{v['accuracy_mean'][c]:.4f} ± {v['accuracy_std'][c]:.4f}" for c in checkpoints]
                              + [f"{v['round_seconds_median']:.2f}"] for s, v in summary.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
