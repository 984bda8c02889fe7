"""The course infrastructure: the exercise build, the answer-check registry, the grader.

Per-exercise checks are tested in ``test_course_exNN.py``; here: the strip rules of
``srlab.course.build``, that ``exercises/`` is in sync with ``solutions/`` and runs, the
registry's verdicts, and ``python -m srlab course grade`` on a small set of submissions.
"""

import csv
import os
import shutil
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from srlab.cli import main
from srlab.course import REGISTRY, Wrong, check, exercise
from srlab.course.build import build, build_notebook, exercise_id, strip_cell
from srlab.course.grade import execute, graded_cells, grading_env
from srlab.course.registry import close, register

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
EXERCISE_NOTEBOOKS = sorted(EXERCISES.glob("[0-9][0-9]_*.ipynb"))
SOLUTION_00 = SOLUTIONS / "00_setup_and_metrics.ipynb"


def _nbg(grade_id: str, *, solution: bool = False, grade: bool = False, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


# ---------------------------------------------------------------------------------------------
# build: the strip rules


def test_value_answers_become_none():
    src = "x = 1\n### BEGIN SOLUTION\nratio = 0.1189  # 1/N + 1/k^2\nn: int = 3\n### END SOLUTION"
    assert strip_cell(src, "00.1", "c") == (
        "x = 1\nratio = None  # your answer\nn = None  # your answer", False)
    multi = "### BEGIN SOLUTION\na, b = (1,\n        2)\n### END SOLUTION\nprint(a)"
    assert strip_cell(multi, "00.1", "c") == (
        "a = None  # your answer\nb = None  # your answer\nprint(a)", False)


def test_function_bodies_become_an_indented_raise():
    title = REGISTRY["00.1"].title
    src = ("def f(x):\n    y = 2 * x\n    ### BEGIN SOLUTION\n    if x:\n        return y\n"
           "    return 0\n    ### END SOLUTION\n\n\nclass A:\n    def g(self):\n"
           "        ### BEGIN SOLUTION\n        return 1\n        ### END SOLUTION")
    out, raises = strip_cell(src, "00.1", "c")
    stub = f'raise NotImplementedError("Exercise 00.1: {title}")'
    assert out == (f"def f(x):\n    y = 2 * x\n    {stub}\n\n\nclass A:\n    def g(self):\n"
                   f"        {stub}")
    assert not raises  # a function body raises only when called


def test_top_level_code_becomes_a_raise_that_is_flagged():
    out, raises = strip_cell("### BEGIN SOLUTION\nprint(42)\n### END SOLUTION", "00.1", "c")
    assert out.startswith("raise NotImplementedError(") and raises
    with pytest.raises(ValueError, match="grade_id"):  # a raise needs the exercise id
        strip_cell("### BEGIN SOLUTION\nprint(42)\n### END SOLUTION", None, "c")
    with pytest.raises(ValueError, match="empty"):
        strip_cell("### BEGIN SOLUTION\n# nothing\n### END SOLUTION", "00.1", "c")


def test_hidden_tests_are_removed():
    src = "check(f)\n### BEGIN HIDDEN TESTS\nassert check(f, strict=True)\n### END HIDDEN TESTS"
    assert strip_cell(src, "00.1", "c") == ("check(f)", False)


@pytest.mark.parametrize("src", [
    "### BEGIN SOLUTION\nx = 1",
    "### BEGIN HIDDEN TESTS\nassert x",
    "x = 1\n### END SOLUTION",
    "x = 1\n### END HIDDEN TESTS",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
])
def test_broken_markers_name_the_cell(src):
    nb = new_notebook(cells=[new_markdown_cell("# t"), new_code_cell(src)])
    with pytest.raises(ValueError, match=r"nb\.ipynb, cell 1"):
        build_notebook(nb, "nb.ipynb")


def _toy_solution() -> nbformat.NotebookNode:
    stale = new_code_cell("### BEGIN SOLUTION\nratio = 0.5\n### END SOLUTION",
                          metadata={**_nbg("ex00_1_answer", solution=True),
                                    "tags": ["raises-exception", "keep"]})
    return new_notebook(cells=[
        new_markdown_cell("# Exercises\n### BEGIN SOLUTION stays in markdown"),
        new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION",
                      metadata=_nbg("ex00_1_answer", solution=True), execution_count=3,
                      outputs=[nbformat.v4.new_output("stream", text="hi\n")]),
        new_code_cell("### BEGIN SOLUTION\nprint(1)\n### END SOLUTION",
                      metadata=_nbg("ex00_1_answer", solution=True)),
        stale,
        new_code_cell('exercise("00.1").check(f)\n### BEGIN HIDDEN TESTS\nassert 1\n'
                      "### END HIDDEN TESTS", metadata=_nbg("ex00_1_check", grade=True, points=2)),
    ])


