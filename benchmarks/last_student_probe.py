"""Which last student learns the best pseudo-labels best (issue 9). The CNN student's first generations
only have to make features that carry the labels again; the last one is the model. This script runs the
learner's generations up to the last one once (``--learner``, its training observed, not changed), keeps
the last generation's targets, weights and labeled items in ``--targets`` (an ``.npz``; reused when it is
there), and then trains one last student per ``--variant`` on exactly those targets with the same seed:
a variant is a list of CNN student parameters (``final_arch=conv3bn,final_epochs=15``) laid over the
learner's; the last student takes its ``final_epochs``, ``final_arch`` and ``final_mixup`` (else
``epochs``, ``arch`` and ``mixup``).
Every variant sees the same pseudo-labels, so the differences are the students'. Run the variants of one
targets file in two processes (``--variant`` twice each) to use both cores. After a chain of students
(``--self-distill`` or ``--more-generations``) one more row per chain length scores the mean of the last
students' class distributions (an ensemble of the chain's students, no more training). ``--init SPEC``
starts every ``conv3bn`` student's conv blocks from a contrastive encoder trained on the pool (a ``simclr``
spec of the same width, read from the encoder cache or trained into it) instead of at random.
``--keep-next NPZ`` keeps the targets of the generation after the chain's last student (the labels propagated
over its features, with its seed) in the ``--targets`` format, so that a later run (``--targets NPZ``) trains
that generation without training the chain again: a chain of strong students is longer than a session. It is
rewritten with the newest targets before each student of the chain trains, so a chain stopped anywhere resumes at
the student it lost; continued that way over the students' features alone, a run skips the encoder.
``--out`` is rewritten after every student (``"complete": false`` until the last row), so a chain stopped early
keeps the rows it measured.

    python benchmarks/last_student_probe.py --data-dir ../shared/datasets --dataset mnist --budget 3000 \\
        --variant final_epochs=15 --variant final_arch=conv3bn,final_epochs=15
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_student_run_args, markdown_table, student_run_base, write_json  # noqa: E402

from latal.experiment import ExperimentConfig, prepare, prepare_data, run_experiment  # noqa: E402
from latal.learners import make_learner  # noqa: E402
from latal.learners import student as student_module  # noqa: E402
from latal.pool import Pool  # noqa: E402


class _Captured(Exception):
    """Raised by the observed training at the last generation: its inputs are kept, the student not trained."""


def capture_targets(args, prep, path: Path) -> None:
    train, calls = student_module.CNNStudent._train, []

    def observed(self, X, target, weight, labeled, n_classes, seed, device, *settings):
        calls.append(None)
        if len(calls) == int(self.generations):
            save_targets(path, target, weight, labeled, n_classes, seed)
            raise _Captured
        return train(self, X, target, weight, labeled, n_classes, seed, device, *settings)

    student_module.CNNStudent._train = observed
    try:
        run_experiment(ExperimentConfig(**student_run_base(args), initial=args.budget,
                                        initial_strategy=args.initial_strategy, learner=args.learner), prepared=prep)
    except _Captured:
        return
    finally:
        student_module.CNNStudent._train = train
    raise RuntimeError("the learner finished without reaching its last generation's training")


def kept_targets(args, prep, path: Path, what: str) -> SimpleNamespace:
    """The targets kept in ``path`` (captured first when missing; ``what`` names them in the message) and what a
    student trains on with them: the pool's images as the loop hands them (``images``, as a tensor ``X``), the
    test images, the device, the labels and a pool view holding them and the learner's latents (for a graph over a
    student's features, beside those latents under ``graph="features+latents"``). ``prep`` without an encoder
    (``encoder=None``, see :func:`needs_encoder`) gives a view without latents: the graph over the features alone
    reads only its labels."""
    if not path.exists():
        t0 = time.perf_counter()
        capture_targets(args, prep, path)
        print(f"targets of {what} kept in {path} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    saved = np.load(path)
    target, labeled, n_classes = saved["target"], saved["labeled"], int(saved["n_classes"])
    if target.shape != (prep.dataset.n, n_classes) or labeled.max(initial=-1) >= prep.dataset.n:
        raise SystemExit(f"{path}: targets for {target.shape[0]} items in {n_classes} classes do not fit "
                         f"{args.dataset}'s pool of {prep.dataset.n}; give the --dataset and --budget they were made for")
    images = student_module.images_nchw(prep.dataset.x)
    import torch

    from latal._torch import resolve_device

    labels = target[labeled].argmax(1)
    if prep.encoder is None:
        latents = np.zeros((prep.dataset.n, 1), dtype=np.float32)  # never read: the graph is the features'
    else:
        latents = prep.learner_latents(args.learn_on, student_run_base(args)["learn_weights"])[0]
        latents = prep.latent.mean if latents is None else latents  # the rows the first teacher read
    view = Pool(np.asarray(latents, dtype=np.float32), [str(c) for c in range(n_classes)])
    view.add_labels(labeled, labels)
    return SimpleNamespace(target=target, weight=saved["weight"], labeled=labeled, n_classes=n_classes,
                           seed=int(saved["seed"]), labels=labels, view=view.view(), images=images,
                           X=torch.from_numpy(images), x_test=student_module.images_nchw(prep.dataset.x_test),
                           device=resolve_device("auto"))


def needs_encoder(args, targets: Path) -> bool:
    """Whether this run needs the encoder's latents: to make the targets, for an ``--init`` start, or for a
    graph that reads the latents beside the students' features. A chain continued from kept targets
    (``--keep-next``) over the features alone needs only the images, so it skips the encoder (40 to 70
    minutes to rebuild the Fashion-MNIST stack on a machine without its cache, by the machine)."""
    return (not targets.exists() or bool(args.init)
            or any(make_learner(f"{args.learner},{v}").graph == "features+latents" for v in args.variant))


def save_targets(path, target, weight, labeled, n_classes, seed) -> None:
    """Targets in the ``--targets`` format, compressed (a Fashion-MNIST pool's are about 2 MB)."""
    np.savez_compressed(path, target=target, weight=weight, labeled=labeled, n_classes=n_classes, seed=seed)


def start_from_encoder(args) -> None:
    """Every conv3bn student built from here on starts with the conv blocks (and their batch norms) of the
    contrastive encoder ``args.init`` fitted on the pool: the same ``conv_bn_blocks``, so the weights fit."""
    encoder = prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder=args.init)).encoder
    body = getattr(getattr(encoder, "model_", None), "body", None)
    if body is None:
        raise SystemExit(f"--init {args.init!r}: not a contrastive encoder with conv blocks (use a simclr spec)")
    weights, build = body.state_dict(), student_module._cnn

    def started(*a, **k):
        net = build(*a, **k)
        if k.get("arch", a[5] if len(a) > 5 else "conv2") == "conv3bn":
            net[0].load_state_dict(weights)  # the same keys: the pooling layer after the blocks holds no weights
        return net

    student_module._cnn = started


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_student_run_args(ap, "cnn_student:epochs=5,generations=3,targets=soft")
    ap.add_argument("--variant", action="append", required=True,
                    help="CNN student parameters for the last student, laid over the learner's (repeatable)")
    ap.add_argument("--targets", default=None, help=".npz of the last generation's targets (made when missing)")
    ap.add_argument("--self-distill", type=int, default=0, metavar="N",
                    help="after each variant's student, N more, each taught by the one before: its pool "
                         "distributions as soft targets weighted by their confidence, the labels clamped")
    ap.add_argument("--more-generations", type=int, default=0, metavar="N",
                    help="after each variant's student, N more with its settings, each on the labels propagated "
                         "by the learner's teacher over the one before's features (the learner's "
                         "final_generations=N+1 with N more generations)")
    ap.add_argument("--init", default=None, metavar="SPEC",
                    help="start the conv3bn students' conv blocks from this contrastive encoder (a simclr spec, "
                         "e.g. 'simclr:flip=True,epochs=10'), trained on the pool or read from the cache")
    ap.add_argument("--keep-next", default=None, metavar="NPZ",
                    help="keep the (single) variant's chain's newest targets here: before each of its students "
                         "trains and, at the end, the next generation's (the labels propagated over the last "
                         "student's features), with its seed, in the --targets format, so a later run continues "
                         "the chain from there (--targets NPZ) without training it again")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.keep_next and (len(args.variant) != 1 or args.self_distill):
        ap.error("--keep-next continues one chain of generations: give one --variant and no --self-distill")
    if args.self_distill < 0 or args.more_generations < 0:
        ap.error(f"--self-distill and --more-generations must be >= 0; got {args.self_distill}, "
                 f"{args.more_generations}")
    if args.self_distill and args.more_generations:
        ap.error("--self-distill and --more-generations are separate probes; give one of them")
    stem = f"{args.dataset}_{args.budget}_seed{args.seed}"
    targets = Path(args.targets or f"benchmarks/results/last_student_targets_{stem}.npz")
    out = args.out or f"benchmarks/results/last_student_probe_{stem}.json"
    cfg = ExperimentConfig(**student_run_base(args))
    prep = prepare(cfg) if needs_encoder(args, targets) else SimpleNamespace(dataset=prepare_data(cfg), encoder=None)
    y_pool, y_test = prep.dataset.y, prep.dataset.y_test
    kept = kept_targets(args, prep, targets, "the last generation")
    target, weight, labeled, n_classes, seed = kept.target, kept.weight, kept.labeled, kept.n_classes, kept.seed
    images, x_test, X, device, labels, view = kept.images, kept.x_test, kept.X, kept.device, kept.labels, kept.view
    rows = []
    pseudo_right = float(np.mean(target.argmax(1) == y_pool))

    def save(complete: bool) -> None:
        """The rows so far in ``out``: a chain longer than a session keeps what it measured when stopped."""
        write_json(out, "last_student_probe", args, pseudo_label_accuracy=pseudo_right, complete=complete,
                   variants=rows)

    def train_and_score(student, name, target, weight, seed, **extra):
        epochs, arch, mixup, per_batch = settings = student.generation_settings(last=True)
        t0 = time.perf_counter()
        net = student._train(X, target, weight, labeled, n_classes, seed, device, *settings)
        seconds = time.perf_counter() - t0
        proba = student_module.batched_proba(net, x_test, device)
        pool_proba = student_module.batched_proba(net, images, device)
        rows.append({"variant": name, "epochs": epochs, "arch": arch, "mixup": mixup, "labeled_per_batch": per_batch,
                     "seconds": seconds,
                     "test_accuracy": float(np.mean(proba.argmax(1) == y_test)),
                     "pool_accuracy": float(np.mean(pool_proba.argmax(1) == y_pool)), **extra})
        if student.augment.endswith("_flip"):  # trained on mirrors too: the mean over each image and its mirror
            mirrored = student_module.batched_proba(net, np.ascontiguousarray(x_test[..., ::-1]), device)
            rows[-1]["mirror_tta_test_accuracy"] = float(np.mean((proba + mirrored).argmax(1) == y_test))
        print(f"  {rows[-1]}", file=sys.stderr, flush=True)
        save(complete=False)
        chain.append((proba, pool_proba))
        return net, pool_proba

    def score_ensembles(variant):
        """One row per k >= 2: the mean of the chain's last k students' distributions."""
        for k in range(2, len(chain) + 1):
            proba = np.mean([c[0] for c in chain[-k:]], axis=0)
            pool_proba = np.mean([c[1] for c in chain[-k:]], axis=0)
            rows.append({"variant": f"{variant}, mean of the last {k} students", "epochs": 0, "seconds": 0.0,
                         "test_accuracy": float(np.mean(proba.argmax(1) == y_test)),
                         "pool_accuracy": float(np.mean(pool_proba.argmax(1) == y_pool)), "ensemble": k})
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)

    def next_targets(student, net):
        """The next generation's targets as the learner makes them: the labels propagated over ``net``'s features,
        clamped."""
        proba = student.propagated(net, images, view, labels, n_classes, device)
        return student_module.clamped_targets(proba, labeled, labels, hard=student.targets == "hard")

    def keep(taught, taught_weight, next_seed, step):
        """``--keep-next`` rewritten with the targets of generation +``step`` (the newest made so far)."""
        save_targets(args.keep_next, taught, taught_weight, labeled, n_classes, next_seed)
        print(f"targets of generation +{step} (right on {100 * np.mean(taught.argmax(1) == y_pool):.2f} % of the "
              f"pool) kept in {args.keep_next}", file=sys.stderr, flush=True)

    if args.init:
        start_from_encoder(args)
    for variant in args.variant:
        chain = []  # (test, pool) distributions of this variant's students, in training order
        student = make_learner(f"{args.learner},{variant}")
        net, pool_proba = train_and_score(student, variant, target, weight, seed)
        for step in range(1, args.self_distill + 1):  # the student's own distributions teach the next one
            taught, taught_weight = student_module.clamped_targets(pool_proba, labeled, labels)
            net, pool_proba = train_and_score(student, f"{variant}, self-distilled x{step}", taught, taught_weight,
                                         seed + step, target_accuracy=float(np.mean(taught.argmax(1) == y_pool)))
        for step in range(1, args.more_generations + 1):  # the labels propagated over the student's features
            t0 = time.perf_counter()
            taught, taught_weight = next_targets(student, net)
            propagate_seconds = time.perf_counter() - t0  # the propagation alone, not the keeping below
            if args.keep_next:  # kept before its student trains: a chain stopped here resumes from this generation
                keep(taught, taught_weight, seed + step, step)
            net, _ = train_and_score(student, f"{variant}, generation +{step}", taught, taught_weight, seed + step,
                            target_accuracy=float(np.mean(taught.argmax(1) == y_pool)),
                            propagate_seconds=propagate_seconds)
        score_ensembles(variant)
        if args.keep_next:  # the generation after the chain's last: its targets, as the learner would make them
            taught, taught_weight = next_targets(student, net)
            keep(taught, taught_weight, seed + args.more_generations + 1, args.more_generations + 1)
    save(complete=True)
    print(f"pseudo-labels right on the pool: {100 * pseudo_right:.2f} %")
    print(markdown_table(["last student", "epochs", "test accuracy %", "right on the pool %", "train s"],
                         [[r["variant"], r["epochs"], f"{100 * r['test_accuracy']:.2f}",
                           f"{100 * r['pool_accuracy']:.2f}", f"{r['seconds']:.0f}"] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
