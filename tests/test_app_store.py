"""The project database: events are the truth, the label state is derived from them."""

import sqlite3

import pytest

from latal.app.store import LabelState, ProjectError, ProjectStore, UnknownItemError
from latal.exceptions import LabelError

from app_helpers import CLASSES


def test_label_relabel_skip_undo_fold_into_the_state(store):
    e1 = store.append("label", 3, "ann", "cat")
    store.append("relabel", 3, "ann", "dog")
    store.append("skip", 4, "bob")
    st = store.state()
    assert st.labels[3].label == "dog" and st.skipped == {4}
    last = st.last_undoable("ann")
    store.append("undo", last.item, "ann", target=last.id)
    st = store.state()
    assert st.labels[3].label == "cat" and st.labels[3].event == e1.id  # the older label stands again
    store.append("undo", 3, "ann", target=st.last_undoable("ann").id)
    st = store.state()
    assert 3 not in st.labels and st.last_undoable("ann") is None
    assert st.last_undoable("bob").item == 4  # undo is per annotator


def test_state_is_incremental_and_equals_a_full_replay(store):
    state = LabelState()
    for i in range(20):
        store.append("label", i, "a", CLASSES[i % 3])
        state.apply(store.events(state.last_event))
    store.append("undo", 19, "a", target=state.last_undoable("a").id)
    state.apply(store.events(state.last_event))
    full = store.state()
    assert {k: v.label for k, v in state.labels.items()} == {k: v.label for k, v in full.labels.items()}
    assert 19 not in full.labels and len(full.labels) == 19


def test_bad_events_are_refused_before_anything_is_written(store):
    with pytest.raises(LabelError, match="unknown class 'fish'"):
        store.append("label", 1, "a", "fish")
    with pytest.raises(UnknownItemError, match="unknown item 240"):
        store.append("label", 240, "a", "cat")
    with pytest.raises(LabelError, match="annotator"):
        store.append("label", 1, "  ", "cat")
    with pytest.raises(LabelError):
        store.append_many([("label", 1, "a", "cat"), ("label", 2, "a", "fish")])
    assert store.events() == []


def test_reopening_keeps_everything(tmp_path):
    path = tmp_path / "p.sqlite"
    s = ProjectStore.create(path, ["a.png", "b.png", "c.png"], {"classes": ["x", "y"]})
    s.append("label", 2, "ann", "y")
    s.save_queue(0, [0, 1], [2], {"n_labels": 0})
    s.close()
    s = ProjectStore.open(path)
    assert s.classes == ["x", "y"] and s.n_items == 3 and s.source(1) == "b.png"
    assert s.state().labels[2].label == "y"
    assert s.latest_queue() == (0, [0, 1], [2])
    assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ProjectError, match="exists already"):
        ProjectStore.create(path, ["a"], {"classes": ["x", "y"]})


def test_open_refuses_what_is_not_a_project(tmp_path):
    with pytest.raises(ProjectError, match="no labeling project"):
        ProjectStore.open(tmp_path / "missing.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ProjectError, match="not a latal project"):
        ProjectStore.open(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    with pytest.raises(ProjectError, match="missing"):
        ProjectStore.open(other)


def test_a_second_writer_is_seen_by_sync(store):
    other = ProjectStore.open(store.path)
    other.append("label", 7, "import", "bird")
    other.close()
    assert store.state().labels[7].label == "bird"
