"""Repository-level checks: declared dependencies agree, notebooks are committed clean."""

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch", "python": None, "pip": None}
# lectures, exercise sources and the generated exercises all start with the same setup cell
NOTEBOOKS = [p for folder in ("notebooks", "solutions", "exercises")
             for p in sorted((ROOT / folder).glob("*.ipynb"))]
# What `pip install` must accept without replacing it: Google Colab's preinstalled stack, and the
# newest releases. Update these when Colab moves on.
STACKS = {
    "colab": {"python": "3.13", "torch": "2.11.0", "torchvision": "0.26.0", "ipywidgets": "7.7.1"},
    "newest": {"python": "3.13", "torch": "2.14.0", "torchvision": "0.29.0", "ipywidgets": "8.1.0"},
}
RELEASE = re.compile(r'^SRLAB_RELEASE = "git\+(?P<url>[^"@]+)@(?P<tag>[^"]+)"$', re.M)


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.name}" for p in NOTEBOOKS])
def test_notebook_is_clean_and_starts_with_setup(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
        f"{path.name} has outputs: clear them before committing"
    )
    first = "".join(nb["cells"][0]["source"])
    assert nb["cells"][0]["cell_type"] == "code" and "google.colab" in first
    assert "Learning goals" in "".join(nb["cells"][1]["source"])


LECTURES = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", LECTURES, ids=[p.name for p in LECTURES])
def test_lecture_ends_with_a_summary_and_what_next(path):
    texts = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
             if c["cell_type"] == "markdown"]
    at = [i for i, text in enumerate(texts) if text.startswith("## Summary")]
    assert at, f"{path.name}: no '## Summary' section"
    after = texts[at[0]:]
    assert any("Next" in text or "What next" in text for text in after), (
        f"{path.name}: the summary says nothing of what comes next")
    sections = [line for text in after[1:] for line in text.splitlines() if line.startswith("## ")]
    assert all(h.startswith(("## What next", "## Appendix")) for h in sections), (
        f"{path.name}: sections after the summary that are not an appendix: {sections}")


# Notebooks 00-03 are held to the teaching rubric's cell and action rules (notebooks-00-04 review).
TAUGHT_LECTURES = [p for p in LECTURES if p.name[:2] in {"00", "01", "02", "03"}]
MAX_CELL_LINES = 15
# what counts as the student doing something in a section
STUDENT_ACTIONS = ("**Predict, then run.**", "**Your turn.**", "**Try it.**")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("path", TAUGHT_LECTURES, ids=[p.name for p in TAUGHT_LECTURES])
def test_lecture_code_cells_are_short(path):
    """A cell a student reads is short; longer only when it is the code being taught (tagged)."""
    long = [(i, len("".join(c["source"]).splitlines())) for i, c in enumerate(_cells(path))
            if c["cell_type"] == "code" and i > 0
            and "taught" not in c.get("metadata", {}).get("tags", [])
            and len("".join(c["source"]).splitlines()) > MAX_CELL_LINES]
    assert not long, (f"{path.name}: code cells over {MAX_CELL_LINES} lines (cell, lines): {long}; "
                      "move the machinery into srlab, or tag the cell 'taught' if it is the lesson")


@pytest.mark.parametrize("path", TAUGHT_LECTURES, ids=[p.name for p in TAUGHT_LECTURES])
def test_every_lecture_section_gives_the_student_something_to_do(path):
    sections: dict[str, str] = {}
    current = None
    for cell in _cells(path):
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            heading = next((line for line in text.splitlines() if line.startswith("## ")), None)
            if heading:
                current = heading if re.match(r"## \d", heading) else None
        if current:
            sections[current] = sections.get(current, "") + text
    assert sections, f"{path.name}: no numbered sections"
    idle = [h for h, text in sections.items() if not any(a in text for a in STUDENT_ACTIONS)]
    assert not idle, f"{path.name}: sections without a student action {STUDENT_ACTIONS}: {idle}"
    linked = [h for h, text in sections.items() if "../exercises/" in text]
    assert linked, f"{path.name}: no section links to its exercises"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize("stack", STACKS, ids=list(STACKS))
