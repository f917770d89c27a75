"""Label efficiency on an imbalanced pool (issue 9, where it is silent): a practitioner's pool rarely has
its classes in equal shares, and the `label-efficient` preset's learner (Poisson learning) assumes they do.

For each seed the pool keeps every item of one class and fewer of the others, class shares falling
geometrically from the most to the least common (``--ratios``: most over least common; 1 is the balanced
pool, as a control); the class order is shuffled by the seed. The cached ``conv_vae`` latents of those items
(the encoder saw the whole balanced pool: a caveat, below) are refined by a UMAP fitted on this pool alone,
as ``--preset label-efficient`` does. Each selection picks ``--budgets`` labels at once and each learner
fits on them, reading the UMAP and the unrefined latents side by side (``learn_on="both"``). Scored on the
whole test set, per class:

- ``pool accuracy``: the share of the pool's distribution it gets right (each class's test recall weighted by
  its share of the pool), what a practitioner who labels this pool by the model sees;
- ``balanced accuracy``: the mean of the class recalls (every class counting the same);
- ``classes``: how many classes the labels hold, and the recall of the rarest class.

Learners: Poisson learning with uniform class priors (the preset's), with the labels' proportions
(``class_priors=labels``), with them only where they are too uneven for equal classes (``class_priors=auto``),
with the true pool proportions (an oracle no practitioner has: the ceiling of a prior), label spreading, and
the thesis MLP; ``cnn_student`` specs (the ``-cnn`` and ``-large`` presets' learner, its teacher in the UMAP
space and the pool's images) may be added with ``--learners``. ``--include`` adds the results of earlier runs
(other ratios, seeds or learners) to the table and the JSON. A selection ``"A>B"`` picks half the labels with
A, then the rest with B given them (what ``latal run --initial-strategy A --strategy B`` does in one round),
e.g. ``"maxherding>maxherding:density_power=1"``: the pool's mass first, then regions however few items they
hold (BENCHMARKS.md, "Finding the rare classes").

    LATAL_THREADS=1 python benchmarks/imbalanced_pool.py --data-dir ../shared/datasets --dataset mnist
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.encoders.base import Latent  # noqa: E402
from latal.encoders.refine import refine_latents  # noqa: E402
from latal.experiment import ExperimentConfig, learner_for, prepare  # noqa: E402
from latal.learners import make_learner  # noqa: E402
from latal.learners.base import fit_extras  # noqa: E402
from latal.learners.semi import PoissonLearning  # noqa: E402
from latal.pool import Pool  # noqa: E402
from latal.strategies import STRATEGIES  # noqa: E402
from latal.strategies.base import QueryContext  # noqa: E402

LEARNERS = ["poisson", "poisson:class_priors=labels", "poisson:class_priors=auto", "poisson (true priors)",
            "label_spreading", "mlp"]


def imbalanced_subset(y: np.ndarray, ratio: float, rng: np.random.Generator, n_classes: int):
    """Indices of ``y`` keeping class shares ``ratio ** (-rank / (n_classes - 1))`` of the smallest class's
    size, the rank order shuffled by ``rng``; and the pool's class shares."""
    rank = rng.permutation(n_classes)
    size = np.bincount(y, minlength=n_classes).min()
    keep = []
    for c in range(n_classes):
        n_c = max(1, int(round(size * ratio ** (-rank[c] / (n_classes - 1)))))
        keep.append(rng.choice(np.flatnonzero(y == c), n_c, replace=False))
    keep = np.sort(np.concatenate(keep))
    return keep, np.bincount(y[keep], minlength=n_classes) / keep.size


def scores(pred: np.ndarray, y_test: np.ndarray, shares: np.ndarray) -> dict:
    k = shares.size
    recall = np.array([(pred[y_test == c] == c).mean() for c in range(k)])
    return {"pool_accuracy": float(recall @ shares), "balanced_accuracy": float(recall.mean()),
            "rarest_recall": float(recall[int(np.argmin(shares))]), "recall": recall.tolist()}


