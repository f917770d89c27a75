"""Which feature space carries a few labels furthest (issue 9): Poisson learning (Calder et al., ICML 2020)
over a 10-NN graph of each space, with labels drawn at random, ``--per-class`` of each class; the share
of the pool it gets right (transductive, the labels included), mean +- std over ``--trials`` draws, and
the graph's 10-NN purity (the share of each item's neighbours that have its class). Spaces:

- ``pixels``: the raw images scaled to [0, 1];
- ``pca``: their first 50 principal components;
- ``conv_vae``: the cached ``conv_vae`` latent means (the encoder latal trains once per pool);
- ``conv_vae+umap``: those latents refined by UMAP (the ``label-efficient`` presets' space);
- ``simclr``: the cached latents of the contrastive encoder given by ``--simclr`` (an encoder spec,
  ``simclr:flip=True`` by default: Fashion-MNIST's classes are mirror-symmetric);
- ``conv_vae+simclr``: both side by side, each row of each part scaled to unit length (equal weight).

With several ``--simclr`` specs (for instance the same encoder with ``random_state=0,1,2``), ``simclrK`` is
the K-th build and ``simclrs`` all of them side by side, e.g. ``--spaces simclr1 conv_vae+simclrs``.

Random labels say what the space itself gives, before any selection: the published figures for VAE
latents with Poisson learning (62 % at one Fashion-MNIST label per class, 76 % at ten) are on this scale.

    python benchmarks/representations.py --data-dir ../shared/datasets --dataset fashion-mnist
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import graph_purity, markdown_table, space_encoders, space_label, write_json  # noqa: E402

from latal.experiment import ExperimentConfig, prepare  # noqa: E402
from latal.learners.semi import knn_graph, poisson_potentials  # noqa: E402
from latal.encoders.stack import StackedEncoder  # noqa: E402

SPACES = ("pixels", "pca", "conv_vae", "conv_vae+umap", "simclr", "conv_vae+simclr")
#: spaces named here rather than made of encoder parts
NAMED = ("pixels", "pca", "conv_vae+umap")


def space(name: str, args, x: np.ndarray) -> np.ndarray:
    if name == "pixels":
        return x
    if name == "pca":
        from sklearn.decomposition import PCA

        return PCA(50, random_state=args.seed).fit_transform(x).astype(np.float32)
    refine = None
    if name == "conv_vae+umap":
        name, refine = "conv_vae", "umap"
    encoders = space_encoders(name, args.simclr)
    parts = [prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder=encoder, refine=refine,
                                      seed=args.seed), progress=True).latent for encoder in encoders]
    if len(parts) == 1:
        return np.asarray(parts[0].mean, dtype=np.float32)
    return StackedEncoder.join(parts).mean  # what `--encoder a+b` gives


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--spaces", nargs="+", default=list(SPACES),
                    help=f"{', '.join(SPACES)}, or encoder parts joined by '+' (conv_vae, simclr, simclrK, simclrs)")
    ap.add_argument("--simclr", nargs="+", default=["simclr:flip=True"],
                    help="encoder spec(s) of the simclr parts: simclr is the first, simclrK the K-th, simclrs all")
    ap.add_argument("--per-class", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.trials < 1 or min(args.per_class) < 1:
        ap.error("--trials and --per-class must be positive")
    for name in args.spaces:
        if name not in NAMED:
            space_encoders(name, args.simclr)  # a bad name is reported before any work
    ds = prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder="identity")).dataset
    x = ds.x.reshape(len(ds.x), -1).astype(np.float32) / 255.0
    y = np.asarray(ds.y)
    n_classes = int(y.max()) + 1
    rows = []
    for name in args.spaces:
        t0 = time.perf_counter()
        features = space(name, args, x)
        W, _ = knn_graph(features, 10)
        purity = graph_purity(W, y)
        row = {"space": name if name in NAMED else space_label(name, args.simclr), "dims": int(features.shape[1]), "purity": purity}
        rng = np.random.default_rng(args.seed)
        for k in args.per_class:
            accuracy = []
            for _ in range(args.trials):
                labels = np.full(len(y), -1)
                for c in range(n_classes):
                    labels[rng.choice(np.flatnonzero(y == c), k, replace=False)] = c
                accuracy.append(float(np.mean(poisson_potentials(W, labels, n_classes).argmax(1) == y)))
            row[f"accuracy_{k}"] = accuracy
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(f"  {name}: {row['seconds']:.0f} s", file=sys.stderr, flush=True)
    write_json(args.out or f"benchmarks/results/representations_{args.dataset}.json", "representations", args,
               spaces=rows)
    print(markdown_table(
        ["space", "dims", "10-NN purity %"] + [f"Poisson, {k} random per class: pool %" for k in args.per_class]
        + ["seconds"],
        [[r["space"], r["dims"], f"{100 * r['purity']:.1f}"]
         + [f"{100 * np.mean(r[f'accuracy_{k}']):.2f} ± {100 * np.std(r[f'accuracy_{k}']):.2f}" for k in args.per_class]
         + [f"{r['seconds']:.0f}"] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
