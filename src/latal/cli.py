"""``latal`` command line: ``latal run``, ``latal encode``, ``latal label``, ``latal export``, ``latal import``, ``latal review``,
``latal strategies``, ``latal encoders``, ``latal learners``, ``latal stopping``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from latal.exceptions import LatalError
from latal.loop import ROUND_PHASES
from latal.registry import parse_spec


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
#: options a --preset may fill (an option given on the command line wins) and their plain defaults
_DEFAULTS = {"encoder": "pca", "learner": "mlp", "strategy": "margin", "initial_strategy": "random", "refine": None,
             "learn_on": "refined", "learn_weights": None}
_PRESETTABLE = tuple(_DEFAULTS)
_LEARN_ON_TEXT = {"latents": " on the unrefined latents", "both": " on the refined and on the unrefined latents, averaged"}


def _weights(value):
    """``--learn-weights`` text (or a preset's tuple) as a tuple of floats; None stays None."""
    if value is None:
        return None
    from latal.encoders.stack import parse_part_weights

    return parse_part_weights(value)


def _weights_text(weights) -> str:
    from latal.encoders.stack import part_weights_text

    return "" if weights is None else f" (parts weighted {part_weights_text(weights)})"


def resolve_preset(args) -> dict:
    """Encoder, refinement, learner and strategies for ``latal run``: what the command line gives, else the
    ``--preset``'s, else the plain defaults."""
    from latal.experiment import fill_from_preset

    chosen = fill_from_preset({k: getattr(args, k) for k in _PRESETTABLE}, args.preset or None)
    return {k: v if v is not None else _DEFAULTS[k] for k, v in chosen.items()}


def cmd_run(args) -> int:
    from tqdm.auto import tqdm

    from latal.experiment import ExperimentConfig, run_experiment

    chosen = resolve_preset(args)
    cfg = ExperimentConfig(
        dataset=args.dataset, data_dir=args.data_dir, encoder=chosen["encoder"], learner=chosen["learner"],
        strategy=chosen["strategy"], initial_strategy=chosen["initial_strategy"], refine=chosen["refine"],
        learn_on=chosen["learn_on"], learn_weights=_weights(chosen["learn_weights"]), initial=args.initial,
        batch=args.batch, rounds=args.rounds, seed=args.seed, pool_size=args.pool_size,
        test_fraction=args.test_fraction, device=args.device, use_cache=not args.no_cache,
        stopping=tuple(args.stop or ()), halt_on_stop=args.halt_on_stop,
    )
    show = not args.quiet
    # disable=None: no bar where stderr is not a terminal (a log, a pipe), so no bar line lands before the
    # results or an error message there
    bar = tqdm(total=args.rounds + 1, desc="rounds", unit="round", disable=None if show else True, file=sys.stderr,
               leave=False)

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
    how = "read from cache" if result["timing"].get("encoder_cached") else "fit+encode"
    print(f"# {d['name']}: pool {d['pool']}, test {d['test']}, latent dim {d['latent_dim']}; "
          f"encoder {cfg.encoder} ({how} {result['timing']['encode_seconds']:.1f}s), "
          f"{'refined by ' + cfg.refine + ', ' if cfg.refine else ''}learner {cfg.learner}"
          f"{_LEARN_ON_TEXT.get(cfg.learn_on, '')}{_weights_text(cfg.learn_weights)}, "
          f"initial {cfg.initial_strategy}, strategy {cfg.strategy}, seed {cfg.seed}")
    print(_table(rows, HEADER))
    for spec in cfg.stopping:
        name = parse_spec(spec)[0]
        at = result["stopped"].get(name)
        print(f"# stopping criterion {name}: " + (f"fired at {at} labels" if at is not None else "did not fire"))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, path)
        print(f"# wrote {path}")
    return 0