def select_in_stages(pool: Pool, strategy: str, budget: int, y: np.ndarray, seed: int) -> np.ndarray:
    """Pick ``budget`` items of ``pool`` and label them from ``y``. ``"A>B"`` picks the first half with A and
    the rest with B after those labels are in (``latal run --initial-strategy A --strategy B``, one round)."""
    stages = strategy.split(">")
    sizes = [budget // len(stages)] * len(stages)
    sizes[0] += budget - sum(sizes)
    picks = []
    for i, (spec, k) in enumerate(zip(stages, sizes)):
        rng = np.random.default_rng([seed, budget] + [i] * (i > 0))  # one stage: the draws as before
        chosen = STRATEGIES.build(spec).select(QueryContext(pool.view()), k, rng)
        pool.add_labels(chosen, y[chosen])
        picks.append(chosen)
    return np.concatenate(picks)


def build_learner(name: str, shares: np.ndarray, split: int):
    inner = PoissonLearning(class_priors=shares) if name == "poisson (true priors)" else make_learner(name)
    if getattr(inner, "uses_inputs", False):  # the CNN student reads the UMAP space, as in its presets
        return inner
    return learner_for(inner, "both", split)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--ratios", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    ap.add_argument("--budgets", type=int, nargs="+", default=[20, 50, 100])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4],
                    help="none: only table the --include files")
    ap.add_argument("--strategies", nargs="+", default=["random", "maxherding", "typiclust"])
    ap.add_argument("--learners", nargs="+", default=LEARNERS)
    ap.add_argument("--include", nargs="*", default=[], help="JSON files of earlier runs to table beside these")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or f"benchmarks/results/imbalanced_pool_{args.dataset}.json"
    prep = prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder="conv_vae"))
    Z_all, y_all = np.asarray(prep.latent.mean), np.asarray(prep.dataset.y)
    Z_test, y_test = np.asarray(prep.test_latent.mean), np.asarray(prep.dataset.y_test)
    X_all, X_test = prep.dataset.x, prep.dataset.x_test
    names = [str(c) for c in prep.dataset.class_names]
    k = len(names)
    results = []
    for ratio in args.ratios:
        for seed in args.seeds:
            rng = np.random.default_rng([seed, int(ratio)])
            keep, shares = imbalanced_subset(y_all, ratio, rng, k)
            t0 = time.perf_counter()
            ref, ref_test, _ = refine_latents("umap", Latent(Z_all[keep]), Latent(Z_test), base_key=None)
            umap_s = time.perf_counter() - t0
            both, both_test = np.hstack([ref.mean, Z_all[keep]]), np.hstack([ref_test.mean, Z_test])
            split = ref.mean.shape[1]
            for strategy in args.strategies:
                for budget in args.budgets:
                    pool = Pool(ref.mean, names)
                    t0 = time.perf_counter()
                    picks = select_in_stages(pool, strategy, budget, y_all[keep], seed)
                    select_s = time.perf_counter() - t0
                    labels = y_all[keep][picks]
                    refined_view = pool.view()
                    view = dataclasses.replace(refined_view, mean=both, log_var=None)
                    for name in args.learners:
                        learner = build_learner(name, shares, split)
                        t0 = time.perf_counter()
                        fitted = learner.clone(**({"random_state": seed} if "random_state" in learner.get_params() else {}))
                        if getattr(fitted, "uses_inputs", False):  # the CNN student: the images, its teacher in the UMAP
                            fitted = fitted.fit(ref.mean[picks], labels, n_classes=k, pool=refined_view, inputs=X_all[keep])
                            pred = fitted.predict_proba(ref_test.mean, inputs=X_test).argmax(1)
                        else:
                            fitted = fitted.fit(both[picks], labels, n_classes=k, **fit_extras(fitted, view))
                            pred = fitted.predict_proba(both_test).argmax(1)
                        fit_s = time.perf_counter() - t0
                        res = {"ratio": ratio, "seed": seed, "pool": int(keep.size), "strategy": strategy,
                               "budget": budget, "learner": name, "classes_labeled": int(np.unique(labels).size),
                               "umap_seconds": umap_s, "select_seconds": select_s, "fit_seconds": fit_s,
                               **scores(pred, y_test, shares)}
                        results.append(res)
                        print(f"r={ratio:g} s={seed} {strategy} {budget} {name}: pool {100 * res['pool_accuracy']:.2f} "
                              f"bal {100 * res['balanced_accuracy']:.2f} classes {res['classes_labeled']} "
                              f"({fit_s:.1f}s)", file=sys.stderr, flush=True)
            write_json(out, "imbalanced_pool", args, results=results)
    key = ("ratio", "seed", "strategy", "budget", "learner")
    seen = {tuple(r[k] for k in key) for r in results}
    for path in args.include:
        for r in json.loads(Path(path).read_text())["results"]:
            if tuple(r[k] for k in key) not in seen:
                seen.add(tuple(r[k] for k in key))
                results.append(r)
    write_json(out, "imbalanced_pool", args, results=results)
    rows = []
    ordered = lambda field, first: list(dict.fromkeys([*first, *(r[field] for r in results)]))  # noqa: E731
    for ratio in sorted({r["ratio"] for r in results}):
        for strategy in ordered("strategy", args.strategies):
            for budget in sorted({r["budget"] for r in results}):
                for name in ordered("learner", args.learners):
                    mine = [r for r in results if (r["ratio"], r["strategy"], r["budget"], r["learner"])
                            == (ratio, strategy, budget, name)]
                    if not mine:
                        continue

                    def ms(key, scale=100.0):
                        v = scale * np.array([r[key] for r in mine])
                        return f"{v.mean():.2f} ± {v.std(ddof=1) if v.size > 1 else 0.0:.2f}"
                    rows.append([f"{ratio:g}", strategy, budget, name, len(mine), ms("pool_accuracy"), ms("balanced_accuracy"),
                                 ms("rarest_recall"), ms("classes_labeled", 1.0), f"{np.mean([r['fit_seconds'] for r in mine]):.1f}"])
    print(markdown_table(["most / least common", "selection", "labels", "learner", "seeds", "pool accuracy %",
                          "balanced accuracy %", "rarest class recall %", "classes labeled", "fit s"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
