"""The contrastive preset at 10 labels (issue 9): does the SimCLR part's weight beside the VAE matter, and how much
does the UMAP fit's own seed move the figure?

The preset joins the VAE and SimCLR latents side by side, each row of each part at unit length (equal weight),
chooses 10 labels by MaxHerding in the UMAP of the joined space and learns them by Poisson learning over the joined
space itself (``--learn-on latents``). Here the SimCLR part is scaled by ``w`` before both steps (its share of a
squared distance becomes ``w**2``), and the UMAP can be fitted with another ``random_state``. Each variant is
``key=value`` pairs joined by ``;``: ``w`` (1.0, the preset), ``refine`` (the UMAP spec, ``umap``), ``learner``
(``poisson``), ``selection`` (``maxherding``). Test accuracy over ``--seeds`` (MaxHerding's coverage sample and
the learner take the seed) and the classes the ten labels cover:

    LATAL_THREADS=1 python benchmarks/part_weights.py --data-dir ../shared/datasets \\
        --simclr "simclr:flip=True,epochs=10" --variants "w=1.0" "w=0.7" "w=1.0;refine=umap:random_state=1"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.encoders.base import Latent  # noqa: E402
from latal.encoders.refine import refine_latents  # noqa: E402
from latal.encoders.stack import StackedEncoder  # noqa: E402
from latal.experiment import ExperimentConfig, Prepared, prepare, run_experiment  # noqa: E402

DEFAULTS = {"w": "1.0", "refine": "umap", "learner": "poisson", "selection": "maxherding"}


def parse_variant(text: str) -> dict:
    opts = dict(DEFAULTS)
    for item in filter(None, text.split(";")):
        key, sep, value = item.partition("=")
        if not sep or key not in DEFAULTS:
            raise SystemExit(f"variant {text!r}: each part must be key=value with key one of {sorted(DEFAULTS)}")
        opts[key] = value
    return opts


def joined(vae: Latent, simclr: Latent, w: float) -> Latent:
    """The preset's joined space (``StackedEncoder.join``, what ``--encoder a+b`` gives) with the SimCLR part,
    the columns after the VAE's, scaled by ``w``."""
    z = StackedEncoder.join([vae, simclr])
    z.mean[:, vae.mean.shape[1]:] *= w
    return z


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--vae", default="conv_vae:epochs=30", help="the VAE part's encoder spec (the preset's)")
    ap.add_argument("--simclr", default="simclr:flip=True,epochs=10", help="the SimCLR part's encoder spec")
    ap.add_argument("--variants", nargs="+", default=["w=1.0", "w=0.7", "w=1.4"])
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    variants = {v: parse_variant(v) for v in args.variants}  # checked before any training
    base = dict(dataset=args.dataset, data_dir=args.data_dir)
    vae = prepare(ExperimentConfig(**base, encoder=args.vae), progress=True)
    sim = prepare(ExperimentConfig(**base, encoder=args.simclr), progress=True)
    rows, results = [], {}
    for text, opts in variants.items():
        w = float(opts["w"])
        pool, test = joined(vae.latent, sim.latent, w), joined(vae.test_latent, sim.test_latent, w)
        t0 = time.perf_counter()
        refined, refined_test, _ = refine_latents(opts["refine"], pool, test, base_key=None)
        space_s = time.perf_counter() - t0
        prepared = Prepared(vae.dataset, vae.encoder, refined, refined_test, dict(vae.timing), pool, test)
        acc, covered, fit = [], [], []
        for seed in args.seeds:
            cfg = ExperimentConfig(**base, encoder="conv_vae", initial_strategy=opts["selection"], learner=opts["learner"],
                                   initial=args.budget, rounds=0, batch=1, seed=seed, refine="umap", learn_on="latents")
            run = run_experiment(cfg, prepared=prepared)
            acc.append(run["rounds"][-1]["accuracy"])
            fit.append(run["rounds"][-1]["seconds"]["fit"])
            covered.append(len(set(vae.dataset.y[list(run["initial"])].tolist())))
        results[text] = {"options": opts, "acc": acc, "classes_covered": covered, "fit_seconds": fit,
                         "space_seconds": space_s}
        rows.append([text, f"{100 * np.mean(acc):.2f} ± {100 * np.std(acc, ddof=1 if len(acc) > 1 else 0):.2f}",
                     " / ".join(f"{100 * a:.2f}" for a in acc), f"{np.mean(covered):.1f}", f"{space_s:.0f}"])
        print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    write_json(args.out or f"benchmarks/results/part_weights_{args.dataset}_{args.budget}.json", "part_weights", args,
               results=results)
    print(markdown_table(["variant", f"test % at {args.budget} labels", "runs", "classes covered", "UMAP s"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
