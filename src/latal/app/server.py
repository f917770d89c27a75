"""The labeling web application (Flask) and the server that runs it.

Routes (every ``/api`` answer is JSON; errors are ``{"error": message}`` with a 4xx status):

- ``GET  /``                            the page (``static/index.html``)
- ``GET  /api/project``                 classes with their keyboard shortcuts, batch size, budget, the pipeline
- ``GET  /api/next?client=C&n=N&wait=S`` lease the next items to client C
- ``POST /api/label``  ``{"item", "label", "annotator", "client"}``
- ``POST /api/skip``   ``{"item", "annotator", "client"}``
- ``POST /api/undo``   ``{"annotator", "client"}``
- ``POST /api/release`` ``{"client"}``   give back a closing tab's items
- ``POST /api/review`` ``{"folds": 5}``  check the labels in the background: each labeled item predicted by
  the learner fitted without its fold
- ``GET  /api/review``                  that check's status and the labels it found contradicted
- ``GET  /api/progress``                labels used, per class, rounds with the estimated accuracy
- ``GET  /api/items/<id>/image``        the image of one item, by id only
- ``GET  /api/items/<id>/similar?k=24`` the k nearest items in the latent space nobody labeled or skipped yet
- ``GET  /api/export?format=csv|json``  the labels so far
- ``GET  /api/history?format=csv|json`` every event: who labeled, relabeled, skipped or undid what, and when
- ``GET  /api/predictions?format=csv|json&min_confidence=P``  every item's class as the last fitted learner
  predicts it (409 before the first model)

Safety: bound to a loopback address, requests must name that address as their Host (a page on another
site cannot reach the app through DNS rebinding). Bound to any other address, every request must carry
the project token (``X-Latal-Token`` header, ``?token=`` once on the page address, or the cookie that
sets); :func:`serve` refuses to start without one.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import string
from importlib import resources

from flask import Flask, Response, jsonify, request

from latal.app.project import describe_pipeline, project_learn_on
from latal.app.session import Conflict, LabelingSession
from latal.app.store import UnknownItemError, check_annotator
from latal.exceptions import LabelError, LatalError

log = logging.getLogger("latal.app")

TOKEN_HEADER = "X-Latal-Token"
TOKEN_COOKIE = "latal_token"
#: keys never given to a class: skip, undo and navigation
RESERVED_KEYS = set(" ")
SHORTCUT_ORDER = "123456789" + "0" + "abcdefghijklmnopqrstuvwxy"


def shortcuts(classes: list[str]) -> dict[str, str | None]:
    """A key per class: a class named by one key keeps it ("0".."9", "a"); the others take 1-9, 0, then
    letters in order. Classes beyond those get none (their buttons still work)."""
    keys: dict[str, str | None] = {}
    used: set[str] = set()
    for c in classes:
        k = c.lower()
        if len(k) == 1 and k in SHORTCUT_ORDER and k not in used:
            keys[c] = k
            used.add(k)
    free = (k for k in SHORTCUT_ORDER if k not in used)
    for c in classes:
        if c not in keys:
            keys[c] = next(free, None)
    return keys


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(session: LabelingSession, images, *, token: str | None = None, host: str = "127.0.0.1",
               title: str | None = None) -> Flask:
    """The Flask application of one labeling session. ``token``: when given, every request must carry it."""
    app = Flask("latal.app", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # label requests are tiny
    app.json.sort_keys = False
    static = resources.files("latal.app") / "static"
    store = session.store
    classes = store.classes
    keys = shortcuts(classes)
    loopback_names = {"127.0.0.1", "localhost", "[::1]", "::1"}
    check_host = is_loopback(host)

    class BadRequest(Exception):
        pass

    def body() -> dict:
        data = request.get_json(silent=True, force=True)
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object, e.g. {\"item\": 3, \"label\": \"cat\"}.")
        return data

    def annotator_of(data: dict) -> str:
        return check_annotator(data.get("annotator", "anonymous"))

    def client_of(data) -> str | None:
        c = data.get("client")
        if c is None:
            return None
        if not isinstance(c, str) or not (0 < len(c) <= 64) or not set(c) <= set(string.ascii_letters + string.digits + "-_"):
            raise BadRequest("client must be an id of up to 64 letters, digits, '-' or '_'.")
        return c

    @app.before_request
    def guard():
        if check_host:
            name = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith("[") else request.host.split("]")[0] + "]"
            if name not in loopback_names:
                return jsonify(error=f"unexpected Host {request.host!r}; open the address the server printed."), 403
        if token is not None:
            given = request.headers.get(TOKEN_HEADER) or request.args.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                return jsonify(error="missing or wrong token: open the address with ?token=... that the server "
                                     "printed, or send the X-Latal-Token header."), 401
        return None

    @app.after_request
    def headers(resp: Response):
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    # the most specific class wins (Flask walks the exception's MRO), so UnknownItemError is a 404 and other
    # LabelErrors a 400
    for exc_type, status in ((BadRequest, 400), (UnknownItemError, 404), (LabelError, 400), (Conflict, 409),
                             (LatalError, 500)):
        app.register_error_handler(exc_type, lambda exc, status=status: (jsonify(error=str(exc)), status))

    @app.errorhandler(404)
    def not_found(exc):
        return jsonify(error=f"no such address: {request.path}"), 404

    @app.errorhandler(405)
    def not_allowed(exc):
        return jsonify(error=f"{request.method} is not allowed on {request.path}"), 405

    @app.errorhandler(413)
    def too_large(exc):
        return jsonify(error="the request body is too large"), 413

    def static_file(name: str, mime: str) -> Response:
        return Response((static / name).read_bytes(), mimetype=mime)

    @app.get("/")
    def index():
        resp = static_file("index.html", "text/html")
        if token is not None and request.args.get("token"):
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return resp

    @app.get("/static/app.js")
    def js():
        return static_file("app.js", "text/javascript")

    @app.get("/static/style.css")
    def css():
        return static_file("style.css", "text/css")

    @app.get("/api/project")
    def project():
        cfg = store.config
        return jsonify(title=title or store.path.stem, classes=[{"name": c, "key": keys[c]} for c in classes],
                       batch=session.settings.batch, budget=session.budget, items=store.n_items,
                       strategy=cfg.get("strategy"), encoder=cfg.get("encoder"), learner=cfg.get("learner"),
                       initial_strategy=cfg.get("initial_strategy"), refine=cfg.get("refine"),
                       learn_on=project_learn_on(cfg), pipeline=describe_pipeline(cfg),
                       retrain_every=cfg.get("retrain_every"), guesses=session.settings.guesses)

    @app.get("/api/next")
    def next_items():
        try:
            client = client_of({"client": request.args.get("client", "default")})
            n = int(request.args.get("n", session.settings.batch))
            wait = float(request.args.get("wait", session.settings.max_wait))
        except ValueError as exc:
            raise BadRequest(f"n must be an integer and wait a number of seconds ({exc}).") from exc
        return jsonify(session.next_items(client, n, wait))

    @app.post("/api/label")
    def label():
        data = body()
        if "item" not in data or "label" not in data:
            raise BadRequest("a label needs \"item\" (an item id) and \"label\" (a class name).")
        return jsonify(session.label(data["item"], data["label"], annotator_of(data), client_of(data)))

    @app.post("/api/skip")
    def skip():
        data = body()
        if "item" not in data:
            raise BadRequest("a skip needs \"item\" (an item id).")
        return jsonify(session.skip(data["item"], annotator_of(data), client_of(data)))

    @app.post("/api/undo")
    def undo():
        data = body()
        return jsonify(session.undo(annotator_of(data), client_of(data)))

    @app.post("/api/release")
    def release():
        data = body()
        client = client_of(data)
        return jsonify(released=session.release(client) if client else 0)

    @app.post("/api/review")
    def start_review():
        data = body()
        folds = data.get("folds", 5)
        if isinstance(folds, bool) or not isinstance(folds, int):
            raise BadRequest(f"folds must be an integer (at least 2); got {folds!r}.")
        return jsonify(session.start_review(folds)), 202

    @app.get("/api/review")
    def review_status():
        return jsonify(session.review_status())

    @app.get("/api/progress")
    def progress():
        return jsonify(session.progress())

    @app.get("/api/items/<int:item>/image")
    def image(item: int):
        store.check_item(item)
        data, mime = images.get(item)
        resp = Response(data, mimetype=mime)
        resp.headers["Cache-Control"] = "private, max-age=3600"
        return resp

    @app.get("/api/items/<int:item>")
    def item_info(item: int):
        store.check_item(item)
        return jsonify({**session.item_info(item), "source": store.source(item)})

    @app.get("/api/items/<int:item>/similar")
    def similar(item: int):
        try:
            k = int(request.args.get("k", 24))
        except ValueError:
            raise BadRequest("k must be an integer from 1 to 500.") from None
        return jsonify(session.similar(item, k))

    def export_format() -> str:
        from latal.app.transfer import check_format

        fmt = request.args.get("format", "csv")
        try:
            check_format(fmt)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return fmt

    def download(text: str, fmt: str, what: str) -> Response:
        resp = Response(text, mimetype="text/csv" if fmt == "csv" else "application/json")
        resp.headers["Content-Disposition"] = f"attachment; filename={store.path.stem}-{what}.{fmt}"
        return resp

    @app.get("/api/export")
    def export():
        from latal.app.transfer import export_text

        fmt = export_format()
        return download(export_text(store, fmt), fmt, "labels")

    @app.get("/api/history")
    def history():
        from latal.app.transfer import history_text

        fmt = export_format()
        return download(history_text(store, fmt), fmt, "history")

    @app.get("/api/predictions")
    def predictions():
        from latal.app.transfer import check_min_confidence, predictions_text

        fmt = export_format()
        try:
            min_confidence = float(request.args.get("min_confidence", 0.0))
        except ValueError:
            raise BadRequest("min_confidence must be a number in [0, 1].") from None
        try:
            check_min_confidence(min_confidence)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        proba, n_labels = session.predictions()
        resp = download(predictions_text(store, proba, n_labels, fmt, min_confidence), fmt, "predictions")
        resp.headers["X-Latal-Labels-Used"] = str(n_labels)
        return resp

    return app


def new_token() -> str:
    return secrets.token_urlsafe(24)


def make_server(app: Flask, host: str, port: int):
    """A threaded WSGI server (Werkzeug's) bound to ``host:port``; port 0 picks a free one."""
    from werkzeug.serving import make_server as _make

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        return _make(host, port, app, threaded=True)
    except (OSError, SystemExit) as exc:  # Werkzeug reports a busy port by exiting
        raise LatalError(f"cannot listen on {host}:{port} ({exc or 'the port is in use'}); choose another --port "
                         "(0 picks a free one).") from None
