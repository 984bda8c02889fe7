"""Repository-level checks: declared dependencies agree, notebooks are committed clean."""

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch", "python": None, "pip": None}
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in meta["dependencies"] + meta["optional-dependencies"]["dev"]}
    conda = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.-]+)", line)
        if m:
            name = CONDA_TO_PIP.get(_name(m.group(1)), _name(m.group(1)))
            if name:
                conda.add(name)
    assert conda == declared


def test_torch_has_lower_bounds_only():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in meta["dependencies"]:
        if _name(req) in ("torch", "torchvision"):
            assert ">=" in req and "<" not in req.replace(">=", "") and "==" not in req


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci/run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_clean_and_starts_with_setup(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
        f"{path.name} has outputs: clear them before committing"
    )
    first = "".join(nb["cells"][0]["source"])
    assert nb["cells"][0]["cell_type"] == "code" and "google.colab" in first
    assert "Learning goals" in "".join(nb["cells"][1]["source"])
