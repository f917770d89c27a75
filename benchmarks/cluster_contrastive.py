"""Paper 003 (semi-supervised AL with a conv autoencoder, a clustering layer and the clustering contrastive
loss) on its own protocol: the 60,000 training images split 80 % pool / 20 % validation (seeded), 250
random initial labels, 250 entropy queries per round up to 5,000 labels (about 1 %, 3 %, 5 % and 10 % of
the pool at 500, 1,500, 2,500 and 5,000), accuracy on the validation split by cluster assignment
(the paper's classifier) and by the thesis MLP on the learned 10-d latents. ``--no-ccl`` is the paper's
"clustering only" ablation (Table 2).

    python benchmarks/cluster_contrastive.py --dataset mnist --data-dir ../shared/datasets \
        --pretrain-epochs 10 --epochs 2 --out benchmarks/results/cluster_contrastive_mnist.json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

#: paper 003, Tables 3 and 4 ("Ours") and Table 2 (ablation at 3 %)
PUBLISHED = {"mnist": {500: 0.832, 1500: 0.910, 2500: 0.948, 5000: 0.983},
             "fashion-mnist": {500: 0.490, 1500: 0.671, 2500: 0.697, 5000: 0.758}}
PUBLISHED_ABLATION = {"mnist": {"clustering": 0.816, "clustering+ccl": 0.910}}
CHECKPOINTS = (500, 1500, 2500, 5000)


def run(args) -> dict:
    """The run ``latal bench 003-table-3`` makes (seeded 80/20 split, Algorithm 1), with this script's settings."""
    from latal.bench.kinds import run_cluster_contrastive

    config = {"kind": "cluster_contrastive", "dataset": args.dataset, "data_dir": args.data_dir,
              "initial": args.initial, "batch": args.batch, "rounds": (args.until - args.initial) // args.batch,
              "seed": args.seed, "pool_size": None, "val_fraction": 0.2,
              "model": {"pretrain_epochs": args.pretrain_epochs, "epochs": args.epochs, "ccl": not args.no_ccl}}
    result = run_cluster_contrastive(config, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    curve = [{"n_labeled": r["n_labeled"], "cluster_accuracy": r["accuracy"], "mlp_accuracy": r["mlp_accuracy"],
              "wall_seconds": r["wall_seconds"]} for r in result["rounds"]]
    return {"dataset": args.dataset, "ccl": not args.no_ccl, "pool": result["data"]["pool"],
            "validation": result["data"]["validation"], "curve": curve, "seconds": result["timing"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--pretrain-epochs", type=int, default=50, help="the paper's 50 (fewer for CPU time)")
    ap.add_argument("--epochs", type=int, default=10, help="epochs per round: the paper's 10 (fewer for CPU time)")
    ap.add_argument("--initial", type=int, default=250)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--until", type=int, default=5000)
    ap.add_argument("--no-ccl", action="store_true", help="the clustering-only ablation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["LATAL_THREADS"] = str(args.threads)
    result = run(args)
    pub = PUBLISHED.get(args.dataset, {})
    rows = []
    for rec in result["curve"]:
        if rec["n_labeled"] in CHECKPOINTS or rec["n_labeled"] == result["curve"][-1]["n_labeled"]:
            p = pub.get(rec["n_labeled"])
            rows.append([rec["n_labeled"], f"{100 * rec['n_labeled'] / result['pool']:.1f}%",
                         f"{rec['cluster_accuracy']:.3f}", f"{rec['mlp_accuracy']:.3f}",
                         "-" if p is None else f"{p:.3f}",
                         "-" if p is None else f"{rec['cluster_accuracy'] - p:+.3f}", f"{rec['wall_seconds']:.0f}"])
    print(markdown_table(["labels", "of pool", "cluster acc", "MLP on latents", "paper", "cluster - paper",
                          "seconds"], rows))
    write_json(args.out, "cluster_contrastive", args, result=result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
