"""``latal export`` and ``latal import``: labels out of and into a project database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from latal.app.store import ProjectStore
from latal.exceptions import DataError

EXPORT_FIELDS = ("item", "source", "label", "annotator", "time")


def export_text(store: ProjectStore, fmt: str = "csv") -> str:
    """The standing label of every labeled item: item id, source path, label, annotator, time (UTC)."""
    rows = store.export_rows()
    if fmt == "json":
        return json.dumps({"classes": store.classes, "labels": rows}, indent=1) + "\n"
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}; use csv or json.")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_labels(path) -> list[dict]:
    """Rows with a ``label`` and an ``item`` id or a ``source`` path, from a CSV (with a header) or a JSON
    file (a list of such objects, ``{"labels": [...]}`` as exported, or ``{source: label}``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"label file not found: {path}")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON ({exc}).") from exc
        if isinstance(data, dict) and "labels" in data:
            data = data["labels"]
        if isinstance(data, dict):
            data = [{"source": k, "label": v} for k, v in data.items()]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{path}: expected a list of {{\"item\" or \"source\", \"label\"}} objects.")
        return data
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and "label" not in rows[0]:
        raise DataError(f"{path}: the CSV header must name a 'label' column and an 'item' or 'source' column; "
                        f"it has {list(rows[0])}.")
    return rows


def import_labels(store: ProjectStore, path, *, annotator: str = "import", overwrite: bool = False) -> dict:
    """Record the labels of ``path`` as ``import`` events, all in one transaction or none.

    Rows naming an unknown item, source or class stop the import with the row number. Items that hold
    the same label already are left alone; items holding another label are changed only with
    ``overwrite`` (and counted as conflicts otherwise). Returns the counts.
    """
    rows = read_labels(path)
    by_source = store.item_ids_by_source()
    state = store.state()
    wanted: dict[int, str] = {}
    for n, row in enumerate(rows, start=2 if Path(path).suffix.lower() != ".json" else 1):
        label = row.get("label")
        if label is None or str(label) == "":
            raise DataError(f"{path} row {n}: no label.")
        label = str(label)
        if label not in store.classes:
            raise DataError(f"{path} row {n}: unknown class {label!r}; the project's classes are {store.classes}.")
        if row.get("item") not in (None, ""):
            try:
                item = int(row["item"])
            except (TypeError, ValueError) as exc:
                raise DataError(f"{path} row {n}: item {row['item']!r} is not an item id.") from exc
            if not 0 <= item < store.n_items:
                raise DataError(f"{path} row {n}: unknown item {item}; ids run from 0 to {store.n_items - 1}.")
            if row.get("source") not in (None, "") and by_source.get(str(row["source"])) != item:
                raise DataError(f"{path} row {n}: item {item} is {store.source(item)!r}, not {row['source']!r}.")
        elif row.get("source") not in (None, ""):
            item = by_source.get(str(row["source"]))
            if item is None:
                raise DataError(f"{path} row {n}: no item has the source {row['source']!r}.")
        else:
            raise DataError(f"{path} row {n}: give an item id or a source path.")
        if wanted.get(item, label) != label:
            raise DataError(f"{path} row {n}: item {item} is given two labels ({wanted[item]!r} and {label!r}).")
        wanted[item] = label
    new, same, conflicts = [], 0, 0
    for item, label in wanted.items():
        current = state.labels.get(item)
        if current is not None and current.label == label:
            same += 1
        elif current is not None and not overwrite:
            conflicts += 1
        else:
            new.append(("import", item, annotator, label))
    store.append_many(new)
    return {"imported": len(new), "unchanged": same, "conflicts_kept": conflicts, "rows": len(rows)}
