"""Problem 4 end to end: reference full, template zero, every corpus mistake caught precisely.

The training checks run the student's `train_realnvp` for 1,000 steps (~30 s of CPU), so only
the cases that need them select them: the reference, correct alternatives in other styles
(`tests/corpus/p4/`, `tests/corpus/independent/`), the tiny batch, the standardisation without
its Jacobian, and the grid-mass containment. Tests that need only *a* trained model (the
property checks) shorten the training to 100 steps (`short_training`). Limits get
`time_scale` 3 so a loaded machine does not turn a slow training into a timeout.
"""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from helpers import CORPUS, REFERENCE, TEMPLATE, by_id, grade, patched_submission
from torch import nn

from grader.checks import p4
from grader.oracles import p4 as oracle
from grader.oracles.moons import sample_moons, sample_moons_continuous
from grader.runner import child_library
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


def test_a_log_prob_that_is_not_forwards_density_is_charged_once_and_named(tmp_path):
    """log_prob adds the standardisation's log-det twice (its NLL would fall below the entropy). The NLL is now derived
    from forward's z and log-det, which are right: 4.model_logprob charges log_prob, 4.train_nll names it without a charge."""
    results = _grade(tmp_path, "logprob_jacobian_twice", {"4.train_nll", "4.model_logprob"})
    train, flow = results["4.train_nll"], results["4.model_logprob"]
    assert "your log_prob differs from it" in train.output and "BUG" not in train.output, train.output
    assert flow.score == pytest.approx(flow.max_score * 2 / 3, abs=1e-3), flow.output  # log_prob's third of each case
    assert flow.output.count("off by the same constant") == 3, flow.output


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


# ---------------------------------------------------------------------------------- per-case credit, shapes
def _patch(tmp_path, name: str, code: str):
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    return by_id(grade(patched_submission(tmp_path / "sub", P4, path), tmp_path / "out", ids=COUPLING, limits=LIMITS))


def test_a_coupling_written_only_for_alternating_masks_keeps_the_cases_it_handles(tmp_path):
    results = _patch(tmp_path, "alternating_only", '''
_coupling_forward = coupling_forward


def coupling_forward(x, mask, s_net, t_net):
    if x.shape[1] != 2:
        raise NotImplementedError("only 2-D masks")
    return _coupling_forward(x, mask, s_net, t_net)
''')
    forward = results["4.coupling_forward"]
    assert forward.score == pytest.approx(2.5), forward.output  # the two 2-D cases of four
    assert forward.output.count("not implemented yet") == 2, forward.output
    jacobian = results["4.coupling_jacobian"]
    assert jacobian.score == pytest.approx(1.0), jacobian.output  # one 2-D case of three


def test_a_timeout_in_one_case_costs_that_case_only(tmp_path):
    path = tmp_path / "hangs.py"
    path.write_text('''
_coupling_forward = coupling_forward


def coupling_forward(x, mask, s_net, t_net):
    while x.shape[1] == 6 and x.dtype == torch.float64:
        pass
    return _coupling_forward(x, mask, s_net, t_net)
''')
    fast = Limits(memory_mb=2048, time_scale=0.15)
    results = by_id(grade(patched_submission(tmp_path / "sub", P4, path), tmp_path / "out", ids={"4.coupling_forward"}, limits=fast))
    forward = results["4.coupling_forward"]
    assert forward.score == pytest.approx(5 * 3 / 4), forward.output
    assert "timed out" in forward.output.splitlines()[-1], forward.output


def test_a_column_log_det_is_told_to_drop_the_trailing_dimension(tmp_path):
    results = _patch(tmp_path, "column", '''
_coupling_forward = coupling_forward


def coupling_forward(x, mask, s_net, t_net):
    y, log_det = _coupling_forward(x, mask, s_net, t_net)
    return y, log_det[:, None]
''')
    forward = results["4.coupling_forward"]
    assert forward.score == 0.0 and "drop the trailing dimension" in forward.output, forward.output


# ---------------------------------------------------------------------------------- independent implementations
INDEPENDENT = CORPUS / "independent"


