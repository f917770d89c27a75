"""How right is the labeling page's accuracy estimate? (the cross-validated one, and the audit items')

A simulated person labels a project's batches with the true classes through :class:`LabelingSession` (the
labeling page's loop: the project's learner and strategy, the page's defaults otherwise) until ``--budget``
labels. After each retrain the script compares, for the model the round fitted:

- ``cv``: the page's cross-validated accuracy of the labels so far (``cv_accuracy``), which the strategy chose
  for being hard;
- ``audit``: its accuracy on the *audit* items (``--audit`` of each batch after the first, drawn uniformly from
  the unlabeled pool, held out of the rounds' training), with its 95 % Wilson interval;
- ``truth``: its real accuracy on the unlabeled pool.

Reported per ``--audit`` share: each estimate's bias and mean absolute error against the truth over the rounds,
how often the audit interval holds the truth, the estimates at a few label counts, the truth at the last round
(what holding the audit items out costs the rounds' models, against share 0 on the same seeds), and the truth
of the learner refitted on every label at the end, audit items included (what ``latal export --predictions``
gives).

    LATAL_THREADS=1 python benchmarks/audit_estimate.py --data-dir ../shared/datasets --dataset mnist
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.app.session import LabelingSession, SessionSettings  # noqa: E402
from latal.app.store import ProjectStore  # noqa: E402
from latal.data import load_dataset  # noqa: E402
from latal.encoders import ENCODERS  # noqa: E402
from latal.encoders.cache import fit_encode  # noqa: E402
from latal.learners import LEARNERS  # noqa: E402
from latal.learners.base import pool_proba  # noqa: E402
from latal.strategies import STRATEGIES  # noqa: E402


def one_run(args, latent: np.ndarray, y: np.ndarray, classes: list[str], audit: float, seed: int, tmp: Path) -> dict:
    store = ProjectStore.create(tmp / f"audit_{audit}_{seed}.sqlite", [str(i) for i in range(y.size)],
                                {"classes": classes})
    settings = SessionSettings(batch=args.batch, budget=args.budget, seed=seed, audit=audit, max_wait=60.0)
    session = LabelingSession(store, (latent, None), LEARNERS.build(args.learner), STRATEGIES.build(args.strategy),
                              STRATEGIES.build(args.initial_strategy), settings=settings).start()
    rounds, seen = [], -1
    try:
        while True:
            if not session.wait_idle(600):
                raise SystemExit(f"the session did not settle: {session.error}")
            report = store.rounds()[-1]
            fresh = report["round"] > seen and report.get("n_train", report.get("n_labels")) == session.model_labels
            if session.model is not None and fresh:  # the round's model, before the next batch is labeled
                seen = report["round"]
                labeled = np.fromiter(session.state.labels, dtype=np.int64)
                rest = np.setdiff1d(np.arange(y.size), labeled)
                proba = pool_proba(session.model, latent, None, items=rest.tolist())
                rounds.append({"n_labels": int(labeled.size), "truth": float(np.mean(proba.argmax(axis=1) == y[rest])),
                               "round": int(report["round"]),
                               **{k: report.get(k) for k in ("cv_accuracy", "audit_accuracy", "audit_low",
                                                             "audit_high", "audit_labels")}})
            got = session.next_items("sim", wait=60)
            if got["status"] != "ok":
                break
            for item in got["items"]:
                session.label(item["id"], classes[y[item["id"]]], "sim", client="sim")
        # the labels' final use: `latal export --predictions` fits on every label, the audit items' too
        proba, _ = session.predictions(refit=True)
        labeled = np.fromiter(session.state.labels, dtype=np.int64)
        rest = np.setdiff1d(np.arange(y.size), labeled)
        final = float(np.mean(proba[rest].argmax(axis=1) == y[rest]))
    finally:
        session.close()
        store.close()
    return {"audit": audit, "seed": seed, "rounds": rounds, "final_all_labels": final}


def summary(runs: list[dict], audit: float) -> list:
    mine = [r for r in runs if r["audit"] == audit]
    rows = [x for r in mine for x in r["rounds"]]
    cv = [x["cv_accuracy"] - x["truth"] for x in rows if x["cv_accuracy"] is not None]
    au = [x for x in rows if x["audit_accuracy"] is not None]
    err = [x["audit_accuracy"] - x["truth"] for x in au]
    cover = [x["audit_low"] <= x["truth"] <= x["audit_high"] for x in au]
    last = [r["rounds"][-1] for r in mine]

    def pts(v, sign=True):
        return f"{100 * np.mean(v):{'+' if sign else ''}.1f}" if v else ""

    return [audit, len(rows), pts(cv), pts(list(np.abs(cv)), False), len(au), pts(err), pts(list(np.abs(err)), False),
            f"{100 * np.mean(cover):.0f} %" if au else "",
            f"{100 * np.mean([x['truth'] for x in last]):.2f} ± {100 * np.std([x['truth'] for x in last], ddof=1):.2f}",
            f"{100 * np.mean([r['final_all_labels'] for r in mine]):.2f} ± "
            f"{100 * np.std([r['final_all_labels'] for r in mine], ddof=1):.2f}"]


def checkpoints(runs: list[dict], audit: float, at: list[int]) -> list[list]:
    """Mean over the seeds of the truth and both estimates at the rounds fitted on ``at`` labels."""
    out = []
    for n in at:
        recs = [x for r in runs if r["audit"] == audit for x in r["rounds"] if x["n_labels"] == n]
        if not recs:
            continue
        au = [x for x in recs if x["audit_accuracy"] is not None]
        est = (f"{100 * np.mean([x['audit_accuracy'] for x in au]):.1f} [{100 * np.mean([x['audit_low'] for x in au]):.1f}, "
               f"{100 * np.mean([x['audit_high'] for x in au]):.1f}]") if au else ""
        out.append([audit, n, f"{100 * np.mean([x['truth'] for x in recs]):.1f}",
                    f"{100 * np.mean([x['cv_accuracy'] for x in recs if x['cv_accuracy'] is not None]):.1f}", est,
                    f"{np.mean([x['audit_labels'] or 0 for x in recs]):.0f}"])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--encoder", default="conv_vae")
    ap.add_argument("--refine", default=None, help="refine the latents first (umap), as --refine does")
    ap.add_argument("--learner", default="mlp")
    ap.add_argument("--strategy", default="margin")
    ap.add_argument("--initial-strategy", default="random")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--audits", type=float, nargs="+", default=[0.0, 0.1, 0.2])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[60, 100, 200, 280])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    ds = load_dataset(args.dataset, args.data_dir, download=False, progress=False)
    enc = fit_encode(ENCODERS.build(args.encoder), ds.x, ds.x_test, dataset=ds.name)
    space = enc.latent
    if args.refine:
        from latal.encoders.refine import refine_latents

        space, _, _ = refine_latents(args.refine, enc.latent, enc.test_latent, base_key=enc.key)
    latent, y = np.asarray(space.mean, dtype=np.float32), np.asarray(ds.y)
    classes = [str(c) for c in ds.class_names]
    runs = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for audit in args.audits:
            for seed in args.seeds:
                runs.append(one_run(args, latent, y, classes, audit, seed, Path(tmp)))
                last = runs[-1]["rounds"][-1]
                print(f"audit {audit} seed {seed}: truth {last['truth']:.4f} cv {last['cv_accuracy']} audit "
                      f"{last['audit_accuracy']} ({last['audit_labels']} items)", flush=True)
    print(f"{args.dataset}, {args.encoder} latents{f' ({args.refine})' if args.refine else ''}, {args.learner} + "
          f"{args.initial_strategy}, then {args.strategy}, batch {args.batch}, "
          f"{args.budget} labels, seeds {args.seeds} ({time.perf_counter() - t0:.0f} s)")
    print(markdown_table(["audit share", "labels", "truth %", "page's cv estimate %", "audit estimate % [95 % interval]",
                          "audit items"], [row for a in args.audits for row in checkpoints(runs, a, args.checkpoints)]))
    print(markdown_table(
        ["audit share", "rounds", "cv bias", "cv mean abs error", "rounds with an audit estimate", "audit bias",
         "audit mean abs error", "audit interval holds the truth", "truth at the end %", "every label, refitted %"],
        [summary(runs, a) for a in args.audits]))
    out = args.out or f"benchmarks/results/audit_estimate_{args.dataset}_{args.learner}_{args.strategy}.json"
    write_json(out, "audit_estimate", args, runs=runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