def cmd_encode(args) -> int:
    from latal.encoders.diagnostics import (
        active_dimensions, plot_interpolations, plot_latent_scatter, plot_manifold, plot_reconstructions, probe,
    )
    from latal.experiment import ExperimentConfig, environment, prepare

    spec = args.encoder
    extra = {k: v for k, v in (("latent_dim", args.latent_dim), ("epochs", args.epochs)) if v is not None}
    if extra and "+" in spec:
        raise ValueError(f"--latent-dim and --epochs set one encoder, and {spec!r} joins several; write them in "
                         "each part's spec instead, e.g. 'conv_vae:epochs=5+simclr:epochs=5'.")
    if extra:
        spec += (":" if ":" not in spec else ",") + ",".join(f"{k}={v}" for k, v in extra.items())
    cfg = ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder=spec, pool_size=args.pool_size,
                           device=args.device, use_cache=not args.no_cache)
    prepared = prepare(cfg, progress=not args.quiet)
    enc, ds = prepared.encoder, prepared.dataset
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mean = prepared.latent.mean
    used = active_dimensions(mean, relative=prepared.latent.log_var is None)  # no prior: scale-free
    summary = {
        "dataset": ds.name, "pool": int(ds.n), "test": int(ds.x_test.shape[0]), "encoder": spec,
        "resolved": repr(enc), "latent_dim": int(mean.shape[1]), "used_dimensions": int(used.size),
        "used_dimension_indices": used.tolist(), "variational": prepared.latent.log_var is not None,
        "cached": prepared.timing["encoder_cached"], "cache_key": prepared.timing["encoder_cache_key"],
        "fit_encode_seconds": prepared.timing["encode_seconds"], "environment": environment(),
    }
    history = getattr(enc, "history_", None)
    if history:
        summary.update({
            "epochs_run": len(history["train_loss"]), "best_epoch": enc.best_epoch_,
            "final_train_loss": history["train_loss"][-1], "final_val_loss": history["val_loss"][-1],
            "best_val_loss": min(history["val_loss"]), "train_seconds": enc.train_seconds_,
            "seconds_per_epoch": float(np.median(history["epoch_seconds"])), "history": history,
        })
    pictures = []
    if enc.has_decoder and getattr(enc, "model_", None) is not None:
        pictures.append(plot_reconstructions(enc, ds.x_test, out / "reconstructions.png"))
        pictures.append(plot_interpolations(enc, ds.x_test, out / "interpolations.png"))
        if mean.shape[1] == 2:
            pictures.append(plot_manifold(enc, out / "manifold.png"))
    pictures.append(plot_latent_scatter(prepared.test_latent.mean, ds.y_test, ds.class_names, out / "latent_scatter.png"))
    summary["pictures"] = [p.name for p in pictures]
    if args.probe:
        from latal.encoders import make_encoder

        pixels = make_encoder("identity").fit(ds.x)
        summary["probe"] = {
            "latent": probe(mean, ds.y, prepared.test_latent.mean, ds.y_test, device=args.device),
            "pixels": probe(pixels.encode(ds.x).mean, ds.y, pixels.encode(ds.x_test).mean, ds.y_test,
                            device=args.device),
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    how = "read from cache" if summary["cached"] else "trained"
    print(f"# {ds.name}: {spec} {how} in {summary['fit_encode_seconds']:.1f}s; latent dim {summary['latent_dim']}, "
          f"used {summary['used_dimensions']}")
    if history:
        print(f"# epochs {summary['epochs_run']} (best {summary['best_epoch']}), {summary['seconds_per_epoch']:.1f}s/epoch, "
              f"train loss {summary['final_train_loss']:.2f}, validation loss {summary['final_val_loss']:.2f}")
    if args.probe:
        rows = [[k, f"{v['accuracy']:.4f}", f"{v['seconds']:.1f}"] for k, v in summary["probe"].items()]
        print(_table(rows, ["data", "MLP test accuracy", "seconds"]))
    print(f"# wrote {out / 'summary.json'} and {', '.join(summary['pictures'])}")
    return 0


def cmd_bench(args) -> int:
    from latal.bench import list_protocols, load_protocol, run_protocol, write_report

    if args.list or not args.protocol:
        rows = [(name, load_protocol(name)) for name, _ in list_protocols()]
        width = max(len(n) for n, _ in rows)
        for name, p in rows:
            print(f"{name.ljust(width)}  [{p.dataset}; {p.repeats} repeats]  {p.title}")
        return 0
    protocol = load_protocol(args.protocol)
    if args.quick:
        protocol = protocol.quickened()
    for assignment in args.set or []:
        protocol.override(assignment)
    if args.repeats is not None:
        if args.repeats < 1:
            raise ValueError(f"--repeats must be at least 1; got {args.repeats}.")
        protocol.repeats = args.repeats
    out = Path(args.out or f"bench-{protocol.name}{'-quick' if args.quick else ''}")
    runs = run_protocol(protocol, out, jobs=args.jobs, data_dir=args.data_dir)
    paths = write_report(protocol, runs, out, quick=args.quick)
    print(paths["report"].read_text())
    print(f"# wrote {', '.join(str(p) for p in paths.values())}")
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
    r.add_argument("--preset", default=None,
                   help="label-efficient: conv_vae latents refined by UMAP, MaxHerding selection, Poisson learning; "
                        "label-efficient-contrastive: SimCLR beside a VAE trained 30 epochs and Poisson learning over their "
                        "latents (SimCLR weighted 1.73 there), for mirror-symmetric objects such as clothing at a handful of labels (the two train "
                        "about 50 minutes of one core once per 60,000 images); "
                        "label-efficient-cnn: label-efficient with the CNN student on the images (slower, better on 28x28 "
                        "images); label-efficient-large: for budgets in the thousands, TypiClust and three "
                        "generations of a batch-norm CNN student (about 25 minutes of one core per fit on "
                        "60,000 images); label-efficient-contrastive-large: budgets in the thousands on clothing-like "
                        "pools, the contrastive space, TypiClust and five generations of the student, the last three "
                        "strong (about 100 minutes of one core per fit on 60,000 images); explicit options below "
                        "override them")
    r.add_argument("--encoder", default=None, help="encoder spec, e.g. pca (default) or pca:n_components=30 (see `latal encoders`)")
    r.add_argument("--refine", default=None, help="refine the latents before the loop: umap (pip install 'latal[refine]')")
    r.add_argument("--learn-on", default=None, choices=["refined", "latents", "both"],
                   help="with --refine, what the learner reads (strategies always choose in the refined latents): "
                        "refined (default), latents (the encoder's, unrefined) or both (one learner on each, "
                        "class probabilities averaged)")
    r.add_argument("--learn-weights", default=None, metavar="W1,W2,...",
                   help="with a stacked encoder (a+b) and --learn-on latents or both: each part's weight in the "
                        "latents the learner reads, e.g. 1,1.73 (strategies still choose with equal weights)")
    r.add_argument("--learner", default=None, help="learner spec, e.g. mlp (default), poisson or label_spreading (see `latal learners`)")
    r.add_argument("--strategy", default=None, help="strategy spec (default margin; see `latal strategies`)")
    r.add_argument("--initial-strategy", default=None,
                   help="strategy for the first batch (needs no labels; default random; probcover, maxherding, typiclust, ...)")
    r.add_argument("--initial", type=int, default=100, help="size of the first batch (default 100)")
    r.add_argument("--batch", type=int, default=100, help="labels per round (default 100)")
    r.add_argument("--rounds", type=int, default=10, help="query rounds after the first batch (default 10)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--pool-size", type=int, default=None, help="use a random subset of the pool of this size")
    r.add_argument("--test-fraction", type=float, default=0.25,
                   help="held-out share when the dataset has no test split (default 0.25)")
    r.add_argument("--device", default="auto", help="torch device: auto (CUDA if present), cpu, cuda:0, ...")
    r.add_argument("--no-cache", action="store_true", help="retrain the encoder even when a cached one exists")
    r.add_argument("--stop", action="append", metavar="SPEC",
                   help="report when a stopping criterion fires (repeatable; see `latal stopping`), "
                        "e.g. --stop stabilizing --stop max_uncertainty:threshold=0.2")
    r.add_argument("--halt-on-stop", action="store_true", help="end the run at the first round a --stop criterion fires")
    r.add_argument("--json", default=None, help="write config and per-round results to this JSON file")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("encode", help="train (or load) an encoder, draw what it learned, probe its latents",
                       description="Train an encoder on a dataset (cached), write pictures and summary.json.")
    e.add_argument("--dataset", default="digits")
    e.add_argument("--data-dir", default=None)
    e.add_argument("--encoder", default="conv_vae", help="encoder spec (see `latal encoders`)")
    e.add_argument("--latent-dim", type=int, default=None)
    e.add_argument("--epochs", type=int, default=None)
    e.add_argument("--pool-size", type=int, default=None)
    e.add_argument("--out", required=True, help="folder for the PNGs and summary.json")
    e.add_argument("--probe", action="store_true",
                   help="also train the thesis MLP on all training labels, in latent space and on pixels")
    e.add_argument("--no-cache", action="store_true")
    e.add_argument("--device", default="auto")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_encode)

    from latal.encoders import ENCODERS
    from latal.learners import LEARNERS
    from latal.stopping import STOPPING
    from latal.strategies import STRATEGIES

    b = sub.add_parser("bench", help="re-run a paper's experiment from a protocol and report it beside the paper",
                       description="Run a protocol (a name from --list, or a TOML file): every arm x repeat, in "
                                   "parallel, resuming from DIR/runs; writes results.json, summary.csv, report.md "
                                   "and curves.png.")
    b.add_argument("protocol", nargs="?", help="protocol name or TOML file")
    b.add_argument("--list", action="store_true", help="list the shipped protocols")
    b.add_argument("--repeats", type=int, default=None, help="override the protocol's repeats")
    b.add_argument("--jobs", type=int, default=1, help="parallel processes (each gets cores / jobs torch threads)")
    b.add_argument("--out", default=None, help="output folder (default bench-PROTOCOL)")
    b.add_argument("--quick", action="store_true", help="a shrunken version for tests and CI (under two minutes)")
    b.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change a protocol setting for this run, e.g. --set settings.epochs=2 --set pool_size=5000 "
                        "(repeatable; the report lists each change)")
    b.add_argument("--data-dir", default=None, help="folder holding mnist/ and fashion-mnist/ IDX files")
    b.set_defaults(func=cmd_bench)

    from latal.app.cli import add_parsers as add_app_parsers

    add_app_parsers(sub)

    for name, reg in (("strategies", STRATEGIES), ("encoders", ENCODERS), ("learners", LEARNERS),
                      ("stopping", STOPPING)):
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
