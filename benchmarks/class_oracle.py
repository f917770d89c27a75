"""What ten labels can give if every class gets one (issue 9): a diagnostic that *uses the true labels to
place them*, so no selection rule can do it, against the label-free MaxHerding picks of the presets.

One label per class, placed three ways, then Poisson learning over the UMAP space (``refined``) and over
the encoder's unrefined latents (``latents``); test accuracy:

- ``typical in umap`` / ``typical in latents``: each class's most typical item (highest inverse mean
  distance to its 20 nearest neighbours of the same class) in that space;
- ``random``: one item per class drawn at random, ``--draws`` draws (mean +- std).

If placing one label on every class were the missing step, these would beat the MaxHerding figures, which
leave two or three classes without a label (BENCHMARKS.md, "The student over the unrefined latents").

    LATAL_THREADS=1 python benchmarks/class_oracle.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.experiment import ExperimentConfig, prepare  # noqa: E402
from latal.learners import LEARNERS  # noqa: E402
from latal.pool import Pool  # noqa: E402
from latal.strategies.typical import typicality  # noqa: E402


def test_accuracy(prep, learn_on: str, picks: np.ndarray, y: np.ndarray, learner: str) -> tuple[float, float]:
    rows, test = prep.learner_latents(learn_on)
    rows = prep.latent.mean if rows is None else rows
    n_classes = len(prep.dataset.class_names)
    pool = Pool(rows, list(prep.dataset.class_names))
    pool.add_labels(picks, y[picks])
    t = time.perf_counter()
    model = LEARNERS.build(learner).fit(rows[picks], y[picks], n_classes=n_classes, pool=pool.view())
    acc = float(np.mean(model.predict(test) == np.asarray(prep.dataset.y_test)))
    return acc, time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--encoder", default="conv_vae+simclr:flip=True,epochs=10")
    ap.add_argument("--learner", default="poisson")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--out", default="benchmarks/results/class_oracle_fashion-mnist.json")
    args = ap.parse_args(argv)
    prep = prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder=args.encoder, refine="umap"),
                   progress=False)
    y = np.asarray(prep.dataset.y)
    classes = np.unique(y)
    placements = {}
    for space in ("umap", "latents"):
        z = np.asarray(prep.latent.mean if space == "umap" else prep.unrefined.mean, dtype=np.float32)
        placements[f"typical in {space}"] = [np.array([int(np.flatnonzero(y == c)[np.argmax(typicality(z[y == c], 20))])
                                                       for c in classes])]
    rngs = [np.random.default_rng(s) for s in range(args.draws)]  # one generator per draw, across its classes
    placements["random"] = [np.array([int(r.choice(np.flatnonzero(y == c))) for c in classes]) for r in rngs]
    rows, results = [], []
    for name, draws in placements.items():
        for learn_on in ("refined", "latents"):
            accs, secs = zip(*(test_accuracy(prep, learn_on, picks, y, args.learner) for picks in draws))
            results.append({"placement": name, "learn_on": learn_on, "accuracy": list(accs), "fit_seconds": list(secs),
                            "picks": [p.tolist() for p in draws]})
            acc = f"{100 * np.mean(accs):.2f}" + (f" ± {100 * np.std(accs, ddof=1):.2f}" if len(accs) > 1 else "")
            rows.append([name, learn_on, len(accs), acc, f"{np.mean(secs):.1f}"])
            print(rows[-1], file=sys.stderr, flush=True)
    print(markdown_table(["one label per class", "Poisson over", "draws", "test accuracy %", "fit s"], rows))
    write_json(args.out, "class_oracle", args, results=results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
