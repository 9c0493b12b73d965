"""Problem 3 end to end: reference full, template zero, every corpus mistake caught precisely.

The slow parts (the short training, the checkpoint's sampling) run only where a case needs them.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CORPUS, REFERENCE, TEMPLATE, by_id, grade, patched_submission
from scipy import linalg

from grader.checks.p3 import (
    RATING_SCALE,
    TRAIN_ITERS,
    TRAIN_MIN_ITERS,
    TRAIN_TIMEOUT_MAX_S,
    TRAIN_TIMEOUT_S,
    chain_cases,
    rating_fraction,
    train_plan,
)
from grader.oracles import p3 as oracle
from grader.runner.sandbox import Limits

P3 = "p3_ebm"
CODE = {"3.sgld_step", "3.langevin", "3.buffer", "3.cd_loss"}
ALL = CODE | {"3.train_ebm", "3.checkpoint"}


def test_reference_scores_full_marks(tmp_path):
    run = grade(REFERENCE, tmp_path, ids=ALL)
    assert {r.id: r.status for r in run.results} == dict.fromkeys(ALL, "passed"), [r.output for r in run.results]
    assert run.score == run.max_score == 35.0
    results = by_id(run)
    for check_id in ("3.train_ebm", "3.checkpoint"):
        assert results[check_id].figures and all((tmp_path / f).exists() for f in results[check_id].figures)


def test_template_scores_zero_with_not_implemented(tmp_path):
    run = grade(TEMPLATE, tmp_path, ids=ALL)
    assert run.score == 0.0
    results = by_id(run)
    assert all("not implemented" in results[c].output for c in ALL - {"3.checkpoint"}), [r.output for r in run.results]
    assert "p3_energy.pt is not in the submission" in results["3.checkpoint"].output


def test_code_checks_are_deterministic(tmp_path):
    first = grade(REFERENCE, tmp_path / "a", ids=CODE)
    second = grade(REFERENCE, tmp_path / "b", ids=CODE)
    assert [(r.id, r.score, r.output) for r in first.results] == [(r.id, r.score, r.output) for r in second.results]


# case -> ({check id: expected score}, substring of the feedback of the first check listed)
MISTAKES = {
    # 3.sgld_step: 4 equal cases (3 exact steps, fresh noise on a flat energy); side effects are advice, not scored
    # the loop of a step with a classic mistake is right: replayed on the noise-free path, and its chains have the law of
    # that step (simulated by the grader); a loop of the wrong count is still charged, in the terms of the student's step
    "sgld_ascent": ({"3.sgld_step": 1.5, "3.langevin": 4.0}, "gradient ascent"),
    "sgld_clamp_skipped": ({"3.sgld_step": 1.5, "3.langevin": 4.0}, "the result is not clamped to [-1, 1]"),
    "sgld_ascent+loop_off_by_one": ({"3.langevin": 4 / 3}, "the chains match 5 calls of your own sgld_step, not n_steps = 6"),
    "noise_omitted": ({"3.sgld_step": 0.0, "3.langevin": 4.0}, "the noise term is missing"),  # charged once (issue 11)
    "param_gradient": ({"3.sgld_step": 1.5}, "gradient with respect to the energy's parameters"),
    "backward_side_effects": ({"3.sgld_step": 6.0, "3.langevin": 4.0}, "parameter gradients were changed"),
    "buffer_never_reinit": ({"3.buffer": 2.0}, "no row was re-initialised"),
    "buffer_hardcoded_rate": ({"3.buffer": 2.0}, "that is reinit_prob = 0.05, not the 0.3 passed in"),
    "buffer_unbounded": ({"3.buffer": 3.0}, "more than capacity = 50"),
    "buffer_keeps_oldest": ({"3.buffer": 3.0}, "only 0 of the 80 rows just pushed are ever sampled: push(x) must store x"),
    # two mistakes in one step, named together; the loop of that step is right and not charged again (issue 21)
    "sgld_clip_and_clamp_skipped": ({"3.sgld_step": 1.5, "3.langevin": 4.0}, "two mistakes at once"),
    "loss_sign_flipped": ({"3.cd_loss": 0.0}, "the contrastive term has the wrong sign"),
    "no_regulariser": ({"3.cd_loss": 1.0}, "regulariser alpha * (mean E(x_real)² + mean E(x_fake)²) is missing"),
    "alpha_ignored": ({"3.cd_loss": 1.0}, "alpha = 0.5 was ignored"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_classic_mistakes_lose_the_right_points(tmp_path, case):
    scores, feedback = MISTAKES[case]
    folder = patched_submission(tmp_path / "sub", P3, tuple(CORPUS / "p3" / f"{part}.py" for part in case.split("+")))
    results = by_id(grade(folder, tmp_path / "out", ids=set(scores)))
    for check_id, score in scores.items():
        assert results[check_id].score == pytest.approx(score, abs=1e-3), (check_id, results[check_id].output)
    first = results[next(iter(scores))]
    assert feedback in first.output, first.output


def test_noise_omitted_is_named_in_every_failing_case(tmp_path):
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "noise_omitted.py")
    results = by_id(grade(folder, tmp_path / "out", ids={"3.sgld_step", "3.langevin"}))
    assert results["3.sgld_step"].output.count("the noise term is missing") == 3
    assert "no noise was added" in results["3.sgld_step"].output
    assert "Your sgld_step adds no noise (charged in 3.sgld_step)" in results["3.langevin"].output  # the loop is right


def test_ascending_step_is_charged_once(tmp_path):
    """The reference's loop and training around an ascending step: 3.langevin and 3.train_ebm say the step caused what
    differs, and lose nothing for it (the training, run again with the contract's step in its place, separates)."""
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "sgld_ascent.py")
    results = by_id(grade(folder, tmp_path / "out", ids={"3.langevin", "3.train_ebm"}))
    langevin = results["3.langevin"].output
    assert langevin.count("caused by 3.sgld_step") == 3, langevin  # the path and both statistical cases
    assert "the law of 6 calls of your own sgld_step" in langevin and "the law of 300 calls" in langevin, langevin
    training = results["3.train_ebm"]
    assert training.score == 7.0 and "lost points through it (caused by 3.sgld_step)" in training.output, training.output
    assert "the first run, with your own sgld_step (not scored)" in training.output


