"""What one run of a protocol is, per protocol ``kind``: its configuration (a JSON-able dict, stored with
the result so that a resumed benchmark can tell a finished run from a stale one) and how to run it.

``loop``
    :func:`latal.experiment.run_experiment`. An arm's ``initial = "all"`` labels the whole pool at once
    (no rounds): the full-label reference of a table such as the thesis's Table 5.4.
``zero_label`` (paper 002)
    ``settings``: ``test_fraction`` (0.5: half candidates, half test), ``standardize`` (true: features
    scaled with the candidate set's statistics). For each ``q`` in ``checkpoints`` the arm's strategy
    picks ``q`` candidates with no label at all, and a linear SVM (scikit-learn ``SVC(kernel="linear")``)
    trained on them is scored on the test half. A strategy taking a ``seed`` gets the run's.
``cluster_contrastive`` (paper 003)
    ``settings``: ``val_fraction`` (0.2: the paper's 80/20 split of the training images; accuracy is on
    that validation part), and any :class:`~latal.strategies.cluster_contrastive.ClusterContrastiveModel`
    parameter (``pretrain_epochs`` 50, ``epochs`` 10, ...); an arm's ``params`` add to them (``ccl = false``
    is the clustering-only ablation). ``accuracy`` is by cluster assignment (the paper's classifier),
    ``mlp_accuracy`` the thesis MLP on the labeled items' learned latents.
"""

from __future__ import annotations

import time

import numpy as np

from latal.bench.protocol import Arm, Protocol, ProtocolError


def arm_value(p: Protocol, arm: Arm, key: str):
    own = getattr(arm, key)
    return getattr(p, key) if own is None else own


# ---------------------------------------------------------------------------------------------- loop

def loop_config(p: Protocol, dataset: str, arm: Arm, repeat: int, data_dir: str | None) -> dict:
    from latal.experiment import ExperimentConfig

    full = arm.initial == "all"
    cfg = ExperimentConfig(
        dataset=dataset, data_dir=data_dir, encoder=arm.encoder or p.encoder, learner=arm.learner or p.learner,
        strategy=arm.strategy, initial_strategy=arm.initial_strategy or p.initial_strategy,
        initial=0 if full else int(arm_value(p, arm, "initial")), batch=int(arm_value(p, arm, "batch")),
        rounds=0 if full else int(arm_value(p, arm, "rounds")), seed=p.seed + repeat, pool_size=p.pool_size,
        refine=p.refine)
    d = cfg.to_dict()
    if full:
        d["initial"] = "all"
    return d


_PREPARED: dict = {}


def _experiment_config(config: dict):
    """The :class:`~latal.experiment.ExperimentConfig` of a loop run and whether it is a full-label run (whose
    ``initial`` is only known once the pool is loaded; 1 stands in until then)."""
    from latal.experiment import ExperimentConfig

    full = config.get("initial") == "all"
    return ExperimentConfig(**{**config, "initial": 1} if full else config), full


def run_loop(config: dict) -> dict:
    """One experiment; data and latents are prepared once per process (and come from the encoder cache)."""
    from latal.experiment import prepare, run_experiment

    cfg, full = _experiment_config(config)
    key = (cfg.dataset, cfg.data_dir, cfg.encoder, cfg.refine, cfg.pool_size, cfg.split_seed, cfg.test_fraction)
    if key not in _PREPARED:
        _PREPARED[key] = prepare(cfg)
    prepared = _PREPARED[key]
    if full:
        cfg.initial, cfg.rounds = int(prepared.dataset.n), 0
    result = run_experiment(cfg, prepared=prepared)
    if full:  # every pool index: nothing to record but that
        result["initial"] = "all"
        for r in result["rounds"]:
            r["queried"] = "all"
    return result


def prepare_loop(config: dict) -> None:
    from latal.experiment import prepare

    prepare(_experiment_config(config)[0], progress=False)


