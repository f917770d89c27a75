"""latal export / latal import, and latal label's project handling through the command line."""

import csv
import io
import json

import pytest

from latal.app.store import ProjectError, ProjectStore
from latal.app.transfer import export_text, import_labels
from latal.cli import main
from latal.exceptions import DataError


def test_export_csv_and_json(store):
    store.append("label", 5, "ann", "cat")
    store.append("label", 2, "bob", "dog")
    store.append("relabel", 5, "ann", "bird")
    rows = list(csv.DictReader(io.StringIO(export_text(store, "csv"))))
    assert [(r["item"], r["source"], r["label"], r["annotator"]) for r in rows] == [
        ("2", "img/0002.png", "dog", "bob"), ("5", "img/0005.png", "bird", "ann")]
    assert rows[0]["time"].endswith("Z")
    data = json.loads(export_text(store, "json"))
    assert data["classes"] == ["cat", "dog", "bird"] and data["labels"][1]["label"] == "bird"


def test_import_by_id_and_source_round_trips(store, tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("item,label\n3,cat\n4,dog\n")
    assert import_labels(store, f)["imported"] == 2
    g = tmp_path / "in.json"
    g.write_text(json.dumps({"img/0007.png": "bird", "img/0003.png": "cat"}))
    counts = import_labels(store, g, annotator="legacy")
    assert counts == {"imported": 1, "unchanged": 1, "conflicts_kept": 0, "rows": 2}
    st = store.state()
    assert {i: st.labels[i].label for i in st.labels} == {3: "cat", 4: "dog", 7: "bird"}
    assert st.labels[7].annotator == "legacy"
    # an export is itself importable into a fresh project
    out = tmp_path / "out.json"
    out.write_text(export_text(store, "json"))
    other = ProjectStore.create(tmp_path / "o.sqlite", store.sources(), store.config)
    assert import_labels(other, out)["imported"] == 3


def test_conflicts_are_kept_unless_overwrite(store, tmp_path):
    store.append("label", 3, "ann", "cat")
    f = tmp_path / "in.csv"
    f.write_text("item,label\n3,dog\n")
    assert import_labels(store, f)["conflicts_kept"] == 1 and store.state().labels[3].label == "cat"
    assert import_labels(store, f, overwrite=True)["imported"] == 1 and store.state().labels[3].label == "dog"


@pytest.mark.parametrize("text, message", [
    ("item,label\n3,cat\n4,fish\n", "row 3: unknown class 'fish'"),
    ("item,label\n3,cat\n999,dog\n", "row 3: unknown item 999"),
    ("source,label\nnope.png,dog\n", "no item has the source 'nope.png'"),
    ("item,label\n3,cat\n3,dog\n", "two labels"),
    ("item,name\n3,cat\n", "'label' column"),
    ("item,label\nabc,cat\n", "not an item id"),
])
def test_bad_import_files_import_nothing(store, tmp_path, text, message):
    f = tmp_path / "in.csv"
    f.write_text(text)
    with pytest.raises(DataError, match=message):
        import_labels(store, f)
    assert store.events() == []


def test_cli_label_init_import_export(tmp_path, capsys):
    db = tmp_path / "digits.sqlite"
    assert main(["label", "--db", str(db), "--init-only"]) == 0
    assert "created" in capsys.readouterr().out
    f = tmp_path / "known.csv"
    f.write_text("source,label\ndigits:train:0,0\ndigits:train:1,1\n")
    assert main(["import", str(f), "--db", str(db)]) == 0
    assert "imported 2 labels" in capsys.readouterr().out
    out = tmp_path / "labels.csv"
    assert main(["export", "--db", str(db), "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["source"], r["label"], r["annotator"]) for r in rows] == [("digits:train:0", "0", "import"),
                                                                          ("digits:train:1", "1", "import")]
    # resuming checks the command line against the project
    assert main(["label", "--db", str(db), "--init-only", "--batch", "50"]) == 0
    assert "resumed" in capsys.readouterr().out and ProjectStore.open(db).config["batch"] == 50
    assert main(["label", "--db", str(db), "--init-only", "--classes", "a,b"]) == 2
    assert "cannot be renamed, reordered or removed" in capsys.readouterr().err
    assert main(["label", "--db", str(db), "--init-only", "--classes", "1,0,2,3,4,5,6,7,8,9,other"]) == 2
    assert ProjectStore.open(db).config["classes"] == [str(d) for d in range(10)]  # refused: nothing changed
    capsys.readouterr()
    # a class found while labeling is added after the others; the labels keep theirs, the learner predicts it
    digits = ",".join(str(d) for d in range(10))
    assert main(["label", "--db", str(db), "--init-only", "--classes", digits + ",other"]) == 0
    assert "added classes: other" in capsys.readouterr().out
    assert ProjectStore.open(db).config["classes"][-1] == "other"
    g = tmp_path / "other.csv"
    g.write_text("item,label\n5,other\n6,other\n")
    assert main(["import", str(g), "--db", str(db)]) == 0
    pred = tmp_path / "pred.csv"
    assert main(["export", "--db", str(db), "--predictions", "--out", str(pred)]) == 0
    rows = list(csv.DictReader(pred.open()))
    assert "p_other" in rows[0] and {r["label"] for r in rows if r["label"]} == {"0", "1", "other"}
    assert main(["label", "--db", str(db), "--init-only", "--classes", digits + ",other"]) == 0  # same: a resume
    assert "added classes" not in capsys.readouterr().out
    assert main(["label", "--db", str(db), "--init-only", "--dataset", "mnist"]) == 2
    assert "not the dataset mnist" in capsys.readouterr().err


def test_cli_label_refuses_bad_options(tmp_path, capsys):
    assert main(["label", "--db", str(tmp_path / "a.sqlite"), "--classes", "a,,b", "--init-only"]) == 2
    assert "empty name" in capsys.readouterr().err
    assert main(["label", "--db", str(tmp_path / "b.sqlite"), "--budget", "5000", "--init-only"]) == 2
    assert "larger than the 1797 items" in capsys.readouterr().err and not (tmp_path / "b.sqlite").exists()
    assert main(["label", "--db", str(tmp_path / "c.sqlite"), "--strategy", "nope", "--init-only"]) == 2
    assert "nope" in capsys.readouterr().err
    for option, value, message in (("--batch", "0", "batch must be a positive integer"),
                                   ("--audit", "1.5", "audit is the share"), ("--audit", "nan", "audit is the share")):
        db = tmp_path / "d.sqlite"
        assert main(["label", "--db", str(db), option, value, "--init-only"]) == 2
        assert message in capsys.readouterr().err and not db.exists()  # refused before a project is created
    db = tmp_path / "e.sqlite"
    assert main(["label", "--db", str(db), "--audit", "0.1", "--init-only"]) == 0
    assert main(["label", "--db", str(db), "--audit", "1", "--init-only"]) == 2  # nor is one changed
    assert ProjectStore.open(db).config["audit"] == 0.1
    assert main(["export", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no labeling project" in capsys.readouterr().err


def test_image_folder_project(tmp_path, capsys):
    from PIL import Image
    import numpy as np

    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (20, 24), dtype=np.uint8)).save(folder / f"p{i:02d}.png")
    db = tmp_path / "pics.sqlite"
    assert main(["label", "--images", str(folder), "--db", str(db), "--init-only"]) == 2
    assert "--classes" in capsys.readouterr().err
    assert main(["label", "--images", str(folder), "--classes", "yes,no", "--db", str(db), "--init-only",
                 "--encoder", "pca:n_components=4"]) == 0
    store = ProjectStore.open(db)
    assert store.n_items == 12 and store.source(0) == "p00.png" and store.classes == ["yes", "no"]
    from latal.app.project import ImageSource, load_source

    ds, sources = load_source(store.config["source"])
    data, mime = ImageSource(ds, sources, store.config["source"]).get(3)
    assert mime == "image/png" and data == (folder / "p03.png").read_bytes()  # the original file, by id
    (folder / "p03.png").unlink()
    with pytest.raises(ProjectError, match="changed since"):
        from latal.app.project import LabelSettings, open_or_create

        open_or_create(LabelSettings(db=str(db)))


def test_cli_label_takes_a_preset_and_learn_on(tmp_path, capsys):
    db = tmp_path / "p.sqlite"
    assert main(["label", "--db", str(db), "--init-only", "--preset", "label-efficient", "--encoder", "pca"]) == 0
    cfg = ProjectStore.open(db).config
    assert (cfg["encoder"], cfg["refine"], cfg["learner"], cfg["learn_on"], cfg["initial_strategy"]) == \
        ("pca", "umap", "poisson:class_priors=auto", "both", "maxherding")  # the option given wins over the preset's
    # a setting that cannot work creates no project, and changes nothing on resume
    bad = tmp_path / "bad.sqlite"
    assert main(["label", "--db", str(bad), "--init-only", "--learn-on", "latents"]) == 2
    assert "needs a refinement" in capsys.readouterr().err and not bad.exists()
    assert main(["label", "--db", str(db), "--init-only", "--refine", "none-such", "--learn-on", "latents"]) == 2
    assert "unknown latent refinement" in capsys.readouterr().err
    assert ProjectStore.open(db).config["refine"] == "umap"
    contrastive = tmp_path / "c.sqlite"
    assert main(["label", "--db", str(contrastive), "--init-only", "--preset", "label-efficient-contrastive"]) == 0
    cfg = ProjectStore.open(contrastive).config
    assert (cfg["encoder"], cfg["learn_on"], cfg["learn_weights"]) == \
        ("conv_vae:epochs=30+simclr:flip=True,epochs=10", "latents", [1.0, 1.73])
    assert cfg["guesses"] is True  # the model's guess on each item, unless asked otherwise
    assert main(["label", "--db", str(contrastive), "--init-only", "--guesses", "off"]) == 0
    assert ProjectStore.open(contrastive).config["guesses"] is False
    from latal.app.project import LabelSettings, build_session, open_or_create

    store, ds, sources, _ = open_or_create(LabelSettings(db=str(contrastive)))
    assert build_session(store, ds, sources)[0].settings.guesses is False
    store.close()
    assert main(["label", "--db", str(tmp_path / "q.sqlite"), "--init-only", "--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_a_project_learning_on_both_fits_one_learner_per_block(tmp_path):
    """`learn_on=both` in a project: the strategies choose in the UMAP latents, the learner is one learner on
    them and one on the encoder's latents (as `latal run` does), and its rounds run."""
    from latal.app.project import ImageSource, LabelSettings, build_session, open_or_create
    from latal.app.server import create_app
    from latal.learners.views import SummedViews

    values = {"encoder": "pca:n_components=8", "refine": "umap", "learner": "label_spreading", "learn_on": "both",
              "initial_strategy": "maxherding", "batch": 10, "cv_folds": 0}
    store, ds, sources, _ = open_or_create(LabelSettings(db=str(tmp_path / "b.sqlite"), values=values))
    session, _ = build_session(store, ds, sources)
    session.start()
    try:
        assert session.wait_idle(120), session.progress()
        assert session.mean.shape[1] == 10 and session.learner_mean.shape[1] == 18  # UMAP's 10, then PCA's 8
        first = session.next_items("a")["items"]
        for it in first:
            session.label(it["id"], str(ds.y[it["id"]]), "ann", "a")
        assert session.next_items("a", wait=60)["round"] == 1 and session.error is None
        assert isinstance(session.learner, SummedViews) and session.learner.split == 10
        app = create_app(session, ImageSource(ds, sources, store.config["source"]))
        app.testing = True
        proj = app.test_client().get("/api/project").get_json()  # the page says how items are chosen and learned
        assert (proj["refine"], proj["learn_on"], proj["initial_strategy"]) == ("umap", "both", "maxherding")
        assert proj["pipeline"] == ("maxherding, then margin, in umap of pca:n_components=8; "
                                    "learner label_spreading over both spaces")
    finally:
        session.close()
        store.close()


def test_a_project_weighs_a_stacks_parts_in_what_its_learner_reads(tmp_path, capsys):
    """--learn-weights in a project: stored as numbers, applied to the unrefined latents the learner reads (not
    to the UMAP the strategies choose in), shown on the page; weights that cannot apply create no project."""
    import numpy as np

    from latal.app.project import LabelSettings, build_session, open_or_create
    from latal.app.server import create_app

    db = tmp_path / "w.sqlite"
    args = ["label", "--db", str(db), "--init-only", "--encoder", "pca:n_components=8+pca:n_components=4",
            "--refine", "umap", "--learn-on", "latents", "--learner", "label_spreading", "--batch", "10",
            "--cv-folds", "0"]
    assert main([*args, "--learn-weights", "1,2,3"]) == 2
    assert "3 weights for the 2 parts" in capsys.readouterr().err and not db.exists()
    assert main([*args, "--learn-weights", "1,2"]) == 0
    assert ProjectStore.open(db).config["learn_weights"] == [1.0, 2.0]
    store, ds, sources, _ = open_or_create(LabelSettings(db=str(db)))
    session, images = build_session(store, ds, sources)
    session.start()
    try:
        assert session.wait_idle(120), session.progress()
        rows = session.learner_mean
        assert session.mean.shape[1] == 10 and rows.shape[1] == 12  # UMAP's 10; the two PCA parts, 8 + 4
        np.testing.assert_allclose(np.linalg.norm(rows[:, :8], axis=1), 1.0, rtol=1e-5)  # unit rows, weight 1
        np.testing.assert_allclose(np.linalg.norm(rows[:, 8:], axis=1), 2.0, rtol=1e-5)  # ... and weight 2
        app = create_app(session, images)
        app.testing = True
        assert app.test_client().get("/api/project").get_json()["pipeline"] == (
            "random, then margin, in umap of pca:n_components=8+pca:n_components=4; "
            "learner label_spreading over the encoder's latents (parts weighted 1,2)")
    finally:
        session.close()
        store.close()
    # another encoder on resume drops the weights given for the old stack (they would not fit it)
    assert main(["label", "--db", str(db), "--init-only", "--encoder", "pca:n_components=8"]) == 0
    assert ProjectStore.open(db).config["learn_weights"] is None


def test_cli_export_predictions_fits_the_learner_on_the_labels(tmp_path, capsys):
    """`latal export --predictions`: the project's learner fitted on its labels predicts every item; the same
    labels give the same file; unlabeled items below --min-confidence are left out, labeled ones never."""
    import numpy as np

    from latal.app.project import load_source

    db = tmp_path / "digits.sqlite"
    assert main(["label", "--db", str(db), "--init-only"]) == 0
    assert main(["export", "--db", str(db), "--predictions"]) == 2
    assert "no item is labeled yet" in capsys.readouterr().err
    store = ProjectStore.open(db)
    ds, sources = load_source(store.config["source"])
    store.close()
    known = np.random.default_rng(0).choice(len(sources), 50, replace=False)
    f = tmp_path / "known.csv"
    f.write_text("source,label\n" + "".join(f"{sources[i]},{ds.class_names[ds.y[i]]}\n" for i in known))
    assert main(["import", str(f), "--db", str(db)]) == 0
    out = tmp_path / "pred.csv"
    assert main(["export", "--db", str(db), "--predictions", "--out", str(out)]) == 0
    assert "fitted on 50 labels" in capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    assert [int(r["item"]) for r in rows] == list(range(len(sources))) and rows[0]["source"] == sources[0]
    truth = [ds.class_names[c] for c in ds.y]
    assert np.mean([r["predicted"] == truth[int(r["item"])] for r in rows]) > 0.75  # 81.7 % measured (PCA + MLP)
    assert {int(r["item"]) for r in rows if r["label"]} == set(known.tolist())
    probs = np.array([[float(r[f"p_{c}"]) for c in ds.class_names] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert np.allclose(probs.max(axis=1), [float(r["confidence"]) for r in rows], atol=1e-6)
    again = tmp_path / "again.csv"
    assert main(["export", "--db", str(db), "--predictions", "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()
    assert main(["export", "--db", str(db), "--predictions", "--format", "json", "--min-confidence", "0.9"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["labels_used"] == 50 and data["classes"] == list(ds.class_names)
    sure = [x for x in data["items"] if not x["label"]]
    assert 0 < len(sure) < len(sources) - 50 and min(x["confidence"] for x in sure) >= 0.9
    assert sum(1 for x in data["items"] if x["label"]) == 50
    for bad, message in ((["--min-confidence", "0.5"], "applies to --predictions only"),
                         (["--predictions", "--min-confidence", "1.5"], "must lie in [0, 1]")):
        assert main(["export", "--db", str(db), *bad]) == 2
        assert message in capsys.readouterr().err
    missing = tmp_path / "none.sqlite"
    assert main(["export", "--db", str(missing), "--predictions"]) == 2
    assert "no labeling project" in capsys.readouterr().err and not missing.exists()


def test_cli_review_lists_the_labels_the_others_contradict(tmp_path, capsys):
    """`latal review`: out-of-fold predictions of the labeled items; wrong labels come first, with who gave them."""
    import numpy as np

    from latal.app.project import load_source

    db = tmp_path / "digits.sqlite"
    assert main(["label", "--db", str(db), "--init-only"]) == 0
    assert main(["review", "--db", str(db)]) == 2
    assert "nothing to review yet" in capsys.readouterr().err
    store = ProjectStore.open(db)
    ds, sources = load_source(store.config["source"])
    store.close()
    rng = np.random.default_rng(0)
    known = rng.choice(len(sources), 300, replace=False)
    f = tmp_path / "known.csv"
    f.write_text("item,label\n" + "".join(f"{i},{ds.y[i]}\n" for i in known))
    assert main(["import", str(f), "--db", str(db)]) == 0
    flipped = known[:10]
    g = tmp_path / "wrong.csv"
    g.write_text("item,label\n" + "".join(f"{i},{(ds.y[i] + 1 + rng.integers(9)) % 10}\n" for i in flipped))
    assert main(["import", str(g), "--db", str(db), "--overwrite", "--annotator", "sloppy"]) == 0
    capsys.readouterr()
    out = tmp_path / "review.csv"
    assert main(["review", "--db", str(db), "--out", str(out)]) == 0
    assert "labels contradicted by the others (5-fold)" in capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    suspects = [int(r["item"]) for r in rows]
    assert set(flipped.tolist()) <= set(suspects)  # every wrong label is found ...
    assert len(set(suspects[:12]) & set(flipped.tolist())) >= 7  # ... and most of them first (8 measured)
    assert all(r["annotator"] == "sloppy" for r in rows if int(r["item"]) in set(flipped.tolist()))
    assert all(r["predicted"] != r["label"] and r["rechecked"] == "False" for r in rows)  # imports, not relabels
    p = [float(r["p_label"]) for r in rows]
    assert p == sorted(p) and all(float(r["confidence"]) > float(r["p_label"]) for r in rows)
    assert main(["review", "--db", str(db), "--format", "json", "--folds", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["reviewed"] == 300 and data["not_reviewed"] == 0 and len(data["suspects"]) < 60
    assert main(["review", "--db", str(db), "--folds", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err


def test_review_rows_skip_a_label_undone_while_the_review_ran(tmp_path):
    import numpy as np

    from latal.app.transfer import review_rows

    store = ProjectStore.create(tmp_path / "p.sqlite", ["a", "b", "c"], {"classes": ["x", "y"]})
    store.append("label", 0, "ann", "x")
    ev = store.append("label", 1, "ann", "x")
    store.append("undo", 1, "ann", target=ev.id)  # taken back after the review read the labels
    rows = review_rows(store, [0, 1], np.array([[0.2, 0.8], [0.1, 0.9]]))
    assert [r["item"] for r in rows] == [0] and rows[0]["predicted"] == "y" and not rows[0]["rechecked"]
    store.close()


def test_cli_export_history_lists_every_event_and_what_was_undone(tmp_path, capsys):
    db = tmp_path / "p.sqlite"
    store = ProjectStore.create(db, ["a.png", "b.png", "c.png"], {"classes": ["x", "y"], "source": {"kind": "test"}})
    first = store.append("label", 0, "ann", "x")
    store.append("relabel", 0, "bob", "y")
    skip = store.append("skip", 1, "ann")
    store.append("undo", 1, "ann", target=skip.id)
    store.append_many([("import", 2, "file", "y")])
    store.close()
    out = tmp_path / "history.csv"
    assert main(["export", "--db", str(db), "--history", "--out", str(out)]) == 0
    assert "wrote 5 events" in capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    assert [(r["kind"], r["item"], r["source"], r["label"], r["annotator"]) for r in rows] == [
        ("label", "0", "a.png", "x", "ann"), ("relabel", "0", "a.png", "y", "bob"), ("skip", "1", "b.png", "", "ann"),
        ("undo", "1", "b.png", "", "ann"), ("import", "2", "c.png", "y", "file")]
    assert [r["undone"] for r in rows] == ["False", "False", "True", "False", "False"]
    assert rows[3]["undoes"] == str(skip.id) and rows[0]["event"] == str(first.id)
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in rows)
    assert main(["export", "--db", str(db), "--history", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["classes"] == ["x", "y"] and len(data["events"]) == 5 and data["events"][2]["undone"] is True
    assert main(["export", "--db", str(db), "--history", "--predictions"]) == 2
    assert "give one of them" in capsys.readouterr().err


def test_export_predictions_reports_the_audit_estimate(tmp_path, capsys):
    """With --audit, the labels export marks the audit items and `export --predictions` says what they measured."""
    from latal.app.project import LabelSettings, build_session, open_or_create

    db = tmp_path / "digits.sqlite"
    assert main(["label", "--db", str(db), "--audit", "0.3", "--batch", "10", "--init-only"]) == 0
    store, ds, sources, _ = open_or_create(LabelSettings(db=str(db)))
    session, _ = build_session(store, ds, sources, max_wait=10.0)
    session.start()
    try:
        for _ in range(3):
            assert session.wait_idle(60)
            for item in session.next_items("a", wait=10)["items"]:
                session.label(item["id"], ds.class_names[ds.y[item["id"]]], "ann", "a")
        assert session.wait_idle(60)
    finally:
        session.close()
    rec = store.rounds()[-1]
    store.close()
    capsys.readouterr()
    assert main(["export", "--db", str(db), "--format", "json"]) == 0
    labels = json.loads(capsys.readouterr().out)["labels"]
    assert len(labels) == 30 and sum(r["audit"] for r in labels) == rec["audit_labels"] >= 2
    assert main(["export", "--db", str(db), "--predictions", "--out", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert "fitted on 30 labels" in err
    assert (f"the model of 30 labels was right on {100 * rec['audit_accuracy']:.1f} % of the {rec['audit_labels']} "
            "audit items held out of its training") in err
