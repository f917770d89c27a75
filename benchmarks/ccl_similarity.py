"""Which similarity should paper 003's clustering contrastive loss (Eq. 7) use? A pilot on 12,000 MNIST
training images: one autoencoder pre-trained for 4 epochs, 250 random labels, centroids at the class
means, then 3 epochs of training with each variant from the same starting weights; accuracy of the
cluster assignment on the MNIST test set after each epoch.

Variants: no contrastive term (clustering only), Eq. 7 to the letter (raw dot products z . mu, tau 1),
cosine similarities (tau 1, the default, and 0.1, the supervised contrastive loss's usual value), and
minus squared distances (tau 1).

    python benchmarks/ccl_similarity.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

VARIANTS = {"clustering only": dict(alpha3=0.0), "dot (Eq. 7 as printed)": dict(similarity="dot", tau=1.0),
            "cosine, tau 1 (the default)": dict(similarity="cosine", tau=1.0),
            "cosine, tau 0.1": dict(similarity="cosine", tau=0.1), "distance, tau 1": dict(similarity="distance", tau=1.0)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--pool", type=int, default=12000)
    ap.add_argument("--labels", type=int, default=250)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/ccl_similarity.json")
    args = ap.parse_args(argv)
    import torch

    from latal._torch import make_optimizer
    from latal.data import load_dataset
    from latal.strategies.cluster_contrastive import ClusterContrastiveModel

    ds = load_dataset("mnist", args.data_dir, progress=False)
    x, y = ds.x[: args.pool], ds.y[: args.pool]
    labeled = np.sort(np.random.default_rng(0).choice(len(x), args.labels, replace=False))
    base = ClusterContrastiveModel(10, pretrain_epochs=4, alpha3=0.1, seed=0, device="cpu").pretrain(x)
    start = copy.deepcopy(base.module_.state_dict())
    results = {}
    for name, kw in VARIANTS.items():
        m = base
        m.module_.load_state_dict(start)
        m.gen_ = torch.Generator().manual_seed(0)  # the same batches for every variant
        m.opt_ = make_optimizer("adam", m.module_.parameters(), m.lr)
        m.alpha3 = kw.get("alpha3", 0.1)
        m.similarity, m.tau = kw.get("similarity", "cosine"), kw.get("tau", 0.1)
        m.init_centroids(labeled, y[labeled])
        accs = [float(np.mean(m.predict(ds.x_test) == ds.y_test))]
        for _ in range(args.epochs):
            m.train_round(labeled, y[labeled], epochs=1)
            accs.append(float(np.mean(m.predict(ds.x_test) == ds.y_test)))
        results[name] = accs
        print(f"{name}: {[round(a, 4) for a in accs]}", file=sys.stderr, flush=True)
    print(markdown_table(["variant", "at start", *[f"after epoch {e + 1}" for e in range(args.epochs)]],
                         [[k, *[f"{a:.4f}" for a in v]] for k, v in results.items()]))
    write_json(args.out, "ccl_similarity", args, accuracy=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
