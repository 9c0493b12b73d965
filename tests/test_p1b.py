"""Problem 1b1-1b3 end to end: reference full, template zero, each corpus mistake caught precisely.

Every grading spawns a child (~3 s), so each case grades only the checks it is about.
"""
from __future__ import annotations

import pytest
from helpers import CORPUS, REFERENCE, TEMPLATE, by_id, grade, patched_submission

from grader.checks.registry import select

P1 = "p1_change_of_variables"
B1 = {"1b1.homework", "1b1.random", "1b1.dtype"}
B2 = {"1b2.linear", "1b2.mlp", "1b2.homework"}
B3 = {"1b3.homework", "1b3.random", "1b3.agreement"}
ALL = B1 | B2 | B3


def test_the_rubric_gives_1b1_1b2_1b3_their_points():
    points = {}
    for c in select({1}):
        points[c.part] = points.get(c.part, 0) + c.points
    assert (points["1b1"], points["1b2"], points["1b3"]) == (3, 4, 4)
    assert sum(points.values()) == 20


def test_reference_scores_full_marks(tmp_path):
    run = grade(REFERENCE, tmp_path, ids=ALL)
    assert [r.status for r in run.results] == ["passed"] * len(ALL), {r.id: r.output for r in run.results if r.status != "passed"}
    results = by_id(run)
    assert results["1b3.homework"].figures and results["1b3.agreement"].figures
    assert all((tmp_path / f).is_file() for r in run.results for f in r.figures)
    assert "total-variation distance 0.0" in results["1b3.agreement"].output


def test_template_scores_zero_with_not_implemented(tmp_path):
    run = grade(TEMPLATE, tmp_path, ids=ALL)
    assert run.score == 0.0
    assert all("not implemented" in r.output for r in run.results), [r.output for r in run.results]


# case -> (checks graded, checks that must fail, checks that must pass, substring of every failing check's feedback)
MISTAKES = {
    "trace_wrong_sign": (B2 | {"1b3.homework"}, B2 | {"1b3.homework"}, set(), "wrong sign"),
    "forward_integration": ({"1b3.homework", "1b3.agreement"}, {"1b3.homework", "1b3.agreement"}, set(), None),
    "forgets_initial": ({"1b3.homework"}, {"1b3.homework"}, set(), "initial log-density log N(z(0); 0, I) was forgotten"),
    "hutchinson": (B2, B2, set(), "trace estimate too noisy"),
    "hardcoded_field": ({"1b1.homework", "1b1.random", "1b2.homework", "1b2.mlp", "1b3.random"},
                        {"1b1.random", "1b2.mlp", "1b3.random"}, {"1b1.homework", "1b2.homework"}, "hard-coded field"),
    "log_density": ({"1b3.homework", "1b3.random"}, {"1b3.homework", "1b3.random"}, set(), "returned the log-density"),
    "euler_few_steps": (B1, B1, set(), "matches explicit Euler with 10 step(s)"),
    "jacobian_sum": ({"1b2.mlp"}, {"1b2.mlp"}, set(), "not its trace"),
    "logdet": ({"1b2.mlp"}, {"1b2.mlp"}, set(), "log-determinant of the Jacobian, not a trace"),
    "dlogp_column": ({"1b2.linear", "1b2.homework"}, {"1b2.linear", "1b2.homework"}, set(), "has shape (64, 1) but the contract says (64,)"),
}
# more precise expectations for some checks: (case, check) -> substring
FEEDBACK = {
    ("forward_integration", "1b3.homework"): "integrated forward from 0 to t",
    ("forward_integration", "1b3.agreement"): "Your b1 and b3 disagree",
    ("dlogp_column", "1b2.homework"): "has shape (641, 1) but the contract says (641,)",
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_classic_mistakes_lose_the_right_points(tmp_path, case):
    graded, must_fail, must_pass, feedback = MISTAKES[case]
    folder = patched_submission(tmp_path / "sub", P1, CORPUS / "p1b" / f"{case}.py")
    results = by_id(grade(folder, tmp_path / "out", ids=graded))
    for check_id in must_fail:
        assert results[check_id].score < results[check_id].max_score, (check_id, results[check_id].output)
        expected = FEEDBACK.get((case, check_id), feedback)
        if expected is not None:
            assert expected in results[check_id].output, (check_id, results[check_id].output)
    for check_id in must_pass:
        assert results[check_id].status == "passed", (check_id, results[check_id].output)


def test_partial_credit_and_specific_feedback(tmp_path):
    """Wrong sign costs 1b3 every time but t = 0; Euler keeps t1 = 0; hidden fields never printed."""
    folder = patched_submission(tmp_path / "sign", P1, CORPUS / "p1b" / "trace_wrong_sign.py")
    homework = by_id(grade(folder, tmp_path / "out-sign", ids={"1b3.homework"}))["1b3.homework"]
    assert homework.score == pytest.approx(homework.max_score * 1 / 4)  # t = 0 (no trace involved) is right
    assert homework.output.count("trace taken with the wrong sign") == 3

    folder = patched_submission(tmp_path / "hard", P1, CORPUS / "p1b" / "hardcoded_field.py")
    results = by_id(grade(folder, tmp_path / "out-hard", ids={"1b1.random", "1b2.mlp"}))
    for result in results.values():
        assert result.score == 0.0, result.output
        assert "[" not in result.output and "tensor(" not in result.output  # no weights or points in the text


@pytest.mark.parametrize("case", ["correct_scipy", "correct_jacobian_routes", "correct_rk4"])
def test_correct_solutions_in_other_styles_score_full(tmp_path, case):
    folder = patched_submission(tmp_path / "sub", P1, CORPUS / "p1b" / f"{case}.py")
    run = grade(folder, tmp_path / "out", ids=ALL)
    assert run.score == run.max_score == 11.0, {r.id: r.output for r in run.results if r.status != "passed"}


@pytest.mark.parametrize("rtol", ["1e-5", "1e-4"])
def test_torchdiffeq_cnf_example_settings_score_full(tmp_path, rtol):
    """torchdiffeq's CNF example code (tuple state, dopri5, rtol = atol = 1e-5) and the policy's loosest setting, 1e-4."""
    folder = patched_submission(tmp_path / "sub", P1, CORPUS / "independent" / "p1b_torchdiffeq_example.py", {"RTOL": rtol})
    run = grade(folder, tmp_path / "out", ids=B1 | B3)
    assert run.score == run.max_score == 7.0, {r.id: r.output for r in run.results if r.status != "passed"}
