"""The learner side of the 10-label Fashion-MNIST figure (issue 9): the same labels, other learners.

The labels are the ones ``latal run --preset label-efficient-contrastive`` chose (the ``initial`` indices
of its ``--json`` files, one per seed), so only the learner changes. Each variant fits on them and is scored
on the test set:

- ``poisson``, ``poisson:n_neighbors=K``: Poisson learning over the K-NN graph of a space (``--spaces``: encoder
  specs joined by ``+``, e.g. the VAE beside three SimCLR builds);
- ``logreg qQ`` / ``lda qQ``: Poisson's pseudo-labels, the surest share Q of each predicted class, teach a
  logistic regression / linear discriminant analysis on the same latents (a smoother decision rule);
- ``poisson again qQ``: those pseudo-labels and the labels as the sources of a second Poisson learning.

    LATAL_THREADS=1 python benchmarks/fixed_picks_learners.py --data-dir ../shared/datasets \\
        --runs benchmarks/results/presets_fashion-mnist_10/lec_*.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.experiment import ExperimentConfig, prepare  # noqa: E402
from latal.learners import make_learner  # noqa: E402
from latal.pool import Pool  # noqa: E402

S = "simclr:flip=True,epochs=10"
DEFAULT_SPACES = [f"conv_vae+{S}", f"conv_vae+{S}+{S},random_state=1+{S},random_state=2"]
GRAPH = ["poisson", "poisson:n_neighbors=5", "poisson:n_neighbors=20", "poisson:n_neighbors=30"]
POST = ["logreg q0.2", "logreg q0.5", "lda q0.2", "lda q0.5", "poisson again q0.2", "poisson again q0.5"]


def fit_poisson(Z, labeled, labels, spec="poisson"):
    pool = Pool(Z, [str(c) for c in range(10)])
    pool.add_labels(labeled, labels)
    return make_learner(spec).fit(Z[labeled], labels, 10, pool=pool.view())


def post_variant(name, Z, picks, y, poisson):
    """One of POST, from the fitted first Poisson learning."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression

    kind, q = name.rsplit(" q", 1)
    proba = poisson.transductive_proba()
    pred, conf = proba.argmax(1), proba.max(1)
    keep = []
    for c in np.unique(y[picks]):
        idx = np.flatnonzero(pred == c)
        keep.append(idx[np.argsort(-conf[idx], kind="stable")[: max(1, int(float(q) * idx.size))]])
    keep = np.concatenate(keep)
    if kind == "poisson again":
        labels = np.full(len(Z), -1)
        labels[keep] = pred[keep]
        labels[picks] = y[picks]
        rows = np.flatnonzero(labels >= 0)
        return fit_poisson(Z, rows, labels[rows])
    model = LogisticRegression(max_iter=300) if kind == "logreg" else LinearDiscriminantAnalysis()
    return model.fit(Z[keep], pred[keep])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--runs", nargs="+", required=True, help="latal run --json files whose initial labels to use")
    ap.add_argument("--spaces", nargs="+", default=DEFAULT_SPACES)
    ap.add_argument("--variants", nargs="+", default=GRAPH + POST)
    ap.add_argument("--post-spaces", type=int, default=1, help="run the POST variants on the first N spaces only")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    unknown = [v for v in args.variants if v not in GRAPH + POST and not v.startswith("poisson")]
    if unknown:
        ap.error(f"unknown variants {unknown}; use {GRAPH + POST}")
    picks = [np.asarray(json.loads(Path(f).read_text())["initial"], dtype=np.int64) for f in args.runs]
    rows = []
    for k, enc in enumerate(args.spaces):
        p = prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder=enc, seed=0), progress=True)
        Z, y = np.asarray(p.latent.mean, np.float32), np.asarray(p.dataset.y)
        zt, yt = np.asarray(p.test_latent.mean, np.float32), np.asarray(p.dataset.y_test)
        for variant in args.variants:
            if variant in POST and k >= args.post_spaces:
                continue
            t0, acc = time.perf_counter(), []
            for pk in picks:
                if variant in POST:
                    model = post_variant(variant, Z, pk, y, fit_poisson(Z, pk, y[pk]))
                else:
                    model = fit_poisson(Z, pk, y[pk], variant)
                acc.append(float(np.mean(np.asarray(model.predict(zt)) == yt)))
            rows.append({"space": enc, "variant": variant, "accuracy": acc, "seconds": time.perf_counter() - t0})
            print(f"  {enc} {variant}: {100 * np.mean(acc):.2f}", file=sys.stderr, flush=True)
    write_json(args.out or f"benchmarks/results/fixed_picks_learners_{args.dataset}.json", "fixed_picks_learners",
               args, rows=rows)
    print(markdown_table(["space", "learner", "test %, mean ± std", "per run", "s, all runs"],
                         [[f"`{r['space']}`", f"`{r['variant']}`",
                           f"{100 * np.mean(r['accuracy']):.2f} ± {100 * np.std(r['accuracy'], ddof=1):.2f}",
                           " / ".join(f"{100 * a:.2f}" for a in r["accuracy"]), f"{r['seconds']:.0f}"] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
