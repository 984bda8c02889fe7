"""The Colab path, as far as an offline machine can follow it.

On Colab the first notebook cell runs ``pip install git+https://github.com/...srlab.git@v<version>``
into an interpreter that already has torch, torchvision, ipywidgets, numpy, matplotlib,
scikit-image, ... and no srlab. Here:

1. the committed HEAD of this repository is cloned and tagged ``v<version>`` (the clone stands
   for GitHub; uncommitted changes are not part of the test);
2. a fresh virtual environment stands for Colab's interpreter: a ``.pth`` file makes it see the
   packages of the interpreter running the tests (no multi-GB download), through a folder of
   links that leaves out this checkout's own srlab install, since Colab has none;
3. ``pip install --no-index git+file://<clone>@v<version>`` must install srlab alone and keep
   every preinstalled package as it was;
4. notebook 00, as committed, runs on a kernel of that environment from a working directory
   outside the repository, and writes nothing into the installed package.

Deselect with ``-m "not slow"``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/00_setup_and_metrics.ipynb"
PRESERVED = ("torch", "torchvision", "ipywidgets")  # what Colab ships and srlab must not replace
CELL_TIMEOUT = int(os.environ.get("CELL_TIMEOUT", "300"))


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``cmd``; return stdout+stderr, or fail the test showing both."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"`{' '.join(map(str, cmd))}` exited with {proc.returncode}:\n{out}")
    return out


def _is_own_install(name: str) -> bool:
    """Entries of a site-packages folder that belong to an installed srlab (plain or editable)."""
    return (name == "srlab" or re.match(r"srlab[-.]", name) is not None
            or (name.startswith("__editable__") and "srlab" in name))


def _preinstalled_stack(dest: Path) -> list[Path]:
    """One folder per site-packages folder of this interpreter, linking every entry but srlab's."""
    sources = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        sources.append(site.getusersitepackages())
    folders = []
    for i, src in enumerate(Path(s) for s in sources):
        if not src.is_dir():
            continue
        folder = dest / str(i)
        folder.mkdir(parents=True)
        for entry in src.iterdir():
            # .pth files are not read from folders listed in a .pth file, so leave them out.
            if not _is_own_install(entry.name) and entry.suffix != ".pth":
                (folder / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        folders.append(folder)
    return folders


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def _pip_list(python: Path, cwd: Path, env: dict[str, str]) -> dict[str, str]:
    out = _run([str(python), "-m", "pip", "list", "--format=json"], cwd=cwd, env=env)
    return {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(out)}


@pytest.mark.slow
def test_colab_install_and_notebook_00(tmp_path, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not on PATH: pip cannot install from a git URL without it")
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout, so there is no committed HEAD to install")
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                            capture_output=True, text=True).stdout
    if status.strip():
        warnings.warn("test_colab_install tests the committed HEAD; uncommitted changes "
                      "are not part of it", stacklevel=1)

    # Subprocesses see neither this checkout nor the venv running the tests.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONNOUSERSITE="1")

    # 1. "GitHub": the committed HEAD, tagged as the release the notebooks install.
    clone = tmp_path / "clone"
    _run(["git", "clone", "--quiet", str(ROOT), str(clone)], cwd=tmp_path, env=env)
    version = tomllib.loads((clone / "pyproject.toml").read_text())["project"]["version"]
    tag = f"v{version}"
    _run(["git", "-C", str(clone), "tag", "--force", tag, "HEAD"], cwd=tmp_path, env=env)

    # 2. "Colab": a fresh venv that sees this interpreter's packages, srlab excepted.
    venv = tmp_path / "colab-venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                         "['purelib'])"], cwd=tmp_path, env=env).strip())
    stack = _preinstalled_stack(tmp_path / "preinstalled")
    (purelib / "colab_preinstalled.pth").write_text("".join(f"{p}\n" for p in stack))
    before = _pip_list(python, tmp_path, env)
    missing = [n for n in (*PRESERVED, "pip", "ipykernel") if n not in before]
    assert not missing, f"the interpreter running the tests lacks {missing}: install '.[dev]'"
    assert "srlab" not in before, "the fresh venv must not see this checkout's srlab"

    # 3. The setup cell's pip install, from the local "GitHub", with nothing to download.
    has_setuptools = subprocess.run([str(python), "-c", "import setuptools.build_meta"],
                                    cwd=tmp_path, env=env, capture_output=True).returncode == 0
    pip_env = dict(env, PIP_NO_CACHE_DIR="1")
    if has_setuptools:  # all offline, and no pip settings of this machine (user, target, ...)
        pip_env = {k: v for k, v in pip_env.items() if not k.startswith("PIP_")}
        pip_env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
                       PIP_NO_INPUT="1", PIP_NO_CACHE_DIR="1")
        options = ["--no-index", "--no-build-isolation"]
    else:  # the build backend comes from the package index, as on Colab
        options = []
    url = f"git+{clone.as_uri()}@{tag}"
    out = _run([str(python), "-m", "pip", "install", *options, url], cwd=tmp_path, env=pip_env)
    print(out)
    installed = re.findall(r"^Successfully installed (.+)$", out, flags=re.M)
    assert installed and installed[-1].split() == [f"srlab-{version}"], (
        f"pip must install srlab {version} alone, next to the preinstalled stack:\n{out}")
    after = _pip_list(python, tmp_path, env)
    assert after.pop("srlab", None) == version
    changed = {n: (before.get(n), v) for n, v in after.items() if before.get(n) != v}
    assert not changed, f"installing srlab replaced preinstalled packages: {changed}\n{out}"
    located = _run([str(python), "-c", "import srlab; print(srlab.__file__)"],
                   cwd=tmp_path, env=env).strip().splitlines()[-1]
    package = Path(located).resolve().parent
    assert package == (purelib / "srlab").resolve(), (
        f"import srlab in the fresh venv found {located}, not the copy pip installed in {purelib}")
    files_before = _snapshot(package)
    print(f"import srlab -> {located}")

    # 4. Notebook 00 as committed, on a kernel of the fresh venv, run outside the repository.
    kernels = tmp_path / "jupyter" / "kernels" / "srlab-colab"
    kernels.mkdir(parents=True)
    kernel_env = {"SRLAB_FAST": "1", "SRLAB_OFFLINE": "1", "MPLBACKEND": "Agg",
                  "PYTHONNOUSERSITE": "1"}
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "srlab (Colab stand-in)", "language": "python", "env": kernel_env}))
    for k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    workdir = tmp_path / "work"
    workdir.mkdir()
    nb = nbformat.read(clone / NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="srlab-colab", timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        nbformat.write(nb, tmp_path / "executed.ipynb")
        pytest.fail(f"{NOTEBOOK} (committed HEAD, installed as {tag}) failed on the fresh "
                    f"venv's kernel; executed copy in {tmp_path / 'executed.ipynb'}:\n{e}")

    files_after = _snapshot(package)
    touched = sorted(set(files_before.items()) ^ set(files_after.items()))
    assert not touched, f"{NOTEBOOK} wrote into the installed package {package}: {touched}"
    leftover = _run(["git", "-C", str(clone), "status", "--porcelain", "--ignored"],
                    cwd=tmp_path, env=env)
    assert not leftover.strip(), f"{NOTEBOOK} wrote into the repository it came from:\n{leftover}"
    kinds = {o.get("output_type") for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", [])}
    assert "error" not in kinds
    print(f"{NOTEBOOK} ran in {workdir}; files it left there:",
          sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*")) or "none")
