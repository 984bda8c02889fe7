"""``python -m srlab course {build,grade}``: the exercise notebooks and the autograder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srlab.course.build import build
from srlab.course.grade import grade, totals, write_csv


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {value}")
    return value


def add_parser(sub) -> None:
    """Add ``course build`` and ``course grade`` to the subcommands ``sub``."""
    course = sub.add_parser("course", help="instructors: build the exercises, grade submissions")
    what = course.add_subparsers(dest="course_command", required=True)
    b = what.add_parser("build", help="write exercises/ from solutions/")
    b.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 listing the files when exercises/ is out "
                        "of date")
    b.add_argument("--solutions", default="solutions", help="default: solutions")
    b.add_argument("--exercises", default="exercises", help="default: exercises")

    g = what.add_parser("grade", help="run submitted notebooks and score their tests "
                                      "(layout: SUBMISSIONS_DIR/<student>/<NN_topic>.ipynb)")
    g.add_argument("submissions", metavar="SUBMISSIONS_DIR")
    g.add_argument("--out", default="grades.csv", help="CSV to write (default grades.csv)")
    g.add_argument("--solutions", default="solutions",
                   help="solution notebooks with the hidden tests (default: solutions)")
    g.add_argument("--timeout", type=_seconds, default=60,
                   help="seconds per cell before it is interrupted (default 60)")
    g.add_argument("--notebook-timeout", type=_seconds, default=600,
                   help="seconds per notebook; cells after that are not run (default 600)")


def run_course(args: argparse.Namespace) -> int:
    """Run ``course build`` or ``course grade``; returns the exit code."""
    if args.course_command == "build":
        changed = build(args.solutions, args.exercises, check=args.check)
        if args.check:
            if changed:
                print(f"out of date (run `python -m srlab course build`): "
                      f"{', '.join(map(str, changed))}")
                return 1
            print(f"{args.exercises}/ is in sync with {args.solutions}/")
            return 0
        print(f"wrote {', '.join(map(str, changed))}" if changed
              else f"{args.exercises}/ was already up to date")
        return 0

    rows = grade(args.submissions, args.solutions, cell_timeout=args.timeout,
                 notebook_timeout=args.notebook_timeout)
    out = write_csv(rows, Path(args.out))
    for student, (got, most) in totals(rows).items():
        print(f"{student}: {got:g}/{most:g}")
    print(f"wrote {len(rows)} rows to {out}", file=sys.stderr)
    return 0
