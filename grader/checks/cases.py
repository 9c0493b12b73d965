"""Checks that run several cases and give partial credit per case."""
from __future__ import annotations

from typing import Callable

from grader.runner.normalize import WrongOutput
from grader.runner.sandbox import StudentCodeError


def per_case(cases: list[tuple[str, Callable[[], tuple[float, str | None]]]]) -> tuple[float, str]:
    """Run each case (label, run -> (fraction, problem or None)); the mean fraction and one line per case.

    A wrong output or an exception in one case costs that case only; a stub, a hang or a crash
    ends the check.
    """
    total, lines = 0.0, []
    for label, run in cases:
        try:
            fraction, problem = run()
        except WrongOutput as error:
            fraction, problem = 0.0, str(error)
        except StudentCodeError as error:
            if error.kind not in ("exception", "memory") or error.error_type == "NotImplementedError":
                raise
            fraction, problem = 0.0, str(error)
        total += fraction
        lines.append(f"- {label}: {problem or 'ok'}")
    return total / len(cases), "\n".join(lines)
