"""Benchmark protocols: a paper's experiment as data (TOML), with the published figures to compare with."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from latal.exceptions import LatalError


class ProtocolError(LatalError, ValueError):
    """A protocol file is missing, malformed or names something unknown."""


@dataclass
class Arm:
    """One line of a comparison: a strategy, optionally with its own encoder, learner or initial strategy."""

    name: str
    strategy: str
    encoder: str | None = None
    learner: str | None = None
    initial_strategy: str | None = None
    #: label count -> (mean, std or None) as the paper reports it
    published: dict[int, tuple[float, float | None]] = field(default_factory=dict)


@dataclass
class Protocol:
    name: str
    title: str
    source: str
    dataset: str
    encoder: str
    learner: str
    initial: int
    batch: int
    rounds: int
    repeats: int
    arms: list[Arm]
    checkpoints: list[int]
    initial_strategy: str = "random"
    seed: int = 0
    pool_size: int | None = None
    refine: str | None = None
    quick: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        for arm in d["arms"]:
            arm["published"] = {str(k): list(v) for k, v in arm["published"].items()}
        return d

    def quickened(self) -> Protocol:
        """The ``--quick`` version: the protocol's ``[quick]`` table overrides (fewer repeats, a pool subset,
        fewer rounds, cheaper encoders)."""
        q = dict(self.quick)
        swap = q.pop("encoders", {})
        fields = {k: v for k, v in asdict(self).items() if k not in ("arms", "quick")}
        fields.update({"repeats": 2, "pool_size": min(self.pool_size or 2000, 2000), "rounds": min(self.rounds, 3)})
        fields.update(q)
        arms = [Arm(a.name, a.strategy, swap.get(a.encoder, a.encoder) if a.encoder else None, a.learner,
                    a.initial_strategy, dict(a.published)) for a in self.arms]
        fields["encoder"] = swap.get(self.encoder, self.encoder)
        return Protocol(**fields, arms=arms, quick={})


_REQUIRED = ("name", "title", "source", "dataset", "encoder", "learner", "initial", "batch", "rounds", "repeats",
             "arms")


def parse_protocol(data: dict, origin: str = "<protocol>") -> Protocol:
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ProtocolError(f"{origin}: missing {missing}; a protocol states {list(_REQUIRED)}.")
    arms = []
    for i, a in enumerate(data["arms"]):
        if "name" not in a or "strategy" not in a:
            raise ProtocolError(f"{origin}: arm {i + 1} needs a name and a strategy.")
        extra = set(a) - {"name", "strategy", "encoder", "learner", "initial_strategy", "published"}
        if extra:
            raise ProtocolError(f"{origin}: arm {a['name']!r}: unknown keys {sorted(extra)}; an arm has name, "
                                "strategy and optionally encoder, learner, initial_strategy, published.")
        published = {}
        for k, v in (a.get("published") or {}).items():
            try:
                mean, std = (v[0], v[1]) if isinstance(v, list) else (v, None)
                published[int(k)] = (float(mean), None if std is None else float(std))
            except (TypeError, ValueError, IndexError) as exc:
                raise ProtocolError(f"{origin}: arm {a['name']!r}: published must map a label count to a mean "
                                    f"or [mean, std]; got {k!r} = {v!r}.") from exc
        arms.append(Arm(a["name"], a["strategy"], a.get("encoder"), a.get("learner"), a.get("initial_strategy"),
                        published))
    if len({a.name for a in arms}) != len(arms):
        raise ProtocolError(f"{origin}: arm names must be unique.")
    rounds = int(data["rounds"])
    checkpoints = [int(c) for c in data.get("checkpoints", [int(data["initial"]) + int(data["batch"]) * rounds])]
    known = set(_REQUIRED) | {"checkpoints", "initial_strategy", "seed", "pool_size", "refine", "quick"}
    unknown = set(data) - known
    if unknown:
        raise ProtocolError(f"{origin}: unknown keys {sorted(unknown)}; known: {sorted(known)}.")
    return Protocol(name=str(data["name"]), title=str(data["title"]), source=str(data["source"]),
                    dataset=str(data["dataset"]), encoder=str(data["encoder"]), learner=str(data["learner"]),
                    initial=int(data["initial"]), batch=int(data["batch"]), rounds=rounds,
                    repeats=int(data["repeats"]), arms=arms, checkpoints=checkpoints,
                    initial_strategy=str(data.get("initial_strategy", "random")), seed=int(data.get("seed", 0)),
                    pool_size=data.get("pool_size"), refine=data.get("refine"), quick=dict(data.get("quick", {})))


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
