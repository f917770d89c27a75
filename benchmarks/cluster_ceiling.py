"""What one label per class can give in a latent space (issue 9): k-means with as many clusters as classes on
the pool's latents (the cached ``conv_vae`` latents, refined by UMAP unless ``--refine none``), then

- the Hungarian-matched accuracy: each cluster given a different class, the best such assignment, every
  item taking its cluster's class (what ten labels, one on each cluster, can give at best when each
  cluster has to stand for a class of its own);
- the majority accuracy: each cluster given its own most frequent class (several clusters may share one);
- how many classes are some cluster's most frequent one, and which are none's.

Several single k-means starts, as TypiClust and ProbCover run it.

    python benchmarks/cluster_ceiling.py --data-dir ../shared/datasets --datasets mnist fashion-mnist
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.experiment import ExperimentConfig, prepare  # noqa: E402


def cluster_scores(Z: np.ndarray, y: np.ndarray, seed: int) -> dict:
    k = int(y.max()) + 1
    clusters = KMeans(k, n_init=1, random_state=seed).fit_predict(Z)
    counts = np.zeros((k, k))
    np.add.at(counts, (clusters, y), 1)
    rows, cols = linear_sum_assignment(-counts)
    leaders = set(counts.argmax(axis=1).tolist())  # each cluster's most frequent class
    return {"seed": seed, "hungarian_accuracy": float(counts[rows, cols].sum() / len(y)),
            "majority_accuracy": float(counts.max(axis=1).sum() / len(y)),
            "classes_that_lead_a_cluster": len(leaders),
            "classes_that_lead_no_cluster": sorted(set(range(k)) - leaders)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--refine", default="umap", help="'umap' or 'none' (the plain conv_vae latents)")
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/cluster_ceiling.json")
    args = ap.parse_args(argv)
    results, rows = [], []
    for name in args.datasets:
        prep = prepare(ExperimentConfig(dataset=name, data_dir=args.data_dir, encoder="conv_vae",
                                        refine=None if args.refine == "none" else args.refine))
        Z, y, names = np.asarray(prep.latent.mean), np.asarray(prep.dataset.y), prep.dataset.class_names
        for seed in range(args.starts):
            res = {"dataset": name, **cluster_scores(Z, y, seed)}
            results.append(res)
            rows.append([name, seed, f"{100 * res['hungarian_accuracy']:.2f}", f"{100 * res['majority_accuracy']:.2f}",
                         res["classes_that_lead_a_cluster"],
                         ", ".join(str(names[c]) for c in res["classes_that_lead_no_cluster"]) or "-"])
    write_json(args.out, "cluster_ceiling", args, results=results)
    print(markdown_table(["dataset", "k-means start", "one class per cluster (Hungarian) %",
                          "each cluster its majority class %", "classes that lead a cluster", "classes that lead none"],
                         rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
