"""Select in one space, learn in another (issue 9)? The presets refine the encoder's latents by UMAP and
both choose and learn there. Here the ``--budget`` labels are chosen without labels (``--strategy``) in the
UMAP refinement of each space, as the presets do, and then the same labels are learned by ``--learner``
(a pool-aware graph learner) over three graphs: the refined space (what the presets do), the unrefined
latents, and both (the two learners' class probabilities summed). Test accuracy and the classes the labels
cover, per space and seed.

    LATAL_THREADS=1 python benchmarks/selection_space.py --data-dir ../shared/datasets --dataset mnist \\
        --spaces conv_vae:random_state=0 conv_vae:random_state=1 conv_vae:random_state=2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, space_encoders, space_label, write_json  # noqa: E402
from combined_space import space  # noqa: E402

from latal import Pool  # noqa: E402
from latal.experiment import ExperimentConfig, prepare, run_experiment  # noqa: E402
from latal.learners import make_learner  # noqa: E402

GRAPHS = ("UMAP (the presets)", "unrefined", "both")


def fit_proba(learner: str, prepared, labeled: np.ndarray) -> tuple[np.ndarray, float]:
    """Test-set class probabilities of ``learner`` fitted on ``labeled`` over ``prepared``'s pool, and its seconds."""
    ds = prepared.dataset
    pool = Pool(prepared.latent.mean, ds.class_names)
    pool.add_labels(labeled, ds.y[labeled])
    t0 = time.perf_counter()
    model = make_learner(learner).fit(prepared.latent.mean[labeled], ds.y[labeled], len(ds.class_names),
                                      pool=pool.view())
    return np.asarray(model.predict_proba(prepared.test_latent.mean)), time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--simclr", nargs="+", default=["simclr:flip=True,epochs=10"],
                    help="SimCLR encoder spec(s) for spaces naming simclr / simclrK (see combined_space.py)")
    ap.add_argument("--spaces", nargs="+", default=["conv_vae"], help="encoder parts joined by '+', unrefined")
    ap.add_argument("--strategy", default="maxherding", help="the label-free selection, run in the UMAP space")
    ap.add_argument("--learner", default="label_spreading")
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    base = dict(dataset=args.dataset, data_dir=args.data_dir)
    results, rows = {}, []
    for sname in args.spaces:
        encoders = space_encoders(sname, args.simclr)
        parts = {e: prepare(ExperimentConfig(**base, encoder=e), progress=True) for e in encoders}
        raw, refined = space(encoders, False, parts), space(encoders, True, parts)
        y_test = raw.dataset.y_test
        res = {g: [] for g in GRAPHS} | {"classes_covered": [], "fit_seconds": []}
        for seed in args.seeds:
            cfg = ExperimentConfig(**base, encoder="conv_vae", initial_strategy=args.strategy, learner=args.learner,
                                   initial=args.budget, rounds=0, seed=seed)
            labeled = np.asarray(run_experiment(cfg, prepared=refined)["initial"], dtype=np.int64)
            p_ref, t_ref = fit_proba(args.learner, refined, labeled)
            p_raw, t_raw = fit_proba(args.learner, raw, labeled)
            for g, p in zip(GRAPHS, (p_ref, p_raw, p_ref + p_raw)):
                res[g].append(float((p.argmax(axis=1) == y_test).mean()))
            res["classes_covered"].append(len(set(raw.dataset.y[labeled].tolist())))
            res["fit_seconds"].append(t_ref + t_raw)
            print(sname, seed, *(f"{100 * res[g][-1]:.2f}" for g in GRAPHS), res["classes_covered"][-1],
                  file=sys.stderr, flush=True)
        results[sname] = res
        rows.append([space_label(sname, args.simclr),
                     *(f"{100 * np.mean(res[g]):.2f} ± {100 * np.std(res[g], ddof=1 if len(args.seeds) > 1 else 0):.2f}"
                       for g in GRAPHS), f"{np.mean(res['classes_covered']):.1f}", f"{np.mean(res['fit_seconds']):.1f}"])
    if len(args.spaces) > 1:  # every (space, seed) run: the spread a user with one build of their own sees
        rows.append([f"over the {len(args.spaces)} spaces",
                     *(f"{100 * np.mean(a):.2f} ± {100 * np.std(a, ddof=1):.2f}"
                       for a in ([x for r in results.values() for x in r[g]] for g in GRAPHS)), "", ""])
    write_json(args.out or f"benchmarks/results/selection_space_{args.dataset}_{args.budget}.json", "selection_space",
               args, results=results)
    print(markdown_table(["space (selection in its UMAP)", *(f"{args.learner} over {g}" for g in GRAPHS),
                          "classes covered", "fit s (both)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
