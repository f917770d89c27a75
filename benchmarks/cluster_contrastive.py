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
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

#: paper 003, Tables 3 and 4 ("Ours") and Table 2 (ablation at 3 %)
PUBLISHED = {"mnist": {500: 0.832, 1500: 0.910, 2500: 0.948, 5000: 0.983},
             "fashion-mnist": {500: 0.490, 1500: 0.671, 2500: 0.697, 5000: 0.758}}
PUBLISHED_ABLATION = {"mnist": {"clustering": 0.816, "clustering+ccl": 0.910}}
CHECKPOINTS = (500, 1500, 2500, 5000)


def run(args) -> dict:
    from latal.data import load_dataset
    from latal.learners import LEARNERS
    from latal.strategies.cluster_contrastive import ClusterContrastiveModel

    ds = load_dataset(args.dataset, args.data_dir, progress=False)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(ds.n)
    n_val = int(round(0.2 * ds.n))
    val, pool = order[:n_val], np.sort(order[n_val:])
    x, y = ds.x[pool], ds.y[pool]
    x_val, y_val = ds.x[val], ds.y[val]
    model = ClusterContrastiveModel(len(ds.class_names), pretrain_epochs=args.pretrain_epochs, epochs=args.epochs,
                                    ccl=not args.no_ccl, seed=args.seed)
    t0 = time.perf_counter()
    model.pretrain(x)
    labeled = np.sort(rng.choice(len(x), size=args.initial, replace=False))
    model.init_centroids(labeled, y[labeled])
    curve = []

    def evaluate():
        mlp = LEARNERS.build("mlp", random_state=args.seed).fit(model.encode()[labeled], y[labeled],
                                                                 n_classes=len(ds.class_names))
        rec = {"n_labeled": int(len(labeled)), "cluster_accuracy": float(np.mean(model.predict(x_val) == y_val)),
               "mlp_accuracy": float(np.mean(mlp.predict(model.encode(x_val)) == y_val)),
               "cpu_seconds": time.process_time(), "wall_seconds": time.perf_counter() - t0}
        curve.append(rec)
        print(f"{rec['n_labeled']:5d} labels: cluster {rec['cluster_accuracy']:.4f}  mlp {rec['mlp_accuracy']:.4f}"
              f"  ({rec['wall_seconds']:.0f} s)", file=sys.stderr, flush=True)

    while len(labeled) < args.until:
        unl = np.setdiff1d(np.arange(len(x)), labeled, assume_unique=True)
        chosen = model.query(unl, min(args.batch, args.until - len(labeled)))
        labeled = np.sort(np.concatenate([labeled, chosen]))
        model.train_round(labeled, y[labeled])
        evaluate()
    return {"dataset": args.dataset, "ccl": not args.no_ccl, "pool": int(len(x)), "validation": int(n_val),
            "curve": curve, "seconds": dict(model.seconds)}


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
