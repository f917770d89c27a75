"""``latal export`` and ``latal import``: labels out of and into a project database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from latal.app.store import ProjectStore
from latal.exceptions import DataError

EXPORT_FIELDS = ("item", "source", "label", "annotator", "time", "audit")


def check_format(fmt: str) -> None:
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}; use csv or json.")


def check_min_confidence(min_confidence: float) -> None:
    if not 0.0 <= float(min_confidence) <= 1.0:  # NaN fails too
        raise ValueError(f"min_confidence must lie in [0, 1]; got {min_confidence}.")


def _csv(fields, rows) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def export_text(store: ProjectStore, fmt: str = "csv") -> str:
    """The standing label of every labeled item: item id, source path, label, annotator, time (UTC), and whether it
    is an audit item (drawn at random to test the model)."""
    check_format(fmt)
    rows = store.export_rows()
    if fmt == "json":
        return json.dumps({"classes": store.classes, "labels": rows}, indent=1) + "\n"
    return _csv(EXPORT_FIELDS, rows)


HISTORY_FIELDS = ("event", "time", "kind", "item", "source", "label", "annotator", "undoes", "undone")


def history_text(store: ProjectStore, fmt: str = "csv") -> str:
    """Every label, relabel, skip, undo and import in the order they happened (:meth:`ProjectStore.history_rows`):
    who labeled what and when, including what was changed or taken back since."""
    check_format(fmt)
    rows = store.history_rows()
    if fmt == "json":
        return json.dumps({"classes": store.classes, "events": rows}, indent=1) + "\n"
    return _csv(HISTORY_FIELDS, rows)


PREDICTION_FIELDS = ("item", "source", "label", "predicted", "confidence")


def predictions_text(store: ProjectStore, proba, n_labels: int, fmt: str = "csv", min_confidence: float = 0.0) -> str:
    """Every item's predicted class from the learner's class distributions ``proba`` (one row per item, in item
    order): item id, source, the standing human label (empty when none), the predicted class, its probability
    (``confidence``), and each class's probability (``p_<class>`` columns in CSV, ``probabilities`` in JSON).
    Items without a label whose confidence is below ``min_confidence`` are left out; labeled items are always
    written (a prediction that differs from the label is worth a second look)."""
    import numpy as np

    check_format(fmt)
    check_min_confidence(min_confidence)
    proba = np.asarray(proba, dtype=float)
    if proba.shape != (store.n_items, len(store.classes)):
        raise ValueError(f"expected class distributions of shape ({store.n_items}, {len(store.classes)}); "
                         f"got {proba.shape}.")
    labels = {i: lab.label for i, lab in store.state().labels.items()}
    sources = store.sources()
    predicted = proba.argmax(axis=1)
    confidence = proba[np.arange(len(proba)), predicted]
    keep = [i for i in range(store.n_items) if i in labels or confidence[i] >= min_confidence]
    rows = [{"item": i, "source": sources[i], "label": labels.get(i, ""),
             "predicted": store.classes[predicted[i]], "confidence": round(float(confidence[i]), 6)} for i in keep]
    if fmt == "json":
        for r in rows:
            r["probabilities"] = [round(float(p), 6) for p in proba[r["item"]]]
        return json.dumps({"classes": store.classes, "labels_used": int(n_labels), "items": rows}, indent=1) + "\n"
    columns = [f"p_{c}" for c in store.classes]
    return _csv(PREDICTION_FIELDS + tuple(columns),
                ({**r, **{c: f"{p:.6f}" for c, p in zip(columns, proba[r["item"]])}} for r in rows))


REVIEW_FIELDS = ("item", "source", "label", "annotator", "predicted", "confidence", "p_label", "rechecked")


def review_rows(store: ProjectStore, items, proba) -> list[dict]:
    """The labels a model fitted without them contradicts: each labeled item (``items``, with its out-of-fold
    class distribution ``proba``) whose most likely class is not its label, the least likely label first
    (``p_label``: the probability that model gives the label), with the annotator to ask. Labels a person gave
    again (``rechecked``: a relabel, e.g. kept or corrected on the page's check) come after the others."""
    import numpy as np

    labels = store.state().labels
    index = {c: k for k, c in enumerate(store.classes)}
    sources = store.sources()
    rows = []
    for item, p in zip(np.asarray(items).tolist(), np.asarray(proba, dtype=float)):
        lab = labels.get(item)
        if lab is None:  # undone while the review ran: nothing to check
            continue
        best = int(p.argmax())
        if store.classes[best] != lab.label:
            rows.append({"item": item, "source": sources[item], "label": lab.label, "annotator": lab.annotator,
                         "predicted": store.classes[best], "confidence": round(float(p[best]), 6),
                         "p_label": round(float(p[index[lab.label]]), 6), "rechecked": lab.kind == "relabel"})
    rows.sort(key=lambda r: (r["rechecked"], r["p_label"], -r["confidence"], r["item"]))
    return rows


def review_text(store: ProjectStore, rows: list[dict], reviewed: int, not_reviewed: int, fmt: str = "csv") -> str:
    """:func:`review_rows` as CSV, or as JSON with how many labels were and were not reviewed."""
    check_format(fmt)
    if fmt == "json":
        return json.dumps({"classes": store.classes, "reviewed": int(reviewed), "not_reviewed": int(not_reviewed),
                           "suspects": rows}, indent=1) + "\n"
    return _csv(REVIEW_FIELDS, rows)


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