def test_dependencies_accept_preinstalled_stack(stack):
    meta = _pyproject()["project"]
    versions = STACKS[stack]
    assert SpecifierSet(meta["requires-python"]).contains(versions["python"]), (
        f"requires-python {meta['requires-python']!r} refuses Python {versions['python']} "
        f"({stack}): lower it")
    reqs = {Requirement(r).name.lower(): Requirement(r) for r in meta["dependencies"]}
    for name, version in versions.items():
        if name == "python":
            continue
        assert name in reqs, f"{name} is not a dependency in pyproject.toml"
        assert reqs[name].specifier.contains(version), (
            f"pyproject.toml requires {reqs[name]}, so pip would replace {stack}'s {name} "
            f"{version}: relax the bound")


def test_runtime_dependencies_have_lower_bounds_only():
    for req in map(Requirement, _pyproject()["project"]["dependencies"]):
        ops = {s.operator for s in req.specifier}
        assert ops == {">="}, (
            f"{req}: use a lower bound (>=) only, so pip keeps whatever newer version the "
            f"environment (Colab) already has")


def test_classifiers_within_requires_python():
    meta = _pyproject()["project"]
    allowed = SpecifierSet(meta["requires-python"])
    for c in meta.get("classifiers", []):
        m = re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c)
        if m:
            assert allowed.contains(m.group(1)), f"classifier {c!r} outside requires-python"


def test_setup_cells_install_this_release():
    meta = _pyproject()["project"]
    repository = meta.get("urls", {}).get("Repository", "")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repository), (
        "pyproject.toml needs [project.urls] Repository = \"https://github.com/<owner>/<repo>\"")
    want_url, want_tag = repository + ".git", "v" + meta["version"]
    want = f'SRLAB_RELEASE = "git+{want_url}@{want_tag}"'
    first = {f"{p.parent.name}/{p.name}": "".join(json.loads(p.read_text())["cells"][0]["source"])
             for p in NOTEBOOKS}
    reference = first[f"notebooks/{NOTEBOOKS[0].name}"]
    differ = [name for name, src in first.items() if src != reference]
    assert not differ, (
        f"the first cell of {differ} differs from that of {NOTEBOOKS[0].name}: every notebook "
        f"starts with the same setup cell, byte for byte; copy it over")
    m = RELEASE.search(reference)
    assert m, f"the setup cell must define {want}"
    assert (m["url"], m["tag"]) == (want_url, want_tag), (
        f"the setup cells install git+{m['url']}@{m['tag']} but pyproject.toml says version "
        f"{meta['version']} at {repository}: set {want} in the first cell of every notebook "
        f"(and tag the release {want_tag}), or fix pyproject.toml")
    assert 'if "google.colab" in sys.modules:' in reference and "SRLAB_RELEASE]" in reference, (
        "the setup cell must pip install SRLAB_RELEASE only inside Colab")


def test_readme_links_point_at_the_repository():
    meta = _pyproject()["project"]
    repository = meta["urls"]["Repository"]
    owner_repo = repository.removeprefix("https://github.com/")
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"(?:colab\.research\.google\.com/github|github\.com)/[^\s)\]\"'`>]+",
                       readme)
    assert links, "README.md has no link to the repository or its Colab notebooks"
    for link in links:
        path = link.split("github.com/", 1)[1] if link.startswith("github.com") else \
            link.split("/github/", 1)[1]
        got = "/".join(path.split("/")[:2]).split("@")[0].removesuffix(".git")
        assert got == owner_repo, (
            f"README.md links to {link}: use the repository of pyproject.toml, {repository}")
        tag = re.search(r"\.git@([^\s/]+)", link)
        if tag:
            assert tag.group(1) == "v" + meta["version"], (
                f"README.md installs {link}: the release is v{meta['version']}")
        nb = re.search(r"/blob/[^/]+/(notebooks/[^/]+\.ipynb)$", link)
        if link.startswith("colab."):
            assert nb and (ROOT / nb.group(1)).is_file(), (
                f"README.md opens {link} in Colab, which is not a notebook of this repository")
