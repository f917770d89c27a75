"""The contrastive preset at 10 labels (issue 9): does the SimCLR part's weight beside the VAE matter, and how much
does the UMAP fit's own seed move the figure?

The preset joins the VAE and SimCLR latents side by side, each row of each part at unit length (equal weight),
chooses 10 labels by MaxHerding in the UMAP of the joined space and learns them by Poisson learning over the joined
space itself (``--learn-on latents``). Here the SimCLR part is scaled by ``w`` before both steps (its share of a
squared distance becomes ``w**2``), and the UMAP can be fitted with another ``random_state``. Each variant is
``key=value`` pairs joined by ``;``: ``w`` (1.0, the preset), ``refine`` (the UMAP spec, ``umap``), ``learner``
(``poisson``), ``selection`` (``maxherding``), and, when ``--simclr`` names several SimCLR builds, ``choose`` and
``learn`` (how many of them, first first, join the VAE in the space the UMAP chooses in and in the space the learner
reads; 1 and ``choose`` by default) and ``lw`` (each SimCLR build's weight in the learner's space; ``w`` by default).
``umaps=N`` fits the UMAP with seeds 0 to N-1 and lets MaxHerding choose with its kernel averaged over the N
embeddings (each at its own bandwidth), so that no one fit's tears and merges decide the picks.
Test accuracy over ``--seeds`` (MaxHerding's coverage sample and the learner take the seed) and the classes the ten
labels cover:

    LATAL_THREADS=1 python benchmarks/part_weights.py --data-dir ../shared/datasets \\
        --simclr "simclr:flip=True,epochs=10" --variants "w=1.0" "w=0.7" "w=1.0;refine=umap:random_state=1"
    # choose as the preset does, learn over the VAE beside three SimCLR builds
    LATAL_THREADS=1 python benchmarks/part_weights.py --data-dir ../shared/datasets \
        --simclr "simclr:flip=True,epochs=10" "simclr:flip=True,epochs=10,random_state=1" \
        "simclr:flip=True,epochs=10,random_state=2" --variants "w=1.0" "learn=3" "learn=3;lw=0.577"
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
from latal.encoders.stack import StackedEncoder, weigh_parts  # noqa: E402
from latal.experiment import ExperimentConfig, Prepared, prepare, run_experiment  # noqa: E402
from latal.strategies import STRATEGIES  # noqa: E402
from latal.strategies.typical import MaxHerding, _gaussian, purity_radius  # noqa: E402

DEFAULTS = {"w": "1.0", "refine": "umap", "learner": "poisson", "selection": "maxherding", "choose": "1", "learn": None,
            "lw": None, "umaps": "1"}
VIEWS: list[np.ndarray] = []  # the embeddings ViewsMaxHerding averages its kernel over (set per variant)


class ViewsMaxHerding(MaxHerding):
    """MaxHerding whose kernel is the mean of each view's Gaussian kernel (``VIEWS``: the pool's rows in several
    embeddings, the first the pool's own), each at ``scale`` times that view's ProbCover radius. Cold start
    only: the coverage of labeled items is measured in the first view alone."""

    def _select(self, ctx, k, rng):
        if len(ctx.pool.labeled):
            raise ValueError("ViewsMaxHerding chooses a cold start only (no labeled items)")
        self._n_classes = ctx.pool.n_classes
        return super()._select(ctx, k, rng)

    def _fill_kernel(self, sample, z, s, K):
        super()._fill_kernel(sample, z, s, K)
        for view in VIEWS[1:]:
            zv = np.ascontiguousarray(view[sample], dtype=np.float32)
            sv = self.scale * purity_radius(np.asarray(view, dtype=np.float32), self._n_classes, self.purity,
                                            self.random_state)
            for i in range(0, zv.shape[0], 2048):
                K[i : i + 2048] += _gaussian(zv[i : i + 2048], zv, sv)
        K *= np.float32(1.0 / len(VIEWS))


STRATEGIES.register("maxherding_views", ViewsMaxHerding, "MaxHerding over the mean kernel of several embeddings")


def parse_variant(text: str) -> dict:
    opts = dict(DEFAULTS)
    for item in filter(None, text.split(";")):
        key, sep, value = item.partition("=")
        if not sep or key not in DEFAULTS:
            raise SystemExit(f"variant {text!r}: each part must be key=value with key one of {sorted(DEFAULTS)}")
        opts[key] = value
    opts["learn"] = opts["learn"] or opts["choose"]
    opts["lw"] = opts["lw"] or opts["w"]
    return opts


def joined(vae: Latent, simclr: Latent | list[Latent], w: float) -> Latent:
    """The preset's joined space (``StackedEncoder.join``, what ``--encoder a+b`` gives) with the SimCLR parts
    weighted ``w`` (:func:`~latal.encoders.stack.weigh_parts`, what ``--learn-weights 1,w`` does)."""
    z = StackedEncoder.join([vae, *(simclr if isinstance(simclr, list) else [simclr])])
    return Latent(weigh_parts(z, (1.0,) + (w,) * (len(z.parts) - 1)), parts=z.parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--vae", default="conv_vae:epochs=30", help="the VAE part's encoder spec (the preset's)")
    ap.add_argument("--simclr", nargs="+", default=["simclr:flip=True,epochs=10"],
                    help="the SimCLR part's encoder spec; several: SimCLR builds for the choose/learn keys")
    ap.add_argument("--variants", nargs="+", default=["w=1.0", "w=0.7", "w=1.4"])
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    variants = {v: parse_variant(v) for v in args.variants}  # checked before any training
    for text, opts in variants.items():
        if int(opts["umaps"]) > 1 and ("random_state" in opts["refine"] or opts["selection"] != "maxherding"):
            raise SystemExit(f"variant {text!r}: umaps=N sets the UMAP seeds itself and averages MaxHerding's kernel")
        if max(int(opts["choose"]), int(opts["learn"])) > len(args.simclr):
            raise SystemExit(f"variant {text!r} uses more SimCLR builds than --simclr names ({len(args.simclr)})")
    base = dict(dataset=args.dataset, data_dir=args.data_dir)
    vae = prepare(ExperimentConfig(**base, encoder=args.vae), progress=True)
    sims = [prepare(ExperimentConfig(**base, encoder=spec), progress=True) for spec in args.simclr]
    rows, results, spaces = [], {}, {}  # spaces: the UMAP of each choosing space, fitted once

    def space(n, w):
        return (joined(vae.latent, [s.latent for s in sims[:n]], w),
                joined(vae.test_latent, [s.test_latent for s in sims[:n]], w))

    def seeded(spec, r):
        return spec if not r else f"{spec}{',' if ':' in spec else ':'}random_state={r}"

    for text, opts in variants.items():
        t0 = time.perf_counter()
        views = []
        for r in [None] if int(opts["umaps"]) == 1 else range(int(opts["umaps"])):
            key = (int(opts["choose"]), float(opts["w"]), seeded(opts["refine"], r))
            if key not in spaces:
                spaces[key] = refine_latents(key[2], *space(key[0], key[1]), base_key=None)[:2]
            views.append(spaces[key])
        refined, refined_test = views[0]
        VIEWS[:] = [v[0].mean for v in views]
        space_s = time.perf_counter() - t0
        pool, test = space(int(opts["learn"]), float(opts["lw"]))
        prepared = Prepared(vae.dataset, vae.encoder, refined, refined_test, dict(vae.timing), pool, test)
        acc, covered, fit = [], [], []
        selection = "maxherding_views" if len(views) > 1 else opts["selection"]
        for seed in args.seeds:
            cfg = ExperimentConfig(**base, encoder="conv_vae", initial_strategy=selection, learner=opts["learner"],
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