def test_compound_step_mistake_is_named_and_charged_once(tmp_path):
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "sgld_clip_and_clamp_skipped.py")
    results = by_id(grade(folder, tmp_path / "out", ids={"3.sgld_step", "3.langevin"}))
    step = results["3.sgld_step"].output
    assert step.count("two mistakes at once: the result is not clamped to [-1, 1]; and grad_clip was not applied") == 2, step
    assert "differs from" not in step, step
    assert "caused by 3.sgld_step" in results["3.langevin"].output, results["3.langevin"].output


@pytest.mark.parametrize("case, check_id", [("library_sampler_loop", "3.langevin"), ("chain_writeback_buffer", "3.buffer")])
def test_library_styles_get_full_marks(tmp_path, case, check_id):
    """A JEM/IGEBM-style in-place sampler loop, and a buffer that writes chains back into the slots they came from."""
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / f"{case}.py")
    result = by_id(grade(folder, tmp_path / "out", ids={check_id}))[check_id]
    assert result.score == result.max_score, result.output


def test_correct_alternative_scores_full_on_the_code_checks(tmp_path):
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "correct_alternative.py")
    run = grade(folder, tmp_path / "out", ids=CODE)
    assert run.score == run.max_score == 18.0, [r.output for r in run.results if r.status != "passed"]


def _with_checkpoint(tmp_path, payload) -> object:
    folder = patched_submission(tmp_path / "sub", P3, None)
    if payload is not None:
        torch.save(payload, folder / "p3_energy.pt")
    return folder


def test_untrained_checkpoint_scores_zero(tmp_path):
    from reference.p3_ebm import EnergyNet

    torch.manual_seed(0)
    folder = _with_checkpoint(tmp_path, EnergyNet().state_dict())
    result = by_id(grade(folder, tmp_path / "out", ids={"3.checkpoint"}))["3.checkpoint"]
    assert result.score == 0.0, result.output
    assert "mean classifier confidence 0.10" in result.output and "1 of 10" in result.output
    assert result.figures and (tmp_path / "out" / result.figures[0]).exists()


