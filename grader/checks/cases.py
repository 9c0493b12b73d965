"""Checks that run several cases and give partial credit per case."""
from __future__ import annotations

from collections.abc import Callable

from grader.runner.normalize import WrongOutput
from grader.runner.sandbox import StudentCodeError

Case = tuple[str, Callable[[], tuple[float, str | None]]]


def per_case(cases: list[Case]) -> tuple[float, str]:
    """Run each case (label, run -> (fraction, problem or None)); the mean fraction and one line per case.

    Any failure of one case costs that case only, and the cases after it still run: a wrong
    output, an exception, a stub (NotImplementedError), a timeout, a crash (the session starts a
    fresh child for the next call). When no case got as far as an answer, the first failure is
    the check's, so a stub reads "not implemented" and a missing module "not in the submission".
    """
    total, lines, failures = 0.0, [], []
    for label, run in cases:
        try:
            fraction, problem = run()
        except WrongOutput as error:
            fraction, problem = 0.0, str(error)
        except StudentCodeError as error:
            failures.append(error)
            fraction, problem = 0.0, _failure_text(error)
        total += fraction
        lines.append(f"- {label}: {problem or 'ok'}")
    if failures and len(failures) == len(cases):
        raise failures[0]
    return total / len(cases), "\n".join(lines)


def _failure_text(error: StudentCodeError) -> str:
    from grader.engine import student_message

    return student_message(error)
