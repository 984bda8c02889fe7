"""``python -m srlab course build``: the exercise notebooks, written from the solution notebooks.

``solutions/NN_<topic>.ipynb`` is the one source. In every code cell:

- the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become a stub: assignments
  at the top level (``answer = 42``) become ``answer = None  # your answer``; anything else
  becomes ``raise NotImplementedError("Exercise 03.2: <title>")`` at the block's indentation;
- the lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are removed;
- outputs and execution counts are cleared; nbgrader metadata is kept, and cells whose stub
  raises when run (a top-level ``raise``) get the ``raises-exception`` tag, so the untouched
  exercise notebook runs top to bottom.

The exercise id comes from the cell's nbgrader ``grade_id`` (``ex03_2_answer`` -> "03.2").
Plain nbformat, no nbgrader needed; the result is the same however often it runs.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat

from srlab.course.registry import REGISTRY

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
GRADE_ID = re.compile(r"^ex(\d\d)_(\d+)_")


def exercise_id(cell) -> str | None:
    """"03.2" for a cell whose nbgrader grade_id is ``ex03_2_...``, else None."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
    m = GRADE_ID.match(grade_id)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _assigned_names(block: list[str]) -> list[str] | None:
    """The names a top-level block assigns when it is only ``name = ...`` statements, else None.

    Statements may span lines (``ratio = (a\n + b)``); ``a, b = ...`` gives both names.
    """
    try:
        tree = ast.parse("\n".join(block))
    except SyntaxError:
        return None
    names: list[str] = []
    for stmt in tree.body:
        targets = (stmt.targets if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                   else [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value
                   else None)
        if targets is None:
            return None
        target = targets[0]
        elts = target.elts if isinstance(target, ast.Tuple) else [target]
        if not all(isinstance(e, ast.Name) for e in elts):
            return None
        names += [e.id for e in elts if e.id not in names]
    return names or None


def _stub(block: list[str], ex_id: str | None, where: str) -> tuple[list[str], bool]:
    """(stub lines, raises) for the solution lines ``block``."""
    code = [line for line in block if line.strip() and not line.lstrip().startswith("#")]
    if not code:
        raise ValueError(f"{where}: empty solution region")
    indent = code[0][: len(code[0]) - len(code[0].lstrip())]
    names = None if indent else _assigned_names(block)
    if names:
        return [f"{name} = None  # your answer" for name in names], False
    if ex_id is None:
        raise ValueError(f"{where}: a solution cell needs nbgrader grade_id 'exNN_K_...'")
    title = REGISTRY[ex_id].title if ex_id in REGISTRY else "your code here"
    # only a stub at the top level raises when the cell runs (a function body raises when called)
    return [f'{indent}raise NotImplementedError("Exercise {ex_id}: {title}")'], not indent


def strip_cell(source: str, ex_id: str | None, where: str) -> tuple[str, bool]:
    """The exercise version of one code cell's source, and whether it raises."""
    out: list[str] = []
    block: list[str] | None = None
    hidden = raises = False
    for line in source.split("\n"):
        marker = line.strip()
        if marker in (BEGIN_HIDDEN, BEGIN_SOLUTION) and (hidden or block is not None):
            raise ValueError(f"{where}: {marker} inside another region")
        if marker == BEGIN_HIDDEN:
            hidden = True
        elif marker == END_HIDDEN:
            if not hidden:
                raise ValueError(f"{where}: {END_HIDDEN} without {BEGIN_HIDDEN}")
            hidden = False
        elif hidden:
            continue
        elif marker == BEGIN_SOLUTION:
            block = []
        elif marker == END_SOLUTION:
            if block is None:
                raise ValueError(f"{where}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            stub, stub_raises = _stub(block, ex_id, where)
            out += stub
            raises |= stub_raises
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None or hidden:
        raise ValueError(f"{where}: a solution or hidden-test region is not closed")
    return "\n".join(out), raises


def build_notebook(solution: nbformat.NotebookNode, name: str = "notebook"
                   ) -> nbformat.NotebookNode:
    """The exercise notebook for one solution notebook (a new object)."""
    nb = nbformat.from_dict(solution)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source, raises = strip_cell(cell.source, exercise_id(cell), f"{name}, cell {i}")
        cell.source = source
        cell.outputs = []
        cell.execution_count = None
        tags = [t for t in cell.metadata.get("tags", []) if t != "raises-exception"]
        if raises:
            tags.append("raises-exception")
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    return nb


def _same(target: Path, text: str) -> bool:
    """True when ``target`` holds the notebook ``text`` (as JSON: a re-save that changes only
    the formatting is no difference; an edited cell, an output, a metadata entry is)."""
    try:
        return json.loads(target.read_text()) == json.loads(text)
    except (OSError, ValueError):
        return False


def build(solutions: str | Path = "solutions", exercises: str | Path = "exercises",
          check: bool = False) -> list[Path]:
    """Write ``exercises/NN_*.ipynb`` for every ``solutions/NN_*.ipynb``; returns the paths.

    The paths returned are those written, and those of exercise notebooks without a solution
    notebook any more, which are deleted. With ``check=True`` nothing is written or deleted:
    the paths that are missing, differ from what the build would write, or have no solution
    are returned (empty: in sync).
    """
    solutions, exercises = Path(solutions), Path(exercises)
    paths = sorted(solutions.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no solution notebooks (NN_<topic>.ipynb) in {solutions}")
    changed = []
    for path in paths:
        text = nbformat.writes(build_notebook(nbformat.read(path, as_version=4), path.name)) + "\n"
        target = exercises / path.name
        if _same(target, text):
            continue
        changed.append(target)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    # a generated notebook whose solution is gone (renamed, removed) is out of date too
    names = {p.name for p in paths}
    for orphan in sorted(exercises.glob("[0-9][0-9]_*.ipynb")):
        if orphan.name not in names:
            changed.append(orphan)
            if not check:
                orphan.unlink()
    return changed