@pytest.mark.parametrize("payload, feedback", [
    ("whole_model", "save model.state_dict() instead"),
    ("other_net", "does not fit your EnergyNet(): missing keys"),
    ("nested", "holds a dict under 'model'"),
    (None, "p3_energy.pt is not in the submission"),
])
def test_unusable_checkpoints_get_clear_messages(tmp_path, payload, feedback):
    from reference.p3_ebm import EnergyNet

    other = torch.nn.Linear(3, 2).state_dict()
    payloads = {"whole_model": EnergyNet(), "other_net": other, "nested": {"model": other, "epoch": 3}, None: None}
    folder = _with_checkpoint(tmp_path, payloads[payload])
    result = by_id(grade(folder, tmp_path / "out", ids={"3.checkpoint"}))["3.checkpoint"]
    assert result.score == 0.0 and feedback in result.output, result.output


# ---------------------------------------------------------------------------------- public styles (issue 11)
def test_noise_first_step_is_named_and_charged_once(tmp_path):
    """The tutorial order: half of each exact-value case in 3.sgld_step, under a message naming the order; nothing else."""
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "tutorial_noise_first.py")
    results = by_id(grade(folder, tmp_path / "out", ids={"3.sgld_step", "3.langevin"}))
    step = results["3.sgld_step"]
    assert step.score == pytest.approx(6 * (3 * 0.5 + 1) / 4), step.output
    assert step.output.count("the noise is added before the gradient is taken") == 3, step.output
    assert "ignored" not in step.output and "not standard normal" not in step.output and "standard deviation" not in step.output
    langevin = results["3.langevin"]
    assert langevin.score == 4.0, langevin.output
    assert "adds the noise before taking the gradient" in langevin.output


def test_contract_step_is_judged_against_the_contract_chain(tmp_path):
    """The other direction: a chain of noise-first steps is not the law of the contract's step."""
    cc = chain_cases()["stationary"]
    rng = np.random.default_rng(5)
    x = cc.x0.reshape(len(cc.x0), -1).astype(np.float64)
    for _ in range(cc.n_steps):
        y = x + cc.sigma * rng.normal(size=x.shape)
        x = y - cc.eta * (y - cc.case.mean) @ cc.case.precision
    from grader.checks.p3 import diagnose_chains

    assert diagnose_chains(x, cc, noise_first=True) is None
    assert diagnose_chains(x, cc, noise_first=False) is not None


def test_prefilled_buffer_gets_full_marks(tmp_path):
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "tutorial_prefilled_buffer.py")
    result = by_id(grade(folder, tmp_path / "out", ids={"3.buffer"}))["3.buffer"]
    assert result.score == 4.0, result.output
    assert "is not used" not in result.output, result.output


def test_energy_as_minus_a_cnn_gets_full_marks(tmp_path):
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "tutorial_minus_cnn.py")
    run = grade(folder, tmp_path / "out", ids=CODE | {"3.train_ebm"})
    assert run.score == run.max_score == 25.0, [r.output for r in run.results if r.status != "passed"]


def test_training_budget_follows_the_measured_cost_per_iteration():
    tutorial = train_plan((2.0, 7.1), 1.0)  # a tutorial's 1.7 s per iteration
    assert tutorial.per_iteration == pytest.approx(1.7) and tutorial.n_iters == TRAIN_ITERS
    assert TRAIN_ITERS * 1.7 < tutorial.timeout_s <= TRAIN_TIMEOUT_MAX_S
    assert train_plan((0.4, 0.85), 1.0) == train_plan((0.4, 0.85), 1.0)
    assert train_plan((0.4, 0.85), 1.0).timeout_s == TRAIN_TIMEOUT_S  # the reference: the least limit
    slow = train_plan((2.0, 11.0), 1.0)  # 3 s per iteration (the tutorial on a loaded machine): fewer iterations, never 0 for time
    assert slow.timeout_s == TRAIN_TIMEOUT_MAX_S and TRAIN_MIN_ITERS <= slow.n_iters < TRAIN_ITERS
    assert slow.n_iters * 3.0 < TRAIN_TIMEOUT_MAX_S
    loaded = train_plan((2.0, 7.1), 3.0)  # the sandbox multiplies by --time-scale: the measured part is not scaled twice
    assert loaded.timeout_s * 3.0 == pytest.approx(max(tutorial.timeout_s, 3.0 * TRAIN_TIMEOUT_S)) and loaded.n_iters == TRAIN_ITERS


