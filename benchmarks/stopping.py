"""When do the stopping criteria fire? MNIST conv-VAE latents, thesis MLP, margin sampling, batch 100 from
100 to 3,000 labels, 5 seeds; for each criterion the label count at which it first fires and the test
accuracy there, against the accuracy at 3,000 labels.

    python benchmarks/stopping.py --data-dir ../shared/datasets --repeats 5 --jobs 2
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import accuracy_at, markdown_table, run_many, write_json  # noqa: E402

from latal.experiment import ExperimentConfig  # noqa: E402

CRITERIA = ("stabilizing", "max_uncertainty", "mean_uncertainty", "budget:labels=1000")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--encoder", default="conv_vae")
    ap.add_argument("--strategy", default="margin")
    ap.add_argument("--criteria", nargs="+", default=list(CRITERIA))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/stopping.json")
    args = ap.parse_args(argv)
    cfgs = [ExperimentConfig(dataset="mnist", data_dir=args.data_dir, encoder=args.encoder, strategy=args.strategy,
                             seed=seed, initial=100, batch=100, rounds=29, stopping=tuple(args.criteria))
            for seed in range(args.repeats)]
    runs = run_many(cfgs, jobs=args.jobs)
    final = [accuracy_at(r, 3000) for r in runs]
    rows, summary = [], {}
    for spec in args.criteria:
        name = spec.split(":")[0]
        at = [r["stopped"].get(name) for r in runs]
        fired = [a for a in at if a is not None]
        acc = [accuracy_at(r, a) for r, a in zip(runs, at) if a is not None]
        gap = [accuracy_at(r, a) - f for r, a, f in zip(runs, at, final) if a is not None]
        summary[spec] = {"fired_at": at, "accuracy_at_fire": acc, "accuracy_at_3000": final}
        rows.append([spec, f"{len(fired)}/{len(runs)}",
                     f"{np.mean(fired):.0f} ± {np.std(fired, ddof=1) if len(fired) > 1 else 0:.0f}" if fired else "-",
                     f"{100 * np.mean(acc):.2f}" if acc else "-", f"{100 * np.mean(final):.2f}",
                     f"{100 * np.mean(gap):+.2f}" if gap else "-",
                     f"{100 * (1 - np.mean(fired) / 3000):.0f}%" if fired else "-"])
    write_json(args.out, "stopping", args, summary=summary, runs=runs)
    print(markdown_table(["criterion", "fired", "labels at fire", "accuracy there %", "accuracy at 3,000 %",
                          "difference (points)", "labels saved"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