def test_build_notebook_clears_outputs_keeps_metadata_and_tags_raising_cells():
    solution = _toy_solution()
    before = nbformat.writes(solution)
    nb = build_notebook(solution, "toy.ipynb")
    assert nbformat.writes(solution) == before  # the solution is not modified
    assert nb.cells[0].source == solution.cells[0].source
    for cell, original in zip(nb.cells[1:], solution.cells[1:]):
        assert cell.outputs == [] and cell.execution_count is None
        assert cell.metadata["nbgrader"] == original.metadata["nbgrader"]
        assert cell.id == original.id
    tags = [c.metadata.get("tags") for c in nb.cells]
    # only the top-level raise is tagged; a stale tag goes when the stub no longer raises
    assert tags == [None, None, ["raises-exception"], ["keep"], None]
    assert nb.cells[4].source == 'exercise("00.1").check(f)'
    assert [exercise_id(c) for c in nb.cells] == [None, "00.1", "00.1", "00.1", "00.1"]


def _copy_solutions(tmp_path: Path) -> Path:
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    for path in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))[:2]:
        shutil.copy(path, solutions)
    return solutions


def test_build_is_idempotent_and_check_catches_edits(tmp_path):
    solutions, exercises = _copy_solutions(tmp_path), tmp_path / "exercises"
    names = sorted(p.name for p in solutions.glob("*.ipynb"))
    written = build(solutions, exercises)
    assert sorted(p.name for p in written) == names
    snapshot = {p.name: p.read_text() for p in exercises.iterdir()}
    assert build(solutions, exercises) == [] and build(solutions, exercises, check=True) == []
    assert {p.name: p.read_text() for p in exercises.iterdir()} == snapshot
    edited = exercises / names[0]
    edited.write_text(edited.read_text().replace("# your answer", "# my answer", 1)
                      .replace("NotImplementedError(", "RuntimeError(", 1))
    orphan = exercises / "99_gone.ipynb"
    shutil.copy(edited, orphan)
    assert build(solutions, exercises, check=True) == [edited, orphan]
    assert edited.read_text() != snapshot[names[0]] and orphan.exists()  # check writes nothing
    assert build(solutions, exercises) == [edited, orphan]
    assert {p.name: p.read_text() for p in exercises.iterdir()} == snapshot
    with pytest.raises(FileNotFoundError):
        build(tmp_path / "nothing", exercises)


def test_exercises_are_in_sync_with_solutions():
    stale = build(SOLUTIONS, EXERCISES, check=True)
    assert stale == [], (f"exercises/ is out of date ({', '.join(p.name for p in stale)}): run "
                         "`python -m srlab course build`, never edit exercises/ by hand")