def _graded(tmp_path, source, ids: set[str], extra: str = "", **substitutions: str):
    """Grade the reference plus the corpus file `source` (with `extra` code appended and `{KEY}`s substituted)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    patch = tmp_path / "patch.py"
    code = source.read_text()
    for key, value in substitutions.items():
        code = code.replace("{" + key + "}", value)
    patch.write_text(code + extra)
    return by_id(grade(patched_submission(tmp_path / "sub", P4, patch), tmp_path / "out", ids=ids, limits=LIMITS))


def _independent(tmp_path, name: str, ids: set[str], extra: str = ""):
    return _graded(tmp_path, INDEPENDENT / f"{name}.py", ids, extra)


@pytest.fixture
def short_training(monkeypatch):
    """The property checks only need *a* trained model: 100 steps keep these tests quick."""
    monkeypatch.setattr(p4, "TRAIN_STEPS", 100)


@pytest.mark.parametrize("name", ["p4_frozen_parameter_masks", "p4_batchnorm"])
def test_independent_correct_flows_score_full_marks(tmp_path, name):
    """Frozen-parameter masks sharing storage with a module-level tensor (and so with the trained model); a BatchNorm flow
    returned in train mode. Both lost points before: the probe perturbed the shared masks, and judged BatchNorm in train mode."""
    results = _independent(tmp_path, name, ALL)
    assert sum(r.score for r in results.values()) == 35, {k: r.output for k, r in results.items() if r.status != "passed"}


@pytest.mark.parametrize("name", ["p4_shared_buffer_masks", "p4_wide_256", "p4_column_nets", "p4_lazy_actnorm", "p4_deep_unbounded"])
def test_independent_correct_flows_pass_the_property_checks(tmp_path, short_training, name):
    results = _independent(tmp_path, name, COUPLING | {"4.model_logprob", "4.sample"})
    assert all(r.status == "passed" for r in results.values()), {k: r.output for k, r in results.items() if r.status != "passed"}


def test_a_logistic_base_loses_exactly_the_base_density_points(tmp_path):
    results = _independent(tmp_path, "p4_logistic_base", ALL)
    lost = {k: r.max_score - r.score for k, r in results.items() if r.score < r.max_score}
    # log_prob's third of every 4.model_logprob case, and 4.sample (forward(sample) is not N(0, I))
    assert lost == {"4.model_logprob": pytest.approx(5 / 3, abs=1e-3), "4.sample": pytest.approx(2.0)}, {k: results[k].output for k in lost}
    assert results["4.model_logprob"].output.count("the base density is a standard logistic") == 3, results["4.model_logprob"].output
    assert "the base distribution is the standard normal" in results["4.sample"].output


BATCH_STATISTICS_ALWAYS = '''

def _always_batch_statistics(self, x):
    mean, var = x.mean(0), x.var(0, unbiased=False)
    y = (x - mean) / torch.sqrt(var + self.eps) * torch.exp(self.log_gamma) + self.beta
    return y, (self.log_gamma - 0.5 * torch.log(var + self.eps)).sum() * torch.ones(len(x))


_BatchNormFlow.forward = _always_batch_statistics
'''


def test_rows_that_interact_in_eval_mode_are_told_so(tmp_path, short_training):
    results = _independent(tmp_path, "p4_batchnorm", {"4.model_logprob"}, extra=BATCH_STATISTICS_ALWAYS)
    flow = results["4.model_logprob"]
    assert flow.score == 0.0, flow.output
    assert flow.output.count("its rows interact") == 3 and "BatchNorm" in flow.output, flow.output


def test_a_training_that_did_not_learn_is_run_again_with_another_seed(tmp_path, short_training):
    results = _grade(tmp_path, "diverges_at_seed_0", {"4.train_nll", "4.sample"})
    train = results["4.train_nll"]
    assert "train_realnvp(data, 100, 1)" in train.output and "with seed 0 the training did not learn" in train.output, train.output
    assert train.score > 0 and results["4.sample"].score == 2.0, train.output  # the seed-1 model, trained 100 steps


def test_non_finite_values_far_from_the_data_cost_in_proportion(tmp_path):
    """Issue 21: a correct flow whose forward overflows far out (NaN z beyond x = -2.5, 7σ of the wide Gaussian's
    points at most) keeps full credit: those points hold no held-out moons and count as zero density in the mass."""
    far = '''
_ReferenceRealNVP = RealNVP


class RealNVP(_ReferenceRealNVP):
    def forward(self, x):
        z, log_det = super().forward(x)
        far = x[:, 0] < -2.5
        return torch.where(far[:, None], torch.full_like(z, float("nan")), z), torch.where(far, torch.full_like(log_det, float("nan")), log_det)
'''
    results = _independent(tmp_path, "p4_frozen_parameter_masks", {"4.train_nll"}, extra=far)
    train = results["4.train_nll"]
    assert train.status == "passed" and "integrates to 0.99" in train.output, train.output


def test_a_non_finite_held_out_point_costs_its_capped_nats_only():
    log_p = np.array([-0.5, np.nan, np.inf, -50.0, -0.1])
    np.testing.assert_allclose(p4.point_nll(log_p), [0.5, p4.NLL_POINT_CAP, p4.NLL_POINT_CAP, p4.NLL_POINT_CAP, 0.1])


# ---------------------------------------------------------------------------------- a submission that rewrites the grader's helpers
def test_rewriting_the_grader_helpers_in_the_child_gains_nothing(tmp_path, short_training):
    ids = {"4.coupling_jacobian", "4.model_logprob", "4.sample"}
    honest = _graded(tmp_path / "honest", CORPUS / "p4" / "logdet_sign.py", ids)
    for forge in ("True", "False"):
        hostile = _graded(tmp_path / forge, CORPUS / "hostile" / "p4_forges_probes.py", ids, FORGE_JACOBIAN=forge)
        for check_id in ids:
            assert hostile[check_id].score <= honest[check_id].score, (forge, check_id, hostile[check_id].output)
        if forge == "False":  # the no-op perturbation alone is seen by its behaviour
            assert "still an affine map" in hostile["4.model_logprob"].output, hostile["4.model_logprob"].output


# ---------------------------------------------------------------------------------- the parent's differences and the child's parameter swap
def test_five_point_differences_recover_a_known_jacobian():
    x = p4.on_grid(np.random.default_rng(0).normal(size=(16, 2)))
    step = p4.COUPLING_FD_STEP
    points = oracle.offset_points(x, (2 * step, step, -step, -2 * step))
    values = np.stack([points[:, 0] ** 2 * points[:, 1], np.sin(points[:, 0]) + points[:, 1] ** 3], axis=1)
    expected = np.stack([np.stack([2 * x[:, 0] * x[:, 1], x[:, 0] ** 2], 1), np.stack([np.cos(x[:, 0]), 3 * x[:, 1] ** 2], 1)], 1)
    np.testing.assert_allclose(oracle.five_point_jacobian(values, 16, 2, step), expected, atol=1e-6)
    moved = points.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(moved, points)  # on the 2^-16 grid the moved points are exact in float32


def test_one_sided_differences_confirm_a_true_jacobian_at_a_kink_and_reject_a_forged_one():
    x = np.array([[0.3, 0.0001]])  # a kink of |x1| lies between x - 2^-10 e_1 and x
    offsets = p4.FD_OFFSETS
    points = oracle.offset_points(x, offsets)
    values = np.stack([points[:, 0] * 2, np.abs(points[:, 1])], axis=1)
    true = np.array([[[2.0, 0.0], [0.0, 1.0]]])
    assert oracle.one_sided_mismatch(true, values, offsets)[0] < 1e-9
    forged = true * np.exp(0.05)  # log|det| moved by 0.1 nats
    assert oracle.one_sided_mismatch(forged, values, offsets)[0] > p4.JACOBIAN_VERIFY_RTOL


def test_the_parameter_swap_never_writes_into_shared_storage_and_keeps_ties():
    shared_mask = torch.tensor([1.0, 0.0])
    model = nn.Module()
    model.mask = nn.Parameter(shared_mask, requires_grad=False)  # storage shared with the module-level tensor
    model.a = nn.Linear(2, 2)
    model.b = nn.Module()
    model.b.weight = model.a.weight  # tied
    old_weight = model.a.weight
    values = child_library.parameter_values(model)
    assert set(values) == {"a.weight", "a.bias", "b.weight"}  # frozen parameters are not offered
    new = {name: value + 1 for name, value in values.items()}
    assert child_library.replace_parameters(model, new) == 3
    assert torch.equal(shared_mask, torch.tensor([1.0, 0.0])) and model.mask.data_ptr() == shared_mask.data_ptr()
    assert model.a.weight is model.b.weight and torch.equal(model.a.weight, new["a.weight"])
    assert not torch.equal(old_weight, model.a.weight)  # the old parameter object was not written: it was replaced
    assert torch.equal(old_weight, values["a.weight"])


def test_perturbation_scale_follows_each_parameter():
    assert p4.perturbation_scale(np.zeros((2, 256))) == pytest.approx(p4.PERTURB_REL / 16)  # zero-initialised: 1/sqrt(fan_in)
    assert p4.perturbation_scale(np.full(3, 4.0)) == pytest.approx(p4.PERTURB_REL * 4.0)
    assert p4.perturbation_scale(np.zeros(2)) == pytest.approx(p4.PERTURB_REL * 0.1)


# ---------------------------------------------------------------------------------- selective answers (issue 19)
@pytest.mark.slow
def test_answering_the_likelihood_selectively_gains_nothing(tmp_path):
    """An untrained RealNVP that recognises where held-out points may lie: by its log_prob, by forward's log_det, or
    by faking each audit square as its own affine map. None scores above the same object answering honestly."""
    ids = {"4.train_nll", "4.model_logprob", "4.samples_quality"}
    source = CORPUS / "hostile" / "p4_recognises_held_out.py"
    honest = _graded(tmp_path / "honest", source, ids, MODE="honest")
    assert honest["4.train_nll"].score == 0.0, honest["4.train_nll"].output  # untrained: NLL ~2
    assert "did not learn: did the training diverge" in honest["4.train_nll"].output, honest["4.train_nll"].output
    for mode in ("log_prob", "log_det", "squares"):
        hostile = _graded(tmp_path / mode, source, ids, MODE=mode)
        for check_id in ids:
            assert hostile[check_id].score <= honest[check_id].score, (mode, check_id, hostile[check_id].output)
    assert "not one smooth map" in hostile["4.train_nll"].output, hostile["4.train_nll"].output


# ---------------------------------------------------------------------------------- the mixed query, parent-side
def _query_answers(z_of, log_det_of):
    from grader.checks import p4_density as density

    rng = np.random.default_rng(3)
    held = sample_moons(2000, p4.NOISE, seed=8)
    query = density.build_query([(density.HELD_OUT, held), (density.IMPORTANCE, density.draw_mixture(held, rng))], rng)
    x = query.points.astype(np.float64)
    return density, query, density.read_answers(query, z_of(x), log_det_of(x))


def test_the_mixed_query_hides_roles_and_recovers_a_smooth_maps_log_det():
    A = np.array([[2.0, 0.5], [-0.3, 1.5]])
    density, query, answers = _query_answers(lambda x: np.tanh(x) @ A.T, lambda x: np.full(len(x), 9.0))
    assert len(query.points) == 4 * len(query.base) and query.points.dtype == np.float32
    # each base point is one corner of its square, at random: every corner position is as likely for either role
    for role in (density.HELD_OUT, density.IMPORTANCE):
        corners = np.bincount(2 * query.corner[query.role == role, 0] + query.corner[query.role == role, 1], minlength=4)
        assert corners.min() > 0.2 * corners.sum()
    true = np.log(abs(np.linalg.det(A))) + np.log(1 - np.tanh(query.base) ** 2).sum(axis=1)
    assert np.quantile(np.abs(answers.fd_log_det - true), 0.99) < 1e-2
    assert not answers.agrees.any()  # log_det 9 is a lie everywhere ...
    np.testing.assert_allclose(answers.believed_log_det, answers.fd_log_det)  # ... so the differences of z are believed
    assert np.nanmean(density.inconsistent_neighbours(query, answers)) < 0.01


def test_squares_faked_as_unrelated_affine_maps_fail_the_smoothness_audit():
    cell = lambda x: np.floor(x * 2**11) / 2**11
    density, query, answers = _query_answers(lambda x: (x - cell(x)) * 3.0 + np.sin(cell(x) * 50), lambda x: np.full(len(x), 2 * np.log(3.0)))
    assert answers.agrees.mean() > 0.7  # each square inside one cell looks right alone (a quarter straddle two cells)
    assert np.nanmean(density.inconsistent_neighbours(query, answers)) > 0.5


def test_perturbation_sizes_halve_from_the_largest():
    levels = p4.perturbation_levels()
    assert levels[0] == p4.PERTURB_REL and levels[-1] >= p4.PERTURB_MIN and all(b == a / 2 for a, b in pairwise(levels))
    assert p4.tame(np.zeros((3, 2)), np.zeros(3)) and not p4.tame(np.full((3, 2), np.inf), np.zeros(3))
    assert not p4.tame(np.full((3, 2), 1e3), np.zeros(3))
