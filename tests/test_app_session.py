"""The loop behind the page: leases, background rounds, reserve, budget, undo, resume, reproducibility."""

import threading
import time

import pytest

from app_helpers import CLASSES, FakeClock, make_session, running, truth
from latal.app.session import Conflict
from latal.app.store import ProjectStore
from latal.stopping import make_stopping


def label_all(session, items, annotator="ann", client="a"):
    for it in items:
        session.label(it["id"], truth(it["id"]), annotator, client)


def test_batches_follow_one_another_and_are_stored(store):
    with running(store) as s:
        first = s.next_items("a")
        assert first["status"] == "ok" and first["round"] == 0 and len(first["items"]) == 10
        label_all(s, first["items"])
        second = s.next_items("a", wait=10)
        assert second["round"] == 1 and not second["provisional"]
        assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
        assert store.latest_queue()[0] == 1 and store.latest_queue()[1] == [i["id"] for i in second["items"]]
        assert s.wait_idle(30)
        rec = store.rounds()[-1]
        assert rec["n_labels"] == 10 and rec["fit_seconds"] >= 0
        assert 0.0 <= rec["cv_accuracy"] <= 1.0 and rec["cv_folds"] in (2, 3)  # folds <= smallest class count
        assert 0 <= rec["cv_contradicted"] <= rec["cv_labels"] and (rec["cv_contradicted"] == 0) == (rec["cv_accuracy"] == 1)


def test_two_clients_get_different_items_and_leases_expire(store):
    clock = FakeClock()
    with running(store, clock=clock, lease_seconds=60, max_wait=0) as s:
        a = s.next_items("a", n=6)
        b = s.next_items("b", n=6)
        ids_a, ids_b = {i["id"] for i in a["items"]}, {i["id"] for i in b["items"]}
        assert len(ids_a) == 6 and not ids_a & ids_b
        assert len(ids_b) == 6  # 4 left in the batch, then 2 of the reserve
        assert len(ids_b & set(s.batch)) == 4 and len(ids_b & set(s.reserve)) == 2
        # asking again returns the same leased items (a reloaded tab)
        assert {i["id"] for i in s.next_items("a", n=6)["items"]} == ids_a
        clock.t += 61  # a's lease lapses: b may take those items
        c = s.next_items("c", n=10)
        assert ids_a <= {i["id"] for i in c["items"]} | ids_b


def test_reserve_keeps_people_busy_while_the_model_trains(store):
    with running(store, max_wait=0.05) as s:
        first = s.next_items("a")
        gate = threading.Event()
        fit = s._fit
        s._fit = lambda view, seed: (gate.wait(10), fit(view, seed))[1]  # a slow model
        label_all(s, first["items"])
        t = time.perf_counter()
        r = s.next_items("a")
        assert time.perf_counter() - t < 2
        assert r["status"] == "ok" and r["provisional"] and r["round"] == 0
        assert set(i["id"] for i in r["items"]) <= set(s.reserve)
        gate.set()
        assert s.wait_idle(30) and s.round == 1


def test_undo_brings_the_item_back_and_skips_leave_the_selection(store):
    with running(store) as s:
        items = [i["id"] for i in s.next_items("a")["items"]]
        s.label(items[0], "cat", "ann", "a")
        s.skip(items[1], "ann", "a")
        r = s.undo("ann", "a")
        assert r["item"]["id"] == items[1] and r["undone"]["kind"] == "skip" and not r["item"]["skipped"]
        r = s.undo("ann", "a")
        assert r["item"] == {"id": items[0], "label": None, "skipped": False}
        with pytest.raises(Conflict, match="nothing to undo"):
            s.undo("ann", "a")
        s.skip(items[1], "ann", "a")
        for i in items[2:] + [items[0]]:
            s.label(i, truth(i), "ann", "a")
        nxt = s.next_items("a", wait=10)
        assert nxt["round"] == 1 and items[1] not in {i["id"] for i in nxt["items"]}
        assert items[1] in store.state().skipped


def test_budget_stops_new_labels_but_not_relabels(store):
    with running(store, budget=12) as s:
        label_all(s, s.next_items("a")["items"])
        more = s.next_items("a", wait=10)
        assert len(more["items"]) == 2  # 12 - 10
        label_all(s, more["items"])
        assert s.next_items("a", wait=0)["status"] == "budget_reached"
        fresh = next(i for i in range(240) if i not in store.state().labels)
        with pytest.raises(Conflict, match="budget of 12"):
            s.label(fresh, "cat", "ann")
        done = next(iter(store.state().labels))
        assert s.label(done, "bird", "ann")["kind"] == "relabel"
        assert len(store.state().labels) == 12


def test_resume_shows_the_same_batch_and_keeps_labels(tmp_path):
    path = tmp_path / "p.sqlite"
    store = ProjectStore.create(path, [str(i) for i in range(240)], {"classes": CLASSES})
    s = make_session(store).start()
    assert s.wait_idle(30)
    label_all(s, s.next_items("a")["items"])
    batch = [i["id"] for i in s.next_items("a", wait=10)["items"]]
    s.label(batch[0], truth(batch[0]), "ann", "a")
    assert s.wait_idle(30)
    s.close()
    store.close()
    store = ProjectStore.open(path)
    with running(store) as s:
        assert s.round == 1 and len(store.state().labels) == 11
        again = [i["id"] for i in s.next_items("b")["items"]]
        assert again == batch[1:]
        store.close()


def test_same_seed_same_queries(tmp_path):
    runs = []
    for k in range(2):
        store = ProjectStore.create(tmp_path / f"p{k}.sqlite", [str(i) for i in range(240)], {"classes": CLASSES})
        s = make_session(store, seed=3).start()
        assert s.wait_idle(30)
        seen = []
        for _ in range(3):
            items = s.next_items("a", wait=10)["items"]
            seen.append([i["id"] for i in items])
            label_all(s, items)
        s.close()
        store.close()
        runs.append(seen)
    assert runs[0] == runs[1]


def test_stopping_criterion_is_reported(store):
    with running(store, stopping=[make_stopping("budget:labels=20")]) as s:
        for _ in range(2):
            label_all(s, s.next_items("a", wait=10)["items"])
        assert s.wait_idle(30)
        p = s.progress()
        assert p["stopped"] == {"budget": 20}
        assert p["stopping"]["budget"]["fired"] is True


@pytest.mark.parametrize("initial", ["kmeans", "typiclust", "probcover", "maxherding", "maxherding:density_power=1"])
def test_a_strategy_that_needs_latents_picks_the_first_batch_once_they_exist(store, initial):
    with running(store, initial=initial) as s:
        first = s.next_items("a")
        assert first["round"] == 0 and len(first["items"]) == 10
        labels = [truth(i["id"]) for i in first["items"]]
        assert len(set(labels)) == 3  # the cold-start picks cover the three blobs


def test_initial_strategy_that_needs_labels_is_refused(store):
    with pytest.raises(Exception, match="needs labels"):
        make_session(store, initial="margin")


@pytest.mark.parametrize("learner", ["label_spreading", "poisson", "mlp:epochs=3"])
def test_pool_aware_and_torch_learners_run_behind_the_page(store, learner):
    from latal.learners.base import pool_proba

    with running(store, learner=learner, timeout=60) as s:
        first = s.next_items("a")["items"]
        assert not any("guess" in it for it in first)  # the random first batch: no model has seen a label
        label_all(s, first)
        nxt = s.next_items("a", wait=30)
        assert nxt["round"] == 1 and len(nxt["items"]) == 10 and not s.error
        assert s.wait_idle(60) and store.rounds()[-1]["cv_accuracy"] is not None
        # each item comes with the guess of the model that chose it: its most likely class and probability
        ids = [it["id"] for it in nxt["items"]]
        proba = pool_proba(s.model, s.mean, items=ids)
        assert [it["guess"]["label"] for it in nxt["items"]] == [CLASSES[c] for c in proba.argmax(1)]
        assert [it["guess"]["confidence"] for it in nxt["items"]] == pytest.approx(proba.max(1), abs=1e-4)
        reserve = [s.item_info(i) for i in s.reserve]
        assert reserve and all(CLASSES.index(r["guess"]["label"]) >= 0 for r in reserve)
        s.label(ids[0], truth(ids[0]), "ann", "a")
        assert "guess" in s.item_info(ids[0])  # kept beside the label: the page hides it


def test_a_failing_round_is_reported_and_retried_on_the_next_label_only(store):
    with running(store) as s:
        calls = []
        fit = s._fit

        def broken(view, seed):
            calls.append(seed)
            raise RuntimeError("out of memory")

        s._fit = broken
        items = s.next_items("a")["items"]
        label_all(s, items)
        assert s.wait_idle(30)
        time.sleep(0.3)
        assert len(calls) == 1 and "round 1 failed: out of memory" in s.progress()["error"]
        assert len(store.state().labels) == 10  # the labels are safe whatever the model does
        s._fit = fit
        s.label(items[0]["id"], truth(items[0]["id"]), "ann", "a")  # a relabel: a new event, a new try
        assert s.wait_idle(30) and s.round == 1 and s.progress()["error"] is None


def test_a_request_during_a_retrain_does_not_queue_a_second_round(store):
    """While round 1 trains, the finished batch of round 0 must not ask for yet another round: that round
    would replace the batch on disk that the page already shows (seen in CI: a resumed page got a batch
    nobody had been shown)."""
    with running(store) as s:
        first = s.next_items("a")
        gate, started = threading.Event(), threading.Event()
        fit = s._fit
        s._fit = lambda view, seed: (started.set(), gate.wait(10), fit(view, seed))[2]
        label_all(s, first["items"])
        assert started.wait(10)
        # another request folds in the same events while the worker is busy (a progress poll racing the label)
        with s._cond:
            s._maybe_request_round()
        s.sync()
        s.progress()
        gate.set()
        second = s.next_items("a", wait=10)
        assert s.wait_idle(30)
        assert s.round == 1 and second["round"] == 1
        assert [r["round"] for r in store.rounds()] == [0, 1]
        assert store.latest_queue()[1] == [i["id"] for i in second["items"]]


def test_the_cnn_student_trains_on_the_project_images_behind_the_page(store):
    """A learner that reads the images gets the project's images (in item order) at every retrain."""
    import numpy as np

    from latal.app.session import LabelingSession, SessionSettings
    from latal.learners import make_learner
    from latal.strategies import make_strategy

    mean, _ = __import__("app_helpers").blobs(store.n_items)
    rng = np.random.default_rng(0)
    images = rng.random((store.n_items, 8, 8)).astype(np.float32)
    images[np.arange(store.n_items), (np.arange(store.n_items) % 3) * 2, :] = 1.0  # a bar per class
    learner = make_learner("cnn_student", epochs=1, min_steps=50, width=8)
    s = LabelingSession(store, (mean, None), learner, make_strategy("margin"), make_strategy("random"),
                        settings=SessionSettings(batch=10, cv_folds=0, max_wait=5.0), inputs=images).start()
    try:
        assert s.wait_idle(30)
        label_all(s, s.next_items("a")["items"])
        nxt = s.next_items("a", wait=60)
        assert nxt["round"] == 1 and len(nxt["items"]) == 10 and not s.error
        assert s.wait_idle(60)
        # its guesses come from the student's own view of each item's image
        ids = [it["id"] for it in nxt["items"]]
        best = s.model.predict_proba(mean[ids], inputs=images[ids]).argmax(1)
        assert [it["guess"]["label"] for it in nxt["items"]] == [CLASSES[c] for c in best]
    finally:
        s.close()


def test_the_learner_reads_its_own_latents_while_strategies_choose_in_the_pool_latents(store):
    """`learn_on` behind the page: with a third array the learner fits, predicts for margin sampling and the
    stopping criterion, and is cross-validated in it; the pool latents (here noise of another width) are
    only where strategies choose. Reading the wrong array would fail on the width or score near chance."""
    import numpy as np

    from app_helpers import blobs
    from latal.app.session import LabelingSession, SessionSettings
    from latal.learners import LEARNERS
    from latal.strategies import STRATEGIES

    separable, _ = blobs(store.n_items)
    noise = np.random.default_rng(1).normal(size=(store.n_items, 2)).astype(np.float32)

    def run(latents):
        s = LabelingSession(store, latents, LEARNERS.build("logistic"), STRATEGIES.build("margin"),
                            STRATEGIES.build("random"), stopping=[make_stopping("stabilizing")],
                            settings=SessionSettings(batch=10, cv_folds=3, max_wait=5.0)).start()
        try:
            assert s.wait_idle(30)
            for _ in range(2):
                label_all(s, s.next_items("a", wait=10)["items"])
            assert s.wait_idle(30) and s.error is None
            return store.rounds()[-1]
        finally:
            s.close()

    rec = run((noise, None, separable))
    assert rec["n_labels"] == 20 and rec["cv_accuracy"] >= 0.9 and "stabilizing" in rec["stopping"]


