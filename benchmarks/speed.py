"""Speed at scale: one active-learning round on pools of 10k, 60k, 1M and 4M latents (d = 32, 10 classes,
a Gaussian mixture), split into fit, predict, score and select (median of 5), with peak memory; the same
queries through scikit-activeml and modAL on the same latents, learner and batch, with the ratio and the
overlap of the selected indices; a log-log plot of cost against pool size with fitted slopes.

    pip install -e ".[bench]"       # scikit-activeml and modAL, for the comparison
    python benchmarks/speed.py

The learner is the thesis MLP (512-512) fitted on 1,000 labels; every query is for 100 items unless the
name says otherwise. ``predict`` is time spent inside the learner (probabilities, MC samples), ``score``
the uncertainty/representativeness arithmetic, ``select`` the rest of the strategy (batch rule, k-center,
clustering, discriminator training).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, measure, synthetic_pool, write_json  # noqa: E402

from latal.learners import make_learner  # noqa: E402
from latal.loop import run_active_learning  # noqa: E402
from latal.oracles import SimulatedOracle  # noqa: E402
from latal.pool import Pool  # noqa: E402
from latal.strategies import QueryContext, make_strategy  # noqa: E402

# name -> (strategy spec, batch)
OURS = {
    "margin": ("margin", 100),
    "margin_subsample": ("margin_subsample", 100),
    "margin_greedy": ("margin_greedy", 100),
    "margin_greedy_full": ("margin:batch=greedy", 100),
    "coreset@100": ("coreset", 100),
    "coreset@1000": ("coreset", 1000),
    "dbscan": ("dbscan", 100),
    "dal": ("dal", 100),
    "bald": ("bald", 100),
}
PEERS = {  # peer name -> (our equivalent, batch, whether the algorithm is the same)
    "skactiveml margin": ("margin", 100, True),
    "skactiveml coreset@100": ("coreset@100", 100, True),
    "skactiveml coreset@1000": ("coreset@1000", 1000, True),
    "modAL margin": ("margin", 100, True),
    "modAL ranked batch": ("margin_greedy_full", 100, False),
}


class TimedLearner:
    """Forwards to a fitted learner and accumulates the seconds spent in its prediction methods."""

    _TIMED = ("predict_proba", "predict_proba_samples", "predict_proba_embed", "embed", "predict")

    def __init__(self, learner):
        self._learner = learner
        self.seconds = 0.0

    def __getattr__(self, name):
        attr = getattr(self._learner, name)
        if name not in self._TIMED:
            return attr

        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return attr(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t

        return timed


def traced_peak_mb(fn) -> float:
    """Peak of numpy/Python allocations during ``fn()`` (tracemalloc; torch's own buffers are not seen)."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def adaptive_repeats(run, repeats: int, slow_repeats: int) -> list:
    """``run()`` ``repeats`` times, or ``slow_repeats`` when the first call took over 20 s, or once when
    it took over 60 s; returns every call's result (a dict with "total")."""
    out = [run(0)]
    n = 1 if out[0]["total"] > 60 else (slow_repeats if out[0]["total"] > 20 else repeats)
    out += [run(rep) for rep in range(1, n)]
    return out


def time_ours(pool, learner, spec, k, repeats, slow_repeats):
    strategy = make_strategy(spec)
    cache: dict = {}
    chosen = {}

    def run(rep):
        timed = TimedLearner(learner)
        ctx = QueryContext(pool=pool.view(), learner=timed, cache=cache)
        seconds, mb = measure(lambda: chosen.setdefault(rep, strategy.select(ctx, k, rep)))
        score = max(0.0, ctx.timings.get("score", 0.0) - timed.seconds) if "score" in ctx.timings else 0.0
        return {"predict": timed.seconds, "score": score, "select": seconds - timed.seconds - score,
                "total": seconds, "rss_mb": mb}

    rows = adaptive_repeats(run, repeats, slow_repeats)
    med = {key: statistics.median(r[key] for r in rows) for key in ("predict", "score", "select", "total")}
    med["repeats"] = len(rows)
    med["rss_mb"] = max(r["rss_mb"] for r in rows)
    med["traced_mb"] = None if med["total"] > 20 else traced_peak_mb(
        lambda: strategy.select(QueryContext(pool=pool.view(), learner=learner, cache=cache), k, 0))
    med["peak_mb"] = max(med["rss_mb"], med["traced_mb"] or 0.0)
    return med, chosen[0]


def whole_round(z, y, classes, learner_spec, repeats):
    """``latal run``'s round through the loop: fit on 1,000 labels, margin, select 100."""
    rows = []
    for rep in range(repeats):
        pool = Pool(z, classes)
        h = run_active_learning(pool, make_learner(learner_spec), make_strategy("margin"), SimulatedOracle(y),
                                initial=1000, batch=100, rounds=1, seed=rep)
        s = h.rounds[0].seconds
        rows.append({"fit": s["fit"], "score": s["score"], "select": s["select"], "total": h.rounds[0].round_seconds})
    return {key: statistics.median(r[key] for r in rows) for key in rows[0]}


# ---------------------------------------------------------------- peers
def _sk_classifier(learner, z_lab, y_lab, n_classes):
    from sklearn.base import BaseEstimator, ClassifierMixin
    from skactiveml.classifier import SklearnClassifier

    class Fitted(ClassifierMixin, BaseEstimator):
        """Our fitted MLP behind scikit-learn's interface (fit is a no-op), so every library uses one model."""

        def __init__(self, model=None):
            self.model = model

        def fit(self, X, y):
            self.classes_ = np.arange(n_classes)
            return self

        def predict_proba(self, X):
            return self.model.predict_proba(X)

        def predict(self, X):
            return self.model.predict(X)

    clf = SklearnClassifier(Fitted(learner), classes=np.arange(n_classes), missing_label=-1)
    return clf.fit(z_lab, y_lab), Fitted(learner).fit(z_lab, y_lab)


def time_peer(name, z, labels, learner, k, repeats, slow_repeats):
    """Seconds (median) and the first selection of a peer library's query."""
    lab = np.flatnonzero(labels != -1)
    n_classes = int(labels.max()) + 1
    sk_clf, plain = _sk_classifier(learner, z[lab], labels[lab], n_classes)
    if name.startswith("skactiveml margin"):
        from skactiveml.pool import UncertaintySampling

        qs = UncertaintySampling(method="margin_sampling", missing_label=-1, random_state=0)
        run = lambda: qs.query(z, labels, clf=sk_clf, fit_clf=False, batch_size=k)  # noqa: E731
    elif name.startswith("skactiveml coreset"):
        from skactiveml.pool import CoreSet

        qs = CoreSet(missing_label=-1, random_state=0)
        run = lambda: qs.query(z, labels, batch_size=k)  # noqa: E731
    else:
        from modAL.batch import uncertainty_batch_sampling
        from modAL.models import ActiveLearner
        from modAL.uncertainty import margin_sampling

        unl = np.flatnonzero(labels == -1)
        fn = margin_sampling if name == "modAL margin" else uncertainty_batch_sampling
        al = ActiveLearner(estimator=plain, query_strategy=fn, X_training=z[lab], y_training=labels[lab])

        def run():
            idx = al.query(z[unl], n_instances=k)[0]
            return unl[np.asarray(idx)]
    first = {}

    def one(rep):
        s, mb = measure(lambda: first.setdefault(rep, np.asarray(run())))
        return {"total": s, "rss_mb": mb}

    rows = adaptive_repeats(one, repeats, slow_repeats)
    return statistics.median(r["total"] for r in rows), max(r["rss_mb"] for r in rows), first[0], len(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 60_000, 1_000_000, 4_000_000])
    ap.add_argument("--strategies", nargs="+", default=list(OURS))
    ap.add_argument("--peers", nargs="*", default=list(PEERS))
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--slow-repeats", type=int, default=3,
                    help="repeats for queries over 20 s (DAL, BALD at 1M+); over 60 s, one")
    ap.add_argument("--peer-budget", type=float, default=300.0,
                    help="skip a peer query at a size where its previous size's time, scaled, predicts more than this (s)")
    ap.add_argument("--peer-memory-gb", type=float, default=12.0,
                    help="skip a peer query whose own working matrix would exceed this")
    ap.add_argument("--learner", default="mlp")
    ap.add_argument("--out", default="benchmarks/results/speed.json")
    ap.add_argument("--png", default="benchmarks/results/speed.png")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="no timing: combine the results of earlier runs (e.g. a 4M run with fewer strategies), "
                         "then write --out, the table and the plot")
    args = ap.parse_args(argv)
    if args.merge:
        import json

        results = {"ours": [], "round": [], "peers": [], "fit": []}
        ident = {"ours": lambda r: (r["n"], r["strategy"]), "round": lambda r: r["n"],
                 "peers": lambda r: (r["n"], r["peer"]), "fit": lambda r: r["n"]}
        merged: dict = {key: {} for key in results}
        for path in args.merge:  # a later file's measurement of the same thing replaces an earlier one
            part = json.loads(Path(path).read_text())["results"]
            for key in results:
                for r in part.get(key, []):
                    merged[key][ident[key](r)] = r
        finish({key: list(v.values()) for key, v in merged.items()}, args)
        return 0
    results = {"ours": [], "round": [], "peers": [], "fit": []}
    last_peer: dict = {}
    for n in args.sizes:
        z, y = synthetic_pool(n)
        classes = [str(c) for c in range(10)]
        first = np.random.default_rng(0).choice(n, size=args.labels, replace=False)
        fits = []
        for rep in range(args.repeats):
            t = time.perf_counter()
            learner = make_learner(args.learner, random_state=rep).fit(z[first], y[first], n_classes=10)
            fits.append(time.perf_counter() - t)
        results["fit"].append({"n": n, "fit": statistics.median(fits)})
        pool = Pool(z, classes)
        pool.add_labels(first, y[first])
        labels = np.asarray(pool.labels)
        ours_chosen = {}
        for name in args.strategies:
            spec, k = OURS[name]
            med, chosen = time_ours(pool, learner, spec, k, args.repeats, args.slow_repeats)
            ours_chosen[name] = chosen
            rec = {"n": n, "strategy": name, "batch": k, **med}
            results["ours"].append(rec)
            print(f"n={n:>9,} {name:<18} predict {med['predict']:7.3f} score {med['score']:6.3f} "
                  f"select {med['select']:7.3f} total {med['total']:7.3f} s, peak +{med['peak_mb']:.0f} MB",
                  file=sys.stderr)
            write_json(args.out, "speed", args, results=results)
        rnd = whole_round(z, y, classes, args.learner, args.repeats)
        results["round"].append({"n": n, **rnd})
        print(f"n={n:>9,} latal run round: fit {rnd['fit']:.3f} score {rnd['score']:.3f} select {rnd['select']:.3f} "
              f"total {rnd['total']:.3f} s", file=sys.stderr)
        for peer in args.peers:
            ours_name, k, same = PEERS[peer]
            if ours_name not in ours_chosen:
                continue
            if peer in last_peer:
                prev_n, prev_s = last_peer[peer]
                if prev_s * (n / prev_n) > args.peer_budget:
                    results["peers"].append({"n": n, "peer": peer, "skipped": f"predicted > {args.peer_budget:.0f} s"})
                    print(f"n={n:>9,} {peer}: skipped (predicted {prev_s * n / prev_n:.0f} s)", file=sys.stderr)
                    continue
            if peer.startswith("skactiveml coreset") and k * n * 8 > args.peer_memory_gb * 2**30:
                # scikit-activeml's k_greedy_center keeps a (batch x pool) float64 utilities matrix
                msg = f"needs a {k} x {n:,} float64 matrix ({k * n * 8 / 2**30:.0f} GB)"
                results["peers"].append({"n": n, "peer": peer, "skipped": msg})
                print(f"n={n:>9,} {peer}: skipped ({msg})", file=sys.stderr)
                continue
            try:
                secs, mb, chosen, reps = time_peer(peer, z, labels, learner, k, args.repeats, args.slow_repeats)
            except MemoryError as exc:
                results["peers"].append({"n": n, "peer": peer, "skipped": f"MemoryError: {exc}"})
                continue
            last_peer[peer] = (n, secs)
            mine = next(r for r in results["ours"] if r["n"] == n and r["strategy"] == ours_name)
            overlap = len(set(chosen.tolist()) & set(ours_chosen[ours_name].tolist())) / k
            results["peers"].append({"n": n, "peer": peer, "ours": ours_name, "seconds": secs, "peak_mb": mb, "repeats": reps,
                                     "ours_seconds": mine["total"], "ratio": mine["total"] / secs,
                                     "speedup": secs / mine["total"], "same_algorithm": same, "overlap": overlap})
            print(f"n={n:>9,} {peer:<24} {secs:8.3f} s vs ours {mine['total']:.3f} s: x{secs / mine['total']:.1f}, "
                  f"overlap {overlap:.2f}", file=sys.stderr)
            write_json(args.out, "speed", args, results=results)
        del z, y, pool, learner
    finish(results, args)
    return 0


