"""What a benchmark writes: results.json, summary.csv, report.md and curves.png."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from latal.bench.protocol import Protocol
from latal.bench.runner import run_seconds


def curves(runs: list[dict], dataset: str | None = None) -> dict[str, dict[int, list[float]]]:
    """arm -> label count -> accuracies over the repeats (of one dataset, or of all runs)."""
    out: dict[str, dict[int, list[float]]] = {}
    for r in runs:
        if dataset is not None and r.get("dataset", dataset) != dataset:
            continue
        per = out.setdefault(r["arm"], {})
        for rec in r["result"]["rounds"]:
            if rec["accuracy"] is not None:
                per.setdefault(int(rec["n_labeled"]), []).append(float(rec["accuracy"]))
    return out


def _std(v: list[float]) -> float:
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def _setup(p: Protocol) -> str:
    if p.kind == "zero_label":
        return (f"zero-label selection of q = {', '.join(map(str, p.checkpoints))} candidates, linear SVM on them; "
                f"settings {p.settings or 'default'}")
    if p.kind == "cluster_contrastive":
        return (f"paper 003's model, first batch {p.initial} (random), batches of {p.batch}, {p.rounds} rounds; "
                f"settings {p.settings or 'default'}")
    return (f"encoder `{p.encoder}`{f' refined by {p.refine}' if p.refine else ''}, learner `{p.learner}`, "
            f"first batch {p.initial} ({p.initial_strategy}), batches of {p.batch}, {p.rounds} rounds")


def _table(p: Protocol, data: dict) -> list[str]:
    """One row per arm (ours, mean ± std); under an arm with published figures, a row of those figures and
    a row of ours minus them, in the same label-count columns. A full-label arm (``initial = "all"``) shows
    its single point in the last column."""
    unit = "q = {}" if p.kind == "zero_label" else "{} labels"
    lines = ["| arm | " + " | ".join(unit.format(c) for c in p.checkpoints) + " |",
             "|" + "---|" * (1 + len(p.checkpoints))]
    last = len(p.checkpoints) - 1
    for arm in p.arms:
        per = data.get(arm.name, {})
        if not per:
            continue
        ours = ["-"] * len(p.checkpoints)
        pub, diff = ["-"] * len(p.checkpoints), ["-"] * len(p.checkpoints)
        for i, c in enumerate(p.checkpoints):
            if per.get(c):
                ours[i] = f"{np.mean(per[c]):.4f} ± {_std(per[c]):.4f}"
        if arm.initial == "all":
            top = max(per)
            ours[last] = f"{np.mean(per[top]):.4f} ± {_std(per[top]):.4f} (all {top})"
        for n, (mean, std) in arm.published.items():
            i, at = (last, max(per)) if n == "all" else (p.checkpoints.index(n) if n in p.checkpoints else None, n)
            if i is None:
                continue
            pub[i] = f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "") + (" (all)" if n == "all" else "")
            if per.get(at):
                diff[i] = f"{np.mean(per[at]) - mean:+.4f}"
        lines.append(f"| {arm.name} | " + " | ".join(ours) + " |")
        if arm.published:
            lines.append("| &nbsp;&nbsp;published | " + " | ".join(pub) + " |")
            lines.append("| &nbsp;&nbsp;ours - published | " + " | ".join(diff) + " |")
    return lines


def write_report(p: Protocol, runs: list[dict], out, *, quick: bool = False) -> dict[str, Path]:
    """Write the four files into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.json", "summary": out / "summary.csv", "report": out / "report.md",
             "curves": out / "curves.png"}
    paths["results"].write_text(json.dumps({"protocol": p.to_dict(), "quick": quick, "runs": runs},
                                           separators=(",", ":"), default=str))
    per_dataset = {d: curves(runs, d) for d in p.datasets}
    with paths["summary"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "arm", "n_labeled", "mean", "std", "repeats"])
        for d, data in per_dataset.items():
            for arm, per in data.items():
                for n, v in sorted(per.items()):
                    w.writerow([d, arm, n, f"{np.mean(v):.6f}", f"{_std(v):.6f}", len(v)])
    cpu = sum(run_seconds(r) for r in runs)
    lines = [f"# {p.title}", "", f"Protocol `{p.name}` ({p.kind}){' --quick' if quick else ''}; source: {p.source}.",
             "", f"{p.dataset}: {_setup(p)}; {p.repeats} repeats"
             + (f", pool of {p.pool_size}" if p.pool_size else "") + f"; {cpu:.0f} s of run time in all (each run timed in its own process).", ""]
    if p.overrides:
        lines += [f"Changed from the protocol on the command line: {', '.join(f'`{o}`' for o in p.overrides)}.", ""]
    lines += ["Test accuracy, mean ± std (ddof 1) over the repeats; under an arm, the published figure and ours "
              "minus it.", ""]
    for d, data in per_dataset.items():
        if len(p.datasets) > 1:
            lines += [f"## {d}", ""]
        lines += _table(p, data) + [""]
    paths["report"].write_text("\n".join(lines))
    _plot(p, per_dataset, paths["curves"], quick)
    return paths


def _plot(p: Protocol, per_dataset: dict, path: Path, quick: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(per_dataset)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(8 if n == 1 else 5 * cols, 5 if n == 1 else 4 * rows),
                             squeeze=False)
    for ax, (d, data) in zip(axes.flat, per_dataset.items()):
        for i, arm in enumerate(p.arms):
            per = data.get(arm.name)
            if not per:
                continue
            color = f"C{i % 10}"
            xs = sorted(per)
            mean = np.array([np.mean(per[x]) for x in xs])
            std = np.array([_std(per[x]) for x in xs])
            if len(xs) == 1:
                ax.axhline(mean[0], color=color, ls="--", lw=1, label=f"{arm.name} ({xs[0]} labels)")
            else:
                ax.plot(xs, mean, color=color, label=arm.name, marker="." if len(xs) < 12 else None)
                ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.18)
            for k, (m, s) in arm.published.items():
                if k != "all":
                    ax.errorbar([k], [m], yerr=[s or 0.0], fmt="x", color=color, markersize=9, capsize=3)
        ax.set_xlabel("q (items picked with no label)" if p.kind == "zero_label" else "labels")
        ax.set_ylabel("test accuracy")
        ax.set_title(d if n > 1 else p.title + (" (--quick)" if quick else ""), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
        if any(arm.published for arm in p.arms):
            ax.text(0.01, 0.01, "x: published", transform=ax.transAxes, fontsize=7, color="0.4")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if n > 1:
        fig.suptitle(p.title + (" (--quick)" if quick else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
