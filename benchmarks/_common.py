"""Shared pieces of the benchmark scripts: parallel runs, summaries, Markdown tables, JSON output."""

from __future__ import annotations

import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np

from latal.experiment import ExperimentConfig, environment
from latal.loop import ROUND_PHASES

from latal.bench.runner import init_worker as _init_worker  # noqa: E402  (one experiment runner for all)
from latal.bench.runner import run_one  # noqa: E402

def run_many(configs: list[ExperimentConfig], jobs: int = 1, label=lambda c: f"{c.strategy} seed {c.seed}") -> list[dict]:
    """Run experiments, ``jobs`` processes at a time (one torch thread each when parallel)."""
    dicts = [c.to_dict() for c in configs]
    results = []
    if jobs <= 1:
        for cfg, d in zip(configs, dicts):
            results.append(run_one(d))
            print(f"  {label(cfg)}: {results[-1]['rounds'][-1]['accuracy']:.4f}", file=sys.stderr)
        return results
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(1,)) as ex:
        for cfg, res in zip(configs, ex.map(run_one, dicts)):
            print(f"  {label(cfg)}: {res['rounds'][-1]['accuracy']:.4f}", file=sys.stderr)
            results.append(res)
    return results


def accuracy_at(run: dict, n_labeled: int) -> float:
    return next(r["accuracy"] for r in run["rounds"] if r["n_labeled"] == n_labeled)


def summarise(runs: list[dict], group, checkpoints) -> dict:
    """Mean and std (ddof 1) of accuracy at each checkpoint and the median round time, per group."""
    out: dict = {}
    for name in dict.fromkeys(group(r) for r in runs):
        mine = [r for r in runs if group(r) == name]
        acc = {c: [accuracy_at(r, c) for r in mine] for c in checkpoints}
        round_s = [sum(x["seconds"].get(k, 0.0) for k in ROUND_PHASES) for r in mine for x in r["rounds"]
                   if "select" in x["seconds"]]
        out[name] = {
            "n_runs": len(mine),
            "accuracy_mean": {c: float(np.mean(v)) for c, v in acc.items()},
            "accuracy_std": {c: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for c, v in acc.items()},
            "round_seconds_median": statistics.median(round_s) if round_s else 0.0,
        }
    return out


def add_student_run_args(ap, learner: str) -> None:
    """The options of a one-selection CNN student run: data, budget, first-batch strategy, learner, seed."""
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--budget", type=int, default=3000)
    ap.add_argument("--initial-strategy", default="typiclust")
    ap.add_argument("--learner", default=learner)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--encoder", default="conv_vae",
                    help="encoder spec whose latents UMAP refines (a stack such as 'conv_vae+simclr:flip=True')")
    ap.add_argument("--learn-on", default="refined", choices=("refined", "latents", "both"),
                    help="what the first teacher's graph reads (as latal run's --learn-on)")
    ap.add_argument("--learn-weights", default=None, metavar="W1,W2",
                    help="a stack's part weights in what the learner reads (as latal run's --learn-weights)")


def student_run_base(args) -> dict:
    """ExperimentConfig settings of that run: the cached latents of ``--encoder`` (``conv_vae``) refined by UMAP,
    the learner reading ``--learn-on`` with ``--learn-weights``, one batch."""
    from latal.encoders.stack import parse_part_weights

    weights = parse_part_weights(args.learn_weights) if args.learn_weights else None
    return dict(dataset=args.dataset, data_dir=args.data_dir, encoder=args.encoder, refine="umap", rounds=0, batch=1,
                seed=args.seed, learn_on=args.learn_on, learn_weights=weights)


def markdown_table(header: list[str], rows: list[list]) -> str:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join(lines)


def write_json(path, name: str, args, **payload) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": name, "date": date.today().isoformat(), "args": vars(args),
                               "environment": environment(), **payload}, indent=1, default=str))
    print(f"# wrote {out}", file=sys.stderr)
    return out


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def measure(fn) -> tuple[float, float]:
    """Seconds and peak extra resident memory (MB) of ``fn()``."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS counter
    except OSError:
        pass
    base = _status("VmRSS")
    t = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t
    return seconds, max(0, _status("VmHWM") - base) / 2**20


def synthetic_pool(n: int, d: int = 32, classes: int = 10, seed: int = 0):
    """Latents of a ``classes``-component Gaussian mixture (centres N(0, 1.5^2), unit noise), float32, built
    in blocks; the pool of the scale benchmarks."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, size=(classes, d)).astype(np.float32)
    y = rng.integers(0, classes, n)
    z = np.empty((n, d), np.float32)
    for s in range(0, n, 1 << 18):
        z[s : s + (1 << 18)] = centres[y[s : s + (1 << 18)]] + rng.standard_normal((min(1 << 18, n - s), d), dtype=np.float32)
    return z, y


def space_encoders(name: str, simclr_specs: list[str]) -> list[str]:
    """The encoder specs whose latents make up the feature space ``name`` (parts joined by ``+``, side by side).

    ``conv_vae`` is the presets' encoder; ``simclr`` the first of ``simclr_specs``, ``simclrK`` the K-th
    (from 0), ``simclrs`` all of them (an ensemble of builds); any other part is an encoder spec of its own
    (``conv_vae:random_state=1``: another build of the VAE)."""
    specs: list[str] = []
    for part in name.split("+"):
        if part == "simclr":
            specs.append(simclr_specs[0])
        elif part == "simclrs":
            specs.extend(simclr_specs)
        elif part.startswith("simclr") and part[6:].isdigit():
            k = int(part[6:])
            if k >= len(simclr_specs):
                raise SystemExit(f"space {name!r} asks for SimCLR build {k}, but --simclr gives {len(simclr_specs)}"
                                 f" spec(s) (numbered from 0); add more specs or use a smaller number")
            specs.append(simclr_specs[k])
        else:
            from latal.encoders import ENCODERS

            if part not in ENCODERS:
                raise SystemExit(f"unknown part {part!r} in space {name!r}: use conv_vae, simclr, simclrK, simclrs or "
                                 "an encoder spec (e.g. conv_vae:random_state=1), joined by '+'")
            specs.append(part)
    return specs


def space_label(name: str, simclr_specs: list[str]) -> str:
    """``name`` with each SimCLR part replaced by its spec (for tables)."""
    return " + ".join(f"`{s}`" for s in space_encoders(name, simclr_specs))


def graph_purity(W, y) -> float:
    """The mean share of each item's graph neighbours (the rows of the sparse ``W``) that carry its class."""
    degree = np.diff(W.indptr)
    same = np.bincount(np.repeat(np.arange(len(y)), degree), weights=y[W.indices] == np.repeat(y, degree),
                       minlength=len(y))
    return float(np.mean(same / np.maximum(degree, 1)))
