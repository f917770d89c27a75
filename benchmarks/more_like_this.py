"""What the page's "more like this" (`+`) brings: of the 24 items it shows, how many share the class of the
item it was asked about, per class, against the class's share of the pool (what as many random items give).

Measured through the labeling app's own code: a project (`latal label --init-only`, with ``--preset``), its
latent space prepared as the page does, then :meth:`LabelingSession.similar` for ``--per-class`` random items
of each class (seeded), with nothing labeled.

    LATAL_THREADS=1 python benchmarks/more_like_this.py --data-dir ../shared/datasets --dataset fashion-mnist \\
        --preset label-efficient
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

from latal.app.project import LabelSettings, build_session, open_or_create  # noqa: E402
from latal.cli import main as latal  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--k", type=int, default=24)
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "p.sqlite"
        init = ["label", "--db", str(db), "--init-only", "--dataset", args.dataset]
        init += ["--data-dir", args.data_dir] if args.data_dir else []
        init += ["--preset", args.preset] if args.preset else []
        if latal(init) != 0:
            raise SystemExit("latal label --init-only failed")
        store, ds, sources, _ = open_or_create(LabelSettings(db=str(db)))
        session, _ = build_session(store, ds, sources)
        t0 = time.perf_counter()
        session._ensure_latents()
        prepare_s = time.perf_counter() - t0
        y = np.asarray(ds.y)
        rng = np.random.default_rng(args.seed)
        rows, seconds = [], []
        for c, name in enumerate(store.classes):
            asked = rng.choice(np.flatnonzero(y == c), args.per_class, replace=False)
            same = []
            for item in asked.tolist():
                t = time.perf_counter()
                near = [x["id"] for x in session.similar(item, args.k)["items"]]
                seconds.append(time.perf_counter() - t)
                same.append(np.mean(y[near] == c))
            share = float(np.mean(y == c))
            rows.append({"class": name, "same_class": float(np.mean(same)), "worst": float(np.min(same)),
                         "pool_share": share})
        store.close()
    write_json(args.out or f"benchmarks/results/more_like_this_{args.dataset}_{args.preset or 'default'}.json",
               "more_like_this", args, classes=rows, prepare_seconds=prepare_s,
               median_query_seconds=float(np.median(seconds)))
    print(markdown_table(
        ["class", f"of the {args.k} shown, same class % (mean)", "worst asked item %", "share of the pool %", "ratio"],
        [[r["class"], f"{100 * r['same_class']:.1f}", f"{100 * r['worst']:.1f}", f"{100 * r['pool_share']:.1f}",
          f"{r['same_class'] / r['pool_share']:.1f}x"] for r in rows]
        + [["all", f"{100 * np.mean([r['same_class'] for r in rows]):.1f}", "", "", ""]]))
    print(f"median query {1000 * np.median(seconds):.1f} ms; latent space prepared in {prepare_s:.0f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
