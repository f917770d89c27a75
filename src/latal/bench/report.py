"""What a benchmark writes: results.json, summary.csv, report.md and curves.png."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from latal.bench.protocol import Protocol


def curves(runs: list[dict]) -> dict[str, dict[int, list[float]]]:
    """arm -> label count -> accuracies over the repeats."""
    out: dict[str, dict[int, list[float]]] = {}
    for r in runs:
        per = out.setdefault(r["arm"], {})
        for rec in r["result"]["rounds"]:
            if rec["accuracy"] is not None:
                per.setdefault(int(rec["n_labeled"]), []).append(float(rec["accuracy"]))
    return out


def _std(v: list[float]) -> float:
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def write_report(p: Protocol, runs: list[dict], out, *, quick: bool = False) -> dict[str, Path]:
    """Write the four files into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = curves(runs)
    paths = {"results": out / "results.json", "summary": out / "summary.csv", "report": out / "report.md",
             "curves": out / "curves.png"}
    paths["results"].write_text(json.dumps({"protocol": p.to_dict(), "quick": quick, "runs": runs}, indent=1,
                                           default=str))
    with paths["summary"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arm", "n_labeled", "mean", "std", "repeats"])
        for arm, per in data.items():
            for n, v in sorted(per.items()):
                w.writerow([arm, n, f"{np.mean(v):.6f}", f"{_std(v):.6f}", len(v)])
    cpu = sum(r["seconds"] for r in runs)
    lines = [f"# {p.title}", "", f"Protocol `{p.name}`{' (--quick)' if quick else ''}; source: {p.source}.", "",
             f"{p.dataset}, encoder `{p.encoder}`, learner `{p.learner}`, first batch {p.initial} "
             f"({p.initial_strategy}), batches of {p.batch}, {p.rounds} rounds, {p.repeats} repeats"
             + (f", pool of {p.pool_size}" if p.pool_size else "") + f"; {cpu:.0f} s of run time in all.", "",
             "Test accuracy, mean ± std (ddof 1) over the repeats; the published figure and ours minus it.", ""]
    header = ["arm"] + [f"{c} labels" for c in p.checkpoints] + ["published", "ours - published"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for arm in p.arms:
        per = data.get(arm.name, {})
        cells = [arm.name]
        for c in p.checkpoints:
            v = per.get(c)
            cells.append("-" if not v else f"{np.mean(v):.4f} ± {_std(v):.4f}")
        pub, diff = [], []
        for n, (mean, std) in sorted(arm.published.items()):
            pub.append(f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "") + f" @ {n}")
            v = per.get(n)
            diff.append("-" if not v else f"{np.mean(v) - mean:+.4f}")
        cells += ["; ".join(pub) or "-", "; ".join(diff) or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    paths["report"].write_text("\n".join(lines) + "\n")
    _plot(p, data, paths["curves"], quick)
    return paths


def _plot(p: Protocol, data, path: Path, quick: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, arm in enumerate(p.arms):
        per = data.get(arm.name)
        if not per:
            continue
        color = f"C{i % 10}"
        xs = sorted(per)
        mean = np.array([np.mean(per[x]) for x in xs])
        std = np.array([_std(per[x]) for x in xs])
        ax.plot(xs, mean, color=color, label=arm.name)
        ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.18)
        for n, (m, s) in arm.published.items():
            ax.errorbar([n], [m], yerr=[s or 0.0], fmt="x", color=color, markersize=9, capsize=3)
    ax.set_xlabel("labels")
    ax.set_ylabel("test accuracy")
    ax.set_title(p.title + (" (--quick)" if quick else ""), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.text(0.01, 0.01, "x: published", transform=ax.transAxes, fontsize=7, color="0.4")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
