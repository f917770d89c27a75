"""One simulated experiment from plain settings: data -> encoder -> pool -> loop -> result dict.
The CLI and the benchmarks both go through :func:`run_experiment`."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from latal.data import load_dataset, split_dataset
from latal.encoders import ENCODERS
from latal.encoders.cache import fit_encode
from latal.exceptions import DataError
from latal.learners import LEARNERS
from latal.loop import RoundRecord, check_budget, run_active_learning
from latal.oracles import SimulatedOracle
from latal.pool import Pool
from latal.registry import parse_spec
from latal.stopping import make_stopping
from latal.strategies import STRATEGIES


@dataclass
class ExperimentConfig:
    dataset: str = "digits"
    data_dir: str | None = None
    encoder: str = "pca"
    learner: str = "mlp"
    strategy: str = "margin"
    initial_strategy: str = "random"
    initial: int = 100
    batch: int = 100
    rounds: int = 29
    seed: int = 0
    pool_size: int | None = None
    test_fraction: float = 0.25
    split_seed: int = 0
    device: str = "auto"
    use_cache: bool = True
    cache_dir: str | None = None
    stopping: tuple[str, ...] = ()
    halt_on_stop: bool = False
    refine: str | None = None
    #: what the learner reads when ``refine`` is set (strategies always choose in the refined latents):
    #: "refined", the same latents; "latents", the encoder's unrefined latents; "both", one learner on each,
    #: their class probabilities averaged (:class:`~latal.learners.views.SummedViews`). BENCHMARKS.md,
    #: "Choose in the UMAP space, learn over the unrefined latents too"
    learn_on: str = "refined"
    #: with a stacked encoder and learn_on "latents" or "both": each part's weight in the unrefined latents the
    #: learner reads (its columns times it; the refinement strategies choose in still sees the parts at equal
    #: weight). BENCHMARKS.md, "The SimCLR part's weight in the learner's graph"
    learn_weights: tuple[float, ...] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


#: the best student measured at 3,000 MNIST labels (BENCHMARKS.md, "conv3bn in every generation")
LARGE_BUDGET_STUDENT = "cnn_student:epochs=5,generations=3,targets=soft,final_epochs=15,arch=conv3bn"

#: the best student measured at 1,000 Fashion-MNIST labels (BENCHMARKS.md, "The chain with labeled_per_batch=32")
CHAIN_STUDENT = ("cnn_student:epochs=5,generations=5,final_generations=3,targets=soft,final_epochs=15,final_arch=conv3bn,"
                 "final_mixup=0.75,final_labeled_per_batch=32")

#: the contrastive preset's space: a VAE trained 30 epochs beside SimCLR (BENCHMARKS.md, "A VAE trained longer")
CONTRASTIVE_ENCODER = "conv_vae:epochs=30+simclr:flip=True,epochs=10"

#: the space both contrastive presets choose and learn in: selection in the UMAP of the two encoders at equal
#: weight, the learner over their unrefined latents with the SimCLR part weighted 1.73
_CONTRASTIVE_SPACE = {"encoder": CONTRASTIVE_ENCODER, "refine": "umap", "learn_on": "latents",
                      "learn_weights": (1.0, 1.73)}

#: named bundles of settings, chosen by measurement (BENCHMARKS.md, "Label efficiency")
PRESETS: dict[str, dict] = {
    # MaxHerding, not ProbCover: as good or better from 10 to 100 MNIST labels on two VAE builds, and on the
    # build where ProbCover's ten picks miss a digit it covers all ten (BENCHMARKS.md, "MaxHerding")
    # ... and Poisson learning over both the UMAP graph and the unrefined latents' graph, averaged: better than
    # the UMAP graph alone at 10 labels (MNIST +0.17, Fashion-MNIST +2.04 points over three builds each) and at
    # 100 (+0.02, +0.60) (BENCHMARKS.md, "Choose in the UMAP space, learn over the unrefined latents too")
    # ... with the labels' class proportions as the priors once they show an imbalance (class_priors=auto): on
    # pools whose most common class is 10 or 100 times the least, +1.4 to +11.3 points at 100 labels, and on
    # balanced pools the same labels as uniform priors (BENCHMARKS.md, "An imbalanced pool")
    "label-efficient": {
        "encoder": "conv_vae", "refine": "umap", "initial_strategy": "maxherding", "strategy": "maxherding",
        "learner": "poisson:class_priors=auto", "learn_on": "both",
    },
    # for pools whose classes are mirror-symmetric objects (clothing, natural images), at a handful of labels:
    # SimCLR beside the VAE (15 minutes of one core once per pool of 60,000), MaxHerding in the UMAP of both,
    # Poisson learning over the unrefined latents: 66.83 ± 3.26 % at 10 Fashion-MNIST labels over three SimCLR
    # builds, against 63.27 ± 4.98 % for `label-efficient` (BENCHMARKS.md, "The student over the unrefined
    # latents" and "A preset for clothing-like pools"); with the VAE trained 30 epochs instead of 10 (about 20
    # more minutes once per pool), 69.17 ± 1.79 % on the same three builds, each higher, and +0.94 points over
    # six pairs of VAE and SimCLR builds (a second VAE build 0.45 lower; BENCHMARKS.md, "A VAE trained
    # longer"); not measured on digits, where its mirrored views would teach the encoder that a digit and its
    # mirror image are the same
    # ... and the SimCLR part weighted 1.73 in the latents Poisson learning reads (MaxHerding still chooses in the
    # UMAP of the two at equal weight): 70.62 ± 1.87 % against 69.95 ± 2.00 % on the same picks, 30 runs over three
    # SimCLR builds and two UMAP seeds, 27 of them higher; three SimCLR builds at weight 1 do as well, by weight
    # alone (BENCHMARKS.md, "The SimCLR part's weight in the learner's graph")
    "label-efficient-contrastive": {
        **_CONTRASTIVE_SPACE, "initial_strategy": "maxherding", "strategy": "maxherding",
        "learner": "poisson:class_priors=auto",
    },
    # label-efficient with a small CNN trained on the pool's images and Poisson learning's pseudo-labels for 10
    # epochs: better on image pools of 28x28 and up (MNIST, Fashion-MNIST), at about 5 minutes of one core per fit
    # on 60,000 images; its Poisson teacher takes class_priors=auto as label-efficient does (at 100 labels on pools
    # whose most common class is 100 times the least, +6.0 points on MNIST and +11.6 on Fashion-MNIST;
    # BENCHMARKS.md, "Finding the rare classes")
    "label-efficient-cnn": {
        "encoder": "conv_vae", "refine": "umap", "initial_strategy": "maxherding", "strategy": "maxherding",
        "learner": "cnn_student:teacher=poisson:class_priors=auto,epochs=10",
    },
    # budgets in the thousands: TypiClust, then three generations of the student, each a three-block
    # batch-norm CNN, the last trained for 15 epochs; about 25 minutes of one core per fit on 60,000
    # images (BENCHMARKS.md, "conv3bn in every generation")
    "label-efficient-large": {
        "encoder": "conv_vae", "refine": "umap", "initial_strategy": "typiclust", "strategy": "typiclust",
        "learner": LARGE_BUDGET_STUDENT,
    },
    # budgets in the thousands on clothing-like pools: the contrastive preset's space (TypiClust in its UMAP, the
    # first teacher over its latents with SimCLR weighted 1.73), two soft generations of the student and then
    # three mixup `conv3bn` students, each on the labels propagated over the one before's features, with 32
    # labeled items in each of their batches: 88.08 ± 0.09 % at 1,000 Fashion-MNIST labels over 5 seeds (the
    # learner's last student; BENCHMARKS.md, "The fifth seed of the 1,000-label chain"); about 100 minutes of one
    # core per fit on 60,000 images after the encoders' 56 minutes once, so use it with `--rounds 0`
    "label-efficient-contrastive-large": {
        **_CONTRASTIVE_SPACE, "initial_strategy": "typiclust", "strategy": "typiclust", "learner": CHAIN_STUDENT,
    },
}


def fill_from_preset(values: dict, preset: str | None) -> dict:
    """``values`` with each None the named preset sets filled from it (a value given wins)."""
    if preset is None:
        return dict(values)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; use one of {sorted(PRESETS)}.")
    chosen = {k: PRESETS[preset].get(k) if v is None else v for k, v in values.items()}
    if values.get("learn_weights") is None and values.get("encoder") not in (None, PRESETS[preset].get("encoder")):
        chosen["learn_weights"] = None  # a preset's part weights are for its own stack, not an encoder given instead
    return chosen


def _build(registry, spec: str, device: str):
    if registry is ENCODERS and "+" in str(spec):
        from latal.encoders.stack import StackedEncoder, split_stack

        return StackedEncoder([_build(registry, part, device) for part in split_stack(spec)])
    name, _ = parse_spec(spec)
    extra = {"device": device} if "device" in registry.entry(name).parameters() else {}
    return registry.build(spec, **extra)


def prepare_data(cfg: ExperimentConfig, progress: bool = False):
    """Load, split and (optionally) subsample the dataset named by ``cfg``."""
    ds = load_dataset(cfg.dataset, cfg.data_dir, progress=progress)
    if ds.y is None:
        raise DataError(
            f"{cfg.dataset} has no labels; a simulated run needs ground truth. "
            "Label it with the labeling app instead, or give a labeled dataset."
        )
    ds = split_dataset(ds, cfg.test_fraction, cfg.split_seed)
    if cfg.pool_size is not None and cfg.pool_size < ds.n:
        if cfg.pool_size < 1:
            raise ValueError(f"pool_size must be positive; got {cfg.pool_size}.")
        rng = np.random.default_rng(cfg.split_seed)
        keep = np.sort(rng.choice(ds.n, size=cfg.pool_size, replace=False))
        ds.x, ds.y = ds.x[keep], ds.y[keep]
        if ds.paths is not None:
            ds.paths = [ds.paths[i] for i in keep]
    return ds


@dataclass
class Prepared:
    """A dataset encoded once, reusable by every run that shares its data and encoder settings."""

    dataset: object
    encoder: object
    latent: object
    test_latent: object
    timing: dict
    #: the encoder's latents before ``refine`` (None without a refinement)
    unrefined: object = None
    unrefined_test: object = None
    _both: tuple | None = field(default=None, repr=False, compare=False)

    def learner_latents(self, learn_on: str, weights=None) -> tuple[np.ndarray | None, np.ndarray]:
        """``(pool rows or None, test rows)`` the learner reads under ``learn_on`` (None: the pool's latents),
        the unrefined latents' parts times ``weights`` when given (``learn_weights``)."""
        check_learn_on(learn_on, refined=self.unrefined is not None)
        key = (learn_on, None if weights is None else tuple(weights))
        if key[0] == "both" and self._both is not None and self._both[0] == key:
            return self._both[1]
        unrefined = (None, None) if self.unrefined is None else (self.unrefined.mean, self.unrefined_test.mean)
        if weights is not None and self.unrefined is not None:
            from latal.encoders.stack import weigh_parts

            unrefined = (weigh_parts(self.unrefined, weights), weigh_parts(self.unrefined_test, weights))
        pool = learner_rows(learn_on, self.latent.mean, unrefined[0])
        test = learner_rows(learn_on, self.test_latent.mean, unrefined[1])
        rows = (pool, self.test_latent.mean if test is None else test)
        if learn_on == "both":  # kept, so that runs sharing this Prepared share the learners' cached graphs too
            self._both = (key, rows)
        return rows


LEARN_ON = ("refined", "latents", "both")


def learner_rows(learn_on: str, refined: np.ndarray, unrefined: np.ndarray | None) -> np.ndarray | None:
    """The rows the learner reads under ``learn_on``, from the refined and the unrefined latents of the same
    items: None for "refined" (the refined rows themselves), the unrefined rows for "latents", and for "both"
    the two side by side, refined first (what :func:`learner_for` splits)."""
    if learn_on == "refined":
        return None
    if learn_on == "latents":
        return unrefined
    return np.hstack([refined, unrefined])


def learner_for(learner, learn_on: str, split: int):
    """``learner`` as it reads :func:`learner_rows`: under "both", one fit per block
    (:class:`~latal.learners.views.SummedViews`, the first ``split`` columns the refined latents)."""
    if learn_on != "both":
        return learner
    from latal.learners.views import SummedViews

    return SummedViews(learner, split=split)


def check_learn_on(learn_on: str, refined: bool) -> None:
    """``learn_on`` is known, and names unrefined latents only where a refinement (``refined``) kept them."""
    if learn_on not in LEARN_ON:
        raise ValueError(f"unknown learn_on {learn_on!r}; choose one of {', '.join(LEARN_ON)}.")
    if learn_on != "refined" and not refined:
        raise ValueError(f"learn_on={learn_on!r} needs a refinement (refine='umap'); without one the learner "
                         "already reads the encoder's latents, so leave learn_on at 'refined'.")


def check_learn_weights(weights, learn_on: str, encoder_spec: str) -> tuple[float, ...] | None:
    """``learn_weights`` parsed (None stays None), or a ValueError: they weigh the parts of a stacked encoder's
    unrefined latents, so they need a stack of as many parts and a ``learn_on`` that reads those latents."""
    if weights is None:
        return None
    from latal.encoders.stack import check_part_weights

    weights = check_part_weights(weights, encoder_spec)
    if learn_on not in ("latents", "both"):
        raise ValueError(f"learn_weights weigh the parts of the unrefined latents, which the learner reads only under "
                         f"learn_on 'latents' or 'both' (with a refinement); learn_on is {learn_on!r}.")
    return weights


def prepare(cfg: ExperimentConfig, *, progress: bool = False) -> Prepared:
    """Load the data and fit the encoder on the pool (the test split is only encoded). Neural encoders
    and their latents come from the cache when the same data, configuration and seed were seen."""
    encoder = _build(ENCODERS, cfg.encoder, cfg.device)
    if hasattr(encoder, "progress"):
        encoder.progress = progress
    t0 = time.perf_counter()
    ds = prepare_data(cfg, progress=progress)
    t_load = time.perf_counter() - t0
    enc = fit_encode(encoder, ds.x, ds.x_test, dataset=ds.name, cache_dir=cfg.cache_dir, use_cache=cfg.use_cache)
    timing = {"load_seconds": t_load, "encode_seconds": enc.seconds, "encoder_cached": enc.cached,
              "encoder_cache_key": enc.key}
    latent, test_latent = enc.latent, enc.test_latent
    unrefined = unrefined_test = None
    if cfg.refine:
        unrefined, unrefined_test = latent, test_latent
        from latal.encoders.refine import refine_latents

        latent, test_latent, extra = refine_latents(cfg.refine, latent, test_latent, base_key=enc.key,
                                                    cache_dir=cfg.cache_dir, use_cache=cfg.use_cache)
        timing.update(extra)
    return Prepared(ds, enc.encoder, latent, test_latent, timing, unrefined, unrefined_test)


def run_experiment(cfg: ExperimentConfig, *, progress: bool = False, prepared: Prepared | None = None,
                   on_round: Callable[[RoundRecord], None] | None = None) -> dict:
    """Run one simulated experiment and return ``{"config", "data", "environment", "timing", "initial",
    "rounds"}``. ``prepared`` reuses data and latents encoded earlier with the same settings."""
    # build everything first so that a bad name or budget fails before any training
    learner = _build(LEARNERS, cfg.learner, cfg.device)
    strategy = STRATEGIES.build(cfg.strategy)
    initial_strategy = STRATEGIES.build(cfg.initial_strategy)
    stopping = [make_stopping(spec) for spec in cfg.stopping]
    for spec, criterion in zip(cfg.stopping, stopping):
        if getattr(criterion, "needs_audit", False):
            raise ValueError(f"--stop {spec} reads the model's accuracy on audit items, which only the labeling page "
                             "draws (latal label --audit SHARE); a run here is scored on the test set instead.")
    _build(ENCODERS, cfg.encoder, cfg.device)
    check_learn_on(cfg.learn_on, refined=bool(cfg.refine))  # before the (slow) preparation
    weights = check_learn_weights(cfg.learn_weights, cfg.learn_on, cfg.encoder)
    if prepared is None:
        prepared = prepare(cfg, progress=progress)
    ds, latent = prepared.dataset, prepared.latent
    check_budget(ds.n, cfg.initial, cfg.batch, cfg.rounds)

    pool = Pool(latent.mean, ds.class_names, latent.log_var)
    learner_space, test_rows = prepared.learner_latents(cfg.learn_on, weights)
    learner = learner_for(learner, cfg.learn_on, split=latent.mean.shape[1])
    history = run_active_learning(
        pool, learner, strategy, SimulatedOracle(ds.y),
        initial=cfg.initial, batch=cfg.batch, rounds=cfg.rounds, test=(test_rows, ds.y_test, ds.x_test),
        seed=cfg.seed, initial_strategy=initial_strategy, encoder=prepared.encoder, inputs=ds.x, on_round=on_round,
        stopping=stopping, halt_on_stop=cfg.halt_on_stop, learner_space=learner_space,
    )
    return {
        "config": {**cfg.to_dict(), "resolved": {"encoder": repr(prepared.encoder), "learner": repr(learner),
                                                  "strategy": repr(strategy),
                                                  "initial_strategy": repr(initial_strategy)}},
        "data": {"name": ds.name, "pool": int(ds.n), "test": int(ds.x_test.shape[0]),
                 "classes": list(ds.class_names), "latent_dim": int(latent.mean.shape[1])},
        "environment": environment(),
        "timing": dict(prepared.timing),
        **history.to_dict(),
    }


def environment() -> dict:
    import sklearn
    import torch

    import latal

    return {
        "latal": latal.__version__, "python": platform.python_version(), "numpy": np.__version__,
        "scikit-learn": sklearn.__version__, "torch": torch.__version__, "machine": platform.machine(),
        "processor": platform.processor(), "cpus": __import__("os").cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }

