"""The web application: routes, validation, token, Host check, image route. Bad requests change nothing."""

import json

import pytest

from app_helpers import running as started
from latal.app.project import ImageSource
from latal.app.server import create_app, shortcuts
from latal.data.dataset import Dataset


class Images:
    """Stands in for ImageSource: a tiny PNG per item."""

    def __init__(self, n):
        import numpy as np

        ds = Dataset("t", (np.arange(n * 16).reshape(n, 4, 4) % 255).astype("uint8"), None, [])
        self.src = ImageSource(ds, [str(i) for i in range(n)], {"kind": "dataset"})

    def get(self, item):
        return self.src.get(item)


@pytest.fixture
def running(store):
    with started(store) as s:
        yield s


def client_for(session, **kw):
    app = create_app(session, Images(session.store.n_items), **kw)
    app.testing = True
    return app.test_client()


def n_events(session):
    return len(session.store.events())


def test_label_flow_through_http(running):
    c = client_for(running)
    assert c.get("/").status_code == 200 and b"latal" in c.get("/").data
    proj = c.get("/api/project").get_json()
    assert [x["name"] for x in proj["classes"]] == ["cat", "dog", "bird"]
    items = c.get("/api/next?client=t1").get_json()["items"]
    r = c.post("/api/label", json={"item": items[0]["id"], "label": "dog", "annotator": "ann", "client": "t1"})
    assert r.status_code == 200 and r.get_json()["kind"] == "label"
    assert running.store.state().labels[items[0]["id"]].label == "dog"
    p = c.get("/api/progress").get_json()
    assert p["labels"] == 1 and p["per_class"]["dog"] == 1
    img = c.get(f"/api/items/{items[0]['id']}/image")
    assert img.status_code == 200 and img.mimetype == "image/png" and img.data[:4] == b"\x89PNG"
    csv = c.get("/api/export?format=csv").get_data(as_text=True)
    assert csv.splitlines()[0] == "item,source,label,annotator,time,audit" and f"{items[0]['id']}," in csv
    u = c.post("/api/undo", json={"annotator": "ann", "client": "t1"})
    assert u.status_code == 200 and u.get_json()["item"]["label"] is None
    h = c.get("/api/history?format=json")
    assert h.status_code == 200 and "history.json" in h.headers["Content-Disposition"]
    assert [(e["kind"], e["undone"]) for e in h.get_json()["events"]] == [("label", True), ("undo", False)]
    assert c.get("/api/history?format=xml").status_code == 400


@pytest.mark.parametrize("body, status, message", [
    ({"item": 1, "label": "fish", "annotator": "a"}, 400, "unknown class 'fish'"),
    ({"item": 99999, "label": "cat", "annotator": "a"}, 404, "unknown item 99999"),
    ({"item": -1, "label": "cat", "annotator": "a"}, 404, "unknown item -1"),
    ({"item": "1", "label": "cat", "annotator": "a"}, 400, "integer item id"),
    ({"item": True, "label": "cat", "annotator": "a"}, 400, "integer item id"),
    ({"label": "cat"}, 400, "needs \"item\""),
    ({"item": 1, "label": "cat", "annotator": ""}, 400, "annotator"),
    ({"item": 1, "label": "cat", "client": "../../x"}, 400, "client must be"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_label_requests_are_rejected_and_change_nothing(running, body, status, message):
    c = client_for(running)
    before = n_events(running)
    r = c.post("/api/label", data=json.dumps(body), content_type="application/json")
    assert r.status_code == status and message in r.get_json()["error"]
    assert n_events(running) == before


def test_malformed_json_and_wrong_methods(running):
    c = client_for(running)
    before = n_events(running)
    r = c.post("/api/label", data="{not json", content_type="application/json")
    assert r.status_code == 400 and "JSON object" in r.get_json()["error"]
    assert c.post("/api/skip", data="", content_type="application/json").status_code == 400
    assert c.get("/api/label").status_code == 405
    assert c.post("/api/undo", json={"annotator": "nobody"}).status_code == 409
    assert c.post("/api/label", data="x" * 100_000, content_type="application/json").status_code == 413
    assert n_events(running) == before


@pytest.mark.parametrize("path", [
    "/api/items/../../etc/passwd", "/api/items/..%2F..%2Fetc%2Fpasswd/image", "/api/items/%2e%2e/image",
    "/api/items/-1/image", "/api/items/1e3/image", "/api/items/99999/image", "/static/../store.py",
    "/static/..%2Fstore.py", "/api/items/0/image/../../../../etc/passwd",
])
def test_image_route_serves_item_ids_only(running, path):
    c = client_for(running)
    r = c.get(path)
    assert r.status_code in (400, 404)
    assert b"root:" not in r.data and b"import" not in r.data


def test_token_is_required_when_given(running):
    c = client_for(running, token="s3cret", host="0.0.0.0")
    before = n_events(running)
    for method, path, body in [("get", "/", None), ("get", "/api/progress", None), ("get", "/api/items/0/image", None),
                               ("post", "/api/label", {"item": 0, "label": "cat", "annotator": "a"})]:
        r = getattr(c, method)(path, json=body) if body else getattr(c, method)(path)
        assert r.status_code == 401 and "token" in r.get_json()["error"]
    assert c.post("/api/label", json={"item": 0, "label": "cat"}, headers={"X-Latal-Token": "wrong"}).status_code == 401
    assert n_events(running) == before
    ok = c.post("/api/label", json={"item": 0, "label": "cat", "annotator": "a"}, headers={"X-Latal-Token": "s3cret"})
    assert ok.status_code == 200
    page = c.get("/?token=s3cret")  # the printed address sets a cookie that images and beacons carry
    assert page.status_code == 200 and "latal_token=s3cret" in page.headers["Set-Cookie"]
    assert "HttpOnly" in page.headers["Set-Cookie"]
    assert c.get("/api/items/0/image").status_code == 200


def test_loopback_server_refuses_foreign_host_names(running):
    c = client_for(running, host="127.0.0.1")
    assert c.get("/api/progress", headers={"Host": "127.0.0.1:8765"}).status_code == 200
    assert c.get("/api/progress", headers={"Host": "localhost:8765"}).status_code == 200
    r = c.post("/api/label", json={"item": 0, "label": "cat"}, headers={"Host": "attacker.example:8765"})
    assert r.status_code == 403 and running.store.events() == []


def test_shortcuts_keep_one_key_names_and_number_the_rest():
    assert shortcuts(["0", "1", "9"]) == {"0": "0", "1": "1", "9": "9"}
    assert shortcuts(["cat", "dog", "bird"]) == {"cat": "1", "dog": "2", "bird": "3"}
    keys = shortcuts(["a", "1", "cat", "dog"])
    assert keys == {"a": "a", "1": "1", "cat": "2", "dog": "3"}
    many = shortcuts([f"class{i}" for i in range(40)])
    assert len({k for k in many.values() if k}) == 35 and list(many.values())[-1] is None
    assert " " not in many.values()


def test_predictions_download_uses_the_last_model(running):
    """The page's "predictions" link: every item's class from the learner the last round fitted; before any
    model, a 409 that says when there will be one."""
    import csv as csvmod
    import io

    from app_helpers import truth

    c = client_for(running)
    r = c.get("/api/predictions")
    assert r.status_code == 409 and "no model is fitted yet" in r.get_json()["error"]
    for it in c.get("/api/next?client=t1").get_json()["items"]:
        c.post("/api/label", json={"item": it["id"], "label": truth(it["id"]), "annotator": "ann", "client": "t1"})
    assert running.wait_idle(30) and running.model_labels == 10
    r = c.get("/api/predictions?format=csv")
    assert r.status_code == 200 and r.headers["X-Latal-Labels-Used"] == "10"
    assert "predictions.csv" in r.headers["Content-Disposition"]
    rows = list(csvmod.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [int(x["item"]) for x in rows] == list(range(running.store.n_items))
    assert sum(x["predicted"] == truth(int(x["item"])) for x in rows) / len(rows) > 0.9  # three separated blobs
    assert sum(1 for x in rows if x["label"]) == 10
    data = c.get("/api/predictions?format=json&min_confidence=0.99").get_json()
    assert data["labels_used"] == 10 and data["classes"] == ["cat", "dog", "bird"]
    assert all(x["confidence"] >= 0.99 or x["label"] for x in data["items"])
    assert all(abs(sum(x["probabilities"]) - 1) < 1e-4 for x in data["items"])
    for query, message in (("format=xml", "unknown export format"), ("min_confidence=2", "[0, 1]"),
                           ("min_confidence=abc", "must be a number"), ("min_confidence=nan", "[0, 1]")):
        r = c.get(f"/api/predictions?{query}")
        assert r.status_code == 400 and message in r.get_json()["error"]


def test_checking_the_labels_runs_in_the_background_and_follows_the_relabels(running):
    """The page's "check labels": POST starts the out-of-fold review (202), GET reports it; the wrong labels are
    listed, least likely first, and a relabel made since shows who checked it and the label it has now."""
    import time

    from app_helpers import CLASSES, truth

    c = client_for(running)
    r = c.get("/api/review")
    assert r.status_code == 200 and r.get_json() == {"status": "idle"}
    items = list(range(0, 240, 4))[:60]  # 60 labels over the three blobs
    wrong = items[:4]
    for i in items:
        label = CLASSES[(CLASSES.index(truth(i)) + 1) % 3] if i in wrong else truth(i)
        assert c.post("/api/label", json={"item": i, "label": label, "annotator": "sloppy" if i in wrong else "ann"}
                      ).status_code == 200
    for body, message in (({"folds": 1}, "at least 2 folds"), ({"folds": "5"}, "folds must be an integer")):
        r = c.post("/api/review", json=body)
        assert r.status_code == 400 and message in r.get_json()["error"]
    r = c.post("/api/review", json={"folds": 3})
    assert r.status_code == 202 and r.get_json()["status"] in ("running", "done") and r.get_json()["labels"] == 60
    deadline = time.monotonic() + 30
    while (status := c.get("/api/review").get_json())["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status["status"] == "done" and status["reviewed"] == 60 and status["not_reviewed"] == 0 and status["folds_done"] == 3
    suspects = status["suspects"]
    assert {s["item"] for s in suspects[:4]} == set(wrong)  # the wrong labels first
    assert all(s["annotator"] == "sloppy" and s["predicted"] == truth(s["item"]) for s in suspects[:4])
    assert all(s["checked_by"] is None and s["now"] == s["label"] != s["predicted"] and not s["rechecked"]
               for s in suspects)
    p = [s["p_label"] for s in suspects]
    assert p == sorted(p)
    # one relabeled on the page, one kept (a relabel with the same class); both now say who checked them
    fixed, kept = suspects[0]["item"], suspects[1]["item"]
    assert c.post("/api/label", json={"item": fixed, "label": truth(fixed), "annotator": "ann"}).get_json()["kind"] \
        == "relabel"
    c.post("/api/label", json={"item": kept, "label": suspects[1]["label"], "annotator": "boss"})
    after = {s["item"]: s for s in c.get("/api/review").get_json()["suspects"]}
    assert after[fixed]["now"] == truth(fixed) and after[fixed]["checked_by"] == "ann"
    assert after[kept]["now"] == suspects[1]["label"] and after[kept]["checked_by"] == "boss"
    assert all(after[i]["checked_by"] is None for i in set(wrong) - {fixed, kept})
    assert c.get("/api/progress").get_json()["labels"] == 60  # relabels use no budget
    # undoing the relabel shows the item as it was given again
    c.post("/api/undo", json={"annotator": "ann"})
    after = {s["item"]: s for s in c.get("/api/review").get_json()["suspects"]}
    assert after[fixed]["now"] == after[fixed]["label"] and after[fixed]["checked_by"] is None
    # a new check sees the corrected labels: the relabel stands again and is no longer contradicted
    c.post("/api/label", json={"item": fixed, "label": truth(fixed), "annotator": "ann"})
    c.post("/api/review", json={})
    deadline = time.monotonic() + 30
    while (status := c.get("/api/review").get_json())["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status["folds"] == 5 and fixed not in {s["item"] for s in status["suspects"]}
    rows = status["suspects"]
    assert rows[-1]["item"] == kept and rows[-1]["rechecked"]  # kept as given: still contradicted, listed last
    assert not any(s["rechecked"] for s in rows[:-1]) and rows[-1]["checked_by"] is None  # (not since this check)


def test_checking_the_labels_says_why_it_cannot_yet(store):
    import time

    from app_helpers import make_session
    from latal.app.session import Conflict

    s = make_session(store)  # not started: the latent space is not prepared yet
    with pytest.raises(Conflict, match="still being prepared"):
        s.start_review()
    with started(store) as s:
        c = client_for(s)
        assert c.post("/api/review", json={}).status_code == 202
        deadline = time.monotonic() + 30
        while (status := c.get("/api/review").get_json())["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status["status"] == "error" and "nothing to review yet" in status["error"]


def test_more_like_this_lists_the_nearest_items_nobody_labeled(store):
    import numpy as np

    from app_helpers import make_session, truth

    s = make_session(store)  # not started: no latent space yet
    c = client_for(s)
    r = c.get("/api/items/3/similar")
    assert r.status_code == 409 and "still being prepared" in r.get_json()["error"]
    with started(store) as s:
        c = client_for(s)
        for i in (0, 3, 6):  # labeled and skipped items are not offered again
            c.post("/api/label", json={"item": i, "label": truth(i), "annotator": "ann"})
        c.post("/api/skip", json={"item": 9, "annotator": "ann"})
        r = c.get("/api/items/3/similar?k=10").get_json()
        assert r["item"]["id"] == 3 and r["item"]["label"] == truth(3)
        ids = [x["id"] for x in r["items"]]
        assert len(ids) == 10 and not {0, 3, 6, 9} & set(ids)
        d = np.square(s.mean[ids] - s.mean[3]).sum(axis=1)
        assert np.all(np.diff(d) >= 0)  # nearest first
        others = np.setdiff1d(np.arange(240), [0, 3, 6, 9, *ids])
        assert d.max() <= np.square(s.mean[others] - s.mean[3]).sum(axis=1).min()  # and the nearest of all
        assert sum(truth(i) == truth(3) for i in ids) >= 9  # three separated blobs: its own class
        assert len(c.get("/api/items/3/similar?k=500").get_json()["items"]) == 240 - 4
        for query, status, message in (("k=0", 400, "from 1 to 500"), ("k=x", 400, "from 1 to 500"),
                                       ("k=501", 400, "from 1 to 500")):
            r = c.get(f"/api/items/3/similar?{query}")
            assert r.status_code == status and message in r.get_json()["error"]
        assert c.get("/api/items/999/similar").status_code == 404