def finish(results: dict, args) -> None:
    """Slopes and versions added; JSON, table and plot written."""
    results["slopes"] = slopes(results)
    results["versions"] = versions()
    write_json(args.out, "speed", args, results=results)
    report(results)
    plot(results, args.png)


def slopes(results) -> dict:
    """Least-squares slope of log(time) against log(pool size), per strategy (1 = linear)."""
    out = {}
    for name in dict.fromkeys(r["strategy"] for r in results["ours"]):
        pts = [(r["n"], r["total"]) for r in results["ours"] if r["strategy"] == name and r["total"] > 0]
        if len(pts) >= 2:
            n, t = np.log(np.array(pts)).T
            out[name] = float(np.polyfit(n, t, 1)[0])
    pts = [(r["n"], r["total"]) for r in results["round"]]
    if len(pts) >= 2:
        n, t = np.log(np.array(pts)).T
        out["latal run round"] = float(np.polyfit(n, t, 1)[0])
    return out


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("scikit-activeml", "modAL-python", "latal", "torch", "scikit-learn", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def report(results) -> None:
    sizes = sorted({r["n"] for r in results["ours"]})
    rows = []
    for name in dict.fromkeys(r["strategy"] for r in results["ours"]):
        cells = []
        for n in sizes:
            r = next((x for x in results["ours"] if x["n"] == n and x["strategy"] == name), None)
            cells.append("-" if r is None else f"{r['total']:.3f} ({r['predict']:.2f}/{r['score']:.2f}/{r['select']:.2f}), {r['peak_mb']:.0f} MB")
        rows.append([name] + cells + [f"{results['slopes'].get(name, float('nan')):.2f}"])
    cells = []
    for n in sizes:
        r = next((x for x in results["round"] if x["n"] == n), None)
        cells.append("-" if r is None else f"{r['total']:.3f} (fit {r['fit']:.2f})")
    rows.append(["latal run round (margin)"] + cells + [f"{results['slopes'].get('latal run round', float('nan')):.2f}"])
    print(markdown_table(["strategy"] + [f"{n:,}: s (predict/score/select), peak" for n in sizes] + ["slope"], rows))
    print()
    prow = []
    for r in results["peers"]:
        if "skipped" in r:
            prow.append([f"{r['n']:,}", r["peer"], "-", "-", "-", r["skipped"], "-"])
        else:
            prow.append([f"{r['n']:,}", r["peer"], f"{r['seconds']:.3f}", f"{r['ours_seconds']:.3f}",
                         f"{r['speedup']:.1f}x", f"{r['overlap']:.2f}" + ("" if r["same_algorithm"] else " (different algorithm)"),
                         f"{r['peak_mb']:.0f}"])
    print(markdown_table(["pool", "peer query", "peer s", "latal s", "latal speed-up", "overlap", "peer peak MB"], prow))


def plot(results, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for name in dict.fromkeys(r["strategy"] for r in results["ours"]):
        pts = sorted((r["n"], r["total"]) for r in results["ours"] if r["strategy"] == name)
        ax.plot(*zip(*pts), marker="o", label=f"{name} (slope {results['slopes'].get(name, float('nan')):.2f})")
    pts = sorted((r["n"], r["total"]) for r in results["round"])
    ax.plot(*zip(*pts), marker="s", color="k", lw=2,
            label=f"latal run round (slope {results['slopes'].get('latal run round', float('nan')):.2f})")
    for peer in dict.fromkeys(r["peer"] for r in results["peers"] if "seconds" in r):
        pts = sorted((r["n"], r["seconds"]) for r in results["peers"] if r["peer"] == peer and "seconds" in r)
        ax.plot(*zip(*pts), ls="--", marker="x", label=peer)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pool size (items, d = 32)")
    ax.set_ylabel("seconds per query (median)")
    ax.set_title("One query on 2 CPU cores: latal (solid) and peers (dashed)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"# wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
