"""Label efficiency beyond the papers (issue 9): test accuracy at tiny and small budgets when one batch of
b labels is chosen without labels and the learner may use the unlabeled pool. Ablation on the same
seeds: random + MLP (the papers' setting), selection only, learner only, both, and the latent space
(conv-VAE latents vs their UMAP refinement).

    pip install -e ".[refine]"
    python benchmarks/label_efficiency.py --data-dir ../shared/datasets --dataset mnist --repeats 5 --jobs 2
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import markdown_table, run_many, write_json  # noqa: E402

from latal.experiment import ExperimentConfig  # noqa: E402

# name -> (refine, initial strategy, learner)
CONFIGS = {
    "random + MLP (VAE latents)": (None, "random", "mlp"),
    "ProbCover + MLP (UMAP)": ("umap", "probcover", "mlp"),
    "random + label spreading (UMAP)": ("umap", "random", "label_spreading"),
    "random + label spreading (VAE latents)": (None, "random", "label_spreading"),
    "ProbCover + label spreading (VAE latents)": (None, "probcover", "label_spreading"),
    "ProbCover + label spreading (UMAP)": ("umap", "probcover", "label_spreading"),
    "TypiClust + label spreading (UMAP)": ("umap", "typiclust", "label_spreading"),
    # Poisson learning over the same graph
    "random + Poisson (VAE latents)": (None, "random", "poisson"),
    "random + Poisson (UMAP)": ("umap", "random", "poisson"),
    "ProbCover + Poisson (UMAP)": ("umap", "probcover", "poisson"),
    "TypiClust + Poisson (UMAP)": ("umap", "typiclust", "poisson"),
    # generalized (Gaussian-kernel) coverage instead of ProbCover's balls
    "MaxHerding + Poisson (UMAP)": ("umap", "maxherding", "poisson"),
    "MaxHerding + label spreading (UMAP)": ("umap", "maxherding", "label_spreading"),
    # the pixel-space student on label spreading's pseudo-labels (its first teacher)
    "random + CNN student (UMAP)": ("umap", "random", "cnn_student:teacher=label_spreading,targets=soft"),
    "ProbCover + CNN student (UMAP)": ("umap", "probcover", "cnn_student:teacher=label_spreading,targets=soft"),
    "TypiClust + CNN student (UMAP)": ("umap", "typiclust", "cnn_student:teacher=label_spreading,targets=soft"),
    "MaxHerding + CNN student (UMAP)": ("umap", "maxherding", "cnn_student:teacher=label_spreading,targets=soft"),
    "TypiClust + CNN student, 10 epochs (UMAP)": ("umap", "typiclust", "cnn_student:epochs=10,teacher=label_spreading,targets=soft"),
    # ... and on Poisson learning's (its default teacher)
    "random + CNN student on Poisson (UMAP)": ("umap", "random", "cnn_student"),
    "ProbCover + CNN student on Poisson (UMAP)": ("umap", "probcover", "cnn_student"),
    "TypiClust + CNN student on Poisson (UMAP)": ("umap", "typiclust", "cnn_student"),
    "TypiClust + CNN student on Poisson, 10 epochs (UMAP)": ("umap", "typiclust", "cnn_student:epochs=10"),
    "TypiClust + CNN student on Poisson, soft targets (UMAP)": ("umap", "typiclust", "cnn_student:targets=soft"),
    "TypiClust + CNN student on Poisson, soft targets, 10 epochs (UMAP)": ("umap", "typiclust",
                                                                          "cnn_student:epochs=10,targets=soft"),
    # three generations: the labels propagated again over each student's features (Iscen et al. 2019)
    "TypiClust + CNN student on Poisson, 3 generations of 5 epochs (UMAP)": ("umap", "typiclust",
                                                                            "cnn_student:epochs=5,generations=3"),
    "TypiClust + CNN student on Poisson, soft targets, 3 generations of 5 epochs (UMAP)": (
        "umap", "typiclust", "cnn_student:epochs=5,generations=3,targets=soft"),
    "TypiClust + CNN student on Poisson, soft targets, 3 generations of 5 epochs, the last 15 (UMAP)": (
        "umap", "typiclust", "cnn_student:epochs=5,generations=3,targets=soft,final_epochs=15"),
    "TypiClust + CNN student on Poisson, soft targets, 3 generations of 5 epochs, the last 15 with batch norm (UMAP)": (
        "umap", "typiclust", "cnn_student:epochs=5,generations=3,targets=soft,final_epochs=15,final_arch=conv3bn"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--encoder", default="conv_vae")
    ap.add_argument("--budgets", nargs="+", type=int, default=[10, 20, 50, 100, 1000, 3000])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seeds", nargs="+", type=int, default=None,
                    help="run these seeds instead of 0..repeats-1 (to split one table across processes)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or f"benchmarks/results/label_efficiency_{args.dataset}.json"
    cfgs, names = [], []
    for name in args.configs:
        refine, init, learner = CONFIGS[name]
        for b in args.budgets:
            for seed in (args.seeds if args.seeds is not None else range(args.repeats)):
                cfgs.append(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder=args.encoder,
                                             refine=refine, initial_strategy=init, learner=learner, initial=b,
                                             batch=1, rounds=0, seed=seed))
                names.append(name)
    # group the runs by latent space so each worker prepares (and caches) one refinement at a time
    order = sorted(range(len(cfgs)), key=lambda i: (cfgs[i].refine or "", names[i]))
    cfgs, names = [cfgs[i] for i in order], [names[i] for i in order]
    runs = run_many(cfgs, jobs=args.jobs, label=lambda c: f"{c.refine} {c.initial_strategy} {c.learner} b={c.initial} seed {c.seed}")
    summary: dict = {}
    for name, run in zip(names, runs):
        b = run["config"]["initial"]
        cell = summary.setdefault(name, {}).setdefault(b, {"acc": [], "seconds": []})
        cell["acc"].append(run["rounds"][-1]["accuracy"])
        cell["seconds"].append(run["rounds"][-1]["seconds"]["fit"])  # the learner's fit; encoder and refinement times are in each run's "timing"
    for name in summary:
        for b, cell in summary[name].items():
            cell["mean"] = float(np.mean(cell["acc"]))
            cell["std"] = float(np.std(cell["acc"], ddof=1)) if len(cell["acc"]) > 1 else 0.0
    write_json(out, "label_efficiency", args, summary={n: {str(b): c for b, c in v.items()} for n, v in summary.items()},
               runs=runs)
    rows = [[name] + [f"{100 * summary[name][b]['mean']:.2f} ± {100 * summary[name][b]['std']:.2f}" for b in args.budgets]
            for name in args.configs if name in summary]
    print(markdown_table(["selection + learner (latents)"] + [f"{b} labels" for b in args.budgets], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
