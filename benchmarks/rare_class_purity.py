"""Why a selection finds a rare class or not (issue 9, BENCHMARKS.md "Finding the rare classes"): on the imbalanced
pools of ``imbalanced_pool.py`` (the same seeds, so the same pools and the same cached UMAP), the share of each
rare class's items whose 10 nearest other items are of their own class (10-NN purity), in the UMAP space the
selections read and in the unrefined ``conv_vae`` latents. A class whose items sit among another class's is
one no label-free selection can tell apart: only a label on one of its own items names it.

    LATAL_THREADS=1 python benchmarks/rare_class_purity.py --data-dir ../shared/datasets --dataset mnist
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402
from imbalanced_pool import imbalanced_subset  # noqa: E402

from latal.encoders.base import Latent  # noqa: E402
from latal.encoders.refine import refine_latents  # noqa: E402
from latal.experiment import ExperimentConfig, prepare  # noqa: E402


def class_purity(z: np.ndarray, y: np.ndarray, c: int, k: int = 10) -> float:
    """The share of the ``k`` nearest other items of class ``c``'s items that are of class ``c``."""
    idx = np.flatnonzero(y == c)
    _, nb = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z[idx])
    return float((y[nb[:, 1:]] == c).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--ratios", type=float, nargs="+", default=[10.0, 100.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--rarest", type=int, default=3, help="how many of the rarest classes to score")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or f"benchmarks/results/rare_class_purity_{args.dataset}.json"
    prep = prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder="conv_vae"))
    Z, y = np.asarray(prep.latent.mean), np.asarray(prep.dataset.y)
    names = [str(c) for c in prep.dataset.class_names]
    results, rows = [], []
    for ratio in args.ratios:
        for seed in args.seeds:
            keep, shares = imbalanced_subset(y, ratio, np.random.default_rng([seed, int(ratio)]), len(names))
            ref, _, _ = refine_latents("umap", Latent(Z[keep]), Latent(np.asarray(prep.test_latent.mean)), base_key=None)
            yy = y[keep]
            for rank, c in enumerate(np.argsort(shares, kind="stable")[: args.rarest]):
                res = {"ratio": ratio, "seed": seed, "rank": rank, "class": names[c], "items": int((yy == c).sum()),
                       "pool": int(keep.size), "purity_umap": class_purity(ref.mean, yy, int(c)),
                       "purity_latents": class_purity(Z[keep], yy, int(c))}
                results.append(res)
                rows.append([f"{ratio:g}", seed, rank + 1, res["class"], res["items"], f"{100 * res['purity_umap']:.0f}",
                             f"{100 * res['purity_latents']:.0f}"])
    write_json(out, "rare_class_purity", args, results=results)
    print(markdown_table(["most / least common", "seed", "rarity rank", "class", "items", "10-NN purity in the UMAP %",
                          "in the latents %"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
