"""Problem 4 end to end: reference full, template zero, every corpus mistake caught precisely.

The training checks run the student's `train_realnvp` for 1,000 steps (~30 s of CPU), so only
the cases that need them select them: the reference, one correct alternative, the tiny batch
and the standardisation without its Jacobian. Limits get `time_scale` 3 so a loaded machine
does not turn a slow training into a timeout.
"""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from helpers import CORPUS, REFERENCE, TEMPLATE, by_id, grade, patched_submission

from grader.checks import p4
from grader.oracles import p4 as oracle
from grader.oracles.moons import sample_moons, sample_moons_continuous
from grader.runner.sandbox import Limits

P4 = "p4_realnvp"
COUPLING = {"4.coupling_forward", "4.coupling_inverse", "4.coupling_jacobian"}
ALL = COUPLING | {"4.model_logprob", "4.sample", "4.train_nll", "4.samples_quality"}
LIMITS = Limits(memory_mb=2048, time_scale=3.0)


def _grade(tmp_path, case: str | None, ids: set[str]):
    folder = REFERENCE if case is None else patched_submission(tmp_path / "sub", P4, CORPUS / "p4" / f"{case}.py")
    return by_id(grade(folder, tmp_path / "out", ids=ids, limits=LIMITS))


def test_points_add_up_to_the_rubric():
    from grader.checks.registry import select

    assert sum(c.points for c in select({4})) == 35
    assert {c.id for c in select({4})} == ALL


def test_reference_scores_full_marks_with_a_figure(tmp_path):
    results = _grade(tmp_path, None, ALL)
    assert all(r.status == "passed" for r in results.values()), {k: r.output for k, r in results.items() if r.status != "passed"}
    assert sum(r.score for r in results.values()) == 35
    figure = results["4.samples_quality"].figures[0]
    assert (tmp_path / "out" / figure).stat().st_size > 10_000
    for r in results.values():  # no private seeds in the feedback
        assert str(p4.DATA_SEED) not in r.output and str(p4.HELD_OUT_SEED) not in r.output


def test_template_scores_zero_with_not_implemented(tmp_path):
    run = grade(TEMPLATE, tmp_path, ids=ALL, limits=LIMITS)
    assert run.score == 0.0
    assert all("not implemented" in r.output for r in run.results), [r.output for r in run.results]


def test_correct_alternative_scores_full_including_training(tmp_path):
    results = _grade(tmp_path, "correct_joint_net", ALL)
    assert sum(r.score for r in results.values()) == 35, {k: r.output for k, r in results.items() if r.status != "passed"}


def test_second_correct_alternative_scores_full_on_the_exact_checks(tmp_path):
    ids = COUPLING | {"4.sample"}
    results = _grade(tmp_path, "correct_actnorm", ids)
    assert all(r.status == "passed" for r in results.values()), {k: r.output for k, r in results.items() if r.status != "passed"}


