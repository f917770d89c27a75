"""What each generation of the CNN student gains (issue 9): for one selection of b labels, the accuracy on
the pool of the pseudo-labels each generation trains on (the teacher over the latents for the first, the
labels propagated over the previous student's features for the next ones) and each student's test
accuracy, and the test accuracy of the mean of the students' distributions so far (an ensemble the learner
does not make). One run per dataset and seed; the students are exactly those of
``--learner cnn_student:epochs=E,generations=G`` (their training is observed, not changed).
``--baseline-final-epochs N`` also trains, beside the last student and on the same pseudo-labels and
seed, one for N epochs (with ``--baseline-final-arch A``, of network A), and reports its test accuracy:
what ``final_epochs`` (``final_arch``) gains, in the same run.

    python benchmarks/student_generations.py --data-dir ../shared/datasets --dataset mnist --budget 3000
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import add_student_run_args, markdown_table, student_run_base, write_json  # noqa: E402

from latal.experiment import ExperimentConfig, prepare, run_experiment  # noqa: E402
from latal.learners import student as student_module  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_student_run_args(ap, "cnn_student:epochs=5,generations=3")
    ap.add_argument("--baseline-final-epochs", type=int, default=None,
                    help="also train the last generation's student for this many epochs (not used by the learner)")
    ap.add_argument("--baseline-final-arch", default=None,
                    help="the network of that baseline last student (default: the learner's last one)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or f"benchmarks/results/student_generations_{args.dataset}_{args.budget}.json"
    base = student_run_base(args)
    prep = prepare(ExperimentConfig(**base))
    x_test, y_test, y_pool = student_module.images_nchw(prep.dataset.x_test), prep.dataset.y_test, prep.dataset.y
    rows, train, start, summed = [], student_module.CNNStudent._train, time.perf_counter(), 0.0

    def observed(self, X, target, weight, labeled, n_classes, seed, device, epochs, arch, mixup):
        nonlocal summed
        net = train(self, X, target, weight, labeled, n_classes, seed, device, epochs, arch, mixup)
        proba = student_module.batched_proba(net, x_test, device)
        summed = summed + proba
        rows.append({"generation": len(rows) + 1,
                     "pseudo_label_accuracy": float(np.mean(target.argmax(1) == y_pool)),
                     "test_accuracy": float(np.mean(proba.argmax(1) == y_test)),
                     # test-time augmentation, not what the learner predicts: the mean over 1-pixel shifts
                     "shifted_test_accuracy": float(np.mean(
                         student_module.shifted_proba(net, x_test, device).argmax(1) == y_test)),
                     # not what the learner predicts: the mean of the distributions of the students so far
                     "ensemble_test_accuracy": float(np.mean(summed.argmax(1) == y_test)),
                     "seconds": time.perf_counter() - start})
        if args.baseline_final_epochs and len(rows) == int(self.generations):  # the same targets and seed, other epochs
            other_arch = args.baseline_final_arch or arch
            other = train(self, X, target, weight, labeled, n_classes, seed, device, args.baseline_final_epochs,
                          other_arch, mixup)
            rows[-1]["baseline_final_epochs"] = args.baseline_final_epochs
            rows[-1]["baseline_final_arch"] = other_arch
            other_proba = student_module.batched_proba(other, x_test, device)
            rows[-1]["baseline_test_accuracy"] = float(np.mean(other_proba.argmax(1) == y_test))
            # the two last students together: an ensemble the learner does not make
            rows[-1]["last_and_baseline_test_accuracy"] = float(np.mean((proba + other_proba).argmax(1) == y_test))
        print(f"  generation {len(rows)}: {rows[-1]}", file=sys.stderr, flush=True)
        return net

    student_module.CNNStudent._train = observed
    try:
        run = run_experiment(ExperimentConfig(**base, initial=args.budget, initial_strategy=args.initial_strategy,
                                              learner=args.learner), prepared=prep)
    finally:
        student_module.CNNStudent._train = train
    assert abs(run["rounds"][-1]["accuracy"] - rows[-1]["test_accuracy"]) < 1e-9  # the last one is the model
    write_json(out, "student_generations", args, generations=rows, run=run)
    print(markdown_table(["generation", "pseudo-labels right on the pool %", "student's test accuracy %",
                          "the same, mean over 1-px shifts %", "mean of the students so far, test %", "s"],
                         [[r["generation"], f"{100 * r['pseudo_label_accuracy']:.2f}", f"{100 * r['test_accuracy']:.2f}",
                           f"{100 * r['shifted_test_accuracy']:.2f}",
                           f"{100 * r['ensemble_test_accuracy']:.2f}", f"{r['seconds']:.0f}"] for r in rows]))
    if "baseline_test_accuracy" in rows[-1]:
        print(f"last generation's pseudo-labels, {rows[-1]['baseline_final_epochs']} epochs of "
              f"{rows[-1]['baseline_final_arch']} instead: "
              f"{100 * rows[-1]['baseline_test_accuracy']:.2f} % test accuracy; the mean of both last students: "
              f"{100 * rows[-1]['last_and_baseline_test_accuracy']:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
