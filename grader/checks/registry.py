"""The rubric: every check is declared once, with its id, part, points and visibility.

    @check("1a.instance", part="1a", points=1.5, module="p1_change_of_variables",
           title="density_linear at the homework instance")
    def instance(ctx: CheckContext) -> Outcome: ...

Max points are fixed here, never by what happens at run time. A check returns an `Outcome`
(the fraction of its points earned and feedback); raising `StudentCodeError` or `WrongOutput`
scores 0 with that message (the engine turns it into a result).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

PROBLEM_MODULES = ("grader.checks.p1", "grader.checks.p3", "grader.checks.p4", "grader.checks.written")
VISIBILITIES = ("visible", "after_due_date", "hidden", "after_published")


@dataclass(frozen=True)
class Outcome:
    """What a check found: `fraction` of its points in [0, 1] (None: pending a person's score)."""

    fraction: float | None
    message: str
    figures: tuple[str, ...] = ()

    def __post_init__(self):
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction {self.fraction} outside [0, 1]")


@dataclass(frozen=True)
class Check:
    id: str
    part: str
    title: str
    points: float
    module: str | None  # the student module it needs (None: no student code, e.g. written answers)
    run: Callable[..., Outcome]
    visibility: str = "visible"
    timeout_s: float = 30.0  # per call into student code, before --time-scale

    @property
    def problem(self) -> int:
        return int(self.part[0])


_CHECKS: dict[str, Check] = {}


def check(id: str, *, part: str, points: float, title: str, module: str | None,
          visibility: str = "visible", timeout_s: float = 30.0) -> Callable[[Callable[..., Outcome]], Callable[..., Outcome]]:
    """Register the decorated function as a rubric check."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility {visibility!r} is not one of {VISIBILITIES}")

    def register(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
        if id in _CHECKS:
            raise ValueError(f"check id {id!r} declared twice")
        _CHECKS[id] = Check(id, part, title, points, module, fn, visibility, timeout_s)
        return fn

    return register


def all_checks() -> list[Check]:
    """Every registered check, problems in order, checks in declaration order."""
    for name in PROBLEM_MODULES:
        importlib.import_module(name)
    return sorted(_CHECKS.values(), key=lambda c: c.problem)  # stable: declaration order within a problem


def select(problems: set[int] | None = None, ids: set[str] | None = None) -> list[Check]:
    """Checks of the given problems and/or ids; an unknown id is an error listing the known ones."""
    checks = all_checks()
    known = {c.id for c in checks}
    unknown = sorted((ids or set()) - known)
    if unknown:
        raise KeyError(f"unknown check id(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [c for c in checks if (problems is None or c.problem in problems) and (ids is None or c.id in ids)]


def by_ids(ids: list[str] | tuple[str, ...]) -> list[Check]:
    """The registered checks with these ids, in that order (grader processes of a pool receive checks as ids)."""
    registry = {c.id: c for c in all_checks()}
    return [registry[i] for i in ids]
