"""Problem 1a end to end: reference full, template zero, every corpus mistake caught precisely."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import CORPUS, REFERENCE, TEMPLATE, by_id, grade, patched_submission

from grader.checks.cases import per_case
from grader.checks.p1 import _random_instances
from grader.runner.normalize import WrongOutput
from grader.runner.sandbox import StudentCodeError

P1 = "p1_change_of_variables"
IDS = {"1a.instance", "1a.random", "1a.dtype", "1a.normalised"}


def test_reference_scores_full_marks(tmp_path):
    run = grade(REFERENCE, tmp_path, ids=IDS)
    assert [r.status for r in run.results] == ["passed"] * 4, [r.output for r in run.results]
    assert run.score == run.max_score == 5.0


def test_template_scores_zero_with_not_implemented(tmp_path):
    run = grade(TEMPLATE, tmp_path, ids=IDS)
    assert run.score == 0.0
    assert all("not implemented" in r.output for r in run.results)


# case -> (checks that must fail, checks that must pass, substring of the failing feedback)
MISTAKES = {
    "forgets_det": (IDS, set(), "1/|det A| Jacobian factor is missing"),
    "log_density": (IDS, set(), "log-density"),
    "signed_det": ({"1a.random"}, {"1a.instance", "1a.normalised"}, "use |det A|, not det A"),
    "ignores_mu": ({"1a.random", "1a.dtype"}, {"1a.instance", "1a.normalised"}, "mu is ignored"),
    "hardcoded_matrix": ({"1a.random"}, {"1a.instance"}, "hard-coded A"),
    "wrong_shape": (IDS, set(), ", 1) but the contract says ("),
    "raises": (IDS, set(), "ValueError: shapes do not match"),
    "syntax_error": (IDS, set(), "could not be imported: SyntaxError"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_classic_mistakes_lose_the_right_points(tmp_path, case):
    must_fail, must_pass, feedback = MISTAKES[case]
    folder = patched_submission(tmp_path / "sub", P1, CORPUS / "p1a" / f"{case}.py")
    results = by_id(grade(folder, tmp_path / "out", ids=IDS))
    for check_id in must_fail:
        assert results[check_id].score < results[check_id].max_score, (check_id, results[check_id].output)
    for check_id in must_pass:
        assert results[check_id].status == "passed", (check_id, results[check_id].output)
    assert any(feedback in results[c].output for c in must_fail), {c: results[c].output for c in must_fail}


def test_partial_credit_counts_the_instances_that_pass(tmp_path):
    folder = patched_submission(tmp_path / "sub", P1, CORPUS / "p1a" / "signed_det.py")
    random = by_id(grade(folder, tmp_path / "out", ids={"1a.random"}))["1a.random"]
    assert 0 < random.score < random.max_score
    negative = sum(np.linalg.det(inst.A) < 0 for inst in _random_instances())
    assert negative >= 2  # the draw covers the mistake
    assert random.output.count("use |det A|, not det A") == negative  # exactly the instances with det A < 0
    assert random.score == pytest.approx(random.max_score * (1 - negative / len(_random_instances())))


@pytest.mark.parametrize("case", ["correct_distributions", "correct_numpy"])
def test_correct_solutions_in_other_styles_score_full(tmp_path, case):
    folder = patched_submission(tmp_path / "sub", P1, CORPUS / "p1a" / f"{case}.py")
    run = grade(folder, tmp_path / "out", ids=IDS)
    assert run.score == 5.0, [r.output for r in run.results if r.status != "passed"]


def test_feedback_on_random_instances_prints_no_hidden_values(tmp_path):
    folder = patched_submission(tmp_path / "sub", P1, CORPUS / "p1a" / "ignores_mu.py")
    output = by_id(grade(folder, tmp_path / "out", ids={"1a.random"}))["1a.random"].output
    assert "[" not in output and "tensor(" not in output  # no matrices or vectors in the text


# ---------------------------------------------------------------------------------- per-case credit (every problem's checks use it)
def _fails(error: Exception):
    def run():
        raise error
    return run


def test_per_case_keeps_the_cases_that_ran_whatever_ends_another():
    fraction, lines = per_case([
        ("passes", lambda: (1.0, None)),
        ("a stub", _fails(StudentCodeError("exception", "f: NotImplementedError: later", "NotImplementedError"))),
        ("hangs", _fails(StudentCodeError("timeout", "f: did not finish within 20 s (time limit)"))),
        ("crashes", _fails(StudentCodeError("crash", "f: the student's process was killed by SIGSEGV"))),
        ("wrong shape", _fails(WrongOutput("f has shape (3, 1) but the contract says (3,)"))),
        ("half", lambda: (0.5, "close")),
    ])
    assert fraction == pytest.approx(1.5 / 6)
    assert lines.splitlines() == [
        "- passes: ok",
        "- a stub: not implemented yet (f: NotImplementedError: later)",
        "- hangs: timed out: f: did not finish within 20 s (time limit)",
        "- crashes: crashed: f: the student's process was killed by SIGSEGV",
        "- wrong shape: f has shape (3, 1) but the contract says (3,)",
        "- half: close",
    ]


def test_per_case_with_no_answer_at_all_is_the_first_failure():
    stub = StudentCodeError("exception", "f: NotImplementedError", "NotImplementedError")
    with pytest.raises(StudentCodeError) as raised:
        per_case([("one", _fails(stub)), ("two", _fails(StudentCodeError("timeout", "f: too slow")))])
    assert raised.value is stub
