"""A labeling project on disk: one SQLite file (WAL) holding the items, every label event, the
query batches and the per-round model estimates.

Nothing is ever updated in place. A label, a relabel, a skip, an undo and an import are each one
row of ``events``, committed before the server answers; the current labels are *derived* by
replaying the events (:class:`LabelState`). Another process may append events at the same time
(``latal import`` while the app runs): :meth:`ProjectStore.sync` reads what is new.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from latal.exceptions import DataError, LabelError, LatalError

SCHEMA_VERSION = 1

#: event kinds; ``relabel`` is a ``label`` of an item that already had one
EVENT_KINDS = ("label", "relabel", "skip", "undo", "import")
#: the kinds an annotator can take back with undo
UNDOABLE = ("label", "relabel", "skip")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('label', 'relabel', 'skip', 'undo', 'import')),
    item INTEGER NOT NULL REFERENCES items(id),
    label TEXT,
    annotator TEXT NOT NULL,
    target INTEGER REFERENCES events(id)
);
CREATE INDEX IF NOT EXISTS events_item ON events(item);
CREATE TABLE IF NOT EXISTS queue (
    round INTEGER NOT NULL, rank INTEGER NOT NULL, item INTEGER NOT NULL REFERENCES items(id),
    reserve INTEGER NOT NULL, PRIMARY KEY (round, rank)
);
CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, time REAL NOT NULL, report TEXT NOT NULL);
"""


class ProjectError(LatalError):
    """The project database is missing, of another project, or damaged."""


class UnknownItemError(LabelError):
    """An item id that the project does not have."""


@dataclass(frozen=True)
class Event:
    id: int
    time: float
    kind: str
    item: int
    label: str | None
    annotator: str
    target: int | None = None


@dataclass
class ItemLabel:
    """The current label of an item and the event that set it."""

    label: str
    annotator: str
    time: float
    event: int
    kind: str = "label"  # the event's kind: label, relabel (given again, by a person who looked twice) or import


