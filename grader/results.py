"""What grading produces: one `CheckResult` per rubric check, gathered in a `GradingRun`.

A result is plain data (it survives JSON and back); report writers are separate functions in
`grader.report`. `score is None` means pending (a written answer not yet scored by a person);
status "scored" means a person gave the score (whatever its value: neither passed nor failed).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CheckResult:
    id: str
    part: str  # the problem part it grades, Gradescope's `number` (e.g. "1a")
    title: str
    max_score: float
    score: float | None  # None while pending (manual grading)
    status: str  # "passed" | "failed" (by a check) | "pending" (awaits a person) | "scored" (by a person)
    output: str
    visibility: str  # "visible" | "after_due_date" | "hidden"
    seconds: float = 0.0
    figures: tuple[str, ...] = ()  # paths relative to the output folder

    @property
    def problem(self) -> int:
        return int(self.part[0])


@dataclass(frozen=True)
class GradingRun:
    submission: str
    results: tuple[CheckResult, ...]
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)  # about the submission as a whole

    @property
    def score(self) -> float:
        return round(sum(r.score or 0.0 for r in self.results), 4)

    @property
    def max_score(self) -> float:
        return round(sum(r.max_score for r in self.results), 4)

    @property
    def pending_points(self) -> float:
        return round(sum(r.max_score for r in self.results if r.score is None), 4)

    def to_dict(self) -> dict:
        return {"submission": self.submission, "seconds": self.seconds, "notes": list(self.notes),
                "results": [asdict(r) for r in self.results]}

    @classmethod
    def from_dict(cls, data: dict) -> GradingRun:
        results = tuple(CheckResult(**{**r, "figures": tuple(r["figures"])}) for r in data["results"])
        return cls(data["submission"], results, data["seconds"], tuple(data["notes"]))
