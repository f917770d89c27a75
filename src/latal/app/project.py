"""Create or resume a labeling project from command-line settings, and show its items as images."""

from __future__ import annotations

import io
import mimetypes
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latal.app.store import ProjectError, ProjectStore
from latal.exceptions import DataError

#: settings a resumed project takes from its database when the command line leaves them out
TUNABLE = {"encoder": None, "refine": None, "learner": "mlp", "strategy": "margin", "initial_strategy": "random",
           "batch": 20, "budget": None, "seed": 0, "stop": ["stabilizing"], "retrain_every": None,
           "cv_folds": 5, "learn_on": "refined", "guesses": True, "audit": 0.0, "learn_weights": None}
#: settings that define which items and classes a project has; they cannot change on resume
FIXED = ("source", "classes")


_LEARN_ON_WORDS = {"refined": "", "latents": " over the encoder's latents", "both": " over both spaces"}


def project_learn_on(cfg: dict) -> str:
    """A project's ``learn_on``; "refined" for projects created before the setting existed."""
    return cfg.get("learn_on") or "refined"


def describe_pipeline(cfg: dict) -> str:
    """One line for the page: where the items are chosen and how the learner reads them, e.g.
    ``maxherding, then maxherding, in umap of conv_vae; learner poisson over both spaces``, and the audit share."""
    space = f"{cfg['refine']} of {cfg.get('encoder')}" if cfg.get("refine") else str(cfg.get("encoder"))
    from latal.encoders.stack import part_weights_text

    learn_on = project_learn_on(cfg)
    audit = float(cfg.get("audit") or 0.0)
    return (f"{cfg.get('initial_strategy')}, then {cfg.get('strategy')}, in {space}; "
            f"learner {cfg.get('learner')}{_LEARN_ON_WORDS.get(learn_on, f' on {learn_on}')}"
            + (f" (parts weighted {part_weights_text(cfg['learn_weights'])})" if cfg.get("learn_weights") else "")
            + (f"; {audit:.0%} of each batch at random, held out to test it" if audit else ""))


@dataclass
class LabelSettings:
    """What ``latal label`` was asked for; None means "the project's stored value, else the default"."""

    db: str
    images: str | None = None
    dataset: str | None = None
    data_dir: str | None = None
    classes: list[str] | None = None
    image_size: int | None = None
    values: dict = field(default_factory=dict)  # the TUNABLE keys given on the command line


def parse_classes(text: str) -> list[str]:
    names = [c.strip() for c in str(text).split(",")]
    if any(not c for c in names):
        raise DataError(f"--classes {text!r} has an empty name; give names separated by commas, e.g. cat,dog,bird.")
    if len(set(names)) != len(names):
        raise DataError(f"--classes {text!r} names a class twice.")
    if len(names) < 2:
        raise DataError("--classes needs at least two class names, separated by commas.")
    return names


def _source_spec(s: LabelSettings) -> dict | None:
    if s.images and s.dataset:
        raise DataError("give either --images DIR or --dataset NAME, not both.")
    if s.images:
        return {"kind": "images", "path": str(Path(s.images).resolve()), "image_size": s.image_size or 32}
    if s.dataset:
        return {"kind": "dataset", "name": s.dataset, "data_dir": s.data_dir}
    return None


def load_source(spec: dict):
    """The Dataset a project's items come from, and the source string of every item."""
    from latal.data import load_dataset
    from latal.data.folders import load_image_folder

    if spec["kind"] == "images":
        root = Path(spec["path"])
        if not root.is_dir():
            raise DataError(f"image folder not found: {root}; give --images an existing folder of images.")
        size = int(spec.get("image_size") or 32)
        ds = load_image_folder(root, image_size=(size, size))
        sources = [str(Path(p).resolve().relative_to(root)) for p in ds.paths]
        return ds, sources
    ds = load_dataset(spec["name"], spec.get("data_dir"), progress=False)
    if ds.x.ndim not in (3, 4):
        raise DataError(f"{spec['name']} holds feature rows of shape {ds.x.shape[1:]}, not images; the labeling app "
                        "shows images. Give --images DIR or an image dataset.")
    return ds, [f"{ds.name}:train:{i}" for i in range(ds.n)]


