"""Query time and peak memory of BADGE, Cluster-Margin and SEALS-wrapped margin against plain margin, on
the MNIST conv-VAE latents (60k) and on a synthetic 1M x 32 pool, with the thesis MLP fitted on 1,000
labels. Memory is the peak resident set size above the level before the query (Linux: /proc/self).

    python benchmarks/strategy_scale.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, measure, synthetic_pool, write_json  # noqa: E402

from latal.learners import make_learner  # noqa: E402
from latal.pool import Pool  # noqa: E402
from latal.strategies import QueryContext, make_strategy  # noqa: E402


def mnist_pool(data_dir, encoder):
    from latal.experiment import ExperimentConfig, prepare

    p = prepare(ExperimentConfig(dataset="mnist", data_dir=data_dir, encoder=encoder))
    return np.asarray(p.latent.mean, np.float32), p.dataset.y


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--encoder", default="conv_vae")
    ap.add_argument("--sizes", nargs="+", default=["mnist", "1000000"])
    ap.add_argument("--strategies", nargs="+",
                    default=["margin", "badge", "cluster_margin", "seals", "seals:index=hnsw"])
    ap.add_argument("--batches", nargs="+", type=int, default=[100, 1000])
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slow-seconds", type=float, default=60.0,
                    help="a query whose first call took longer is not repeated (its first call is the figure)")
    ap.add_argument("--out", default="benchmarks/results/strategy_scale.json")
    args = ap.parse_args(argv)
    rows, results = [], []
    for size in args.sizes:
        z, y = mnist_pool(args.data_dir, args.encoder) if size == "mnist" else synthetic_pool(int(size))
        name = f"MNIST {len(z):,}" if size == "mnist" else f"synthetic {len(z):,}"
        classes = [str(c) for c in range(int(y.max()) + 1)]
        first = np.random.default_rng(0).choice(len(z), size=args.labels, replace=False)
        learner = make_learner("mlp", random_state=0).fit(z[first], y[first], n_classes=len(classes))
        for spec in args.strategies:
            for k in args.batches:
                pool = Pool(z, classes)  # float32 latents are shared, not copied
                pool.add_labels(first, y[first])
                strategy = make_strategy(spec)
                cache: dict = {}
                chosen = []

                def query(seed):
                    ctx = QueryContext(pool=pool.view(), learner=learner, cache=cache)
                    chosen.append(strategy.select(ctx, k, seed))

                # the first query pays one-off costs (clustering, index build); later rounds reuse them.
                # Each query's batch is labeled before the next, as in a loop (the learner is kept fixed:
                # this measures the query, not the fit).
                first_s, first_mb = measure(lambda: query(0))
                times, mems = [], []
                for rep in range(args.repeats if first_s < args.slow_seconds else 0):
                    pool.add_labels(chosen[-1], y[chosen[-1]])
                    s, mb = measure(lambda: query(rep + 1))
                    times.append(s)
                    mems.append(mb)
                rec = {"pool": name, "n": len(z), "strategy": spec, "batch": k, "first_query_seconds": first_s,
                       "first_query_peak_mb": first_mb,
                       "query_seconds_median": statistics.median(times) if times else first_s,
                       "query_seconds": times, "peak_mb_max": max(mems) if mems else first_mb,
                       "candidates": (getattr(strategy, "last_info_", None) or {}).get("candidates")}
                results.append(rec)
                rows.append([name, spec, k, f"{first_s:.2f}", f"{rec['query_seconds_median']:.2f}",
                             f"{max(first_mb, rec['peak_mb_max']):.0f}"])
                print(" | ".join(map(str, rows[-1])), file=sys.stderr)
                write_json(args.out, "strategy_scale", args, results=results)
        del z, y, learner
    print(markdown_table(["pool", "strategy", "batch", "first query s", "query s (median)", "peak extra MB"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