def test_the_learner_latents_must_have_a_row_per_item(store):
    from app_helpers import blobs
    from latal.app.session import LabelingSession, SessionSettings
    from latal.learners import LEARNERS
    from latal.strategies import STRATEGIES

    mean, _ = blobs(store.n_items)
    s = LabelingSession(store, (mean, None, mean[:5]), LEARNERS.build("logistic"), STRATEGIES.build("margin"),
                        STRATEGIES.build("random"), settings=SessionSettings(batch=10)).start()
    try:
        s.wait_idle(10)
        assert "the learner's latents have 5 rows" in s.progress()["error"]
        assert s.next_items("a")["items"]  # the random first batch is still there to label
    finally:
        s.close()


def test_a_project_can_label_blind_to_the_model(store):
    """`--guesses off`: the rounds run as before, and no item carries the model's guess."""
    with running(store, guesses=False) as s:
        label_all(s, s.next_items("a")["items"])
        nxt = s.next_items("a", wait=30)
        assert nxt["round"] == 1 and s.model is not None and not s.error
        assert s.wait_idle(30) and not any("guess" in it for it in nxt["items"]) and not s.guesses


def test_imported_labels_are_used_at_once(tmp_path):
    """Labels imported before the page opens choose its first batch (no random start), and labels imported while
    it runs (another process: `latal import`) bring the next round without waiting for the batch."""
    path = tmp_path / "p.sqlite"
    store = ProjectStore.create(path, [str(i) for i in range(240)], {"classes": CLASSES})
    store.append_many([("import", i, "file", truth(i)) for i in range(0, 60, 2)])
    with running(store) as s:
        assert s.round == 0 and store.rounds()[0]["n_labels"] == 30
        assert store.rounds()[0]["strategy"] == repr(s.strategy) and s.model_labels == 30
        first = [i["id"] for i in s.next_items("a")["items"]]
        assert not set(first) & set(range(0, 60, 2))
        other = ProjectStore.open(path)  # another process imports 20 more
        other.append_many([("import", i, "file", truth(i)) for i in range(100, 140, 2)])
        other.close()
        s.sync()
        assert s.wait_idle(30) and s.round == 1 and store.rounds()[1]["n_labels"] == 50 and s.model_labels == 50
        s.label(first[0], truth(first[0]), "ann", "a")  # a label of the page's own: no round until the batch is done
        assert s.wait_idle(30) and s.round == 1
        other = ProjectStore.open(path)  # corrections imported over existing labels refit too (no new label)
        other.append_many([("import", i, "file", CLASSES[(CLASSES.index(truth(i)) + 1) % 3]) for i in (100, 102)])
        other.close()
        s.sync()
        assert s.wait_idle(30) and s.round == 2 and store.rounds()[2]["n_labels"] == 51
    store.close()
    store = ProjectStore.open(path)  # imported while closed: the reopened page starts from them too
    store.append_many([("import", i, "file", truth(i)) for i in range(200, 210)])
    with running(store) as s:
        assert s.round == 3 and store.rounds()[3]["n_labels"] == 61
    store.close()