def test_slow_iterations_are_not_zeroed_for_time(tmp_path):
    """0.08 s per iteration: 150 iterations (12 s) overrun the least limit at this time scale (7.5 s), not the measured budget."""
    scale = 0.05
    assert TRAIN_ITERS * 0.08 > TRAIN_TIMEOUT_S * scale
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "slow_iterations.py")
    result = by_id(grade(folder, tmp_path / "out", ids={"3.train_ebm"}, limits=Limits(memory_mb=2048, time_scale=scale)))["3.train_ebm"]
    assert result.score == pytest.approx(1.0), result.output  # the "runs" point; the untrained energy separates nothing
    assert "s per iteration measured" in result.output and "timed out" not in result.output


def test_a_checkpoint_that_stores_training_digits_is_flagged_and_earns_nothing(tmp_path):
    from grader.mnist import load_mnist

    digits, labels = load_mnist("train")
    chosen = torch.cat([torch.nonzero(labels == c)[:2, 0] for c in range(10)])  # two of each class
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "memorises_digits.py")
    torch.save({"digits": digits[chosen].clone()}, folder / "p3_energy.pt")
    result = by_id(grade(folder, tmp_path / "out", ids={"3.checkpoint"}))["3.checkpoint"]
    assert "200 of 200 samples are near-copies" in result.output and "FLAGGED" in result.output, result.output
    assert result.score == 0.0, result.output
    assert "(confidence 1.00, classes 0.75, frechet 1.00)" in result.output  # without the flag: most of the sample credit


# ---------------------------------------------------------------------------------- hostile (issue 9)
def test_rewriting_the_grader_in_the_child_gains_nothing(tmp_path):
    """Probes, torch.autograd.grad and the worker's encode rewritten from EnergyNet(): no check scores above the same mistakes without."""
    from reference.p3_ebm import EnergyNet

    torch.manual_seed(0)
    untrained = EnergyNet().state_dict()
    scores = {}
    for hostile in (True, False):
        folder = patched_submission(tmp_path / f"sub{hostile}", P3, CORPUS / "hostile" / "p3_rewrites_grader.py", {"HOSTILE": str(hostile)})
        torch.save(untrained, folder / "p3_energy.pt")
        scores[hostile] = by_id(grade(folder, tmp_path / f"out{hostile}", ids=ALL))
    for check_id in ALL:
        assert scores[True][check_id].score <= scores[False][check_id].score, (check_id, scores[True][check_id].output)
    assert scores[True]["3.checkpoint"].score == 0.0
    assert "cross-check failed" not in scores[False]["3.checkpoint"].output  # the honest untrained net passes them
    assert "do not match the energies" in scores[True]["3.checkpoint"].output, scores[True]["3.checkpoint"].output
    assert scores[True]["3.train_ebm"].score <= 1.0 and scores[True]["3.cd_loss"].score == 0.0


# ---------------------------------------------------------------------------------- oracles
def test_chain_law_tends_to_the_discrete_lyapunov_solution():
    case = chain_cases()["stationary"].case
    eta, sigma = 2e-3, 0.03
    a = np.eye(case.dim) - eta * case.precision
    _, cov = oracle.chain_law(case, 10_000, eta, sigma)
    assert np.allclose(cov, linalg.solve_discrete_lyapunov(a, sigma**2 * np.eye(case.dim)), rtol=1e-10, atol=1e-14)
    assert np.allclose(cov, oracle.stationary_covariance(case, eta, sigma))
    continuous = sigma**2 / (2 * eta) * np.linalg.inv(case.precision)
    assert not np.allclose(cov, continuous, rtol=0.05)  # the difference the check must not ignore


def test_chain_law_matches_a_simulated_chain():
    cc = chain_cases()["short"]
    rng = np.random.default_rng(0)
    x = cc.x0.reshape(len(cc.x0), -1).astype(np.float64)[:5000]
    for _ in range(cc.n_steps):
        x = x - cc.eta * (x - cc.case.mean) @ cc.case.precision + cc.sigma * rng.normal(size=x.shape)
    power, cov = oracle.chain_law(cc.case, cc.n_steps, cc.eta, cc.sigma)
    start = cc.x0.reshape(len(cc.x0), -1)[:5000] - cc.case.mean
    fit = oracle.gaussian_fit(x - cc.case.mean - start @ power.T, cov)
    assert fit.mean_p > 1e-3 and fit.cov_z < 5


