"""Tried for 10 Fashion-MNIST labels (issue 9), not kept: MaxHerding picking only among items whose
neighbourhoods two encoders agree on.

``benchmarks/class_oracle.py`` found that where the ten labels sit decides the result, and that the labeled
items' own neighbourhood purity is what good placements share. A label-free stand-in for that purity: the
share of an item's 20 nearest neighbours that the ``conv_vae`` latents and the SimCLR latents have in
common (on Fashion-MNIST the half of the pool that agrees most has 86 % neighbour purity, against 80 % for
all). This script restricts MaxHerding's candidates (not its coverage) to the items at or above the
``--quantile`` of agreement, then runs the preset's pipeline on one SimCLR build: MaxHerding in the UMAP
space, Poisson learning over the unrefined latents (``combined_space.py``'s config "MaxHerding + Poisson
on the unrefined latents"), and writes its table and JSON.

    LATAL_THREADS=1 python benchmarks/agreement_candidates.py --data-dir ../shared/datasets --build 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIMCLR = "simclr:flip=True,epochs=10"


def agreement(data_dir: str, build: int, k: int = 20) -> np.ndarray:
    """Per item: the share of its ``k`` nearest neighbours common to the VAE's and SimCLR build ``build``'s latents."""
    from latal.experiment import ExperimentConfig, prepare
    from latal.neighbors import NeighborIndex

    spec = SIMCLR if build == 0 else f"{SIMCLR},random_state={build}"
    rows = []
    for enc in ("conv_vae", spec):
        z = np.asarray(prepare(ExperimentConfig(dataset="fashion-mnist", data_dir=data_dir, encoder=enc), progress=False).latent.mean,
                       dtype=np.float32)
        rows.append(NeighborIndex(z).others(z, k)[1])
    a, b = np.sort(rows[0], axis=1), np.sort(rows[1], axis=1)
    return np.array([np.intersect1d(x, y, assume_unique=True).size for x, y in zip(a, b)]) / k


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--build", type=int, default=0, help="SimCLR build (its random_state): 0, 1 or 2")
    ap.add_argument("--quantile", type=float, default=0.5, help="keep candidates at or above this quantile of agreement")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import combined_space
    import latal.strategies.typical as typical
    from latal.strategies.typical import MaxHerding

    keep = agreement(args.data_dir, args.build)
    keep = keep >= np.quantile(keep, args.quantile)
    greedy, gains = MaxHerding._greedy, typical._coverage_gains
    state = {}

    def restricted_greedy(self, view, sample, z, K, s, k, rng):
        state["candidates"] = keep[sample] if view.n == keep.size else np.ones(sample.size, dtype=bool)
        return greedy(self, view, sample, z, K, s, k, rng)

    MaxHerding._greedy = restricted_greedy  # candidates only: every sampled item still counts for coverage
    typical._coverage_gains = lambda K, cover, weight=None: np.where(state["candidates"], gains(K, cover, weight), -np.inf).astype(np.float32)
    out = args.out or f"benchmarks/results/agreement_candidates_fashion-mnist_10_q{args.quantile}_b{args.build}.json"
    specs = [SIMCLR, f"{SIMCLR},random_state=1", f"{SIMCLR},random_state=2"]
    return combined_space.main(["--data-dir", str(args.data_dir), "--simclr", *specs, "--spaces", f"conv_vae+simclr{args.build}+umap",
                                "--configs", "MaxHerding + Poisson on the unrefined latents", "--out", out])


if __name__ == "__main__":
    raise SystemExit(main())
