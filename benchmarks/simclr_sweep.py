"""Which SimCLR settings make the purest neighbourhoods on this CPU? (issue 9, 10 Fashion-MNIST labels)

Each ``--variants`` spec (an encoder spec, ``simclr:...``) is trained from scratch on the same random
``--subset`` of the pool's images, for the epochs the spec names, one core; then, on that subset:

- the 10-NN purity of its latents (the share of each item's 10 nearest neighbours that carry its class),
  alone and beside the cached ``conv_vae`` latents of the same items (each part at unit length, what
  ``--encoder "conv_vae+simclr:..."`` gives);
- Poisson learning over the 10-NN graph of the joined space from one random label per class: the share of
  the subset it gets right, mean +- std over ``--trials`` draws (the same draws for every variant).

A subset and a few epochs make a sweep of settings affordable (about 5 minutes a variant at 20,000
images and 10 epochs); the variant that wins is then trained on the whole pool and measured with
``combined_space.py``.

    LATAL_THREADS=1 python benchmarks/simclr_sweep.py --data-dir ../shared/datasets \\
        --variants "simclr:flip=True,epochs=10" "simclr:flip=True,epochs=10,temperature=0.5"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import graph_purity, markdown_table, write_json  # noqa: E402

from latal.encoders import Latent, make_encoder  # noqa: E402
from latal.encoders.stack import StackedEncoder  # noqa: E402
from latal.experiment import ExperimentConfig, prepare  # noqa: E402
from latal.learners.semi import knn_graph, poisson_potentials  # noqa: E402


def poisson_draws(W, y, draws: list[np.ndarray]) -> list[float]:
    n_classes = int(y.max()) + 1
    out = []
    for picks in draws:
        labels = np.full(len(y), -1)
        labels[picks] = y[picks]
        out.append(float(np.mean(poisson_potentials(W, labels, n_classes).argmax(1) == y)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--variants", nargs="+", required=True, help="SimCLR encoder specs, e.g. simclr:flip=True,epochs=10")
    ap.add_argument("--subset", type=int, default=20000)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    for spec in args.variants:
        make_encoder(spec)  # a bad spec is reported before any training
    ds = prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder="identity")).dataset
    if not 10 <= args.subset <= len(ds.x):
        ap.error(f"--subset must be between 10 and the pool's {len(ds.x)} images")
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(ds.x), args.subset, replace=False))
    images, y = ds.x[idx], np.asarray(ds.y)[idx]
    vae = prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder="conv_vae",
                                   seed=args.seed)).latent
    vae = Latent(np.asarray(vae.mean, dtype=np.float32)[idx])
    draws = [np.array([rng.choice(np.flatnonzero(y == c)) for c in range(int(y.max()) + 1)])
             for _ in range(args.trials)]
    W, _ = knn_graph(np.asarray(vae.mean, dtype=np.float32), 10)
    rows = [{"variant": "conv_vae alone (cached, whole pool)", "purity": graph_purity(W, y), "joined_purity": None,
             "poisson": poisson_draws(W, y, draws), "seconds": 0.0}]
    for spec in args.variants:
        t0 = time.perf_counter()
        encoder = make_encoder(spec, progress=False).fit(images)
        latent = encoder.encode(images)
        fit_s = time.perf_counter() - t0
        alone = graph_purity(knn_graph(np.asarray(latent.mean, dtype=np.float32), 10)[0], y)
        W, _ = knn_graph(StackedEncoder.join([vae, latent]).mean, 10)
        rows.append({"variant": spec, "purity": alone, "joined_purity": graph_purity(W, y),
                     "poisson": poisson_draws(W, y, draws), "seconds": fit_s})
        print(f"  {spec}: {fit_s:.0f} s, purity {100 * alone:.1f}, joined {100 * rows[-1]['joined_purity']:.1f}, "
              f"Poisson {100 * np.mean(rows[-1]['poisson']):.2f}", file=sys.stderr, flush=True)
    write_json(args.out or f"benchmarks/results/simclr_sweep_{args.dataset}.json", "simclr_sweep", args, rows=rows)
    print(markdown_table(
        ["variant", "10-NN purity %", "beside conv_vae: purity %", "Poisson, 1 random per class: subset %",
         "fit s (one core)"],
        [[f"`{r['variant']}`" if r["joined_purity"] is not None else r["variant"], f"{100 * r['purity']:.1f}",
          "" if r["joined_purity"] is None else f"{100 * r['joined_purity']:.1f}",
          f"{100 * np.mean(r['poisson']):.2f} ± {100 * np.std(r['poisson'], ddof=1):.2f}", f"{r['seconds']:.0f}"]
         for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
