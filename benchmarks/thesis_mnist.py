"""Thesis protocol (section 4.3) on MNIST: margin sampling vs random.

100 random initial labels, batches of 100, 29 rounds (3,000 labels), MLP (512, 512), dropout 0.2,
20 epochs, RMSprop. Prints accuracy (mean +- std over seeds) at label checkpoints and the median
round time (fit + score + select), and writes every run to JSON.

    python benchmarks/thesis_mnist.py --data-dir ../shared/datasets --seeds 0 1 2
    python benchmarks/thesis_mnist.py --data-dir ../shared/datasets --encoder conv_vae \
        --out benchmarks/results/thesis_mnist_conv_vae.json
"""

from __future__ import annotations

import argparse
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import markdown_table, run_many, summarise, write_json  # noqa: E402

from latal.experiment import ExperimentConfig  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--encoder", default="pca:n_components=50")
    ap.add_argument("--strategies", nargs="+", default=["random", "margin", "margin_subsample"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--initial", type=int, default=100)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=29)
    ap.add_argument("--pool-size", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=1, help="parallel processes (1 keeps round times comparable)")
    ap.add_argument("--out", default="benchmarks/results/thesis_mnist.json")
    args = ap.parse_args(argv)

    cfgs = [ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder=args.encoder, strategy=s,
                             seed=seed, initial=args.initial, batch=args.batch, rounds=args.rounds,
                             pool_size=args.pool_size)
            for s in args.strategies for seed in args.seeds]
    runs = run_many(cfgs, jobs=args.jobs)
    last = args.initial + args.rounds * args.batch
    checkpoints = sorted({args.initial, args.initial + 4 * args.batch, args.initial + 9 * args.batch,
                          args.initial + 19 * args.batch, last} & {r["n_labeled"] for r in runs[0]["rounds"]})
    summary = summarise(runs, lambda r: r["config"]["strategy"], checkpoints)
    print(markdown_table(
        ["strategy"] + [f"{c} labels" for c in checkpoints] + ["median round s"],
        [[s] + [f"{v['accuracy_mean'][c]:.4f} ± {v['accuracy_std'][c]:.4f}" for c in checkpoints]
         + [f"{v['round_seconds_median']:.2f}"] for s, v in summary.items()]))
    if "random" in summary:
        base = summary["random"]
        for s, v in summary.items():
            if s != "random":
                print(f"{s} - random at {last} labels: {v['accuracy_mean'][last] - base['accuracy_mean'][last]:+.4f}; "
                      f"round time ratio {s}/random: {v['round_seconds_median'] / base['round_seconds_median']:.2f}")
    write_json(args.out, "thesis_mnist", args, summary=summary, runs=runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
