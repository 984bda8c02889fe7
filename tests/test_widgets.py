"""The notebooks' widget code works with ipywidgets 8 (installed) and 7 (what Colab ships).

The explorers use a handful of widget calls; ``WIDGET_CODE`` makes each of them the way the
notebooks do, and a test keeps the notebooks from using a widget it does not cover. The code
runs here with the installed ipywidgets and, in a subprocess, with ipywidgets 7.7.1 fetched from
the package index (skipped when the index cannot be reached).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [p for folder in ("notebooks", "solutions", "exercises")
             for p in sorted((ROOT / folder).glob("*.ipynb"))]
COVERED = {"interact", "IntSlider", "FloatSlider", "Dropdown"}
WIDGET_CODE = """
import ipywidgets as widgets

calls = []
def explore(k=3, D=64, model="a", eta=0.0, index=0, schedule="linear"):
    calls.append((k, D, model, eta, index, schedule))

def controls():
    return dict(k=widgets.IntSlider(3, 1, 9, 2), D=widgets.IntSlider(64, 1, 512),
                model=widgets.Dropdown(options=["a", "b"], value="b"),
                eta=widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.1),
                index=widgets.IntSlider(0, 0, 9), schedule=["linear", "cosine"])

widgets.interact(explore, **controls())  # as the notebooks call it (shown in a notebook)
panel = widgets.interactive(explore, **controls())
panel.update()  # what moving a slider does: call the function with the widgets' values
assert calls[-1] == (3, 64, "b", 0.0, 0, "linear"), calls
print("widgets", widgets.__version__, "ok")
"""


def test_notebooks_use_only_covered_widgets():
    used = set()
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            used |= set(re.findall(r"widgets\.([A-Za-z]\w*)", "".join(cell["source"])))
    assert used, "no widget code found: update this test"
    assert used <= COVERED, f"widgets used but not covered by WIDGET_CODE: {used - COVERED}"


def test_widget_code_with_installed_ipywidgets():
    out = subprocess.run([sys.executable, "-c", WIDGET_CODE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


@pytest.mark.slow
def test_widget_code_with_ipywidgets_7(tmp_path):
    target = tmp_path / "ipywidgets7"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         "ipywidgets==7.7.1", "widgetsnbextension==3.6.*", "jupyterlab-widgets==1.1.*",
         "ipython-genutils==0.2.*"], capture_output=True, text=True, timeout=300)
    if pip.returncode != 0:
        pytest.skip(f"ipywidgets 7.7.1 could not be installed from the package index: "
                    f"{pip.stderr.strip().splitlines()[-1:]}")
    out = subprocess.run([sys.executable, "-c", WIDGET_CODE], capture_output=True, text=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "widgets 7.7.1 ok" in out.stdout
