"""Which graph over a strong student's features carries the labels best (issue 9). In the 1,000-label
Fashion-MNIST learner (``generations=5,final_generations=3``) each strong student learns only from the labels
propagated over the one before's features, and the students learn what those pseudo-labels say (BENCHMARKS.md,
"A mirror for the strong last student"): the graph is what bounds them. This script runs the learner's
generations up to the first strong student once (its targets kept in ``--targets``, as ``last_student_probe.py``
keeps them), trains that student (``--student``, laid over ``--learner``), and then makes the next generation's
pseudo-labels in several ways from the same student (``--graph``, all by default):

- ``features``: the learner's own rule, its teacher over a k-NN graph of the student's last hidden layer
  (L2-normalised);
- ``features:k=N``: the same with N neighbours instead of the teacher's own;
- ``mirror``: the features of each image and of its left-right mirror, summed, then normalised (clothing keeps its
  class in a mirror; the student never trained on one);
- ``features+student`` and ``mirror+student``: the graph's distributions averaged with the student's own on the
  pool (each has been right where the other was wrong);
- ``features+latents``: the features beside the rows the first teacher read (``--learn-on``, ``--learn-weights``),
  each block L2-normalised, the latents' at half weight.

Each is scored by how much of the pool its pseudo-labels get right. ``--train`` then trains the next student
(seed + 1, the student's settings) on the ``features`` targets and on the best other graph's, and scores both
on the test set: what the learner would gain from that graph, paired on the same student.

    LATAL_THREADS=1 python benchmarks/feature_graph_probe.py --data-dir ../shared/datasets --dataset fashion-mnist \\
        --budget 1000 --encoder "conv_vae:epochs=30+simclr:flip=True,epochs=10" --learn-on latents \\
        --learn-weights 1,1.73 --seed 0 --train
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_student_run_args, markdown_table, student_run_base, write_json  # noqa: E402
from last_student_probe import kept_targets  # noqa: E402

from latal.experiment import ExperimentConfig, prepare  # noqa: E402
from latal.learners import make_learner  # noqa: E402
from latal.learners import student as student_module  # noqa: E402

GRAPHS = ("features", "features:k=5", "features:k=20", "mirror", "features+student", "mirror+student",
          "features+latents")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_student_run_args(ap, "cnn_student:epochs=5,generations=3,targets=soft")
    ap.add_argument("--student", default="final_arch=conv3bn,final_epochs=15,final_mixup=0.75",
                    help="the strong student's parameters, laid over the learner's")
    ap.add_argument("--graph", action="append", choices=GRAPHS, default=None,
                    help="a way to make the next pseudo-labels (repeatable; default: all)")
    ap.add_argument("--targets", default=None, help=".npz of the strong student's targets (made when missing)")
    ap.add_argument("--train", action="store_true",
                    help="train the next student on the 'features' targets and on the best other graph's")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    graphs = args.graph or list(GRAPHS)
    stem = f"{args.dataset}_{args.budget}_seed{args.seed}"
    targets = Path(args.targets or f"benchmarks/results/feature_graph_targets_{stem}.npz")
    base = student_run_base(args)
    prep = prepare(ExperimentConfig(**base))
    y_pool, y_test = prep.dataset.y, prep.dataset.y_test
    kept = kept_targets(args, prep, targets, "the strong student")
    target, weight, labeled, n_classes, seed = kept.target, kept.weight, kept.labeled, kept.n_classes, kept.seed
    images, x_test, X, device, labels, view = kept.images, kept.x_test, kept.X, kept.device, kept.labels, kept.view
    latents = view.mean
    student = make_learner(f"{args.learner},{args.student}")
    settings = student.generation_settings(last=True)

    def train_and_score(target, weight, seed):
        t0 = time.perf_counter()
        net = student._train(X, target, weight, labeled, n_classes, seed, device, *settings)
        pool_proba = student_module.batched_proba(net, images, device)
        return net, pool_proba, {
            "test_accuracy": float(np.mean(student_module.batched_proba(net, x_test, device).argmax(1) == y_test)),
            "pool_accuracy": float(np.mean(pool_proba.argmax(1) == y_pool)), "seconds": time.perf_counter() - t0}

    net, student_pool, strong = train_and_score(target, weight, seed)
    strong["target_accuracy"] = float(np.mean(target.argmax(1) == y_pool))
    print(f"strong student: {strong}", file=sys.stderr, flush=True)
    rows, made, trained = [], {}, []
    out = args.out or f"benchmarks/results/feature_graph_probe_{stem}.json"

    def save():  # after every step, so a run stopped early keeps what it measured
        write_json(out, "feature_graph_probe", args, strong_student=strong, graphs=rows, next_students=trained)

    for name in graphs:
        t0 = time.perf_counter()
        teacher = student.teacher
        if ":k=" in name:
            teacher += ("," if ":" in teacher else ":") + f"n_neighbors={name.split('=')[1]}"
        kind = name.split(":")[0].replace("+student", "")
        rows_ = student_module.graph_rows(net, images, device, latents if kind == "features+latents" else None,
                                          mirror=kind == "mirror")
        proba = student_module.propagate_over_rows(teacher, rows_, view, labels, n_classes)
        if name.endswith("+student"):
            proba = 0.5 * (proba + student_pool.astype(np.float32))
        made[name] = student_module.clamped_targets(proba, labeled, labels, hard=student.targets == "hard")
        rows.append({"graph": name, "teacher": teacher, "target_accuracy": float(np.mean(proba.argmax(1) == y_pool)),
                     "seconds": time.perf_counter() - t0})
        print(f"  {rows[-1]}", file=sys.stderr, flush=True)
        save()
    if args.train:
        others = [r for r in rows if r["graph"] != "features"]
        chosen = ["features"] + ([max(others, key=lambda r: r["target_accuracy"])["graph"]] if others else [])
        for name in dict.fromkeys(chosen):
            if name not in made:
                continue
            _, _, scores = train_and_score(*made[name], seed + 1)
            trained.append({"graph": name, **scores})
            print(f"  next student on {name}: {trained[-1]}", file=sys.stderr, flush=True)
            save()
    print(f"strong student: test {100 * strong['test_accuracy']:.2f} %, right on the pool "
          f"{100 * strong['pool_accuracy']:.2f} % (its targets {100 * strong['target_accuracy']:.2f} %)")
    print(markdown_table(["next pseudo-labels from", "right on the pool %", "s"],
                         [[r["graph"], f"{100 * r['target_accuracy']:.2f}", f"{r['seconds']:.0f}"] for r in rows]))
    if trained:
        print(markdown_table(["next student taught by", "test %", "right on the pool %", "train s"],
                             [[r["graph"], f"{100 * r['test_accuracy']:.2f}", f"{100 * r['pool_accuracy']:.2f}",
                               f"{r['seconds']:.0f}"] for r in trained]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
