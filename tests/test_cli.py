import json
import subprocess
import sys

import numpy as np
import pytest

from latal.cli import main
from latal.learners import make_learner


def test_run_on_digits_end_to_end(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["run", "--quiet", "--initial", "50", "--batch", "50", "--rounds", "4", "--seed", "1",
                 "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "labels" in text and "accuracy" in text
    result = json.loads(out.read_text())
    assert result["config"]["dataset"] == "digits" and result["config"]["strategy"] == "margin"
    rounds = result["rounds"]
    assert [r["n_labeled"] for r in rounds] == [50, 100, 150, 200, 250]
    assert all(set(r["seconds"]) >= {"fit", "select"} for r in rounds[:-1])
    assert rounds[-1]["accuracy"] > rounds[0]["accuracy"]
    assert rounds[-1]["accuracy"] > 0.85


def test_same_seed_same_json(tmp_path):
    args = ["run", "--quiet", "--initial", "30", "--batch", "20", "--rounds", "2", "--learner", "mlp:epochs=3",
            "--strategy", "margin_subsample", "--seed", "5"]
    main(args + ["--json", str(tmp_path / "a.json")])
    main(args + ["--json", str(tmp_path / "b.json")])
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["initial"] == b["initial"]
    assert [r["queried"] for r in a["rounds"]] == [r["queried"] for r in b["rounds"]]
    assert [r["accuracy"] for r in a["rounds"]] == [r["accuracy"] for r in b["rounds"]]


def test_run_in_a_stack_of_encoders(tmp_path, capsys):
    """``--encoder a+b``: the loop runs in both latents side by side, each part at unit length."""
    args = ["run", "--quiet", "--initial", "20", "--batch", "20", "--rounds", "2", "--learner", "label_spreading",
            "--encoder", "pca:n_components=10+identity", "--seed", "2"]
    assert main(args + ["--json", str(tmp_path / "a.json")]) == 0
    assert main(args + ["--json", str(tmp_path / "b.json")]) == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["data"]["latent_dim"] == 10 + 64 and "StackedEncoder" in a["config"]["resolved"]["encoder"]
    assert [r["queried"] for r in a["rounds"]] == [r["queried"] for r in b["rounds"]]
    assert a["rounds"][-1]["accuracy"] > 0.8
    assert main(["encode", "--encoder", "pca+identity", "--epochs", "3", "--out", str(tmp_path / "e")]) == 2
    assert "each part's spec" in capsys.readouterr().err


def test_strategies_lists_every_registered(capsys):
    from latal.strategies import STRATEGIES

    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in STRATEGIES.names():
        assert name in out


@pytest.mark.parametrize("args, message", [
    (["--strategy", "nope"], "unknown strategy"),
    (["--rounds", "50"], "pool holds"),
    (["--encoder", "pca:n_components=x,"], "key=value"),
    (["--encoder", "pca+"], "empty part"),
    (["--encoder", "pca+nope"], "unknown encoder 'nope'"),
    (["--dataset", "/no/such/thing"], "unknown dataset"),
])
def test_clear_errors(args, message, capsys):
    assert main(["run", "--quiet", *args]) == 2
    assert message in capsys.readouterr().err


def test_errors_in_a_log_start_clean(capsys):
    """Without --quiet, but with stderr a pipe or a log: no progress-bar line before the error, and the
    registry names its kinds in good English."""
    assert main(["run", "--strategy", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("latal: error: unknown strategy 'nope'") and "rounds:" not in err
    assert "Known strategies: random," in err
    assert main(["run", "--stop", "nope"]) == 2
    assert "Known stopping criteria:" in capsys.readouterr().err


def test_console_script_installed():
    proc = subprocess.run([sys.executable, "-m", "latal.cli", "encoders"], capture_output=True, text=True)
    assert proc.returncode == 0 and "pca" in proc.stdout


def test_run_mnist_subset(datasets_dir, capsys):
    assert main(["run", "--quiet", "--dataset", "mnist", "--data-dir", str(datasets_dir), "--pool-size", "3000",
                 "--initial", "100", "--batch", "100", "--rounds", "2", "--learner", "mlp:epochs=5"]) == 0
    assert "# mnist: pool 3000, test 10000" in capsys.readouterr().out


def test_run_on_an_image_folder(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, level in (("dark", 40), ("light", 210)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(30):
            pixels = np.clip(rng.normal(level, 20, size=(6, 6)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / cls / f"{i}.png")
    assert main(["run", "--quiet", "--dataset", str(tmp_path / "imgs"), "--encoder", "identity",
                 "--learner", "logistic", "--initial", "6", "--batch", "4", "--rounds", "2",
                 "--json", str(tmp_path / "r.json")]) == 0
    assert "# imgs: pool 45, test 15" in capsys.readouterr().out
    rounds = json.loads((tmp_path / "r.json").read_text())["rounds"]
    assert [r["n_labeled"] for r in rounds] == [6, 10, 14]
    assert rounds[-1]["accuracy"] == 1.0  # dark and light images are trivially separable


@pytest.mark.parametrize("spec", ["badge", "batchbald:n_samples=5", "cluster_margin", "vaal:iterations=20",
                                  "seals", "seals:base=badge,n_neighbors=20"])
def test_library_strategies_run_from_the_command_line(spec, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["run", "--quiet", "--initial", "30", "--batch", "10", "--rounds", "2", "--learner", "mlp:epochs=3",
                 "--strategy", spec, "--json", str(out)])
    assert code == 0
    rounds = json.loads(out.read_text())["rounds"]
    assert [r["n_labeled"] for r in rounds] == [30, 40, 50]


def test_stop_criteria_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["run", "--quiet", "--initial", "30", "--batch", "10", "--rounds", "4", "--learner", "mlp:epochs=3",
                 "--stop", "budget:labels=50", "--stop", "max_uncertainty:threshold=0.001", "--halt-on-stop",
                 "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "stopping criterion budget: fired at 50 labels" in text
    assert "stopping criterion max_uncertainty: did not fire" in text
    result = json.loads(out.read_text())
    assert result["stopped"] == {"budget": 50} and result["config"]["stopping"] == ["budget:labels=50",
                                                                                    "max_uncertainty:threshold=0.001"]
    assert [r["n_labeled"] for r in result["rounds"]] == [30, 40, 50]
    assert main(["run", "--quiet", "--stop", "stabilising"]) == 2
    assert "Did you mean stabilizing" in capsys.readouterr().err


def test_preset_fills_what_the_command_line_leaves_open(capsys):
    from latal.cli import build_parser, resolve_preset

    parse = lambda *a: build_parser().parse_args(["run", *a])  # noqa: E731
    assert resolve_preset(parse()) == {"encoder": "pca", "learner": "mlp", "strategy": "margin",
                                       "initial_strategy": "random", "refine": None, "learn_on": "refined",
                                       "learn_weights": None}
    p = resolve_preset(parse("--preset", "label-efficient", "--learner", "mlp", "--learn-on", "both"))
    assert p == {"encoder": "conv_vae", "refine": "umap", "initial_strategy": "maxherding", "strategy": "maxherding",
                 "learner": "mlp", "learn_on": "both", "learn_weights": None}
    assert resolve_preset(parse("--preset", "label-efficient"))["learner"] == "poisson:class_priors=auto"
    assert resolve_preset(parse("--preset", "label-efficient"))["learn_on"] == "both"
    assert resolve_preset(parse("--preset", "label-efficient", "--learn-on", "refined"))["learn_on"] == "refined"
    assert resolve_preset(parse("--preset", "label-efficient-cnn"))["learn_on"] == "refined"
    c = resolve_preset(parse("--preset", "label-efficient-contrastive"))
    assert (c["encoder"], c["refine"], c["initial_strategy"], c["learner"], c["learn_on"], c["learn_weights"]) == \
        ("conv_vae:epochs=30+simclr:flip=True,epochs=10", "umap", "maxherding", "poisson:class_priors=auto", "latents",
         (1.0, 1.73))
    assert resolve_preset(parse("--preset", "label-efficient-contrastive", "--learn-weights", "1,2"))["learn_weights"] \
        == "1,2"  # the option given wins
    assert resolve_preset(parse("--preset", "label-efficient-contrastive", "--encoder", "conv_vae"))["learn_weights"] \
        is None  # the preset's part weights are for its own stack
    cnn = make_learner(resolve_preset(parse("--preset", "label-efficient-cnn"))["learner"])
    assert (cnn.epochs, make_learner(cnn.teacher).class_priors) == (10, "auto")  # the student's teacher too
    large = resolve_preset(parse("--preset", "label-efficient-large", "--initial-strategy", "probcover"))
    assert large["initial_strategy"] == "probcover" and large["strategy"] == "typiclust"
    student = make_learner(large["learner"])  # the spec builds the student it names
    assert (student.generations, student.arch, student.targets) == (3, "conv3bn", "soft")
    assert student.generation_settings(last=True) == (15, "conv3bn", 0.0, 8)
    assert student.generation_settings(last=False) == (5, "conv3bn", 0.0, 8)
    chain = resolve_preset(parse("--preset", "label-efficient-contrastive-large"))
    assert (chain["encoder"], chain["initial_strategy"], chain["strategy"], chain["learn_on"], chain["learn_weights"]) \
        == ("conv_vae:epochs=30+simclr:flip=True,epochs=10", "typiclust", "typiclust", "latents", (1.0, 1.73))
    student = make_learner(chain["learner"])
    assert (student.generations, student.final_generations, student.targets) == (5, 3, "soft")
    assert student.generation_settings(last=True) == (15, "conv3bn", 0.75, 32)  # the strong students
    assert student.generation_settings(last=False) == (5, "conv2", 0.0, 8)  # the two soft generations before them
    assert main(["run", "--quiet", "--preset", "label-sparse"]) == 2
    assert "unknown preset" in capsys.readouterr().err


@pytest.mark.parametrize("learner", ["label_spreading", "poisson"])
def test_semi_supervised_learner_and_cold_start_from_the_command_line(tmp_path, learner):
    out = tmp_path / "r.json"
    assert main(["run", "--quiet", "--initial", "10", "--initial-strategy", "typiclust", "--learner", learner,
                 "--strategy", "margin", "--batch", "10", "--rounds", "1", "--json", str(out)]) == 0
    rounds = json.loads(out.read_text())["rounds"]
    assert rounds[0]["accuracy"] > 0.8  # 10 typical labels spread over the pool (random + MLP: 0.39)


def test_learn_weights_from_the_command_line(tmp_path, capsys):
    """--learn-weights: the run says how the parts are weighted and records it; weights that cannot apply
    are refused before any training, saying why."""
    out = tmp_path / "r.json"
    args = ["run", "--quiet", "--dataset", "iris", "--encoder", "identity+pca:n_components=2", "--refine", "umap",
            "--learn-on", "latents", "--learner", "logistic", "--initial", "6", "--batch", "6", "--rounds", "1"]
    assert main([*args, "--learn-weights", "1,1.73", "--json", str(out)]) == 0
    assert "learner logistic on the unrefined latents (parts weighted 1,1.73)" in capsys.readouterr().out
    assert json.loads(out.read_text())["config"]["learn_weights"] == [1.0, 1.73]
    assert main([*args, "--learn-weights", "1,1.73,2"]) == 2
    assert "3 weights for the 2 parts of encoder 'identity+pca:n_components=2'" in capsys.readouterr().err
    assert main([*args[:5], "identity", *args[6:], "--learn-weights", "1,2"]) == 2
    assert "has one part" in capsys.readouterr().err
    assert main([*args, "--learn-weights", "1,0"]) == 2
    assert "positive and finite" in capsys.readouterr().err


def test_the_cnn_student_from_the_command_line_reads_the_images(tmp_path):
    out = tmp_path / "r.json"
    assert main(["run", "--quiet", "--initial", "20", "--learner", "cnn_student",
                 "--batch", "20", "--rounds", "1", "--seed", "0", "--json", str(out)]) == 0
    run = json.loads(out.read_text())
    assert [r["n_labeled"] for r in run["rounds"]] == [20, 40]
    assert all(r["accuracy"] > 0.6 for r in run["rounds"])  # the 8x8 digits images, evaluated on the test images
    assert "CNNStudent" in run["config"]["resolved"]["learner"]