@dataclass
class LabelState:
    """The labels as the events say they are now.

    ``labels`` maps item -> :class:`ItemLabel`; ``skipped`` holds items whose latest standing event is
    a skip. An undo takes back one earlier event; the item then shows whatever its remaining events
    say (an older label, a skip, or nothing).
    """

    labels: dict[int, ItemLabel] = field(default_factory=dict)
    skipped: set[int] = field(default_factory=set)
    undone: set[int] = field(default_factory=set)
    last_event: int = 0
    _by_item: dict[int, list[Event]] = field(default_factory=dict)
    _by_annotator: dict[str, list[Event]] = field(default_factory=dict)

    def apply(self, events: Iterable[Event]) -> list[int]:
        """Fold new events (in id order) into the state; returns the items whose state changed."""
        changed = []
        for ev in events:
            if ev.id <= self.last_event:
                continue
            self.last_event = ev.id
            if ev.kind == "undo":
                if ev.target is None or ev.target in self.undone:
                    continue
                self.undone.add(ev.target)
            else:
                self._by_item.setdefault(ev.item, []).append(ev)
                if ev.kind in UNDOABLE:
                    self._by_annotator.setdefault(ev.annotator, []).append(ev)
            self._settle(ev.item)
            changed.append(ev.item)
        return changed

    def _settle(self, item: int) -> None:
        standing = [e for e in self._by_item.get(item, ()) if e.id not in self.undone]
        self.labels.pop(item, None)
        self.skipped.discard(item)
        if not standing:
            return
        last = standing[-1]
        if last.kind == "skip":
            self.skipped.add(item)
        else:
            self.labels[item] = ItemLabel(last.label, last.annotator, last.time, last.id, last.kind)

    def last_undoable(self, annotator: str) -> Event | None:
        """The annotator's most recent label, relabel or skip that is not undone yet."""
        for ev in reversed(self._by_annotator.get(annotator, ())):
            if ev.id not in self.undone:
                return ev
        return None

    def is_done(self, item: int) -> bool:
        return item in self.labels or item in self.skipped


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before the server acknowledges it, even if the machine loses power
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class ProjectStore:
    """Open (or create) a project database.

    Use :meth:`create` for a new project and :meth:`open` for an existing one. Every method is safe to
    call from several threads; writes are serialised by one lock and each is its own transaction.
    """

    def __init__(self, path, conn: sqlite3.Connection):
        self.path = Path(path)
        self._conn = conn
        self._lock = threading.RLock()
        self.config: dict = json.loads(self._meta("config") or "{}")
        self.n_items = int(self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    # ---------------------------------------------------------------- opening
    @classmethod
    def create(cls, path, sources: Sequence[str], config: dict) -> ProjectStore:
        """Create a new project with one item per entry of ``sources`` (item ids 0..n-1)."""
        path = Path(path)
        if path.exists():
            raise ProjectError(f"{path} exists already; open it to resume, or choose another --db path.")
        if not sources:
            raise DataError("a labeling project needs at least one item; the data source is empty.")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(path)
        try:
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            conn.execute("INSERT INTO meta VALUES ('config', ?)", (json.dumps(config),))
            conn.execute("INSERT INTO meta VALUES ('created', ?)", (time.strftime("%Y-%m-%dT%H:%M:%S"),))
            conn.executemany("INSERT INTO items VALUES (?, ?)", ((i, str(s)) for i, s in enumerate(sources)))
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            path.unlink(missing_ok=True)
            raise
        return cls(path, conn)

    @classmethod
    def open(cls, path) -> ProjectStore:
        path = Path(path)
        if not path.is_file():
            raise ProjectError(f"no labeling project at {path}; create one with `latal label ... --db {path}`.")
        try:
            conn = _connect(path)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{path} is not a latal project database ({exc}).") from exc
        missing = {"meta", "items", "events", "queue", "rounds"} - tables
        if missing:
            conn.close()
            raise ProjectError(f"{path} is not a latal project database (tables {sorted(missing)} are missing).")
        version = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if version is None or int(version[0]) > SCHEMA_VERSION:
            conn.close()
            raise ProjectError(f"{path} was written by a newer latal (schema {version and version[0]}); upgrade latal.")
        return cls(path, conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---------------------------------------------------------------- meta
    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def update_config(self, **changes) -> None:
        with self._lock:
            self.config.update(changes)
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (json.dumps(self.config),))

    @property
    def classes(self) -> list[str]:
        return list(self.config.get("classes", []))

    # ---------------------------------------------------------------- items
    def sources(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT source FROM items ORDER BY id")]

    def source(self, item: int) -> str:
        row = self._conn.execute("SELECT source FROM items WHERE id=?", (int(item),)).fetchone()
        if row is None:
            raise UnknownItemError(f"unknown item {item}; item ids run from 0 to {self.n_items - 1}.")
        return row[0]

    def item_ids_by_source(self) -> dict[str, int]:
        return {s: i for i, s in self._conn.execute("SELECT id, source FROM items")}

    # ---------------------------------------------------------------- events
    def check_item(self, item) -> int:
        if isinstance(item, bool) or not isinstance(item, int):
            raise LabelError(f"item must be an integer item id; got {item!r}.")
        if not 0 <= item < self.n_items:
            raise UnknownItemError(f"unknown item {item}; item ids run from 0 to {self.n_items - 1}.")
        return item

    def check_label(self, label) -> str:
        if not isinstance(label, str) or label not in self.classes:
            raise LabelError(f"unknown class {label!r}; the project's classes are {self.classes}.")
        return label

    def append(self, kind: str, item: int, annotator: str, label: str | None = None, target: int | None = None,
               at: float | None = None) -> Event:
        """Commit one event and return it (with its id). Raises before writing if it is malformed."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; one of {EVENT_KINDS}.")
        self.check_item(item)
        if kind in ("label", "relabel", "import"):
            self.check_label(label)
        annotator = check_annotator(annotator)
        t = time.time() if at is None else float(at)
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO events (time, kind, item, label, annotator, target) VALUES (?, ?, ?, ?, ?, ?)",
                (t, kind, item, label, annotator, target))
            return Event(int(cur.lastrowid), t, kind, item, label, annotator, target)

    def append_many(self, rows: Sequence[tuple[str, int, str, str | None]]) -> int:
        """Commit ``(kind, item, annotator, label)`` events in one transaction (all or none)."""
        checked = []
        t = time.time()
        for kind, item, annotator, label in rows:
            if kind not in ("label", "relabel", "import", "skip"):
                raise ValueError(f"append_many takes label, relabel, import or skip events; got {kind!r}.")
            self.check_item(item)
            if kind != "skip":
                self.check_label(label)
            checked.append((t, kind, item, label, check_annotator(annotator), None))
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO events (time, kind, item, label, annotator, target) VALUES (?, ?, ?, ?, ?, ?)",
                    checked)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(checked)

    def events(self, after: int = 0) -> list[Event]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, time, kind, item, label, annotator, target FROM events WHERE id > ? ORDER BY id",
                (int(after),)).fetchall()
        return [Event(*r) for r in rows]

    def state(self) -> LabelState:
        state = LabelState()
        state.apply(self.events())
        return state

    # ---------------------------------------------------------------- queue and rounds
    def save_queue(self, round_: int, items: Sequence[int], reserve: Sequence[int], report: dict) -> None:
        """Store the batch (and its reserve) chosen for ``round_`` together with what the model measured."""
        rows = [(round_, r, int(i), 0) for r, i in enumerate(items)]
        rows += [(round_, len(rows) + r, int(i), 1) for r, i in enumerate(reserve)]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM queue WHERE round=?", (round_,))
                self._conn.executemany("INSERT INTO queue VALUES (?, ?, ?, ?)", rows)
                self._conn.execute("INSERT OR REPLACE INTO rounds VALUES (?, ?, ?)",
                                   (round_, time.time(), json.dumps(report)))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def update_round(self, round_: int, **fields) -> None:
        with self._lock:
            row = self._conn.execute("SELECT report FROM rounds WHERE round=?", (round_,)).fetchone()
            if row is None:
                return
            report = json.loads(row[0])
            report.update(fields)
            self._conn.execute("UPDATE rounds SET report=? WHERE round=?", (json.dumps(report), round_))

    def latest_queue(self) -> tuple[int, list[int], list[int]] | None:
        """``(round, batch, reserve)`` of the newest batch, or None before the first."""
        with self._lock:
            row = self._conn.execute("SELECT MAX(round) FROM queue").fetchone()
            if row is None or row[0] is None:
                return None
            r = int(row[0])
            rows = self._conn.execute("SELECT item, reserve FROM queue WHERE round=? ORDER BY rank", (r,)).fetchall()
        return r, [i for i, res in rows if not res], [i for i, res in rows if res]

    def rounds(self) -> list[dict]:
        with self._lock:
            rows = self._conn.execute("SELECT round, time, report FROM rounds ORDER BY round").fetchall()
        return [{"round": r, "time": t, **json.loads(rep)} for r, t, rep in rows]

    # ---------------------------------------------------------------- export
    def export_rows(self) -> list[dict]:
        """One row per labeled item: id, source path, label, annotator and time of the standing label, and
        ``audit``: whether the item was drawn uniformly at random to test the model (``--audit``), so the audit
        items are a random sample of the pool with their labels, a test set."""
        state = self.state()
        sources = self.sources()
        audit = self.audit_items()
        return [{"item": item, "source": sources[item], "label": lab.label, "annotator": lab.annotator,
                 "time": utc(lab.time), "audit": item in audit} for item, lab in sorted(state.labels.items())]

    def audit_items(self) -> set[int]:
        """The items the rounds drew uniformly at random to test the model (:func:`audit_items` of the rounds)."""
        return audit_items(self.rounds())

    def history_rows(self) -> list[dict]:
        """Every event in order: what each person did to which item and when, and whether it was undone since
        (``undoes``: the event an undo takes back; ``undone``: taken back by a later undo)."""
        events = self.events()
        state = LabelState()
        state.apply(events)
        sources = self.sources()
        return [{"event": e.id, "time": utc(e.time), "kind": e.kind, "item": e.item, "source": sources[e.item],
                 "label": e.label or "", "annotator": e.annotator, "undoes": e.target if e.kind == "undo" else "",
                 "undone": e.id in state.undone} for e in events]


def audit_items(rounds: Iterable[dict]) -> set[int]:
    """The items drawn uniformly at random to test the model: the ``audit`` of each of ``rounds``' reports."""
    return {int(i) for rec in rounds for i in rec.get("audit") or ()}


def utc(t: float) -> str:
    """``t`` (seconds since the epoch) as an ISO 8601 UTC time with milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def check_annotator(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise LabelError("annotator must be a non-empty name (letters, digits, spaces, . _ -).")
    name = name.strip()
    if len(name) > 64:
        raise LabelError(f"annotator names are at most 64 characters; got {len(name)}.")
    return name
