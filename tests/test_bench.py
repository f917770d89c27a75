"""latal bench: protocols as TOML, resumable parallel runs, the four report files."""

import csv
import json
import time

import pytest

from latal.bench import ProtocolError, list_protocols, load_protocol
from latal.bench.protocol import parse_protocol
from latal.cli import main

TINY = """
name = "tiny"
title = "digits, PCA, margin vs random"
source = "a test"
dataset = "digits"
encoder = "pca:n_components=20"
learner = "logistic"
initial = 20
batch = 20
rounds = 2
repeats = 2
checkpoints = [20, 60]

[[arms]]
name = "margin"
strategy = "margin"
published = { "60" = [0.9, 0.01] }

[[arms]]
name = "random"
strategy = "random"
published = { "60" = 0.8 }
"""


def test_shipped_protocols_load_and_quicken():
    names = dict(list_protocols())
    assert "001-table-5.4" in names
    p = load_protocol("001-table-5.4")
    assert p.repeats == 10 and p.rounds == 29 and len(p.arms) == 5
    assert p.arms[0].published == {3000: (0.9796, 0.000835)} and p.arms[2].encoder == "identity"
    q = p.quickened()
    assert q.repeats == 2 and q.pool_size == 2000 and q.encoder == "pca:n_components=30"
    assert q.arms[2].encoder == "identity" and q.arms[0].published == p.arms[0].published


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('dataset = "digits"\n', ""), "missing \\['dataset'\\]"),
    (lambda t: t.replace('published = { "60" = 0.8 }', 'published = { "sixty" = 0.8 }'), "published must map"),
    (lambda t: t.replace('name = "random"', 'name = "margin"'), "unique"),
    (lambda t: t + "\nfoo = 1\n", "unknown keys \\['foo'\\]"),
    (lambda t: "bar = 2\n" + t, "unknown keys \\['bar'\\]"),
])
def test_bad_protocols_are_refused(edit, message):
    import tomllib

    with pytest.raises(ProtocolError, match=message):
        parse_protocol(tomllib.loads(edit(TINY)), "tiny.toml")
    with pytest.raises(ProtocolError, match="unknown protocol"):
        load_protocol("no-such-protocol")


def test_a_toml_protocol_runs_resumes_and_reports(tmp_path, capsys):
    f = tmp_path / "tiny.toml"
    f.write_text(TINY)
    out = tmp_path / "out"
    assert main(["bench", str(f), "--out", str(out)]) == 0
    files = {p.name for p in out.iterdir()}
    assert {"results.json", "summary.csv", "report.md", "curves.png", "runs"} <= files
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert {(r["arm"], r["n_labeled"], r["repeats"]) for r in rows} >= {("margin", "60", "2"), ("random", "20", "2")}
    report = (out / "report.md").read_text()
    assert "0.9000 ± 0.0100 @ 60" in report and "| margin |" in report
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == 4 and results["runs"][0]["result"]["rounds"][-1]["n_labeled"] == 60
    # an interrupted run: one result missing, one damaged; re-running redoes only those two
    runs = sorted((out / "runs").iterdir())
    runs[0].unlink()
    runs[1].write_text("{broken")
    kept = runs[2].stat().st_mtime_ns
    time.sleep(0.01)
    capsys.readouterr()
    assert main(["bench", str(f), "--out", str(out)]) == 0
    assert "2 runs kept" in capsys.readouterr().err
    assert runs[2].stat().st_mtime_ns == kept and runs[0].is_file()
    again = json.loads((out / "results.json").read_text())
    def curve(res):
        return [[(x["n_labeled"], x["accuracy"], x["queried"]) for x in r["result"]["rounds"]] for r in res["runs"]]

    assert curve(again) == curve(results)  # the same seeds give the same runs


def test_thesis_protocol_quick_end_to_end(tmp_path, datasets_dir):
    """What CI runs: `latal bench 001-table-5.4 --quick` on the real MNIST files, two processes."""
    out = tmp_path / "quick"
    assert main(["bench", "001-table-5.4", "--quick", "--data-dir", str(datasets_dir), "--out", str(out),
                 "--jobs", "2"]) == 0
    rows = list(csv.DictReader((out / "summary.csv").open()))
    at_200 = {r["arm"]: float(r["mean"]) for r in rows if r["n_labeled"] == "200"}
    assert len(at_200) == 5 and all(0.7 < v < 1.0 for v in at_200.values())
    assert (out / "curves.png").stat().st_size > 10_000


def test_parallel_runs_after_a_torch_encoder_do_not_hang(tmp_path):
    """The encoders are prepared in the parent (torch's thread pool started); workers must not be forked
    from it (that deadlocked them). Run in a child process so that a hang fails instead of blocking."""
    import subprocess
    import sys

    f = tmp_path / "torch.toml"
    f.write_text(TINY.replace('encoder = "pca:n_components=20"', 'encoder = "dense_vae:epochs=1,latent_dim=8"'))
    done = subprocess.run([sys.executable, "-m", "latal.cli", "bench", str(f), "--jobs", "2", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out" / "runs").glob("*.json"))) == 4
