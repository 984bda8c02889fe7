"""The package's import structure: every module imports, imports flow one way, no cycles.

The graph of srlab-internal imports is read from the source with ``ast`` (module-level and
function-level imports, relative ones resolved), so a rule broken anywhere is seen even in a
function that no test calls.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import srlab

SRLAB_DIR = Path(srlab.__file__).resolve().parent


@dataclass(frozen=True)
class Edge:
    """One ``import`` statement of module ``source`` that names srlab module ``target``."""

    source: str
    target: str
    line: int
    in_function: bool


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRLAB_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRLAB_DIR.rglob("*.py"))}


def _resolve(name: str) -> str:
    """The srlab module an imported name refers to: ``srlab.data.PatchSampler`` -> ``srlab.data``
    (a name that is not a module is an attribute of its parent)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _edges(module: str, path: Path) -> list[Edge]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    edges: list[Edge] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                               | ast.Lambda)
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative: resolve against this module's package
                    package = module if is_package else module.rsplit(".", 1)[0]
                    for _ in range(child.level - 1):
                        package = package.rsplit(".", 1)[0]
                    base = f"{package}.{child.module}" if child.module else package
                else:
                    base = child.module or ""
                names = [f"{base}.{a.name}" for a in child.names]
            for name in names:
                if name == "srlab" or name.startswith("srlab."):
                    target = _resolve(name)
                    if target != module:
                        edges.append(Edge(module, target, child.lineno, inside))
            visit(child, inside)

    visit(tree, False)
    return edges


EDGES = [e for module, path in MODULES.items() for e in _edges(module, path)]


def _external_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_graph_reader_sees_known_imports():
    """Guard for the tests below: the reader finds absolute, relative and package imports."""
    pairs = {(e.source, e.target) for e in EDGES}
    assert ("srlab.cli", "srlab.bench") in pairs  # from srlab import bench
    assert ("srlab.diffusion.toy", "srlab.diffusion.ddpm") in pairs  # from .ddpm import ...
    assert ("srlab.diffusion.ddpm", "srlab.checks") in pairs
    assert ("srlab.data.batches", "srlab.degradation") in pairs
    assert ("srlab.__main__", "srlab.cli") in pairs
    assert len(MODULES) >= 30


def test_the_graph_reader_sees_imports_inside_functions(tmp_path):
    src = tmp_path / "fake.py"
    src.write_text("import torch\nfrom srlab.checks import check_int\n\n"
                   "def f():\n    from srlab.data import PatchSampler\n"
                   "    return lambda: __import__('x')\n")
    edges = _edges("srlab.fake", src)
    assert [(e.target, e.line, e.in_function) for e in edges] == [
        ("srlab.checks", 2, False), ("srlab.data", 5, True)]


def test_every_module_imports():
    found = [m.name for m in pkgutil.walk_packages(srlab.__path__, "srlab.")]
    assert set(found) | {"srlab"} == set(MODULES)
    for name in found:
        importlib.import_module(name)


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in EDGES:
        graph[e.source].add(e.target)
    return graph


def test_find_cycle_reports_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_diffusion_core_imports_only_checks_and_config_from_srlab():
    bad = [e for e in EDGES if e.source.startswith("srlab.diffusion")
           and not (e.target in ("srlab.checks", "srlab.config")
                    or e.target.startswith("srlab.diffusion"))]
    assert not bad, "srlab.diffusion must not import SR code: " + ", ".join(
        f"{e.source}:{e.line} -> {e.target}" for e in bad)


def test_no_srlab_import_inside_a_function():
    bad = [e for e in EDGES if e.in_function and e.source != "srlab.__main__"]
    assert not bad, "imports inside functions hide dependencies: " + ", ".join(
        f"{e.source}:{e.line} -> {e.target}" for e in bad)


def test_library_modules_do_not_import_argparse():
    library = {m: p for m, p in MODULES.items()
               if not (m == "srlab.__main__" or m == "srlab.cli" or m.startswith("srlab.cli."))}
    assert "srlab.train" in library and "srlab.cli.train" not in library
    bad = sorted(m for m, p in library.items() if "argparse" in _external_imports(p))
    assert not bad, f"argparse belongs to srlab.cli, but is imported by {bad}"


def test_importing_the_diffusion_core_does_not_load_the_sr_side():
    code = ("import srlab.diffusion.toy, srlab.checkpoint, sys; "
            "bad = sorted(m for m in sys.modules if m.startswith(('srlab.models', 'srlab.data', "
            "'srlab.degradation', 'srlab.train'))); assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
