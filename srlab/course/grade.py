"""``python -m srlab course grade``: run the students' notebooks headless and score the tests.

Submissions are laid out as ``SUBMISSIONS/<student>/<NN_topic>.ipynb`` (the exercise notebook a
student hands back, same file name). For each one:

1. every autograder test cell (nbgrader ``grade: true``, matched by ``grade_id``) is replaced by
   the cell of ``solutions/<NN_topic>.ipynb``, which holds the hidden tests, so a student who
   edits or empties a test cell gains nothing;
2. the notebook runs top to bottom with nbclient in a fresh kernel of the current Python, in a
   temporary folder, with ``SRLAB_GRADING=1 SRLAB_FAST=1 SRLAB_OFFLINE=1``; errors do not stop
   it (a crash costs only the exercises that depend on it); a cell that runs past the per-cell
   timeout is interrupted and the next one runs; when the per-notebook time limit is used up
   the remaining cells are not run;
3. each test cell scores its points if it ran without error, else 0, with a verdict:

   ``correct``; ``wrong`` (the check said so, or a hidden test failed); ``not attempted`` (the
   answer is still the stub); ``timeout`` (the test cell, or an answer cell of the same
   exercise, ran past its time); ``error: <Exception>`` (the answer cell or the test cell
   raised it, e.g. a NameError when the answer cell was deleted); ``not reached`` (the notebook
   ran out of time before this cell); ``missing`` (the student deleted the test cell);
   ``not submitted`` (no such notebook in the student's folder, while others handed it in).

The grades are rows ``student, notebook, exercise, points, max_points, verdict`` (one per test
cell), written as CSV by :func:`write_csv`.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from tqdm.auto import tqdm

import srlab
from srlab.course.build import exercise_id

COLUMNS = ("student", "notebook", "exercise", "points", "max_points", "verdict")
TIMEOUT = "Timeout"  # the ename nbclient reports for an interrupted cell (error_on_timeout)


@dataclass(frozen=True)
class Row:
    """One test cell of one student's notebook."""

    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    verdict: str


@dataclass(frozen=True)
class _Test:
    grade_id: str
    exercise: str
    points: float
    source: str
    metadata: dict


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def graded_cells(solution: nbformat.NotebookNode) -> list[_Test]:
    """The autograder test cells (nbgrader ``grade: true`` code cells) of a solution notebook."""
    tests = []
    for cell in solution.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("grade") and meta.get("grade_id"):
            tests.append(_Test(meta["grade_id"], exercise_id(cell) or meta["grade_id"],
                               _number(meta.get("points", 0)), cell.source,
                               dict(cell.metadata)))
    return tests


def prepare(student: nbformat.NotebookNode, solution: nbformat.NotebookNode
            ) -> nbformat.NotebookNode:
    """A copy of the student's notebook whose test cells are the solution's (hidden tests in)."""
    nb = nbformat.from_dict(student)
    tests = {t.grade_id: t for t in graded_cells(solution)}
    for cell in nb.cells:
        test = tests.get(_nbgrader(cell).get("grade_id"))
        if test is not None:
            cell.cell_type = "code"
            cell.source = test.source
            cell.metadata = nbformat.from_dict(test.metadata)
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    return nb