def test_auroc_and_binomial_test():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=300), rng.normal(0.5, size=200)
    brute = np.mean((a[:, None] < b[None, :]) + 0.5 * (a[:, None] == b[None, :]))
    assert oracle.auroc(a, b) == pytest.approx(brute)
    assert oracle.auroc(np.zeros(3), np.zeros(4)) == 0.5
    assert oracle.binomial_p_value(300, 6000, 0.05) > 0.5
    assert oracle.binomial_p_value(300, 6000, 0.3) < 1e-100


def test_cd_loss_gradient_oracle_against_finite_differences():
    case = oracle.GaussianCase(np.array([0.1, -0.2]), np.array([[2.0, 0.3], [0.3, 1.0]]), scale=1.3)
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    grads = oracle.cd_loss_gradients(case, real, fake, 0.25)
    h = 1e-6
    for i in range(2):
        shift = np.eye(2)[i] * h
        up = oracle.GaussianCase(case.mean + shift, case.precision, case.scale)
        down = oracle.GaussianCase(case.mean - shift, case.precision, case.scale)
        numeric = (oracle.cd_loss_value(up, real, fake, 0.25) - oracle.cd_loss_value(down, real, fake, 0.25)) / (2 * h)
        assert grads["mean"][i] == pytest.approx(numeric, rel=1e-6)
    up, down = (oracle.GaussianCase(case.mean, case.precision, case.scale + s) for s in (h, -h))
    numeric = (oracle.cd_loss_value(up, real, fake, 0.25) - oracle.cd_loss_value(down, real, fake, 0.25)) / (2 * h)
    assert float(grads["scale"]) == pytest.approx(numeric, rel=1e-6)


def test_rating_scale_gives_the_reference_full_and_noise_nothing():
    assert rating_fraction(0.912, 10, 81.0)[0] == 1.0  # the shipped reference checkpoint, worst of three sampler seeds
    assert rating_fraction(0.103, 1, 1430.5)[0] == 0.0  # uniform noise / an untrained network
    assert rating_fraction(0.819, 9, 337.0)[0] == 1.0  # the classic CPU recipe (stage-1 reference), its worst seed
    assert rating_fraction(0.969, 8, 560.0)[0] < 0.95  # wells at the class means, before any copy is flagged
    middle, parts = rating_fraction(0.45, 5, 875.0)
    assert middle == pytest.approx(0.5) and set(parts) == set(RATING_SCALE)


# ---------------------------------------------------------------------------------- prototypes and stateful opponents (issue 19)
def _embedded_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from grader.mnist import load_mnist

    splits = [load_mnist(split) for split in ("train", "heldout")]
    digits, labels = torch.cat([x for x, _ in splits]), torch.cat([y for _, y in splits])
    return digits, labels


def _kmeans(points: torch.Tensor, k: int, seed: int, iters: int = 15) -> torch.Tensor:
    flat = points.reshape(len(points), -1)
    centres = flat[torch.randperm(len(flat), generator=torch.Generator().manual_seed(seed))[:k]].clone()
    for _ in range(iters):
        nearest = torch.cdist(flat, centres).argmin(1)
        centres = torch.stack([flat[nearest == j].mean(0) if bool((nearest == j).any()) else centres[j] for j in range(k)])
    return centres.reshape(k, 1, 28, 28)


def _blur(images: torch.Tensor) -> torch.Tensor:
    taps = torch.exp(-torch.arange(-3, 4, dtype=torch.float32) ** 2 / 2)
    taps = taps / taps.sum()
    images = torch.nn.functional.conv2d(images, taps.view(1, 1, 1, 7), padding=(0, 3))
    return torch.nn.functional.conv2d(images, taps.view(1, 1, 7, 1), padding=(3, 0))