# case -> (checks that must fail with their score, checks that must pass, substring of a failing feedback)
MISTAKES = {
    "logdet_sign": ({"4.coupling_forward": 2.5, "4.coupling_inverse": 3.0, "4.coupling_jacobian": 0.0}, set(),
                    "log_det has the wrong sign"),
    "logdet_missing": ({"4.coupling_forward": 2.5, "4.coupling_inverse": 3.0, "4.coupling_jacobian": 0.0}, set(),
                       "the log-determinant Σ_j (1 - mask_j) s_j is missing"),
    "unmasked_input": ({"4.coupling_forward": 0.0, "4.coupling_inverse": 0.0, "4.coupling_jacobian": 0.0, "4.sample": 0.0}, set(),
                       "s and t were computed from the full x, not from mask * x"),
    "inverse_not_inverting": ({"4.coupling_inverse": 2.0, "4.sample": 0.0}, {"4.coupling_forward", "4.coupling_jacobian"},
                              "the inverse does not invert"),
    "sample_through_forward": ({"4.sample": 0.0}, COUPLING, "sample should push standard normal noise through inverse"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_coupling_mistakes_lose_the_right_points(tmp_path, case):
    must_fail, must_pass, feedback = MISTAKES[case]
    results = _grade(tmp_path, case, COUPLING | {"4.sample"})
    for check_id, score in must_fail.items():
        assert results[check_id].score == pytest.approx(score), (check_id, results[check_id].output)
    for check_id in must_pass:
        assert results[check_id].status == "passed", (check_id, results[check_id].output)
    assert any(feedback in results[c].output for c in must_fail), {c: results[c].output for c in must_fail}


def test_specific_diagnoses(tmp_path):
    results = _grade(tmp_path, "unmasked_input", {"4.coupling_jacobian"})
    assert "∂y/∂x is not triangular" in results["4.coupling_jacobian"].output
    results = _grade(tmp_path / "sign", "logdet_sign", {"4.coupling_jacobian", "4.coupling_inverse"})
    assert "the sign is flipped" in results["4.coupling_jacobian"].output
    assert "log_det has the forward map's sign" in results["4.coupling_inverse"].output


def test_standardisation_without_its_jacobian_is_a_bug_not_a_good_model(tmp_path):
    results = _grade(tmp_path, "standardisation_no_jacobian", {"4.train_nll", "4.model_logprob"})
    train = results["4.train_nll"]
    # moons' std < 1, so the missing -Σ log std makes the NLL look worse (not better) and the density's mass 0.43
    assert train.score == 0.0 and "integrates to 0.4" in train.output and "not a normalised density" in train.output, train.output
    flow = results["4.model_logprob"]
    assert 0 < flow.score < flow.max_score, flow.output
    assert "off by the same constant" in flow.output and "standardisation" in flow.output, flow.output


def test_nll_below_the_entropy_is_reported_as_a_bug(tmp_path):
    results = _grade(tmp_path, "logprob_jacobian_twice", {"4.train_nll"})
    train = results["4.train_nll"]
    assert train.score == 0.0 and "BUG" in train.output and "below the data's entropy" in train.output, train.output


def test_training_on_a_fixed_tiny_batch_generalises_badly(tmp_path):
    results = _grade(tmp_path, "tiny_batch", {"4.train_nll", "4.samples_quality"})
    train = results["4.train_nll"]
    assert train.score == 0.0 and "no credit" in train.output, train.output
    assert results["4.samples_quality"].score < results["4.samples_quality"].max_score, results["4.samples_quality"].output


# ---------------------------------------------------------------------------------- the oracle and the diagnoses, parent-side
def test_oracle_coupling_inverts_and_diagnoses_name_each_mistake():
    for case in p4.coupling_cases():
        y, ld = case.forward()
        x, ld_inv = oracle.coupling_inverse(y, case.mask, case.s_net, case.t_net)
        np.testing.assert_allclose(x, case.x.astype(np.float64), atol=1e-12)
        np.testing.assert_allclose(ld + ld_inv, 0, atol=1e-12)
        m = case.mask.astype(bool)
        np.testing.assert_array_equal(y[:, m], case.x[:, m].astype(np.float64))
        assert p4.diagnose_forward(y, ld, case) == (1.0, [])
        for mistake in oracle.FORWARD_MISTAKES:
            fraction, problems = p4.diagnose_forward(*case.forward(mistake), case)
            assert fraction < 1 and problems, mistake
            assert "y is wrong at" not in " ".join(problems), (mistake, problems)  # a named diagnosis, not the generic one
            if mistake in p4.FORWARD_LOG_DET:
                assert "log_det is wrong at" not in " ".join(problems), (mistake, problems)
        for mistake in oracle.INVERSE_MISTAKES:
            fraction, problems = p4.diagnose_inverse(*oracle.coupling_inverse(y, case.mask, case.s_net, case.t_net, mistake), case)
            assert fraction < 1 and problems and "the inverse does not invert" not in " ".join(problems), (mistake, problems)
            if mistake in p4.INVERSE_LOG_DET:
                assert "log_det is wrong at" not in " ".join(problems), (mistake, problems)


def test_sample_measures_on_the_true_law():
    data = sample_moons(20_000, p4.NOISE, seed=5).astype(np.float64)
    assert np.mean(oracle.arc_distance(data) < 3 * p4.NOISE) > 0.99
    assert oracle.coverage_tv(sample_moons_continuous(2000, p4.NOISE, seed=6)) < 0.05
    arcs = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 0.5], [2.0, 0.5], [1.0, -0.5]])
    np.testing.assert_allclose(oracle.arc_distance(arcs), 0, atol=1e-12)
    one_moon = data[data[:, 1] > 0.5]  # only the upper arc's top
    assert oracle.coverage_tv(one_moon) > p4.COVERAGE_ZERO


def test_nll_credit_is_monotone_between_the_thresholds():
    assert p4.nll_fraction(p4.NLL_FULL) == 1.0 and p4.nll_fraction(p4.NLL_ZERO) == 0.0
    values = [p4.nll_fraction(v) for v in np.linspace(p4.NLL_FULL, p4.NLL_ZERO, 7)]
    assert all(a > b for a, b in pairwise(values))
