"""``latal label``, ``latal export``, ``latal import`` and ``latal review``."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path


def add_parsers(sub) -> None:
    lab = sub.add_parser(
        "label", help="label in the browser what the loop selects (a local web app)",
        description="Start the labeling app on a project database; re-running with the same --db resumes it.")
    src = lab.add_mutually_exclusive_group()
    src.add_argument("--images", default=None, help="a folder of images to label (searched one level deep)")
    src.add_argument("--dataset", default=None,
                     help="digits (default for a new project), mnist, fashion-mnist, a .npy/.npz file of images")
    lab.add_argument("--data-dir", default=None, help="folder holding the IDX files of mnist / fashion-mnist")
    lab.add_argument("--classes", default=None,
                     help="class names separated by commas (default: the dataset's own, when it has them); "
                          "on resume, names after the project's add classes")
    lab.add_argument("--db", required=True, help="the project's SQLite file (created if absent, else resumed)")
    lab.add_argument("--image-size", type=int, default=None, help="side the encoder resizes --images to (32)")
    lab.add_argument("--preset", default=None,
                     help="named settings measured to need the fewest labels (label-efficient, label-efficient-contrastive, "
                          "label-efficient-cnn, label-efficient-large, label-efficient-contrastive-large); the options "
                          "given here win over the preset's")
    lab.add_argument("--encoder", default=None, help="encoder spec (conv_vae for images >= 16 px, else pca)")
    lab.add_argument("--refine", default=None, help="refine the latents: umap")
    lab.add_argument("--learn-on", default=None, choices=("refined", "latents", "both"),
                     help="with --refine: what the learner reads (refined; latents: the encoder's unrefined "
                          "latents; both: one learner on each, averaged); strategies choose in the refined ones")
    lab.add_argument("--learn-weights", default=None, metavar="W1,W2,...",
                     help="with a stacked encoder (a+b) and --learn-on latents or both: each part's weight in the "
                          "latents the learner reads, e.g. 1,1.73")
    lab.add_argument("--learner", default=None, help="learner spec (mlp)")
    lab.add_argument("--strategy", default=None, help="query strategy (margin)")
    lab.add_argument("--initial-strategy", default=None,
                     help="how the first batch is chosen without labels (random: shown at once, while the encoder "
                          "trains; typiclust, probcover, maxherding, kmeans wait for the latent space)")
    lab.add_argument("--batch", type=int, default=None, help="labels per round (20)")
    lab.add_argument("--budget", type=int, default=None, help="most labels to collect (default: no limit)")
    lab.add_argument("--retrain-every", type=int, default=None,
                     help="also retrain after this many new labels, before the batch is done")
    lab.add_argument("--stop", action="append", metavar="SPEC",
                     help="stopping criteria the page reports (default stabilizing; `latal stopping`); "
                          "--stop none for none")
    lab.add_argument("--cv-folds", type=int, default=None, help="folds of the accuracy estimate (5; 0: none)")
    lab.add_argument("--audit", type=float, default=None, metavar="SHARE",
                     help="share of each batch drawn at random instead of by the strategy and held out of the rounds' "
                          "training: a test set for an estimate of the model's accuracy on the pool that the hard "
                          "queried items cannot bias (0: none; 0.1: a tenth of each batch, which the rounds' models "
                          "do not learn from and export --predictions does)")
    lab.add_argument("--seed", type=int, default=None, help="seed of every random choice (0)")
    lab.add_argument("--guesses", choices=("on", "off"), default=None,
                     help="show the model's class and probability under each image, Tab accepting it (on); off "
                          "for labeling blind to the model")
    lab.add_argument("--host", default="127.0.0.1",
                     help="address to bind (127.0.0.1); any other address requires the token")
    lab.add_argument("--port", type=int, default=8765, help="port (8765; 0 picks a free one)")
    lab.add_argument("--token", default=None,
                     help="access token every request must carry (generated when --host is not local)")
    lab.add_argument("--lease-seconds", type=float, default=300.0,
                     help="an item shown to one tab goes back to the queue after this long unused (300)")
    lab.add_argument("--device", default="auto")
    lab.add_argument("--init-only", action="store_true",
                     help="create (or check) the project database and exit, e.g. to `latal import` labels first")
    lab.set_defaults(func=cmd_label)

    exp = sub.add_parser("export", help="write a project's labels, or the learner's predictions for every item, as "
                                        "CSV or JSON",
                         description="Write item id, source path, label, annotator and time of every labeled item; "
                                     "with --predictions, the project's learner fitted on those labels and the "
                                     "predicted class of every item, with its probability.")
    exp.add_argument("--db", required=True)
    exp.add_argument("--format", choices=("csv", "json"), default="csv")
    exp.add_argument("--out", default=None, help="file to write (default: standard output)")
    exp.add_argument("--predictions", action="store_true",
                     help="fit the project's learner on the labels so far (its encoder from the cache) and write "
                          "every item's predicted class, confidence and class probabilities")
    exp.add_argument("--history", action="store_true",
                     help="every event instead of the standing labels: each label, relabel, skip, undo and import "
                          "with its annotator and time, and whether it was undone since")
    exp.add_argument("--min-confidence", type=float, default=0.0,
                     help="with --predictions: leave out unlabeled items predicted with a lower probability (0)")
    exp.add_argument("--device", default="auto")
    exp.set_defaults(func=cmd_export)

    rev = sub.add_parser("review", help="list the labels that the other labels contradict (possible mistakes)",
                         description="Fit the project's learner k times, each time without one fold of the labels, "
                                     "and list the labeled items whose held-out prediction is another class, the "
                                     "least likely label first, with who gave it.")
    rev.add_argument("--db", required=True)
    rev.add_argument("--folds", type=int, default=5, help="folds of the labels (5)")
    rev.add_argument("--format", choices=("csv", "json"), default="csv")
    rev.add_argument("--out", default=None, help="file to write (default: standard output)")
    rev.add_argument("--device", default="auto")
    rev.set_defaults(func=cmd_review)

    imp = sub.add_parser("import", help="load existing labels into a project",
                         description="Load labels from a CSV (columns label and item or source) or a JSON file, "
                                     "in one transaction. A running app picks them up at once.")
    imp.add_argument("file")
    imp.add_argument("--db", required=True)
    imp.add_argument("--annotator", default="import", help="name recorded with the imported labels")
    imp.add_argument("--overwrite", action="store_true", help="replace labels that differ from the file's")
    imp.set_defaults(func=cmd_import)


def cmd_label(args) -> int:
    from latal.app.project import LabelSettings, build_session, open_or_create, parse_classes
    from latal.app.server import create_app, is_loopback, make_server, new_token

    stop = args.stop
    if stop is not None and [s.lower() for s in stop] == ["none"]:
        stop = []
    values = {"encoder": args.encoder, "refine": args.refine, "learner": args.learner, "strategy": args.strategy,
              "initial_strategy": args.initial_strategy, "batch": args.batch, "budget": args.budget,
              "seed": args.seed, "stop": stop, "retrain_every": args.retrain_every, "cv_folds": args.cv_folds,
              "learn_on": args.learn_on, "guesses": None if args.guesses is None else args.guesses == "on",
              "audit": args.audit, "learn_weights": args.learn_weights}
    if args.preset is not None:
        from latal.experiment import fill_from_preset

        values = fill_from_preset(values, args.preset)
    if values["learn_weights"] is not None:  # stored as a JSON list of numbers, whether typed or from a preset
        from latal.encoders.stack import parse_part_weights

        values["learn_weights"] = list(parse_part_weights(values["learn_weights"]))
    settings = LabelSettings(db=args.db, images=args.images, dataset=args.dataset, data_dir=args.data_dir,
                             classes=parse_classes(args.classes) if args.classes else None,
                             image_size=args.image_size, values=values)
    store, ds, sources, notes = open_or_create(settings)
    for note in notes:
        print(f"latal: {note}", flush=True)
    session, images = build_session(store, ds, sources, device=args.device, lease_seconds=args.lease_seconds,
                                    status=lambda msg: print(f"latal: {msg}", flush=True))
    if args.init_only:
        store.close()
        return 0
    token = args.token
    if not is_loopback(args.host) and token is None:
        token = new_token()
    app = create_app(session, images, token=token, host=args.host)
    server = make_server(app, args.host, args.port)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{shown}:{server.server_port}/" + (f"?token={token}" if token else "")
    print(f"latal: labeling {store.n_items} items, classes {store.classes}", flush=True)
    print(f"latal: open {url}", flush=True)
    if token and args.token is None:
        print(f"latal: access token (required on a non-local address): {token}", flush=True)
    session.start()

    def shutdown(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        n = len(store.state().labels)
        store.close()
        print(f"latal: stopped; {n} labels are in {Path(args.db)}", file=sys.stderr, flush=True)
    return 0


def cmd_export(args) -> int:
    from latal.app.store import ProjectStore
    from latal.app.transfer import export_text, history_text

    if args.min_confidence != 0.0 and not args.predictions:
        raise ValueError("--min-confidence applies to --predictions only.")
    if args.history and args.predictions:
        raise ValueError("--history and --predictions write different things; give one of them.")
    if args.predictions:
        text, what = _predictions(args)
    else:
        store = ProjectStore.open(args.db)
        text, what = (history_text(store, args.format), "events") if args.history \
            else (export_text(store, args.format), "labels")
        store.close()
    if args.out:
        Path(args.out).write_text(text)
        print(f"latal: wrote {text.count(chr(10)) - 1 if args.format == 'csv' else 'the'} {what} to {args.out}",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _with_session(args, work):
    """``work(store, session)`` on an existing project's session, built but not serving (the model's
    commands: ``export --predictions``, ``review``)."""
    from latal.app.project import LabelSettings, build_session, open_or_create
    from latal.app.store import ProjectStore

    ProjectStore.open(args.db).close()  # these commands never create a project
    store, ds, sources, _ = open_or_create(LabelSettings(db=args.db))
    try:
        session, _ = build_session(store, ds, sources, device=args.device,
                                   status=lambda msg: print(f"latal: {msg}", file=sys.stderr, flush=True))
        return work(store, session)
    finally:
        store.close()


def _predictions(args) -> tuple[str, str]:
    """The project's learner fitted on its labels, and every item's prediction as text (``latal export
    --predictions``)."""
    from latal.app.transfer import check_min_confidence, predictions_text

    check_min_confidence(args.min_confidence)  # before the fit, not after

    def work(store, session):
        proba, n_labels = session.predictions(refit=True)
        print(f"latal: {session.learner!r} fitted on {n_labels} labels", file=sys.stderr, flush=True)
        audit = [r for r in store.rounds() if r.get("audit_accuracy") is not None]
        if audit:  # what the test set held out of the rounds said, the last time it was scored
            a = audit[-1]
            print(f"latal: the model of {a['n_labels']} labels was right on {100 * a['audit_accuracy']:.1f} % of the "
                  f"{a['audit_labels']} audit items held out of its training (95 % interval {100 * a['audit_low']:.1f} "
                  f"to {100 * a['audit_high']:.1f} %); this fit learns from them too", file=sys.stderr, flush=True)
        return predictions_text(store, proba, n_labels, args.format, args.min_confidence), "predictions"

    return _with_session(args, work)


def cmd_review(args) -> int:
    from latal.app.transfer import review_rows, review_text

    if args.folds < 2:
        raise ValueError(f"--folds must be at least 2; got {args.folds}.")

    def work(store, session):
        items, proba, not_reviewed = session.review(args.folds)
        rows = review_rows(store, items, proba)
        print(f"latal: {len(rows)} of {len(items)} labels contradicted by the others ({args.folds}-fold"
              + (f"; {not_reviewed} in classes with one label not reviewed" if not_reviewed else "") + ")",
              file=sys.stderr, flush=True)
        return review_text(store, rows, len(items), not_reviewed, args.format)

    text = _with_session(args, work)
    if args.out:
        Path(args.out).write_text(text)
        print(f"latal: wrote them to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_import(args) -> int:
    from latal.app.store import ProjectStore
    from latal.app.transfer import import_labels

    store = ProjectStore.open(args.db)
    try:
        counts = import_labels(store, args.file, annotator=args.annotator, overwrite=args.overwrite)
    finally:
        store.close()
    print(f"latal: imported {counts['imported']} labels from {args.file} ({counts['unchanged']} already there, "
          f"{counts['conflicts_kept']} differing labels kept; --overwrite replaces them)")
    return 0
