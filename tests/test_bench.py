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
    assert p.repeats == 10 and p.rounds == 29 and len(p.arms) == 7 and p.arms[5].initial == "all"
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
    assert "| margin | " in report and "| &nbsp;&nbsp;published | - | 0.9000 ± 0.0100 |" in report
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
    f.write_text(f.read_text().replace("repeats = 2", "repeats = 4"))
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "latal.cli", "bench", str(f), "--jobs", "2", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t
    assert done.returncode == 0, done.stderr
    runs = [json.loads(p.read_text()) for p in (tmp_path / "out" / "runs").glob("*.json")]
    assert len(runs) == 8
    # each run is timed in its worker, not from submission: two workers cannot log more than twice the wall time
    assert all(r["timed_in"] == "worker" for r in runs) and sum(r["seconds"] for r in runs) <= 2 * wall


@pytest.mark.parametrize("name", [n for n, _ in list_protocols()])
def test_every_shipped_protocol_names_parts_that_exist(name):
    """A typo in a shipped protocol (a strategy, encoder, learner or setting) fails here, not hours into a run;
    every published figure sits at a label count the protocol reaches."""
    from latal.bench import kinds
    from latal.encoders import ENCODERS
    from latal.learners import LEARNERS
    from latal.strategies import STRATEGIES

    full = load_protocol(name)
    for p in (full, full.quickened()):
        for arm in p.arms:
            STRATEGIES.build(arm.strategy)
            config = kinds.CONFIG[p.kind](p, p.datasets[0], arm, 0, None)
            if p.kind == "loop":
                ENCODERS.build(config["encoder"])
                LEARNERS.build(config["learner"])
                STRATEGIES.build(config["initial_strategy"])
            for n in arm.published if p is full else ():
                if n == "all":
                    assert arm.initial == "all"
                else:
                    start, step = kinds.arm_value(p, arm, "initial"), kinds.arm_value(p, arm, "batch")
                    assert n in p.checkpoints and (n - start) % step == 0, (arm.name, n)
            if p.kind != "zero_label" and arm.initial != "all":
                reach = {kinds.arm_value(p, arm, "initial") + i * kinds.arm_value(p, arm, "batch")
                         for i in range(kinds.arm_value(p, arm, "rounds") + 1)}
                assert set(p.checkpoints) <= reach, (name, arm.name)


def test_set_overrides_a_protocol_and_the_report_says_so(tmp_path, capsys):
    f = tmp_path / "tiny.toml"
    f.write_text(TINY)
    out = tmp_path / "out"
    assert main(["bench", str(f), "--out", str(out), "--set", "rounds=1", "--set", "checkpoints=[20, 40]",
                 "--repeats", "1"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["result"]["rounds"][-1]["n_labeled"] for r in results["runs"]] == [40, 40]
    assert "Changed from the protocol on the command line: `rounds=1`, `checkpoints=[20, 40]`." in \
        (out / "report.md").read_text()
    capsys.readouterr()
    assert main(["bench", str(f), "--out", str(out), "--set", "colour=red"]) == 2
    assert "--set colour: not a settable protocol key" in capsys.readouterr().err
    assert main(["bench", str(f), "--out", str(out), "--set", "rounds"]) == 2
    assert "--set takes KEY=VALUE" in capsys.readouterr().err


def test_a_full_label_arm_trains_on_the_whole_pool(tmp_path):
    f = tmp_path / "full.toml"
    f.write_text(TINY + '\n[[arms]]\nname = "every label"\nstrategy = "random"\ninitial = "all"\n'
                 'published = { "all" = [0.95, 0.01] }\n')
    out = tmp_path / "out"
    assert main(["bench", str(f), "--out", str(out), "--repeats", "1"]) == 0
    run = json.loads((out / "runs" / "every-label__0.json").read_text())
    assert run["config"]["initial"] == "all"
    assert [r["n_labeled"] for r in run["result"]["rounds"]] == [1347]  # digits' pool after its 25 % test split
    lines = (out / "report.md").read_text().splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith("| every label"))
    assert lines[at].startswith("| every label | - | 0.") and lines[at].endswith("(all 1347) |")
    assert lines[at + 1] == "| &nbsp;&nbsp;published | - | 0.9500 ± 0.0100 (all) |"
    assert lines[at + 2].startswith("| &nbsp;&nbsp;ours - published | - | ")


def test_zero_label_protocol_quick(tmp_path):
    """Paper 002's protocol: several datasets in one protocol, one table each."""
    out = tmp_path / "q002"
    assert main(["bench", "002-dual", "--quick", "--out", str(out), "--jobs", "2"]) == 0
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert {(r["dataset"], r["arm"]) for r in rows} == {(d, a) for d in ("iris", "wine")
                                                        for a in ("DUAL", "DUAL w/o", "k-means centroids", "random")}
    assert all(r["n_labeled"] == "10" and r["repeats"] == "2" and 0.3 < float(r["mean"]) <= 1 for r in rows)
    report = (out / "report.md").read_text()
    assert "## iris" in report and "## wine" in report
    run = json.loads((out / "runs" / "wine__dual__1.json").read_text())
    assert run["config"]["seed"] == 1001 and run["result"]["rounds"][0]["classes_covered"] >= 1


def test_cluster_contrastive_protocol_quick(tmp_path, datasets_dir):
    """Paper 003's protocol on a small MNIST pool: accuracy by cluster, the MLP beside it, the ablation arm."""
    out = tmp_path / "q003"
    assert main(["bench", "003-table-3", "--quick", "--data-dir", str(datasets_dir), "--out", str(out),
                 "--jobs", "2"]) == 0
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert len(runs) == 4
    ablation = [r for r in runs if r["arm"] == "clustering only (ablation)"]
    assert all(r["config"]["model"] == {"pretrain_epochs": 1, "epochs": 1, "ccl": False} for r in ablation)
    for r in runs:
        rounds = r["result"]["rounds"]
        assert [x["n_labeled"] for x in rounds] == [50, 100, 150]
        assert all(0 <= x["accuracy"] <= 1 and 0 <= x["mlp_accuracy"] <= 1 for x in rounds)
        assert len(set(rounds[1]["queried"])) == 50


def test_svhn_and_cifar_protocols_run_on_files_of_their_format(tmp_path):
    """SVHN and CIFAR-10 are not on this machine: their protocols run end to end on tiny synthetic files."""
    import pickle

    import numpy as np
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    for split, n in (("train", 300), ("test", 60)):
        savemat(tmp_path / f"{split}_32x32.mat", {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                                   "y": (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)})
    py = tmp_path / "cifar-10-batches-py"
    py.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (py / name).write_bytes(pickle.dumps({b"data": rng.integers(0, 256, (60, 3072), dtype=np.uint8),
                                              b"labels": [i % 10 for i in range(60)]}))
    for protocol, arms in (("001-table-5.5", 5), ("000-table-2", 6)):
        out = tmp_path / protocol
        assert main(["bench", protocol, "--quick", "--data-dir", str(tmp_path), "--out", str(out),
                     "--repeats", "1"]) == 0
        runs = json.loads((out / "results.json").read_text())["runs"]
        assert len(runs) == arms and all(r["result"]["data"]["name"] in ("svhn", "cifar10") for r in runs)


def test_list_names_every_protocol_with_its_data(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(list_protocols())
    assert any(line.startswith("002-dual") and "[digits, wine, breast-cancer, iris, waveform; 5 repeats]" in line
               for line in out)