class _CurrentPython(KernelSpecManager):
    """Kernel specs that start ipykernel on the Python running the grader, whatever is
    installed as "python3" elsewhere."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                "{connection_file}"],
                          display_name="srlab grader", language="python",
                          interrupt_mode="signal")


def execute(nb: nbformat.NotebookNode, cell_timeout: float = 60, notebook_timeout: float = 600,
            env: dict[str, str] | None = None, cwd: str | Path | None = None
            ) -> tuple[dict[int, tuple[str, str]], int]:
    """Run ``nb`` in place, cell by cell; returns ({cell index: (ename, evalue)}, cells reached).

    Errors are recorded and execution goes on. A cell running past ``cell_timeout`` seconds (or
    past what is left of ``notebook_timeout``) is interrupted and recorded as ename "Timeout";
    cells from index ``reached`` on were not run because the notebook's time was used up (or
    its kernel died).
    """
    errors: dict[int, tuple[str, str]] = {}

    def on_executed(cell, cell_index: int, execute_reply) -> None:
        content = (execute_reply or {}).get("content", {})
        if content.get("status") == "error":
            errors[cell_index] = (content.get("ename", "Error"), content.get("evalue", ""))

    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_CurrentPython())
    client = NotebookClient(nb, km=km, allow_errors=True,
                            interrupt_on_timeout=True, timeout=int(math.ceil(cell_timeout)),
                            error_on_timeout={"ename": TIMEOUT, "evalue": "interrupted",
                                              "traceback": []},
                            iopub_timeout=4, on_cell_executed=on_executed)
    deadline = time.monotonic() + notebook_timeout
    reached = 0
    kwargs: dict = {"stderr": subprocess.DEVNULL}  # the kernel's own log lines, not the student's
    if env is not None:
        kwargs["env"] = env
    if cwd is not None:
        kwargs["cwd"] = str(cwd)
    with client.setup_kernel(**kwargs):
        for index, cell in enumerate(nb.cells):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            reached = index + 1
            if cell.cell_type != "code":
                continue
            client.timeout = max(1, int(math.ceil(min(cell_timeout, left))))
            try:
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except DeadKernelError:
                errors[index] = ("DeadKernelError", "the kernel died")
                break
    return errors, reached


def _verdict(test_index: int, exercise: str, nb: nbformat.NotebookNode,
             errors: dict[int, tuple[str, str]]) -> str:
    ename, evalue = errors[test_index]
    answers = [errors[i] for i, cell in enumerate(nb.cells)
               if i in errors and i != test_index and exercise_id(cell) == exercise
               and not _nbgrader(cell).get("grade")]
    if ename == TIMEOUT or any(a[0] == TIMEOUT for a in answers):
        return "timeout"
    if ename == "AssertionError":
        return "not attempted" if ": not attempted." in evalue else "wrong"
    return f"error: {answers[0][0] if answers else ename}"


def score(student: str, notebook: str, solution: nbformat.NotebookNode,
          nb: nbformat.NotebookNode | None, errors: dict[int, tuple[str, str]],
          reached: int) -> list[Row]:
    """The rows of one executed notebook (``nb`` None: not submitted)."""
    rows = []
    for test in graded_cells(solution):
        index = None
        if nb is not None:
            index = next((i for i, c in enumerate(nb.cells)
                          if _nbgrader(c).get("grade_id") == test.grade_id), None)
        if nb is None:
            verdict = "not submitted"
        elif index is None:
            verdict = "missing"
        elif index >= reached:
            verdict = "not reached"
        elif index in errors:
            verdict = _verdict(index, test.exercise, nb, errors)
        else:
            verdict = "correct"
        points = test.points if verdict == "correct" else 0
        rows.append(Row(student, notebook, test.exercise, points, test.points, verdict))
    return rows


def grading_env(workdir: str | Path) -> dict[str, str]:
    """The kernel's environment: this one, plus grading, fast and offline mode; the kernel
    imports the same srlab as the grader (also from a source checkout that is not installed)."""
    env = dict(os.environ)
    env.pop("SRLAB_FULL", None)
    package_root = str(Path(srlab.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
    env.update(SRLAB_GRADING="1", SRLAB_FAST="1", SRLAB_OFFLINE="1",
               SRLAB_OUTPUTS=str(Path(workdir) / "outputs"))
    return env


def grade_notebook(student: str, path: Path | None, solution_path: Path,
                   cell_timeout: float = 60, notebook_timeout: float = 600) -> list[Row]:
    """Grade one submitted notebook (``path`` None: the student did not hand it in)."""
    solution = nbformat.read(solution_path, as_version=4)
    name = solution_path.stem
    if path is None:
        return score(student, name, solution, None, {}, 0)
    try:
        nb = prepare(nbformat.read(path, as_version=4), solution)
    except Exception as err:  # not a notebook: no points, say why
        return [Row(student, name, t.exercise, 0, t.points,
                    f"error: unreadable notebook ({type(err).__name__})")
                for t in graded_cells(solution)]
    with tempfile.TemporaryDirectory(prefix="srlab-grade-") as workdir:
        errors, reached = execute(nb, cell_timeout, notebook_timeout,
                                  env=grading_env(workdir), cwd=workdir)
    return score(student, name, solution, nb, errors, reached)


def submissions(folder: str | Path, solutions: str | Path = "solutions"
                ) -> list[tuple[str, str, Path | None, Path]]:
    """(student, notebook, submitted path or None, solution path) for every grading job.

    The notebooks graded are those with a solution that at least one student handed in; a
    student without one of them gets a ``None`` path (graded "not submitted").
    """
    folder, solutions = Path(folder), Path(solutions)
    if not folder.is_dir():
        raise FileNotFoundError(f"no submissions folder {folder}")
    students = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise FileNotFoundError(f"no student folders in {folder} (expected "
                                f"{folder}/<student>/<NN_topic>.ipynb)")
    handed = {p.name for s in students for p in s.glob("*.ipynb")}
    unknown = sorted(n for n in handed if not (solutions / n).is_file())
    if unknown:
        print(f"ignored (no solution notebook in {solutions}): {', '.join(unknown)}",
              file=sys.stderr)
    names = sorted(handed - set(unknown))
    if not names:
        raise FileNotFoundError(f"no submitted notebook matches one in {solutions}")
    return [(s.name, Path(n).stem, s / n if (s / n).is_file() else None, solutions / n)
            for s in students for n in names]


def grade(folder: str | Path, solutions: str | Path = "solutions", cell_timeout: float = 60,
          notebook_timeout: float = 600, progress: bool = True) -> list[Row]:
    """Grade every submission in ``folder`` (layout ``<student>/<NN_topic>.ipynb``)."""
    jobs = submissions(folder, solutions)
    rows: list[Row] = []
    for student, _name, path, solution in tqdm(jobs, desc="grading", unit="notebook",
                                              disable=not progress):
        rows += grade_notebook(student, path, solution, cell_timeout, notebook_timeout)
    return rows


def write_csv(rows: Iterable[Row], out: str | Path) -> Path:
    """Write the rows with a header line ``student,notebook,exercise,points,max_points,verdict``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(astuple(row) for row in rows)
    return out


def totals(rows: Iterable[Row]) -> dict[str, tuple[float, float]]:
    """{student: (points, max points)} over all their notebooks."""
    out: dict[str, tuple[float, float]] = {}
    for row in rows:
        got, most = out.get(row.student, (0, 0))
        out[row.student] = (got + row.points, most + row.max_points)
    return out
