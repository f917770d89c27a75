"""What `latal export --predictions` gives a practitioner: the unlabeled pool labeled by the learner.

For each budget and seed, a preset chooses ``budget`` labels from the pool (its initial strategy, as
``latal run --preset P --initial B --rounds 0`` does), its learner is fitted on them and predicts every pool
item the way the export does (:func:`latal.learners.base.pool_proba`: a graph learner's propagated
distributions). Reported on the pool items *not* labeled: the share predicted right, and the share right
among the most confident ``c`` of them for each ``--coverage`` c (how far the confidence ranks the
predictions: what ``--min-confidence`` keeps), beside the test accuracy of the same fit.

    LATAL_THREADS=1 python benchmarks/pool_predictions.py --data-dir ../shared/datasets --dataset mnist \\
        --preset label-efficient --budgets 10 100
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.experiment import PRESETS, ExperimentConfig, fill_from_preset, learner_for, prepare, run_experiment  # noqa: E402
from latal.learners import make_learner  # noqa: E402
from latal.learners.base import fit_extras, pool_proba  # noqa: E402
from latal.pool import Pool  # noqa: E402


def covered_accuracy(proba: np.ndarray, y: np.ndarray, coverage: float) -> tuple[float, float]:
    """Accuracy on the ``coverage`` most confident rows, and the confidence of the last one kept."""
    confidence = proba.max(axis=1)
    order = np.argsort(-confidence, kind="stable")[: max(1, int(round(coverage * len(y))))]
    return float(np.mean(proba[order].argmax(1) == y[order])), float(confidence[order[-1]])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--preset", default="label-efficient", choices=sorted(PRESETS))
    ap.add_argument("--budgets", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--coverage", type=float, nargs="+", default=[0.5, 0.8, 0.9])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if not all(0 < c <= 1 for c in args.coverage):
        ap.error("--coverage values must lie in (0, 1]")
    keys = ("encoder", "refine", "initial_strategy", "strategy", "learner", "learn_on")
    values = fill_from_preset(dict.fromkeys(keys), args.preset)
    base = ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, rounds=0, batch=1,
                            **{k: v for k, v in values.items() if v is not None})
    prepared = prepare(base, progress=True)
    ds = prepared.dataset
    y = np.asarray(ds.y)
    rows_of_learner, _ = prepared.learner_latents(base.learn_on)
    rows_of_learner = prepared.latent.mean if rows_of_learner is None else rows_of_learner
    runs = []
    for budget in args.budgets:
        for seed in args.seeds:
            cfg = ExperimentConfig(**{**base.to_dict(), "initial": budget, "seed": seed})
            t0 = time.perf_counter()
            result = run_experiment(cfg, prepared=prepared)
            picks = np.asarray(result["initial"], dtype=np.int64)
            pool = Pool(prepared.latent.mean, ds.class_names)
            pool.add_labels(picks, y[picks])
            view = pool.view()
            view = dataclasses.replace(view, mean=rows_of_learner, log_var=None)
            learner = learner_for(make_learner(cfg.learner), cfg.learn_on, split=prepared.latent.mean.shape[1])
            if "random_state" in learner.get_params():
                learner.set_params(random_state=seed)
            learner.fit(rows_of_learner[picks], y[picks], n_classes=len(ds.class_names),
                        **fit_extras(learner, view, ds.x))
            proba = pool_proba(learner, rows_of_learner, ds.x)
            rest = np.setdiff1d(np.arange(len(y)), picks)
            run = {"budget": budget, "seed": seed, "test_accuracy": result["rounds"][0]["accuracy"],
                   "pool_accuracy": float(np.mean(proba[rest].argmax(1) == y[rest])),
                   "seconds": time.perf_counter() - t0}
            for c in args.coverage:
                run[f"accuracy_top_{c}"], run[f"confidence_top_{c}"] = covered_accuracy(proba[rest], y[rest], c)
            runs.append(run)
            print(f"  {budget} labels, seed {seed}: pool {100 * run['pool_accuracy']:.2f} %, "
                  f"test {100 * run['test_accuracy']:.2f} %, {run['seconds']:.0f} s", file=sys.stderr, flush=True)
    write_json(args.out or f"benchmarks/results/pool_predictions_{args.dataset}_{args.preset}.json",
               "pool_predictions", args, runs=runs)

    def cell(rs, key):
        v = 100 * np.array([r[key] for r in rs])
        return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v[0]:.2f}"

    table = []
    for budget in args.budgets:
        rs = [r for r in runs if r["budget"] == budget]
        table.append([budget, cell(rs, "test_accuracy"), cell(rs, "pool_accuracy")]
                     + [f"{cell(rs, f'accuracy_top_{c}')} (p ≥ {min(r[f'confidence_top_{c}'] for r in rs):.2f})"
                        for c in args.coverage]
                     + [f"{min(r['seconds'] for r in rs):.0f}-{max(r['seconds'] for r in rs):.0f}"])
    print(markdown_table(["labels", "test %", "unlabeled pool %"]
                         + [f"most confident {100 * c:.0f} % of it" for c in args.coverage] + ["s per seed"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
