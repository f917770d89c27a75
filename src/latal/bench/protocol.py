"""Benchmark protocols: a paper's experiment as data (TOML), with the published figures to compare with.

A protocol has a ``kind``, the experiment each of its runs is:

- ``loop`` (default): the active-learning loop (:func:`latal.experiment.run_experiment`) on one
  dataset's latents: encoder, learner, first batch, batch, rounds;
- ``zero_label``: paper 002's protocol: a selector picks ``q`` items of a candidate half without any
  label, a linear SVM trained on them is scored on the other half, for each ``q`` in ``checkpoints``;
- ``cluster_contrastive``: paper 003's protocol: its own model (conv autoencoder, clustering layer,
  contrastive loss) trained round by round, accuracy by cluster assignment.

``settings`` holds what only a kind reads (documented in :mod:`latal.bench.kinds`); an arm's ``params``
do the same per arm.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from latal.exceptions import LatalError

KINDS = ("loop", "zero_label", "cluster_contrastive")


class ProtocolError(LatalError, ValueError):
    """A protocol file is missing, malformed or names something unknown."""


@dataclass
class Arm:
    """One line of a comparison: a strategy, optionally with its own encoder, learner, initial strategy,
    budget (``initial = "all"`` labels the whole pool: the full-label reference) or kind parameters."""

    name: str
    strategy: str
    encoder: str | None = None
    learner: str | None = None
    initial_strategy: str | None = None
    #: label count (or "all") -> (mean, std or None) as the paper reports it
    published: dict = field(default_factory=dict)
    initial: int | str | None = None
    batch: int | None = None
    rounds: int | None = None
    params: dict = field(default_factory=dict)


@dataclass
class Protocol:
    name: str
    title: str
    source: str
    datasets: list[str]
    arms: list[Arm]
    checkpoints: list[int]
    repeats: int
    kind: str = "loop"
    encoder: str = "identity"
    learner: str = "mlp"
    initial: int = 0
    batch: int = 0
    rounds: int = 0
    initial_strategy: str = "random"
    seed: int = 0
    pool_size: int | None = None
    refine: str | None = None
    settings: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    #: ``--set`` overrides applied on the command line, shown in the report
    overrides: list[str] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return ", ".join(self.datasets)

    def to_dict(self) -> dict:
        d = asdict(self)
        for arm in d["arms"]:
            arm["published"] = {str(k): list(v) for k, v in arm["published"].items()}
        return d

    def quickened(self) -> Protocol:
        """The ``--quick`` version: the protocol's ``[quick]`` table overrides (fewer repeats, a pool subset,
        fewer rounds, cheaper encoders, smaller settings)."""
        q = copy.deepcopy(self.quick)
        swap = q.pop("encoders", {})
        settings = {**self.settings, **q.pop("settings", {})}
        new = copy.deepcopy(self)
        new.repeats = 2
        if self.kind == "loop":
            new.pool_size = min(self.pool_size or 2000, 2000)
            new.rounds = min(self.rounds, 3)
        for k, v in q.items():
            if not hasattr(new, k):
                raise ProtocolError(f"{self.name}: [quick] sets unknown key {k!r}.")
            setattr(new, k, v)
        new.settings, new.quick = settings, {}
        new.encoder = swap.get(self.encoder, self.encoder)
        for arm in new.arms:
            if arm.encoder:
                arm.encoder = swap.get(arm.encoder, arm.encoder)
            if self.kind == "loop" and arm.rounds is not None:
                arm.rounds = min(arm.rounds, new.rounds)
        return new

    def override(self, assignment: str) -> None:
        """Apply one ``--set KEY=VALUE`` (``repeats=3``, ``settings.epochs=2``, ``pool_size=5000``); the value
        is read as TOML (numbers, true/false, "strings", [lists]), a bare word as a string."""
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ProtocolError(f"--set takes KEY=VALUE (e.g. repeats=3 or settings.epochs=2); got {assignment!r}.")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        if key.startswith("settings."):
            self.settings[key[len("settings."):]] = value
        elif key in _FIXED or not hasattr(self, key):
            allowed = [f for f in Protocol.__dataclass_fields__ if f not in _FIXED]
            raise ProtocolError(f"--set {key}: not a settable protocol key; use one of {allowed} or settings.NAME.")
        else:
            if key == "datasets" and isinstance(value, str):
                value = [value]
            setattr(self, key, value)
        self.overrides.append(f"{key}={raw.strip()}")


#: what --set may not change: the identity of the protocol and its structure
_FIXED = ("name", "title", "source", "arms", "quick", "overrides", "kind")
_COMMON = ("name", "title", "source", "repeats", "arms")
_REQUIRED = {
    "loop": _COMMON + ("encoder", "learner", "initial", "batch", "rounds"),
    "zero_label": _COMMON + ("checkpoints",),
    "cluster_contrastive": _COMMON + ("initial", "batch", "rounds"),
}
_ARM_KEYS = {"name", "strategy", "encoder", "learner", "initial_strategy", "published", "initial", "batch", "rounds",
             "params"}


def _published(origin: str, arm_name: str, raw: dict) -> dict:
    out = {}
    for k, v in (raw or {}).items():
        try:
            mean, std = (v[0], v[1]) if isinstance(v, list) else (v, None)
            key = "all" if k == "all" else int(k)
            out[key] = (float(mean), None if std is None else float(std))
        except (TypeError, ValueError, IndexError) as exc:
            raise ProtocolError(f"{origin}: arm {arm_name!r}: published must map a label count (or \"all\") to a "
                                f"mean or [mean, std]; got {k!r} = {v!r}.") from exc
    return out


def parse_protocol(data: dict, origin: str = "<protocol>") -> Protocol:
    kind = str(data.get("kind", "loop"))
    if kind not in KINDS:
        raise ProtocolError(f"{origin}: unknown kind {kind!r}; one of {list(KINDS)}.")
    missing = [k for k in _REQUIRED[kind] if k not in data]
    if "dataset" not in data and "datasets" not in data:
        missing.append("dataset")
    if missing:
        raise ProtocolError(f"{origin}: missing {missing}; a {kind} protocol states "
                            f"{list(_REQUIRED[kind]) + ['dataset (or datasets)']}.")
    if "dataset" in data and "datasets" in data:
        raise ProtocolError(f"{origin}: give dataset or datasets, not both.")
    datasets = [data["dataset"]] if "dataset" in data else list(data["datasets"])
    if not datasets or not all(isinstance(d, str) and d for d in datasets):
        raise ProtocolError(f"{origin}: datasets must be a non-empty list of dataset names.")
    arms = []
    for i, a in enumerate(data["arms"]):
        if "name" not in a or "strategy" not in a:
            raise ProtocolError(f"{origin}: arm {i + 1} needs a name and a strategy.")
        extra = set(a) - _ARM_KEYS
        if extra:
            raise ProtocolError(f"{origin}: arm {a['name']!r}: unknown keys {sorted(extra)}; an arm has name, "
                                f"strategy and optionally {sorted(_ARM_KEYS - {'name', 'strategy'})}.")
        initial = a.get("initial")
        if initial is not None and initial != "all" and (not isinstance(initial, int) or initial < 1):
            raise ProtocolError(f"{origin}: arm {a['name']!r}: initial must be a positive count or \"all\".")
        arms.append(Arm(a["name"], a["strategy"], a.get("encoder"), a.get("learner"), a.get("initial_strategy"),
                        _published(origin, a["name"], a.get("published")), initial, a.get("batch"),
                        a.get("rounds"), dict(a.get("params", {}))))
    if len({a.name for a in arms}) != len(arms):
        raise ProtocolError(f"{origin}: arm names must be unique.")
    rounds = int(data.get("rounds", 0))
    default_checkpoints = [int(data.get("initial", 0)) + int(data.get("batch", 0)) * rounds]
    checkpoints = [int(c) for c in data.get("checkpoints", default_checkpoints)]
    known = set(_REQUIRED["loop"]) | {"checkpoints", "initial_strategy", "seed", "pool_size", "refine", "quick",
                                      "kind", "dataset", "datasets", "settings"}
    unknown = set(data) - known
    if unknown:
        raise ProtocolError(f"{origin}: unknown keys {sorted(unknown)}; known: {sorted(known)}.")
    return Protocol(name=str(data["name"]), title=str(data["title"]), source=str(data["source"]), datasets=datasets,
                    arms=arms, checkpoints=checkpoints, repeats=int(data["repeats"]), kind=kind,
                    encoder=str(data.get("encoder", "identity")), learner=str(data.get("learner", "mlp")),
                    initial=int(data.get("initial", 0)), batch=int(data.get("batch", 0)), rounds=rounds,
                    initial_strategy=str(data.get("initial_strategy", "random")), seed=int(data.get("seed", 0)),
                    pool_size=data.get("pool_size"), refine=data.get("refine"),
                    settings=dict(data.get("settings", {})), quick=dict(data.get("quick", {})))


def _shipped() -> dict[str, object]:
    folder = resources.files("latal.bench") / "protocols"
    return {p.name[: -len(".toml")]: p for p in folder.iterdir() if p.name.endswith(".toml")}


def list_protocols() -> list[tuple[str, str]]:
    """``(name, title)`` of every shipped protocol."""
    out = []
    for name, path in sorted(_shipped().items()):
        out.append((name, tomllib.loads(path.read_text())["title"]))
    return out


def load_protocol(name_or_path: str) -> Protocol:
    """A shipped protocol by name (``latal bench --list``) or a TOML file."""
    shipped = _shipped()
    if name_or_path in shipped:
        text, origin = shipped[name_or_path].read_text(), name_or_path
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ProtocolError(f"unknown protocol {name_or_path!r}: give one of {sorted(shipped)} or a TOML file.")
        text, origin = path.read_text(), str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{origin} is not valid TOML ({exc}).") from exc
    return parse_protocol(data, origin)
