"""Does a contrastive encoder's space carry 10 labels further in the whole pipeline (issue 9)? One batch of
``--budget`` labels chosen without labels (ProbCover, MaxHerding, TypiClust or random) in a space, or half of them so and
the rest one at a time by the learner's uncertainty, then a graph learner (Poisson learning or label
spreading) or the CNN student; test accuracy, on the same seeds, and the classes the labels cover, in:

- ``conv_vae``: the cached ``conv_vae`` latents (the presets' encoder);
- ``simclr``: the cached latents of ``--simclr`` (a SimCLR encoder spec);
- ``conv_vae+simclr``: both side by side, each part's rows scaled to unit length (equal weight);

each also refined by UMAP (``+umap``, the presets' refinement, fitted on the pool).

With several ``--simclr`` specs (say the same encoder with ``random_state=0,1,2``), ``simclrK`` is the K-th build
and ``simclrs`` all of them side by side (an ensemble). Spaces that differ only in which build they use
(``conv_vae+simclr0+umap``, ``conv_vae+simclr1+umap``, ...), or only in an encoder's ``random_state``
(``conv_vae:random_state=0+umap``, ...), are also pooled into one row (``simclr#``, ``random_state=#``): the
mean +- std over every (build, seed) run and the std of the builds' means, which is the spread a user
training their own encoder would see (ProbCover and TypiClust are deterministic given the space, so with them the
seeds only vary the learner; MaxHerding draws its coverage sample from the seed).

    LATAL_THREADS=1 python benchmarks/combined_space.py --data-dir ../shared/datasets --dataset fashion-mnist
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, space_encoders, space_label, write_json  # noqa: E402

from latal.encoders.stack import StackedEncoder  # noqa: E402
from latal.encoders.refine import refine_latents  # noqa: E402
from latal.experiment import ExperimentConfig, Prepared, prepare, run_experiment  # noqa: E402

SPACES = ("conv_vae", "simclr", "conv_vae+simclr")
CONFIGS = {"ProbCover + Poisson": ("probcover", "poisson"), "ProbCover + label spreading": ("probcover", "label_spreading"),
           "TypiClust + Poisson": ("typiclust", "poisson"), "TypiClust + label spreading": ("typiclust", "label_spreading"), "random + Poisson": ("random", "poisson"),
           # the CNN student on the graph's pseudo-labels (the best pipeline at 10 labels on the VAE's space)
           "ProbCover + CNN student": ("probcover", "cnn_student:teacher=label_spreading,targets=soft"),
           "TypiClust + CNN student": ("typiclust", "cnn_student:teacher=label_spreading,targets=soft"),
           # generalized coverage (a Gaussian kernel instead of ProbCover's balls): the picks vary with the seed
           "MaxHerding + label spreading": ("maxherding", "label_spreading"),
           "MaxHerding, sample of 12,000 + label spreading": ("maxherding:max_points=12000", "label_spreading"),
           "MaxHerding + CNN student": ("maxherding", "cnn_student:teacher=label_spreading,targets=soft"),
           # further generations: the labels propagated again over the previous student's features
           "MaxHerding + CNN student, 2 generations": ("maxherding", "cnn_student:teacher=label_spreading,targets=soft,generations=2"),
           # the kernel's bandwidth: `scale` times ProbCover's purity radius (1.0, the default, above)
           **{f"MaxHerding, scale {s} + label spreading": (f"maxherding:scale={s}", "label_spreading")
              for s in (0.5, 0.7, 1.4, 2.0)},
           **{f"MaxHerding, scale {s} + Poisson": (f"maxherding:scale={s}", "poisson") for s in (0.5, 0.7, 1.4, 2.0)},
           # the picks made in the UMAP space, the learner reading the unrefined latents or both (`learn_on`)
           "MaxHerding + Poisson": ("maxherding", "poisson"),
           "MaxHerding + Poisson on the unrefined latents": ("maxherding", "poisson", 1.0, "margin", "latents"),
           "MaxHerding + Poisson on both": ("maxherding", "poisson", 1.0, "margin", "both"),
           "MaxHerding, scale 1.4 + Poisson on the unrefined latents": ("maxherding:scale=1.4", "poisson", 1.0, "margin", "latents"),
           # the student taught by the graph over the unrefined latents (its own input stays the images)
           "MaxHerding + CNN student on the unrefined latents": ("maxherding", "cnn_student:teacher=label_spreading,targets=soft",
                                                                 1.0, "margin", "latents"),
           # half the budget by ProbCover, then one label at a time by the graph learner's uncertainty
           # (the labels seen so far steer the rest): (initial strategy, learner, first labels, strategy)
           "ProbCover half, then entropy one at a time + label spreading": ("probcover", "label_spreading", 0.5, "entropy"),
           "ProbCover half, then margin one at a time + label spreading": ("probcover", "label_spreading", 0.5, "margin")}
DEFAULT_CONFIGS = ["ProbCover + Poisson", "ProbCover + label spreading", "TypiClust + Poisson", "random + Poisson"]


def space(encoders: list[str], umap: bool, parts: dict[str, Prepared], refine: str = "umap") -> Prepared:
    first = parts[encoders[0]]
    if len(encoders) == 1:
        latent, test = first.latent, first.test_latent
    else:
        latent = StackedEncoder.join([parts[e].latent for e in encoders])  # what `--encoder a+b` gives
        test = StackedEncoder.join([parts[e].test_latent for e in encoders])
    timing = dict(first.timing)
    unrefined = unrefined_test = None
    if umap:
        unrefined, unrefined_test = latent, test
        latent, test, extra = refine_latents(refine, latent, test, base_key=None)
        timing.update(extra)
    return Prepared(first.dataset, first.encoder, latent, test, timing, unrefined, unrefined_test)


def pool_builds(results: dict) -> list:
    """Spaces that differ only in the build (the SimCLR build number, or an encoder's ``random_state``),
    pooled: ((space with ``simclr#`` / ``random_state=#``, config), every accuracy, each build's mean), for
    groups of at least two builds."""
    import re

    groups: dict = {}
    for sname, configs in results.items():
        group = re.sub(r"random_state=\d+", "random_state=#", re.sub(r"simclr\d+", "simclr#", sname))
        if group == sname:
            continue
        for cname, res in configs.items():
            groups.setdefault((group, cname), []).append(res["acc"])
    return [(key, [a for accs in runs for a in accs], [float(np.mean(accs)) for accs in runs])
            for key, runs in groups.items() if len(runs) > 1]


def pooled_rows(pooled) -> list:
    return [[f"{group}, over {len(means)} builds", cname,
             f"{100 * np.mean(acc):.2f} ± {100 * np.std(acc, ddof=1):.2f} (builds' means ± {100 * np.std(means, ddof=1):.2f})",
             "", ""] for (group, cname), acc, means in pooled]


def result_row(space: str, cname: str, res: dict) -> list:
    acc = res["acc"]
    return [space, cname, f"{100 * np.mean(acc):.2f} ± {100 * np.std(acc, ddof=1 if len(acc) > 1 else 0):.2f}",
            f"{np.mean(res['fit_seconds']):.1f}", f"{np.mean(res['classes_covered']):.1f}"]


HEADER = ["space", "selection + learner", "test % at {} labels", "fit s", "classes covered"]


def merge(args) -> int:
    """The table of several runs' JSON files side by side, and their builds pooled."""
    import json

    results, budgets = {}, set()
    for path in args.merge:
        run = json.loads(Path(path).read_text())
        budgets.add(run["args"]["budget"])
        for sname, configs in run["results"].items():
            results.setdefault(sname, {}).update(configs)
    if len(budgets) != 1:
        raise SystemExit(f"--merge: the runs have different budgets {sorted(budgets)}; pool runs of one budget.")
    rows = [result_row(sname, cname, r) for sname, configs in results.items() for cname, r in configs.items()]
    pooled = pool_builds(results)
    rows += pooled_rows(pooled)
    if args.out:
        write_json(args.out, "combined_space", args, results=results,
                   over_builds=[{"space": g, "config": c, "acc": a, "build_means": m} for (g, c), a, m in pooled])
    budget = budgets.pop()
    print(markdown_table([h.format(budget) for h in HEADER], rows))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--simclr", nargs="+", default=["simclr:flip=True"],
                    help="SimCLR encoder spec(s): simclr is the first, simclrK the K-th (from 0), simclrs all")
    ap.add_argument("--spaces", nargs="+", default=[s + u for s in SPACES for u in ("", "+umap")],
                    help="encoder parts joined by '+' (conv_vae, simclr, simclrK, simclrs or an encoder spec), '+umap' to refine")
    ap.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, choices=list(CONFIGS))
    ap.add_argument("--refine", default="umap", help="the refinement spec of the '+umap' spaces (umap:n_neighbors=50, ...)")
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default=None)
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="run nothing: pool the results of earlier runs (say one build per process) into one table")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args)
    base = dict(dataset=args.dataset, data_dir=args.data_dir)
    encoders = {s: space_encoders(s.removesuffix("+umap"), args.simclr) for s in args.spaces}
    parts = {e: prepare(ExperimentConfig(**base, encoder=e), progress=True)
             for e in dict.fromkeys(e for es in encoders.values() for e in es)}
    rows, results = [], {}
    for sname in args.spaces:
        umap = sname.endswith("+umap")
        t0 = time.perf_counter()
        prepared = space(encoders[sname], umap, parts, args.refine)
        build = time.perf_counter() - t0
        for cname in args.configs:
            given = CONFIGS[cname]  # (initial strategy, learner[, first share, strategy[, learn_on]])
            init, learner, first, strategy, learn_on = given + (None, None, 1.0, "margin", "refined")[len(given):]
            initial = max(1, round(first * args.budget))
            acc, fit, covered = [], [], []
            for seed in args.seeds:
                cfg = ExperimentConfig(**base, encoder="conv_vae", initial_strategy=init, learner=learner, strategy=strategy,
                                       initial=initial, batch=1, rounds=args.budget - initial, seed=seed,
                                       refine="umap" if umap else None, learn_on=learn_on)
                run = run_experiment(cfg, prepared=prepared)
                acc.append(run["rounds"][-1]["accuracy"])
                fit.append(run["rounds"][-1]["seconds"]["fit"])
                labeled = list(run["initial"]) + [i for r in run["rounds"] for i in (r.get("queried") or [])]
                covered.append(len(set(prepared.dataset.y[labeled].tolist())))  # classes the labels cover
            results.setdefault(sname, {})[cname] = {"acc": acc, "fit_seconds": fit, "space_seconds": build,
                                                    "classes_covered": covered}
            label = space_label(sname.removesuffix("+umap"), args.simclr) + (" + UMAP" if umap else "")
            rows.append(result_row(label, cname, results[sname][cname]))
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    pooled = pool_builds(results)
    rows += pooled_rows(pooled)
    write_json(args.out or f"benchmarks/results/combined_space_{args.dataset}_{args.budget}.json", "combined_space",
               args, results=results,
               over_builds=[{"space": g, "config": c, "acc": a, "build_means": m} for (g, c), a, m in pooled])
    print(markdown_table([h.format(args.budget) for h in HEADER], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