def loop_prepare_key(config: dict) -> tuple:
    return (config["dataset"], config["encoder"], config["refine"], config["pool_size"])


# ---------------------------------------------------------------------------------------- zero_label

def zero_label_config(p: Protocol, dataset: str, arm: Arm, repeat: int, data_dir: str | None) -> dict:
    s = {"test_fraction": 0.5, "standardize": True, **p.settings}
    extra = set(s) - {"test_fraction", "standardize"}
    if extra:
        raise ProtocolError(f"{p.name}: zero_label settings are test_fraction and standardize; got {sorted(extra)}.")
    return {"kind": "zero_label", "dataset": dataset, "data_dir": data_dir, "strategy": arm.strategy,
            "queries": [int(q) for q in p.checkpoints], "seed": p.seed + repeat,
            "test_fraction": float(s["test_fraction"]), "standardize": bool(s["standardize"]),
            "pool_size": p.pool_size}


def run_zero_label(config: dict) -> dict:
    from sklearn.svm import SVC

    from latal.data import load_dataset
    from latal.pool import Pool
    from latal.registry import parse_spec
    from latal.strategies import STRATEGIES
    from latal.strategies.base import QueryContext

    ds = load_dataset(config["dataset"], config["data_dir"], progress=False)
    X = ds.x.reshape(ds.n, -1).astype(np.float64)
    y = ds.y
    rng = np.random.default_rng(config["seed"])
    perm = rng.permutation(len(X))
    if config.get("pool_size"):
        perm = perm[: int(config["pool_size"])]
    n_test = int(round(config["test_fraction"] * len(perm)))
    cand, test = np.sort(perm[n_test:]), np.sort(perm[:n_test])
    Zc, Zt = X[cand], X[test]
    if config["standardize"]:
        mu, sd = Zc.mean(0), Zc.std(0)
        sd[sd == 0] = 1.0
        Zc, Zt = (Zc - mu) / sd, (Zt - mu) / sd
    name, params = parse_spec(config["strategy"])
    spec = config["strategy"]
    if "seed" in STRATEGIES.entry(name).parameters() and "seed" not in params:
        spec = f"{spec}{',' if ':' in spec else ':'}seed={config['seed']}"
    pool = Pool(Zc.astype(np.float32), list(ds.class_names))
    rounds = []
    for q in config["queries"]:
        if q > len(cand):
            raise ProtocolError(f"q = {q} is more than the {len(cand)} candidates of {config['dataset']}.")
        t0 = time.perf_counter()
        chosen = np.asarray(STRATEGIES.build(spec).select(QueryContext(pool=pool.view()), q,
                                                          np.random.default_rng(config["seed"])))
        seconds = time.perf_counter() - t0
        yc = y[cand][chosen]
        if len(np.unique(yc)) < 2:  # one class picked: the SVM can only answer it
            acc = float(np.mean(y[test] == yc[0]))
        else:
            acc = float(SVC(kernel="linear").fit(Zc[chosen], yc).score(Zt, y[test]))
        rounds.append({"n_labeled": int(q), "accuracy": acc, "classes_covered": int(len(np.unique(yc))),
                       "seconds": {"select": seconds}})
    return {"config": config, "data": {"name": ds.name, "candidates": int(len(cand)), "test": int(len(test))},
            "rounds": rounds}


# ------------------------------------------------------------------------------- cluster_contrastive

_CC_SETTINGS = {"val_fraction": 0.2}


