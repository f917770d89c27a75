"""What `latal export --predictions` gives a practitioner: the unlabeled pool labeled by the learner.

For each budget and seed, a preset chooses ``budget`` labels from the pool (its initial strategy, as
``latal run --preset P --initial B --rounds 0`` does), its learner is fitted on them and predicts every pool
item the way the export does (:func:`latal.learners.base.pool_proba`: a graph learner's propagated
distributions). Reported on the pool items *not* labeled: the share predicted right, and the share right
among the most confident ``c`` of them for each ``--coverage`` c (how far the confidence ranks the
predictions: what ``--min-confidence`` keeps), beside the test accuracy of the same fit.

    LATAL_THREADS=1 python benchmarks/pool_predictions.py --data-dir ../shared/datasets --dataset mnist \\
        --preset label-efficient --budgets 10 100

``--calibration`` also asks whether the confidence reads as a probability: the expected calibration error
(15 bins) of the confidence on the unlabeled pool and its mean beside the share right, as exported and after
temperature scaling fitted (negative log-likelihood) on the labels' out-of-fold distributions (5 folds, each
fitted without its fold, as ``latal review`` does): the only labels a project has to calibrate with.
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


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    confidence, hit = proba.max(axis=1), proba.argmax(axis=1) == y
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    return float(sum(np.mean(which == b) * abs(hit[which == b].mean() - confidence[which == b].mean())
                     for b in range(bins) if np.any(which == b)))


def tempered(proba: np.ndarray, temperature: float) -> np.ndarray:
    z = np.log(np.clip(proba, 1e-12, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    q = np.exp(z)
    return q / q.sum(axis=1, keepdims=True)


def fitted_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``y`` under ``tempered(proba, T)``."""
    from scipy.optimize import minimize_scalar

    def nll(log_t):
        return -np.mean(np.log(np.clip(tempered(proba, np.exp(log_t))[np.arange(len(y)), y], 1e-12, 1.0)))

    return float(np.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--preset", default="label-efficient", choices=sorted(PRESETS))
    ap.add_argument("--budgets", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--coverage", type=float, nargs="+", default=[0.5, 0.8, 0.9])
    ap.add_argument("--calibration", action="store_true",
                    help="also the calibration of the confidence, as exported and temperature-scaled")
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
    n_classes = len(ds.class_names)

    def fit(picks, seed):
        pool = Pool(prepared.latent.mean, ds.class_names)
        pool.add_labels(picks, y[picks])
        view = dataclasses.replace(pool.view(), mean=rows_of_learner, log_var=None)
        learner = learner_for(make_learner(base.learner), base.learn_on, split=prepared.latent.mean.shape[1])
        if "random_state" in learner.get_params():
            learner.set_params(random_state=seed)
        return learner.fit(rows_of_learner[picks], y[picks], n_classes=n_classes, **fit_extras(learner, view, ds.x))

    def calibration(picks, seed, proba, y_rest) -> dict:
        from sklearn.model_selection import StratifiedKFold

        if np.bincount(y[picks], minlength=n_classes).min() < 5:
            return {}  # 5 folds need 5 labels of every class
        oof = np.zeros((picks.size, n_classes))
        for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=seed).split(picks, y[picks])):
            oof[te] = pool_proba(fit(picks[tr], seed * 31 + k), rows_of_learner, ds.x, items=picks[te])
        t = fitted_temperature(oof, y[picks])
        scaled = tempered(proba, t)
        return {"temperature": t, "oof_accuracy": float(np.mean(oof.argmax(1) == y[picks])),
                "oof_confidence": float(oof.max(1).mean()),
                "ece": expected_calibration_error(proba, y_rest), "mean_confidence": float(proba.max(1).mean()),
                "ece_scaled": expected_calibration_error(scaled, y_rest),
                "mean_confidence_scaled": float(scaled.max(1).mean())}

    runs = []
    for budget in args.budgets:
        for seed in args.seeds:
            cfg = ExperimentConfig(**{**base.to_dict(), "initial": budget, "seed": seed})
            t0 = time.perf_counter()
            result = run_experiment(cfg, prepared=prepared)
            picks = np.asarray(result["initial"], dtype=np.int64)
            proba = pool_proba(fit(picks, seed), rows_of_learner, ds.x)
            rest = np.setdiff1d(np.arange(len(y)), picks)
            run = {"budget": budget, "seed": seed, "test_accuracy": result["rounds"][0]["accuracy"],
                   "pool_accuracy": float(np.mean(proba[rest].argmax(1) == y[rest])),
                   "seconds": time.perf_counter() - t0}
            for c in args.coverage:
                run[f"accuracy_top_{c}"], run[f"confidence_top_{c}"] = covered_accuracy(proba[rest], y[rest], c)
            if args.calibration:
                run.update(calibration(picks, seed, proba[rest], y[rest]))
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
    cal = [r for r in runs if "ece" in r]
    if cal:
        print()
        print(markdown_table(
            ["labels", "seed", "pool % right", "mean confidence %", "ECE %", "out-of-fold % right (confidence %)",
             "temperature", "scaled: mean confidence %", "scaled: ECE %"],
            [[r["budget"], r["seed"], f"{100 * r['pool_accuracy']:.2f}", f"{100 * r['mean_confidence']:.2f}",
              f"{100 * r['ece']:.2f}", f"{100 * r['oof_accuracy']:.1f} ({100 * r['oof_confidence']:.1f})",
              f"{r['temperature']:.3f}", f"{100 * r['mean_confidence_scaled']:.2f}", f"{100 * r['ece_scaled']:.2f}"]
             for r in cal]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
