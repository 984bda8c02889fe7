"""Exercises and their answer checks: ``exercise("03.2").check(answer)``, ``.hint()``, and more.

A checker compares a student's answer with srlab's own reference implementation on inputs
drawn at random for every call (shapes, sizes, values), so an answer hard-coded for the
example in the notebook fails. It returns a sentence saying what it verified, or raises
``Wrong("a specific hint")``. The student sees one plain-text verdict, never a traceback:

- *not attempted*: the answer is still ``None`` or the stub still raises NotImplementedError;
- *correct*: what was verified, with the tolerance;
- *wrong*: what differed and a hint towards the fix.

When ``SRLAB_GRADING=1`` (set by ``python -m srlab course grade``) a verdict other than
*correct* also raises ``AssertionError``, so a test cell fails and loses its points.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

STATUSES = ("not attempted", "correct", "wrong")
Checker = Callable[[object, torch.Generator, bool], str]


class Wrong(Exception):
    """Raised by a checker when the answer is wrong; the message is shown as the hint."""


@dataclass(frozen=True)
class Result:
    """The verdict on one answer: ``status`` is one of ``STATUSES``."""

    exercise: str
    status: str
    message: str
    printed: bool = field(default=False, compare=False, repr=False)

    @property
    def passed(self) -> bool:
        return self.status == "correct"

    def __str__(self) -> str:
        mark = {"not attempted": "[ ]", "correct": "[ok]", "wrong": "[x]"}[self.status]
        return f"{mark} Exercise {self.exercise}: {self.status}. {self.message}"

    __repr__ = __str__

    def _ipython_display_(self) -> None:
        """A notebook shows a cell's last value: once, not again after ``check`` printed it."""
        if not self.printed:
            print(self)


@dataclass
class Exercise:
    """One exercise: ``id`` like "03.2", the checker, hints shown one at a time, a solution."""

    id: str
    title: str
    lesson: str  # the lecture section it practises, e.g. "notebooks/03_smsrn.ipynb, section 2"
    checker: Checker
    hints: tuple[str, ...]
    solution_text: str
    points: int = 1
    _hints_shown: int = field(default=0, repr=False)

    def check(self, answer: object, *, strict: bool = False, seed: int | None = None,
              quiet: bool = False) -> Result:
        """Check ``answer`` (a function or a value) and print the verdict.

        ``strict`` adds the instructors' harder cases (other shapes, dtypes, edge cases).
        ``seed`` fixes the random inputs (default: new ones every call; the message names the
        seed so a verdict can be reproduced).
        """
        seed = secrets.randbelow(2**31) if seed is None else seed
        result = self._verdict(answer, torch.Generator().manual_seed(seed), strict, seed)
        if not quiet:
            print(result)
            result = replace(result, printed=True)
        if os.environ.get("SRLAB_GRADING") == "1" and not result.passed:
            raise AssertionError(str(result))
        return result

    def _verdict(self, answer: object, rng: torch.Generator, strict: bool, seed: int) -> Result:
        if answer is None or answer is Ellipsis:
            return Result(self.id, "not attempted", "Write your answer in the cell above, run "
                          "it, then run this check again.")
        try:
            verified = self.checker(answer, rng, strict)
        except NotImplementedError:
            return Result(self.id, "not attempted", "The stub still raises NotImplementedError: "
                          "replace it with your code, run the cell, then this check again.")
        except Wrong as err:
            return Result(self.id, "wrong", f"{err} (random inputs from seed {seed}; "
                          f"exercise({self.id!r}).hint() gives a hint)")
        except Exception as err:  # the student's code failed: say where, not a traceback
            return Result(self.id, "wrong", f"your answer raised {type(err).__name__}: {err} "
                          f"(random inputs from seed {seed})")
        return Result(self.id, "correct", verified)

    def hint(self) -> str:
        """The next hint (they get more specific); after the last, the last again."""
        text = self.hints[min(self._hints_shown, len(self.hints) - 1)]
        self._hints_shown += 1
        number = min(self._hints_shown, len(self.hints))
        message = f"Hint {number}/{len(self.hints)} for exercise {self.id}: {text}"
        print(message)
        return message

    def solution(self) -> str:
        """Print the reference solution."""
        print(f"Solution of exercise {self.id} ({self.title}):\n{self.solution_text}")
        return self.solution_text


REGISTRY: dict[str, Exercise] = {}


def register(id: str, title: str, lesson: str, hints: tuple[str, ...] | list[str],
             solution: str, points: int = 1) -> Callable[[Checker], Checker]:
    """Decorator: ``@register("03.2", ...)`` on a checker ``(answer, rng, strict) -> str``."""

    def add(checker: Checker) -> Checker:
        if id in REGISTRY:
            raise ValueError(f"exercise {id} is registered twice")
        if not hints:
            raise ValueError(f"exercise {id} needs at least one hint")
        REGISTRY[id] = Exercise(id, title, lesson, checker, tuple(hints), solution.strip(), points)
        return checker

    return add


def exercise(id: str) -> Exercise:
    """The exercise with this id, e.g. ``exercise("03.2")``."""
    if id not in REGISTRY:
        raise ValueError(f"unknown exercise {id!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[id]


def check(id: str, answer: object, *, strict: bool = False, seed: int | None = None,
          quiet: bool = False) -> Result:
    """Shortcut for ``exercise(id).check(answer)``."""
    return exercise(id).check(answer, strict=strict, seed=seed, quiet=quiet)


def close(answer: torch.Tensor, expected: torch.Tensor, what: str, atol: float = 1e-5,
          rtol: float = 1e-4) -> None:
    """Raise ``Wrong`` unless ``answer`` matches ``expected`` in shape and values."""
    if not isinstance(answer, torch.Tensor):
        raise Wrong(f"{what}: expected a torch.Tensor, got {type(answer).__name__}")
    if answer.shape != expected.shape:
        raise Wrong(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(answer.shape)}")
    answer = answer.detach().to(expected.dtype) if answer.is_floating_point() else answer
    if not torch.allclose(answer, expected, atol=atol, rtol=rtol, equal_nan=False):
        err = (answer.double() - expected.double()).abs().max().item()
        raise Wrong(f"{what}: largest difference from the reference is {err:.3g} (tolerance "
                    f"atol {atol:g}, rtol {rtol:g})")