def cluster_contrastive_config(p: Protocol, dataset: str, arm: Arm, repeat: int, data_dir: str | None) -> dict:
    from latal.strategies.cluster_contrastive import ClusterContrastiveModel
    import inspect

    if arm.strategy != "cluster_contrastive":
        raise ProtocolError(f"{p.name}: arm {arm.name!r}: a cluster_contrastive protocol's arms use strategy "
                            f"'cluster_contrastive' (ccl = false in params for the ablation).")
    model = {**{k: v for k, v in p.settings.items() if k not in _CC_SETTINGS}, **arm.params}
    allowed = set(inspect.signature(ClusterContrastiveModel).parameters) - {"n_classes", "seed", "device",
                                                                            "progress"}
    if set(model) - allowed:
        raise ProtocolError(f"{p.name}: unknown cluster_contrastive settings {sorted(set(model) - allowed)}; "
                            f"known: {sorted(allowed | set(_CC_SETTINGS))}.")
    return {"kind": "cluster_contrastive", "dataset": dataset, "data_dir": data_dir,
            "initial": int(arm_value(p, arm, "initial")), "batch": int(arm_value(p, arm, "batch")),
            "rounds": int(arm_value(p, arm, "rounds")), "seed": p.seed + repeat, "pool_size": p.pool_size,
            "val_fraction": float(p.settings.get("val_fraction", _CC_SETTINGS["val_fraction"])), "model": model}


def run_cluster_contrastive(config: dict, log=None) -> dict:
    """Paper 003's Algorithm 1 on an 80/20 split of the training images (see the module docstring)."""
    from latal.data import load_dataset
    from latal.learners import LEARNERS
    from latal.strategies.cluster_contrastive import ClusterContrastiveModel

    ds = load_dataset(config["dataset"], config["data_dir"], progress=False)
    rng = np.random.default_rng(config["seed"])
    order = rng.permutation(ds.n)
    n_val = int(round(config["val_fraction"] * ds.n))
    val, pool = order[:n_val], np.sort(order[n_val:])
    if config.get("pool_size"):
        pool = np.sort(pool[rng.permutation(len(pool))[: int(config["pool_size"])]])
        val = val[: max(1, int(config["pool_size"]) // 4)]
    x, y, x_val, y_val = ds.x[pool], ds.y[pool], ds.x[val], ds.y[val]
    budget = config["initial"] + config["batch"] * config["rounds"]
    if budget > len(x):
        raise ProtocolError(f"the run asks for {budget} labels but the pool holds {len(x)} items.")
    model = ClusterContrastiveModel(len(ds.class_names), seed=config["seed"], **config["model"])
    t0 = time.perf_counter()
    model.pretrain(x)
    labeled = np.sort(rng.choice(len(x), size=config["initial"], replace=False))
    model.init_centroids(labeled, y[labeled])
    rounds = []

    def evaluate(queried):
        mlp = LEARNERS.build("mlp", random_state=config["seed"]).fit(model.encode()[labeled], y[labeled],
                                                                      n_classes=len(ds.class_names))
        rounds.append({"n_labeled": int(len(labeled)), "accuracy": float(np.mean(model.predict(x_val) == y_val)),
                       "mlp_accuracy": float(np.mean(mlp.predict(model.encode(x_val)) == y_val)),
                       "queried": [int(i) for i in queried], "wall_seconds": time.perf_counter() - t0})
        if log:
            log(f"  {rounds[-1]['n_labeled']} labels: cluster {rounds[-1]['accuracy']:.4f}")

    evaluate(labeled)
    for _ in range(config["rounds"]):
        unl = np.setdiff1d(np.arange(len(x)), labeled, assume_unique=True)
        chosen = model.query(unl, config["batch"])
        labeled = np.sort(np.concatenate([labeled, chosen]))
        model.train_round(labeled, y[labeled])
        evaluate(chosen)
    return {"config": config, "data": {"name": ds.name, "pool": int(len(x)), "validation": int(len(val))},
            "rounds": rounds, "timing": dict(model.seconds)}


CONFIG = {"loop": loop_config, "zero_label": zero_label_config, "cluster_contrastive": cluster_contrastive_config}
RUN = {"loop": run_loop, "zero_label": run_zero_label, "cluster_contrastive": run_cluster_contrastive}


def run_config(kind: str, config: dict) -> dict:
    return RUN[kind](config)
