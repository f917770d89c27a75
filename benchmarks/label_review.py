"""Does `latal review` find wrong labels? (labels a person got wrong, before they cost accuracy)

A labeling project on the pool (`latal label --init-only`, with ``--preset``), ``--labels`` items labeled
with their true class (drawn at random), then ``--wrong`` of them relabeled to another class at random (the
mistakes), all through the command line (`latal import`); then `latal review`. Reported per seed: how many
labels the review lists, how many of the mistakes it finds, and how many of its first ``--wrong`` entries are
mistakes (what a person checking that many would catch).

``--accuracy`` also measures what the mistakes cost and what checking the list gives back: the share of the
unlabeled pool items that `latal export --predictions` gets right with the true labels, with the mistakes, and
after a person has checked every listed label (corrected the wrong ones, kept the right ones: `latal import
--overwrite` of their true class).

    LATAL_THREADS=1 python benchmarks/label_review.py --data-dir ../shared/datasets --dataset mnist --preset label-efficient
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.app.project import load_source  # noqa: E402
from latal.app.store import ProjectStore  # noqa: E402
from latal.cli import main as latal  # noqa: E402


def pool_accuracy(db: Path, out: Path, truth: np.ndarray, known: np.ndarray) -> float:
    """The share of the unlabeled items whose class `latal export --predictions` gets right."""
    if latal(["export", "--db", str(db), "--predictions", "--out", str(out)]) != 0:
        raise SystemExit("latal export --predictions failed")
    rows = {int(r["item"]): r["predicted"] for r in csv.DictReader(out.open())}
    rest = np.setdiff1d(np.arange(truth.size), known)
    return float(np.mean([rows[int(i)] == str(truth[i]) for i in rest]))


def one_run(args, seed: int, tmp: Path) -> dict:
    db = tmp / f"review_{seed}.sqlite"
    init = ["label", "--db", str(db), "--init-only", "--dataset", args.dataset, "--seed", str(seed)]
    if args.data_dir:
        init += ["--data-dir", args.data_dir]
    if args.preset:
        init += ["--preset", args.preset]
    if latal(init) != 0:
        raise SystemExit("latal label --init-only failed")
    store = ProjectStore.open(db)
    ds, sources = load_source(store.config["source"])
    classes = store.classes
    store.close()
    rng = np.random.default_rng(seed)
    known = rng.choice(len(sources), args.labels, replace=False)
    truth = np.asarray(ds.y)
    (tmp / "known.csv").write_text("item,label\n" + "".join(f"{i},{classes[truth[i]]}\n" for i in known))
    wrong = known[: args.wrong]
    shift = rng.integers(1, len(classes), size=wrong.size)
    (tmp / "wrong.csv").write_text("item,label\n" + "".join(
        f"{i},{classes[(truth[i] + d) % len(classes)]}\n" for i, d in zip(wrong, shift)))
    names = np.asarray([str(c) for c in classes])
    accuracy = {}
    for f, extra in (("known.csv", []), ("wrong.csv", ["--overwrite", "--annotator", "sloppy"])):
        if args.accuracy and f == "wrong.csv":
            accuracy["clean"] = pool_accuracy(db, tmp / "pred.csv", names[truth], known)
        if latal(["import", str(tmp / f), "--db", str(db), *extra]) != 0:
            raise SystemExit(f"latal import {f} failed")
    if args.accuracy:
        accuracy["with_mistakes"] = pool_accuracy(db, tmp / "pred.csv", names[truth], known)
    out = tmp / f"review_{seed}.csv"
    t0 = time.perf_counter()
    if latal(["review", "--db", str(db), "--folds", str(args.folds), "--out", str(out)]) != 0:
        raise SystemExit("latal review failed")
    seconds = time.perf_counter() - t0
    listed = [int(r["item"]) for r in csv.DictReader(out.open())]
    bad = set(wrong.tolist())
    if args.accuracy:  # a person checks every listed label: the wrong ones corrected, the right ones kept
        (tmp / "checked.csv").write_text("item,label\n" + "".join(f"{i},{classes[truth[i]]}\n" for i in listed))
        if latal(["import", str(tmp / "checked.csv"), "--db", str(db), "--overwrite", "--annotator", "checker"]) != 0:
            raise SystemExit("latal import checked.csv failed")
        accuracy["checked"] = pool_accuracy(db, tmp / "pred.csv", names[truth], known)
    return {"seed": seed, "listed": len(listed), "found": len(bad & set(listed)),
            "found_first": len(bad & set(listed[: args.wrong])), "seconds": seconds,
            **{f"pool_accuracy_{k}": v for k, v in accuracy.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--labels", type=int, default=300)
    ap.add_argument("--wrong", type=int, default=15)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--accuracy", action="store_true",
                    help="also the pool accuracy of the predictions: true labels, with the mistakes, after the check")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if not 0 < args.wrong <= args.labels:
        ap.error("--wrong must be between 1 and --labels")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            runs.append(one_run(args, seed, Path(tmp)))
            print(f"  seed {seed}: {runs[-1]}", file=sys.stderr, flush=True)
    write_json(args.out or f"benchmarks/results/label_review_{args.dataset}_{args.preset or 'default'}.json",
               "label_review", args, runs=runs)
    head = ["seed", "labels listed", f"of the {args.wrong} wrong labels: found", f"among the first {args.wrong} listed",
            "review s"]
    extra = ["pool % right: true labels", "with the mistakes", "after checking the list"] if args.accuracy else []
    print(markdown_table(head + extra, [
        [r["seed"], r["listed"], r["found"], r["found_first"], f"{r['seconds']:.0f}"]
        + [f"{100 * r[f'pool_accuracy_{k}']:.2f}" for k in ("clean", "with_mistakes", "checked") if args.accuracy]
        for r in runs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
