"""What reports open with: the score's contents, the cause of lost points, the order of what to fix first."""
from __future__ import annotations

from grader.report.feedback import cause, diagnosis, fix_first, is_not_implemented, score_label
from grader.results import CheckResult, GradingRun


def result(output: str, score: float | None = 0.0, max_score: float = 2.0, status: str = "failed", id: str = "1a.random") -> CheckResult:
    return CheckResult(id, id.split(".")[0], "t", max_score, score, status, output, "visible")


def test_the_cause_is_the_failing_line_not_the_description_of_the_case():
    first = result("0 of 6 random instances correct:\n- a random matrix with a nonzero mean: off by a constant factor 1.828 = "
                   "|det A|: the 1/|det A| Jacobian factor is missing\n- a matrix with negative determinant: ...")
    second = result("At the homework instance A = [[0.6, 0.6], [0.2, 0.6]]: off by a constant factor 0.24 = |det A|: "
                    "the 1/|det A| Jacobian factor is missing.")
    assert cause(first).startswith("a random matrix with a nonzero mean: off by a constant factor 1.828")
    assert diagnosis(first) == diagnosis(second) == "the 1/|det A| Jacobian factor is missing"  # one mistake, two students
    assert diagnosis(result("it gives 0.6417, not 1 (tolerance 0.002).")) == diagnosis(result("it gives 0.93, not 1 (tolerance 0.002)."))
    assert diagnosis(result("No answer under the heading '## 1b4' in answers.md.")) != diagnosis(result("No answer under the heading '## 2a' in answers.md."))


def test_not_implemented_is_recognised_and_said_plainly():
    stub = result("not implemented yet (density_linear: NotImplementedError: density_linear: implement the density (at p1.py:47))")
    assert is_not_implemented(stub) and cause(stub) == "not implemented yet"
    assert not is_not_implemented(result("expected 0.5, got 0.25"))


def test_fix_first_orders_by_points_lost_and_skips_pending_and_a_persons_score():
    run = GradingRun("s", (result("small", 1.5, 2.0, id="1a.a"), result("big", 0.0, 3.0, id="1a.b"), result("", None, 6.0, "pending", "2a.written"),
                           result("", 1.0, 6.0, "scored", "2b.written"), result("ok", 2.0, 2.0, "passed", id="1a.c"),
                           result("same loss, later", 1.5, 2.0, id="1a.d")), 1.0)
    assert [r.id for r in fix_first(run)] == ["1a.b", "1a.a", "1a.d"]
    assert score_label(run) == ("Score 6 / 21 (checks 5 / 9; written answers scored by the instructor 1 / 6; "
                                "6 points pending an instructor's score (not counted as 0 or as full))")
    assert score_label(GradingRun("s", (result("ok", 2.0, 2.0, "passed"),), 1.0)) == "Score 2 / 2 (all from the grader's checks)"
