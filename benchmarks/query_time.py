"""Query time of every registered strategy on the 60,000-item MNIST pool (`conv_vae` latents, cached):
the thesis MLP fitted on 1,000 random labels, then `select(k)` (`--k`, default 100) timed 5 times (median), each with a
fresh context (pool-level caches such as densities kept, as in a loop). Random sampling is the
baseline of the ratio column, measured in the same run.

    python benchmarks/query_time.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal import Pool  # noqa: E402
from latal.experiment import ExperimentConfig, prepare  # noqa: E402
from latal.learners import MLPClassifier  # noqa: E402
from latal.strategies import STRATEGIES, QueryContext, make_strategy  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--encoder", default="conv_vae")
    ap.add_argument("--strategies", nargs="+", default=None)
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/query_time.json")
    args = ap.parse_args(argv)
    prepared = prepare(ExperimentConfig(dataset="mnist", data_dir=args.data_dir, encoder=args.encoder))
    ds, latent = prepared.dataset, prepared.latent
    pool = Pool(latent.mean, ds.class_names, latent.log_var)
    rng = np.random.default_rng(0)
    first = rng.choice(ds.n, size=args.labels, replace=False)
    pool.add_labels(first, ds.y[first])
    learner = MLPClassifier(random_state=0).fit(*pool.labeled_data(), n_classes=pool.n_classes)
    names = args.strategies or STRATEGIES.names()
    rows, cache = [], {}
    for name in names:
        strategy = make_strategy(name)
        times = []
        for rep in range(args.repeats):
            ctx = QueryContext(pool=pool.view(), learner=learner, cache=cache)
            t0 = time.perf_counter()
            strategy.select(ctx, args.k, np.random.default_rng(rep))
            times.append(time.perf_counter() - t0)
        rows.append({"strategy": name, "median_seconds": statistics.median(times), "first_seconds": times[0],
                     "all_seconds": times})
        print(f"  {name}: {rows[-1]['median_seconds']:.3f}s", file=sys.stderr)
    base = next((r["median_seconds"] for r in rows if r["strategy"] == "random"), None)
    print(markdown_table(["strategy", f"median s (k={args.k}, 60k pool)", "first call s", "x random"],
                         [[r["strategy"], f"{r['median_seconds']:.3f}", f"{r['first_seconds']:.3f}",
                           f"{r['median_seconds'] / base:.0f}" if base else "-"] for r in rows]))
    write_json(args.out, "query_time", args, labels=args.labels, rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
