"""Thesis protocol (section 4.3) on MNIST with PCA latents: margin sampling vs random.

100 random initial labels, batches of 100, 29 rounds (3,000 labels), MLP (512, 512), dropout 0.2,
20 epochs, RMSprop. Prints accuracy (mean +- std over seeds) at label checkpoints and the median
round time (fit + score + select), and writes every run to JSON.

    python benchmarks/thesis_mnist.py --data-dir ../shared/datasets --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from latal.experiment import ExperimentConfig, environment, prepare, run_experiment
from latal.loop import ROUND_PHASES


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
    ap.add_argument("--out", default="benchmarks/results/thesis_mnist.json")
    args = ap.parse_args(argv)

    base = ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder=args.encoder,
                            initial=args.initial, batch=args.batch, rounds=args.rounds, pool_size=args.pool_size)
    prepared = prepare(base)
    print(f"# {args.dataset}: pool {prepared.dataset.n}, latent dim {prepared.latent.mean.shape[1]}, "
          f"encoder fit+encode {prepared.timing['encode_seconds']:.1f}s", file=sys.stderr)
    runs = []
    for strategy in args.strategies:
        for seed in args.seeds:
            cfg = ExperimentConfig(**{**base.to_dict(), "strategy": strategy, "seed": seed})
            t0 = time.perf_counter()
            result = run_experiment(cfg, prepared=prepared)
            print(f"  {strategy:>18} seed {seed}: final accuracy {result['rounds'][-1]['accuracy']:.4f} "
                  f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
            runs.append(result)

    checkpoints = sorted({args.initial, args.initial + 4 * args.batch, args.initial + 9 * args.batch,
                          args.initial + 19 * args.batch, args.initial + args.rounds * args.batch}
                         & {r["n_labeled"] for r in runs[0]["rounds"]})
    summary = {}
    for strategy in args.strategies:
        mine = [r for r in runs if r["config"]["strategy"] == strategy]
        acc = {c: [next(x["accuracy"] for x in r["rounds"] if x["n_labeled"] == c) for r in mine] for c in checkpoints}
        round_s = [sum(x["seconds"][k] for k in ROUND_PHASES) for r in mine for x in r["rounds"] if "select" in x["seconds"]]
        summary[strategy] = {
            "accuracy_mean": {c: float(np.mean(v)) for c, v in acc.items()},
            "accuracy_std": {c: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for c, v in acc.items()},
            "round_seconds_median": statistics.median(round_s),
            "round_seconds_max": max(round_s),
        }

    header = ["strategy"] + [f"{c} labels" for c in checkpoints] + ["median round s"]
    rows = [[s] + [f"{summary[s]['accuracy_mean'][c]:.4f} ± {summary[s]['accuracy_std'][c]:.4f}" for c in checkpoints]
            + [f"{summary[s]['round_seconds_median']:.2f}"] for s in args.strategies]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
    if "random" in summary:
        last = checkpoints[-1]
        for s in args.strategies:
            if s != "random":
                diff = summary[s]["accuracy_mean"][last] - summary["random"]["accuracy_mean"][last]
                ratio = summary[s]["round_seconds_median"] / summary["random"]["round_seconds_median"]
                print(f"{s} - random at {last} labels: {diff:+.4f}; round time ratio {s}/random: {ratio:.2f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "thesis_mnist", "date": date.today().isoformat(), "args": vars(args),
                               "environment": environment(), "summary": summary, "runs": runs}, indent=1))
    print(f"# wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