def open_or_create(s: LabelSettings):
    """Open ``s.db`` (checking that the command line agrees with it) or create it. Returns
    ``(store, dataset, sources, notes)`` where notes list what was resumed or changed."""
    path = Path(s.db)
    spec = _source_spec(s)
    notes: list[str] = []
    if path.exists():
        store = ProjectStore.open(path)
        cfg = store.config
        if spec is not None and spec != cfg["source"]:
            raise ProjectError(f"{path} labels items of {_describe(cfg['source'])}, not {_describe(spec)}; "
                               "use another --db for other data, or leave the data options out to resume.")
        old = list(cfg["classes"])
        added = []
        if s.classes is not None and list(s.classes) != old:
            if list(s.classes[: len(old)]) != old:
                raise ProjectError(
                    f"{path} has the classes {old}, not {s.classes}; classes cannot be renamed, reordered or removed "
                    f"once labels exist, only added after the others (--classes {','.join(old)},NEW). Leave --classes "
                    "out to resume, or start a new --db.")
            added = list(s.classes[len(old):])
        changed = {k: v for k, v in s.values.items() if v is not None and cfg.get(k) != v}
        if "encoder" in changed and s.values.get("learn_weights") is None and cfg.get("learn_weights"):
            changed["learn_weights"] = None  # part weights belong to the stack they were given for
        if changed:
            try:
                components({**cfg, **changed}, n_items=store.n_items)  # a bad option changes nothing
            except BaseException:
                store.close()
                raise
            store.update_config(**changed)
            notes.append("changed: " + ", ".join(f"{k}={v}" for k, v in changed.items()))
        if added:  # a class found while labeling: the labels so far keep theirs, the learner gets one more
            store.update_config(classes=old + added)
            notes.append("added classes: " + ", ".join(added))
        ds, sources = load_source(cfg["source"])
        if len(sources) != store.n_items or sources != store.sources():
            raise ProjectError(
                f"the items of {_describe(cfg['source'])} changed since {path} was created ({len(sources)} now, "
                f"{store.n_items} then); restore them, or start a new project with another --db.")
        n = len(store.state().labels)
        notes.insert(0, f"resumed {path}: {n} labels, {store.n_items} items")
        return store, ds, sources, notes
    if spec is None:
        spec = {"kind": "dataset", "name": "digits", "data_dir": None}
    ds, sources = load_source(spec)
    classes = list(s.classes) if s.classes is not None else list(ds.class_names)
    if not classes:
        raise DataError("these images have no class names; give them with --classes A,B,C.")
    if len(classes) < 2:
        raise DataError("a labeling project needs at least two classes (--classes A,B).")
    config = {"source": spec, "classes": classes}
    for key, default in TUNABLE.items():
        value = s.values.get(key)
        config[key] = default if value is None else value
    if config["encoder"] is None:
        config["encoder"] = default_encoder(ds.x)
    components(config, n_items=len(sources))  # a bad option creates no project
    store = ProjectStore.create(path, sources, config)
    notes.append(f"created {path}: {store.n_items} items, classes {classes}")
    return store, ds, sources, notes


def default_encoder(x: np.ndarray) -> str:
    """The thesis conv VAE for images of at least 16 x 16 pixels; PCA for tiny ones (8 x 8 digits)."""
    return "conv_vae" if min(x.shape[1], x.shape[2]) >= 16 else "pca"


def _describe(spec: dict) -> str:
    return f"the folder {spec['path']}" if spec["kind"] == "images" else f"the dataset {spec['name']}"