def prototype_wells(variant: str) -> dict[str, torch.Tensor]:
    """The state_dict of `tests/corpus/p3/prototype_wells.py` for one variant of the attack (what a student could build)."""
    digits, labels = _embedded_digits()
    means = torch.stack([digits[labels == c].mean(0) for c in range(10)])
    radius = 0.0
    if variant in ("class_means", "flat_bottomed_class_means"):
        centres = means.repeat(3, 1, 1, 1)  # the net has 30 wells: each class mean three times
        radius = 0.3 * 28.0 if variant == "flat_bottomed_class_means" else 0.0  # RMS 0.3 per pixel
    elif variant == "kmeans_3_per_class":
        centres = torch.cat([_kmeans(digits[labels == c], 3, c) for c in range(10)])
    else:  # blurred class means plus a fixed noise pattern, three per class
        noise = 0.15 * torch.randn(30, 1, 28, 28, generator=torch.Generator().manual_seed(7))
        centres = (_blur(means.repeat(3, 1, 1, 1)) + noise).clamp(-1, 1)
    directions = (centres - centres.mean(0, keepdim=True)).flatten(1)
    directions = directions / directions.norm(dim=1, keepdim=True)
    offsets = torch.zeros(len(centres))
    noise = torch.rand(4000, 784, generator=torch.Generator().manual_seed(9)) * 2 - 1
    for _ in range(300):  # offsets that split chains from uniform noise evenly over the wells
        share = torch.bincount((noise @ directions.T + offsets).argmax(1), minlength=len(centres)).float() / len(noise)
        offsets -= 0.5 * (share - 1 / len(centres))
    return {"centres": centres.contiguous(), "directions": directions, "offsets": offsets, "scale": torch.tensor(0.5),
            "radius": torch.tensor(radius)}


# variant -> (most points of 10 it may keep, fewest samples of 200 flagged); the old levels gave the class means 10/10
PROTOTYPE_ATTACKS = {"class_means": (0.0, 190), "kmeans_3_per_class": (0.0, 190), "blurred_means_plus_noise": (0.0, 190),
                     "flat_bottomed_class_means": (0.0, 100)}  # wide flat wells escape collapse, not the class averages


@pytest.mark.parametrize("variant", sorted(PROTOTYPE_ATTACKS))
def test_prototype_wells_earn_nothing(tmp_path, variant):
    most, fewest = PROTOTYPE_ATTACKS[variant]
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / "prototype_wells.py")
    torch.save(prototype_wells(variant), folder / "p3_energy.pt")
    result = by_id(grade(folder, tmp_path / "out", ids={"3.checkpoint"}))["3.checkpoint"]
    assert result.score <= most, result.output
    flagged = int(result.output.split("samples flagged in all")[0].rsplit("- ", 1)[1].split(" of ")[0])
    assert flagged >= fewest and "FLAGGED" in result.output, result.output


@pytest.mark.parametrize("opponent", ["checkpoint_answers_from_memory", "checkpoint_recognises_fresh"])
def test_stateful_checkpoint_answers_gain_nothing(tmp_path, opponent):
    """Both opponents' honest answers sample noise (an untrained network scores 0, test_untrained_checkpoint_scores_zero);
    steering the chain from memory, or only where no check is expected, scores no more."""
    from reference.p3_ebm import EnergyNet

    digits, labels = _embedded_digits()
    state = {"centres": torch.stack([digits[labels == c].mean(0) for c in range(10)])}
    if opponent == "checkpoint_recognises_fresh":
        torch.manual_seed(0)
        state.update(EnergyNet().state_dict())
    folder = patched_submission(tmp_path / "sub", P3, CORPUS / "p3" / f"{opponent}.py")
    torch.save(state, folder / "p3_energy.pt")
    result = by_id(grade(folder, tmp_path / "out", ids={"3.checkpoint"}))["3.checkpoint"]
    assert result.score == 0.0, result.output
    reason = {"checkpoint_answers_from_memory": "do not match the energies",
              "checkpoint_recognises_fresh": "asked again in a fresh process that never saw the chain got different"}[opponent]
    assert "cross-check failed" in result.output and reason in result.output, result.output


def test_every_pair_of_classic_step_mistakes_is_named():
    """Two classic mistakes at once (built by the oracle's switches) get a diagnosis naming mistakes, never 'differs at k of n'."""
    import itertools

    from grader.checks.p3 import NOISE_FIRST, diagnose_step, step_cases, step_mistakes

    for sc in step_cases().values():
        mistakes = step_mistakes(sc.clip is not None) + [(dict(noise_first=True), NOISE_FIRST)]
        for (first, _), (second, _) in itertools.combinations(mistakes, 2):
            if set(first) & set(second) or {"clip", "clip_update"} <= set(first) | set(second):
                continue
            kwargs = {**first, **second}
            clip = kwargs.pop("clip", sc.clip)
            student = oracle.sgld_expected(sc.x.astype(np.float64), sc.case, sc.eta, sc.sigma, sc.eps.astype(np.float64), clip, **kwargs)
            diagnosis = diagnose_step(student.astype(np.float32).astype(np.float64), sc)
            assert diagnosis is not None and "differs from" not in diagnosis, (sc.label, first, second, diagnosis)
