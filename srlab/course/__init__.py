"""Exercises for the lecture notebooks: answer checks, the exercise build, the grader.

Students: ``from srlab.course import exercise``; ``exercise("03.2").check(answer)``,
``.hint()``, ``.solution()``. Instructors: see INSTRUCTORS.md (``python -m srlab course build``
writes ``exercises/`` from ``solutions/``; ``python -m srlab course grade`` grades submissions).
One module of checks per lecture notebook: ``ex00`` ... ``ex05``.
"""

# importing a module registers its exercises
from srlab.course import ex00, ex01, ex02, ex03, ex04, ex05  # noqa: F401
from srlab.course.registry import REGISTRY, Exercise, Result, Wrong, check, exercise

__all__ = ["REGISTRY", "Exercise", "Result", "Wrong", "check", "exercise"]
