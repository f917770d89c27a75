"""``latal`` command line: ``latal run``, ``latal strategies``, ``latal encoders``, ``latal learners``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from latal.exceptions import LatalError
from latal.loop import ROUND_PHASES


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _round_row(rec: dict) -> list[str]:
    s = rec["seconds"]
    acc = rec["accuracy"]
    return [
        str(rec["round"]), str(rec["n_labeled"]), "-" if acc is None else f"{acc:.4f}",
        *(f"{s.get(k, 0.0):.3f}" for k in ROUND_PHASES), f"{sum(s.get(k, 0.0) for k in ROUND_PHASES):.3f}",
    ]


HEADER = ["round", "labels", "accuracy", "fit_s", "score_s", "select_s", "round_s"]


def cmd_run(args) -> int:
    from tqdm.auto import tqdm

    from latal.experiment import ExperimentConfig, run_experiment

    cfg = ExperimentConfig(
        dataset=args.dataset, data_dir=args.data_dir, encoder=args.encoder, learner=args.learner,
        strategy=args.strategy, initial_strategy=args.initial_strategy, initial=args.initial,
        batch=args.batch, rounds=args.rounds, seed=args.seed, pool_size=args.pool_size,
        test_fraction=args.test_fraction, device=args.device,
    )
    show = not args.quiet
    bar = tqdm(total=args.rounds + 1, desc="rounds", unit="round", disable=not show, file=sys.stderr, leave=False)

    def on_round(rec):
        bar.update(1)
        if rec.accuracy is not None:
            bar.set_postfix(labels=rec.n_labeled, acc=f"{rec.accuracy:.3f}")

    try:
        result = run_experiment(cfg, progress=show, on_round=on_round)
    finally:
        bar.close()
    rows = [_round_row(r) for r in result["rounds"]]
    d = result["data"]
    print(f"# {d['name']}: pool {d['pool']}, test {d['test']}, latent dim {d['latent_dim']}; "
          f"encoder {cfg.encoder} (fit+encode {result['timing']['encode_seconds']:.1f}s), "
          f"learner {cfg.learner}, strategy {cfg.strategy}, seed {cfg.seed}")
    print(_table(rows, HEADER))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, path)
        print(f"# wrote {path}")
    return 0


def _list(registry) -> int:
    rows = registry.describe()
    width = max(len(n) for n, _ in rows)
    for name, desc in rows:
        print(f"{name.ljust(width)}  {desc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latal", description="Latent active learning.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate an active-learning run and print its learning curve",
                       description="Simulate active learning with a ground-truth oracle and print the curve.")
    r.add_argument("--dataset", default="digits",
                   help="digits (embedded, default), mnist, fashion-mnist, a .npy/.npz file or an image folder")
    r.add_argument("--data-dir", default=None,
                   help="folder holding mnist/ and fashion-mnist/ IDX files (default: $LATAL_DATA, else download)")
    r.add_argument("--encoder", default="pca", help="encoder spec, e.g. pca or pca:n_components=30 (see `latal encoders`)")
    r.add_argument("--learner", default="mlp", help="learner spec, e.g. mlp or mlp:epochs=30 (see `latal learners`)")
    r.add_argument("--strategy", default="margin", help="strategy spec (see `latal strategies`)")
    r.add_argument("--initial-strategy", default="random", help="strategy for the first batch (needs no labels)")
    r.add_argument("--initial", type=int, default=100, help="size of the first batch (default 100)")
    r.add_argument("--batch", type=int, default=100, help="labels per round (default 100)")
    r.add_argument("--rounds", type=int, default=10, help="query rounds after the first batch (default 10)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--pool-size", type=int, default=None, help="use a random subset of the pool of this size")
    r.add_argument("--test-fraction", type=float, default=0.25,
                   help="held-out share when the dataset has no test split (default 0.25)")
    r.add_argument("--device", default="auto", help="torch device: auto (CUDA if present), cpu, cuda:0, ...")
    r.add_argument("--json", default=None, help="write config and per-round results to this JSON file")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)

    from latal.encoders import ENCODERS
    from latal.learners import LEARNERS
    from latal.strategies import STRATEGIES

    for name, reg in (("strategies", STRATEGIES), ("encoders", ENCODERS), ("learners", LEARNERS)):
        s = sub.add_parser(name, help=f"list the registered {name}")
        s.set_defaults(func=lambda args, reg=reg: _list(reg))
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (LatalError, ValueError) as exc:
        print(f"latal: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latal: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
