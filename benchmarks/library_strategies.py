"""The strategies users know from scikit-activeml, baal and small-text, on MNIST conv-VAE latents with the
thesis MLP: batch 100 from 100 to 1,000 labels (BatchBALD with batch 10, the size its greedy joint
entropy was designed for, so it reaches the same checkpoints in 90 rounds), 5 repeats.

    python benchmarks/library_strategies.py --data-dir ../shared/datasets --repeats 5 --jobs 2
"""

from __future__ import annotations

import argparse
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import markdown_table, run_many, summarise, write_json  # noqa: E402

from latal.experiment import ExperimentConfig  # noqa: E402

BATCH = {"batchbald": 10}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--encoder", default="conv_vae")
    ap.add_argument("--strategies", nargs="+",
                    default=["badge", "batchbald", "cluster_margin", "vaal", "seals", "margin", "random"])
    ap.add_argument("--initial", type=int, default=100)
    ap.add_argument("--final", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/library_strategies.json")
    args = ap.parse_args(argv)
    cfgs = []
    for s in args.strategies:
        b = BATCH.get(s.split(":")[0], 100)
        for seed in range(args.repeats):
            cfgs.append(ExperimentConfig(dataset="mnist", data_dir=args.data_dir, encoder=args.encoder, strategy=s,
                                         seed=seed, initial=args.initial, batch=b,
                                         rounds=(args.final - args.initial) // b))
    # the slow ones first, so that two workers finish together
    cost = {"batchbald": 0, "vaal": 1}
    cfgs.sort(key=lambda c: cost.get(c.strategy.split(":")[0], 9))
    runs = run_many(cfgs, jobs=args.jobs)
    checkpoints = list(range(args.initial, args.final + 1, 100))
    summary = summarise(runs, lambda r: r["config"]["strategy"], checkpoints)
    for name, v in summary.items():
        mine = [r for r in runs if r["config"]["strategy"] == name]
        v["batch"] = mine[0]["config"]["batch"]
        v["query_seconds_median"] = float(__import__("numpy").median(
            [x["seconds"].get("score", 0) + x["seconds"].get("select", 0) for r in mine for x in r["rounds"]
             if "select" in x["seconds"]]))
    write_json(args.out, "library_strategies", args, summary=summary, runs=runs)
    order = [s for s in args.strategies if s in summary]
    print(markdown_table(
        ["strategy", "batch"] + [f"{c}" for c in checkpoints] + ["query s"],
        [[s, summary[s]["batch"]] + [f"{100 * summary[s]['accuracy_mean'][c]:.2f} ± {100 * summary[s]['accuracy_std'][c]:.2f}"
                                     for c in checkpoints] + [f"{summary[s]['query_seconds_median']:.2f}"]
         for s in order]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