def test_cli_build_check(tmp_path, capsys):
    solutions, exercises = _copy_solutions(tmp_path), tmp_path / "exercises"
    args = ["course", "build", "--solutions", str(solutions), "--exercises", str(exercises)]
    assert main(args + ["--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert main(args) == 0 and main(args + ["--check"]) == 0
    assert "in sync" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# the registry: verdicts, hints, solutions, grading mode


@pytest.fixture
def toy():
    """A throwaway exercise 99.1: double a tensor (removed from the registry afterwards)."""

    @register("99.1", "Double it", lesson="nowhere", hints=["Multiply.", "Return 2 * x."],
              solution="def double(x):\n    return 2 * x\n", points=2)
    def check_double(answer, rng: torch.Generator, strict: bool) -> str:
        x = torch.rand(int(torch.randint(2, 9, (), generator=rng)), generator=rng)
        got = answer(x)
        if isinstance(got, torch.Tensor) and torch.equal(got, x):
            raise Wrong("you returned x unchanged: multiply it by 2")
        close(got, 2 * x, "2x")
        return f"doubles {len(x)} random values{' (strict)' if strict else ''}: {x.sum():.6f}"

    yield exercise("99.1")
    del REGISTRY["99.1"]


def _stub(x):
    raise NotImplementedError("Exercise 99.1")


def test_not_attempted(toy, capsys):
    for answer in (None, ..., _stub):
        result = toy.check(answer)
        assert result.status == "not attempted" and not result.passed
    out = capsys.readouterr().out
    assert out.count("[ ] Exercise 99.1: not attempted.") == 3 and "Traceback" not in out


def test_wrong_with_hint_and_correct(toy, capsys):
    wrong = toy.check(lambda x: x, seed=1)
    assert wrong.status == "wrong" and "multiply it by 2" in wrong.message
    assert "seed 1" in wrong.message and "hint()" in wrong.message
    right = toy.check(lambda x: x + x, strict=True)
    assert right.passed and "(strict)" in right.message
    assert "[ok] Exercise 99.1: correct." in capsys.readouterr().out


def test_student_exception_is_a_verdict_not_a_traceback(toy, capsys):
    result = toy.check(lambda x: 1 / 0)
    assert result.status == "wrong"
    assert result.message.startswith("your answer raised ZeroDivisionError")
    out, err = capsys.readouterr()
    assert "Exercise 99.1: wrong. your answer raised ZeroDivisionError: division by zero" in out
    assert "Traceback" not in out + err


def test_hints_one_at_a_time_then_the_last(toy, capsys):
    assert [toy.hint() for _ in range(3)] == [
        "Hint 1/2 for exercise 99.1: Multiply.",
        "Hint 2/2 for exercise 99.1: Return 2 * x.",
        "Hint 2/2 for exercise 99.1: Return 2 * x."]
    assert capsys.readouterr().out.count("Hint 2/2") == 2


def test_solution_prints(toy, capsys):
    assert toy.solution() == "def double(x):\n    return 2 * x"
    out = capsys.readouterr().out
    assert "Solution of exercise 99.1 (Double it)" in out and "return 2 * x" in out


def test_unknown_and_duplicate_ids(toy):
    with pytest.raises(ValueError, match=r"unknown exercise '42\.1'; known: .*00\.1.*99\.1"):
        exercise("42.1")
    with pytest.raises(ValueError, match="registered twice"):
        register("99.1", "again", lesson="", hints=["h"], solution="")(lambda a, r, s: "")
    with pytest.raises(ValueError, match="hint"):
        register("99.2", "no hints", lesson="", hints=[], solution="")(lambda a, r, s: "")
    assert "99.2" not in REGISTRY


def test_grading_mode_raises_on_anything_but_correct(toy, monkeypatch, capsys):
    monkeypatch.setenv("SRLAB_GRADING", "1")
    with pytest.raises(AssertionError, match=r"Exercise 99\.1: wrong\. you returned x"):
        toy.check(lambda x: x, quiet=True)
    with pytest.raises(AssertionError, match="not attempted"):
        check("99.1", None)
    assert toy.check(lambda x: 2 * x).passed


def test_seed_makes_a_verdict_reproducible(toy):
    def answer(x):
        return 2 * x

    same = [toy.check(answer, seed=7, quiet=True).message for _ in range(2)]
    assert same[0] == same[1] and same[0] != toy.check(answer, seed=8, quiet=True).message
    assert toy.check(lambda x: x, seed=7, quiet=True).message == \
        toy.check(lambda x: x, seed=7, quiet=True).message


# ---------------------------------------------------------------------------------------------
# the exercise notebooks run; the grader


def _env(tmp_path: Path) -> dict[str, str]:
    env = grading_env(tmp_path)
    del env["SRLAB_GRADING"]  # students' mode: a verdict is printed, never raised
    return env


@pytest.mark.notebooks
@pytest.mark.parametrize("path", EXERCISE_NOTEBOOKS, ids=[p.name for p in EXERCISE_NOTEBOOKS])
def test_exercise_notebook_runs_untouched(path, tmp_path):
    """Fast mode, offline, in a temporary folder: only the tagged stubs may fail, and only with
    NotImplementedError; the checks answer "not attempted" without raising."""
    nb = nbformat.read(path, as_version=4)
    errors, reached = execute(nb, cell_timeout=120, notebook_timeout=300, env=_env(tmp_path),
                              cwd=tmp_path)
    assert reached == len(nb.cells)
    bad = {i: e for i, e in errors.items()
           if e[0] != "NotImplementedError"
           or "raises-exception" not in nb.cells[i].metadata.get("tags", [])}
    assert not bad, f"{path.name}: cells (index: error) failed that should not: {bad}"


def _cells(nb, suffix: str) -> list[int]:
    return [i for i, c in enumerate(nb.cells)
            if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith(suffix)]


@pytest.mark.notebooks
def test_grade_submissions(tmp_path, capsys):
    """Correct, partial, crashing, looping, absent and slow students; exact CSV rows."""
    solution = nbformat.read(SOLUTION_00, as_version=4)
    stubbed = build_notebook(solution, SOLUTION_00.name)
    tests = graded_cells(solution)
    first, last = tests[0].exercise, tests[-1].exercise
    last_answers = [i for i in _cells(solution, "_answer")
                    if exercise_id(solution.cells[i]) == last]
    subs = tmp_path / "subs"

    def hand_in(student: str, nb) -> None:
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / SOLUTION_00.name)

    hand_in("correct", solution)
    partial = nbformat.from_dict(solution)  # the last answer left as the stub, a test tampered
    for i in last_answers:
        partial.cells[i] = stubbed.cells[i]
    partial.cells[_cells(partial, "_check")[-1]].source = "pass  # the test cell, emptied"
    del partial.cells[_cells(partial, "_check")[0]]  # and the first test cell deleted
    hand_in("partial", partial)
    crashing = nbformat.from_dict(solution)
    crashing.cells[last_answers[0]].source = "1 / 0\n" + crashing.cells[last_answers[0]].source
    crashing.cells.insert(3, new_code_cell("1 / 0  # early, before the answers"))
    hand_in("crashing", crashing)
    looping = nbformat.from_dict(solution)
    looping.cells[last_answers[0]].source = "while True:\n    pass\n" + \
        looping.cells[last_answers[0]].source
    hand_in("looping", looping)
    (subs / "absent").mkdir()

    out = tmp_path / "grades.csv"
    assert main(["course", "grade", str(subs), "--out", str(out), "--timeout", "15",
                 "--solutions", str(SOLUTIONS)]) == 0
    printed = capsys.readouterr().out
    n = len(tests)
    assert f"correct: {n}/{n}" in printed and f"absent: 0/{n}" in printed

    def rows(student: str, verdicts: dict[str, str]) -> list[list[str]]:
        return [[student, SOLUTION_00.stem, t.exercise,
                 str(t.points if verdicts.get(t.exercise, "correct") == "correct" else 0),
                 str(t.points), verdicts.get(t.exercise, "correct")] for t in tests]

    expected = [["student", "notebook", "exercise", "points", "max_points", "verdict"]]
    expected += rows("absent", {t.exercise: "not submitted" for t in tests})
    expected += rows("correct", {})
    expected += rows("crashing", {last: "error: ZeroDivisionError"})
    expected += rows("looping", {last: "timeout"})
    expected += rows("partial", {first: "missing", last: "not attempted"})
    with out.open(newline="") as f:
        assert list(csv.reader(f)) == expected

    # a notebook out of time: what it did not reach scores nothing
    slow_subs = tmp_path / "slow"
    slow = nbformat.from_dict(solution)
    slow.cells.insert(1, new_code_cell("while True:\n    pass"))
    (slow_subs / "slow").mkdir(parents=True)
    nbformat.write(slow, slow_subs / "slow" / SOLUTION_00.name)
    from srlab.course.grade import grade

    got = grade(slow_subs, SOLUTIONS, cell_timeout=60, notebook_timeout=3, progress=False)
    assert [(r.exercise, r.points, r.verdict) for r in got] == \
        [(t.exercise, 0, "not reached") for t in tests]
    assert os.environ.get("SRLAB_GRADING") is None  # the grader's mode stays in its kernels


def test_cli_grade_bad_input_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["course", "grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g.csv")])
    assert exit_.value.code == 2 and "no submissions folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["course", "grade", str(tmp_path), "--timeout", "0"])