class ImageSource:
    """Images by item id: the original file for an image folder, a PNG rendered from the array otherwise.
    Never reads a path that came from a request."""

    def __init__(self, dataset, sources: list[str], spec: dict, cache_size: int = 4096):
        self.dataset = dataset
        self.sources = sources
        self.spec = spec
        self.root = Path(spec["path"]).resolve() if spec["kind"] == "images" else None
        self._cache: OrderedDict[int, tuple[bytes, str]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        if self.root is None:
            from latal.data.dataset import pixel_range

            self._range = pixel_range(dataset.x)

    def get(self, item: int) -> tuple[bytes, str]:
        """``(bytes, mimetype)`` of the item's image."""
        with self._lock:
            hit = self._cache.get(item)
            if hit is not None:
                self._cache.move_to_end(item)
                return hit
        out = self._read(item)
        with self._lock:
            self._cache[item] = out
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out

    def _read(self, item: int) -> tuple[bytes, str]:
        if self.root is not None:
            path = (self.root / self.sources[item]).resolve()
            if self.root not in path.parents:  # the database itself was edited to point elsewhere
                raise DataError(f"item {item}'s file lies outside the project folder.")
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return path.read_bytes(), mime
        from PIL import Image

        lo, hi = self._range
        arr = np.asarray(self.dataset.x[item], dtype=np.float32)
        arr = np.clip((arr - lo) / max(hi - lo, 1e-12) * 255.0, 0, 255).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        return buf.getvalue(), "image/png"


def components(cfg: dict, device: str = "auto", n_items: int | None = None):
    """``(encoder, learner, strategy, initial strategy, stopping criteria, learn_on)`` built, unfitted, from a
    project's settings; an unknown name or a setting that cannot work (a budget above the ``n_items`` items)
    raises here."""
    from latal.encoders import ENCODERS
    from latal.experiment import _build, check_learn_on, check_learn_weights
    from latal.learners import LEARNERS
    from latal.stopping import make_stopping
    from latal.strategies import STRATEGIES

    session_settings(cfg)  # a batch of 0, an audit share of 1: refused before a project is created or changed
    budget = cfg.get("budget")
    if budget is not None and n_items is not None and budget > n_items:
        from latal.exceptions import BudgetExceedsPoolError

        raise BudgetExceedsPoolError(f"--budget {budget} is larger than the {n_items} items of the project; lower it.")
    learn_on = project_learn_on(cfg)
    check_learn_on(learn_on, refined=bool(cfg.get("refine")))
    check_learn_weights(cfg.get("learn_weights"), learn_on, cfg["encoder"])
    if cfg.get("refine"):
        from latal.encoders.refine import REFINERS

        REFINERS.build(cfg["refine"])
    encoder = _build(ENCODERS, cfg["encoder"], device)
    learner = _build(LEARNERS, cfg["learner"], device)
    strategy = STRATEGIES.build(cfg["strategy"])
    initial = STRATEGIES.build(cfg["initial_strategy"])
    stopping = [make_stopping(spec) for spec in (cfg.get("stop") or [])]
    for spec, criterion in zip(cfg.get("stop") or [], stopping):
        if getattr(criterion, "needs_audit", False) and not cfg.get("audit"):
            raise ValueError(f"--stop {spec} reads the model's accuracy on the audit items, and this project draws "
                             "none: add --audit SHARE (0.1 draws a tenth of each batch at random).")
    variational = bool(getattr(encoder, "variational", False))
    strategy.check_setup(variational=variational, learner=learner)
    initial.check_setup(variational=variational, learner=None)
    return encoder, learner, strategy, initial, stopping, learn_on


def session_settings(cfg: dict, **extra):
    """The :class:`~latal.app.session.SessionSettings` of a project's stored settings (``extra``: the server's own)."""
    from latal.app.session import SessionSettings

    return SessionSettings(batch=cfg["batch"], budget=cfg.get("budget"), retrain_every=cfg.get("retrain_every"),
                           guesses=bool(cfg.get("guesses", True)), seed=int(cfg["seed"]),
                           cv_folds=int(cfg.get("cv_folds", 5)), audit=float(cfg.get("audit") or 0.0), **extra)


def build_session(store: ProjectStore, dataset, sources: list[str], *, device: str = "auto", lease_seconds=300.0,
                  max_wait: float = 2.0, status=None):
    """The :class:`LabelingSession` and :class:`ImageSource` of a project, built from its stored settings.
    Bad names fail here, before the server starts; the encoder trains in the session's worker."""
    from latal.app.session import LabelingSession
    from latal.experiment import learner_for, learner_rows

    cfg = store.config
    encoder, learner, strategy, initial, stopping, learn_on = components(cfg, device, n_items=store.n_items)
    settings = session_settings(cfg, lease_seconds=lease_seconds, max_wait=max_wait)

    def latents():
        from latal.encoders.cache import fit_encode

        if hasattr(encoder, "progress"):
            encoder.progress = False
        enc = fit_encode(encoder, dataset.x, dataset.x_test, dataset=dataset.name)
        latent = enc.latent
        if cfg.get("refine"):
            from latal.encoders.refine import refine_latents

            latent, _, _ = refine_latents(cfg["refine"], latent, enc.test_latent, base_key=enc.key)
        session.encoder = enc.encoder
        if status is not None:
            status(f"latent space ready: {cfg['encoder']} ({'cached' if enc.cached else f'trained in {enc.seconds:.0f} s'})")
        unrefined = enc.latent.mean
        if cfg.get("learn_weights"):
            from latal.encoders.stack import weigh_parts

            unrefined = weigh_parts(enc.latent, cfg["learn_weights"])
        rows = learner_rows(learn_on, latent.mean, unrefined)
        # as `run_experiment` does; under "both" the split is the refinement's width, known only now (the
        # worker calls this before its first fit)
        session.learner = learner_for(learner, learn_on, split=latent.mean.shape[1])
        return (latent.mean, latent.log_var) if rows is None else (latent.mean, latent.log_var, rows)

    session = LabelingSession(store, latents, learner, strategy, initial, stopping=stopping, settings=settings,
                              inputs=dataset.x)
    images = ImageSource(dataset, sources, cfg["source"])
    return session, images
