"""The README's Python example runs as written."""

import re

from conftest import REPO


def test_readme_python_example_runs():
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README lost its Python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["history"].n_labeled[-1] == 450
    assert namespace["pool"].n_labeled == 460


def test_readme_starts_with_the_two_commands_ci_runs():
    lines = (REPO / "README.md").read_text().splitlines()
    commands = [l.split("#")[0].strip() for l in lines[:6] if l.startswith("pip install")]
    assert len(commands) == 2 and commands[0].endswith("latal run")
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1] in ci