def test_audit_items_are_drawn_at_random_held_out_and_scored(tmp_path):
    """--audit: a share of each batch after the first is drawn uniformly, shown without the model's guess, kept out
    of the rounds' training and queries, and scores the model (with a Wilson interval); it survives a restart and
    the final refit uses every label."""
    path = tmp_path / "p.sqlite"
    store = ProjectStore.create(path, [str(i) for i in range(240)], {"classes": CLASSES})
    s = make_session(store, audit=0.3, seed=1).start()
    assert s.wait_idle(30)
    first = s.next_items("a")["items"]
    label_all(s, first)
    assert store.rounds()[0].get("audit") is None  # the first batch trains the first model
    audit = set()
    for _ in range(3):
        got = s.next_items("a", wait=10)
        assert s.wait_idle(30)
        rec = store.rounds()[-1]
        drawn = set(rec["audit"])
        ids = {i["id"] for i in got["items"]}
        assert 2 <= len(drawn) <= 4 and drawn <= ids  # 0.3 of 10 rounds to 3 on average
        assert rec["n_train"] == rec["n_labels"] - len(audit)  # the labeled audit items are held out
        for it in got["items"]:
            assert ("guess" in it) == (it["id"] not in drawn)  # no guess to lean on for an audit item
        audit |= drawn
        label_all(s, got["items"])
    assert s.wait_idle(30)
    rec = store.rounds()[-1]
    assert rec["audit_labels"] == len(audit) and rec["n_train"] == 40 - len(audit)
    assert rec["audit_low"] <= rec["audit_accuracy"] <= rec["audit_high"]
    assert rec["audit_accuracy"] * len(audit) == pytest.approx(round(rec["audit_accuracy"] * len(audit)))
    assert s.model_labels == rec["n_train"]
    assert not audit & set(rec["audit"])  # a new draw never repeats a labeled item
    _, used = s.predictions(refit=True)
    assert used == 40  # the final refit (latal export --predictions) learns from the audit items too
    rows = store.export_rows()
    assert {r["item"] for r in rows if r["audit"]} == audit and len(rows) == 40  # the test set, marked in the export
    s.close()
    store.close()
    store = ProjectStore.open(path)
    with running(store, seed=1) as again:  # resumed without --audit: no more draws, the test set stays
        assert audit <= again.audit_items
        label_all(again, again.next_items("a", wait=10)["items"])
        assert again.wait_idle(30)
        rec = store.rounds()[-1]
        held = again.audit_items & set(store.state().labels)  # with the draws of the batch served on resume
        assert len(held) > len(audit) and again.audit_items == store.audit_items()
        assert rec["audit"] == [] and rec["n_train"] == rec["n_labels"] - len(held) and rec["audit_labels"] == len(held)
        store.close()


def test_audit_queries_are_reproducible_and_off_by_default(tmp_path):
    runs = []
    for k in range(3):
        store = ProjectStore.create(tmp_path / f"p{k}.sqlite", [str(i) for i in range(240)], {"classes": CLASSES})
        s = make_session(store, seed=3, **({"audit": 0.2} if k < 2 else {})).start()
        assert s.wait_idle(30)
        for _ in range(3):
            label_all(s, s.next_items("a", wait=10)["items"])
        assert s.wait_idle(30)
        runs.append([r.get("audit") for r in store.rounds()])
        s.close()
        store.close()
    assert runs[0] == runs[1] and sum(map(len, runs[0][1:])) >= 4
    assert all(not a for a in runs[2])


def test_wilson_interval():
    from latal.stopping import wilson_interval

    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(45, 50) == pytest.approx((0.7864, 0.9565), abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


@pytest.mark.parametrize("audit", [-0.1, 1.0, float("nan"), True])
def test_a_bad_audit_share_is_refused(audit):
    from latal.app.session import SessionSettings

    with pytest.raises(ValueError, match="audit"):
        SessionSettings(audit=audit)


def test_the_accuracy_criterion_fires_on_the_audit_estimate(store):
    """--stop accuracy: fires once the audit items' 95 % lower bound reaches the target; the page's banner count is
    every label, the audit ones too."""
    with running(store, audit=0.5, seed=2, stopping=[make_stopping("accuracy:target=0.6"),
                                                     make_stopping("budget:labels=30")]) as s:
        for _ in range(4):
            label_all(s, s.next_items("a", wait=10)["items"])
            assert s.wait_idle(30)
        rec = store.rounds()[-1]
        low = rec["stopping"]["accuracy"]["value"]
        assert low == pytest.approx(rec["audit_low"]) and rec["audit_labels"] >= 10
        assert rec["stopping"]["accuracy"]["fired"] == (low >= 0.6)
        assert s.stopped.get("accuracy") in {r["n_labels"] for r in store.rounds()}  # the blobs are easy: it fired
        assert s.stopped["budget"] == 30  # every label counts, the audit ones too (the model trained on fewer)
        assert next(r for r in store.rounds() if r["n_labels"] == 30)["n_train"] < 30
