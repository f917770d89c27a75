"""Name -> factory registries, so configs and the CLI build components from short strings.

A spec is ``name`` or ``name:key=value,key=value``; values are parsed as int, float, bool,
``none`` or left as strings. No if/elif chains over names anywhere: everything goes through here.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from latal.exceptions import LatalError


class UnknownNameError(LatalError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def normalise(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"margin:gamma=0.5,batch=topk"`` -> ``("margin", {"gamma": 0.5, "batch": "topk"})``."""
    name, _, rest = str(spec).partition(":")
    params: dict[str, Any] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise ValueError(f"cannot read {item!r} in {spec!r}: parameters are written key=value, comma-separated.")
            params[key.strip()] = parse_value(value)
    return normalise(name), params


@dataclass
class Entry:
    name: str
    factory: Callable[..., Any]
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> list[str]:
        if self.accepts_any():
            return []
        return [p for p in inspect.signature(self.factory).parameters if p != "self"]

    def accepts_any(self) -> bool:
        """Whether the factory takes ``**kwargs`` (then any parameter name is passed through)."""
        return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(self.factory).parameters.values())


class Registry:
    """A named collection of factories."""

    def __init__(self, kind: str, plural: str | None = None):
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, factory: Callable[..., Any], description: str, **defaults) -> None:
        key = normalise(name)
        if key in self._entries:
            raise ValueError(f"{self.kind} {key!r} is registered twice.")
        self._entries[key] = Entry(key, factory, description, defaults)

    def __contains__(self, name: str) -> bool:
        return normalise(parse_spec(name)[0]) in self._entries

    def __iter__(self):
        return iter(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def entry(self, name: str) -> Entry:
        key = normalise(name)
        if key not in self._entries:
            close = difflib.get_close_matches(key, self._entries, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Known {self.plural}: {', '.join(self._entries)}."
            )
        return self._entries[key]

    def describe(self) -> list[tuple[str, str]]:
        return [(e.name, e.description) for e in self._entries.values()]

    def build(self, spec: str, **overrides) -> Any:
        name, params = parse_spec(spec)
        entry = self.entry(name)
        kwargs = {**entry.defaults, **params, **overrides}
        allowed = entry.parameters()
        if not entry.accepts_any():
            unknown = sorted(set(kwargs) - set(allowed))
            if unknown:
                raise ValueError(
                    f"{self.kind} {name!r} takes no parameter {', '.join(map(repr, unknown))}; "
                    f"it takes {', '.join(allowed) or 'none'}."
                )
        return entry.factory(**kwargs)
