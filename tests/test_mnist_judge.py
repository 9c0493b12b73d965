"""The classifier that rates Problem 3 samples, the grader's own Langevin sampler and its cross-checks, memorisation."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from grader.mnist import load_mnist
from grader.oracles.mnist_judge import (
    AUDIT_IMAGES,
    AUDIT_STEPS,
    FD_H,
    FEATURE_DIM,
    MEMORISED_ALLOWANCE,
    MEMORISED_RMS,
    SampleRating,
    autograd_query,
    drive_langevin,
    features,
    frechet_distance,
    grader_langevin,
    load_classifier,
    memorisation_factor,
    nearest_digit_distances,
    rate_samples,
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def heldout() -> tuple[torch.Tensor, torch.Tensor]:
    return load_mnist("heldout")


def test_classifier_accuracy_on_heldout_digits(heldout) -> None:
    x, y = heldout
    with torch.no_grad():
        accuracy = (load_classifier()(x).argmax(-1) == y).double().mean().item()
    assert accuracy >= 0.95


def test_features_are_the_penultimate_layer(heldout) -> None:
    x, _ = heldout
    f = features(x[:7])
    assert f.shape == (7, FEATURE_DIM) and f.min() >= 0  # after the ReLU
    assert torch.allclose(load_classifier().head(f), load_classifier()(x[:7]), atol=1e-5)


def test_real_digits_rate_well(heldout) -> None:
    x, _ = heldout
    rating = rate_samples(x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:200]])
    assert rating.n == 200 and sum(rating.class_histogram) == 200
    assert rating.mean_confidence > 0.9
    assert rating.n_classes == 10
    assert rating.frechet < 50.0  # 21 measured (small-sample bias); reference samples ~320, noise ~1430


def test_uniform_noise_rates_badly() -> None:
    noise = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    rating = rate_samples(noise)
    assert rating.mean_confidence < 0.5
    assert rating.n_classes <= 3
    assert rating.frechet > 100.0


def test_rating_is_deterministic_frozen_and_tolerates_junk(heldout) -> None:
    x, _ = heldout
    a, b = rate_samples(x[:50]), rate_samples(x[:50].clone())
    assert a == b
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.n = 3  # type: ignore[misc]
    weird = x[:20].clone()
    weird[0, 0, 0, 0], weird[1] = float("nan"), 40.0
    assert isinstance(rate_samples(weird), SampleRating)
    with pytest.raises(ValueError):
        rate_samples(x[:1])


def test_frechet_distance_of_gaussians() -> None:
    mu, sigma = torch.zeros(3).numpy(), torch.eye(3).double().numpy()
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)
    # N(0, I) vs N(1, 4 I) in 3-D: |Δμ|² + tr(I + 4I - 2·2I) = 3 + 3
    assert frechet_distance(mu, sigma, mu + 1, 4 * sigma) == pytest.approx(6.0)


def test_grader_langevin_is_seeded_and_clamped() -> None:
    quadratic = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731
    a = grader_langevin(quadratic, 5, n_steps=3, step_size=0.1, noise_std=0.5, seed=4)
    b = grader_langevin(quadratic, 5, n_steps=3, step_size=0.1, noise_std=0.5, seed=4)
    assert torch.equal(a, b) and a.shape == (5, 1, 28, 28) and not a.requires_grad
    assert a.min() >= -1 and a.max() <= 1
    start = grader_langevin(quadratic, 5, n_steps=0, step_size=0.1, noise_std=0.5, seed=4)
    assert start.min() >= -1 and start.max() <= 1 and start.std() > 0.5


def test_grader_langevin_samples_a_gaussian_energy() -> None:
    """E(x) = |x|²/(2 s²) with s = 0.3: the SGLD chain (σ = √(2η)) has per-pixel variance ≈ s²."""
    s, eta = 0.3, 0.002
    energy = lambda x: x.flatten(1).pow(2).sum(1) / (2 * s * s)  # noqa: E731
    x = grader_langevin(energy, 20, n_steps=600, step_size=eta, noise_std=(2 * eta) ** 0.5, seed=0)
    assert abs(x.mean().item()) < 0.01
    assert x.var().item() == pytest.approx(s * s, rel=0.06)  # clamping at ±1 (3.3 s) is negligible


def test_grader_langevin_clips_the_gradient() -> None:
    steep = lambda x: 100.0 * x.flatten(1).sum(1)  # noqa: E731 — gradient 100 everywhere
    x = grader_langevin(steep, 3, n_steps=1, step_size=1.0, noise_std=0.0, seed=1, grad_clip=0.01)
    x0 = grader_langevin(steep, 3, n_steps=0, step_size=1.0, noise_std=0.0, seed=1)
    assert torch.allclose(x, (x0 - 0.01).clamp(-1, 1))


def _reference_net(seed: int = 0) -> torch.nn.Module:
    from reference.p3_ebm import EnergyNet

    torch.manual_seed(seed)
    net = EnergyNet().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


SETTINGS = {"n_steps": 12, "step_size": 10.0, "noise_std": 0.005, "grad_clip": 0.03}


def _audit(run, make_fresh) -> str | None:
    """Judge `run` with each batch of its audit answered by a new object from `make_fresh()` (a fresh process)."""
    return run.audit.judge(tuple(make_fresh()(batch) for batch in run.audit.batches))


@pytest.mark.parametrize("make_net", ["reference", "relu"])
def test_honest_answers_pass_every_cross_check(make_net) -> None:
    """A smooth network and a ReLU network (kinks under the finite differences) both pass, and the chains equal grader_langevin's."""
    if make_net == "reference":
        net = _reference_net()
    else:
        torch.manual_seed(1)
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.Flatten(),
                                  torch.nn.Linear(8 * 13 * 13, 1), torch.nn.Flatten(0)).eval()
    run = drive_langevin(autograd_query(net), 100, seed=3, **SETTINGS)
    assert run.queries == SETTINGS["n_steps"]  # the chain's process is asked for the chain's states only
    assert _audit(run, lambda: autograd_query(net)) is None
    assert torch.equal(run.samples, grader_langevin(net, 100, seed=3, **SETTINGS))


def test_fresh_batches_hide_the_pairs_and_keep_the_chain_pixels() -> None:
    """Each fresh process holds one side of each pair, mixed with chain states; saturated pixels stay exactly ±1."""
    run = drive_langevin(autograd_query(_reference_net()), 200, seed=5, **SETTINGS)
    audit = run.audit
    plus, minus = (batch.reshape(len(batch), -1).astype(np.float64) for batch in audit.batches)
    assert len(audit.plus) == AUDIT_STEPS * AUDIT_IMAGES and len(plus) > len(audit.plus)  # mixed with re-checked states
    assert sorted(audit.plus) != list(range(len(audit.plus)))  # shuffled
    for batch in (plus, minus):
        assert batch.min() >= -1 and batch.max() <= 1
        gaps = torch.cdist(torch.from_numpy(batch), torch.from_numpy(batch)).fill_diagonal_(np.inf)
        assert float(gaps.min()) > 10 * FD_H  # no two images of one batch form a pair
    up, down = plus[audit.plus], minus[audit.minus]
    assert np.allclose(np.linalg.norm(up - down, axis=1), 2 * FD_H, rtol=1e-3)
    centre = (up + down) / 2
    assert np.array_equal(np.abs(up) == 1, np.abs(centre) == 1)  # x ± h v keeps the chain's clamped pixels


def test_gradients_that_do_not_belong_to_the_energies_fail() -> None:
    honest = autograd_query(_reference_net())

    def pulls_to_a_target(x):  # energies of the network, gradients that pull every image to mid-grey
        energy, _ = honest(x)
        return energy, 0.1 * x

    def scaled(x):
        energy, grad = honest(x)
        return energy, 10.0 * grad

    for query in (pulls_to_a_target, scaled):
        run = drive_langevin(query, 100, seed=3, **SETTINGS)
        assert "do not match the energies" in _audit(run, lambda: query)


class FromMemory:
    """The issue's opponent: a constant energy, an unrelated gradient field, and audit-looking queries (all within 0.05 of
    the previous query) answered with the energies the remembered gradient predicts; repeated states from a cache."""

    def __init__(self) -> None:
        self.last, self.cache = None, {}

    def __call__(self, x):
        key = np.asarray(x, np.float32).tobytes()
        if key in self.cache:
            return self.cache[key]
        if self.last is not None and self.last[0].shape == x.shape and np.abs(x - self.last[0]).max() < 0.05:
            state, grad = self.last
            return ((x - state) * grad).reshape(len(x), -1).sum(1), grad
        grad = np.sin(3 * x)  # a field that is no energy's gradient here
        self.last = (x.copy(), grad)
        self.cache[key] = (np.zeros(len(x)), grad)
        return self.cache[key]


def test_answers_from_memory_fail_in_fresh_processes() -> None:
    run = drive_langevin(FromMemory(), 100, seed=3, **SETTINGS)
    assert "do not match the energies" in _audit(run, FromMemory)


def test_honest_only_when_checked_fails() -> None:
    """Honest answers to anything but a chain step (a first query, or another batch size); sharper gradients in the chain."""
    honest = autograd_query(_reference_net())

    class Recogniser:
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, x):
            self.calls += 1
            energy, grad = honest(x)
            return (energy, grad) if self.calls == 1 or len(x) != 100 else (energy, 3.0 * grad)

    run = drive_langevin(Recogniser(), 100, seed=3, **SETTINGS)
    assert "asked again in a fresh process that never saw the chain got different gradients" in _audit(run, Recogniser)


def test_answers_that_change_between_calls_fail() -> None:
    honest = autograd_query(_reference_net())
    calls = []

    def drifting(x):  # gradients that grow slowly with the number of calls: within the finite differences' tolerance
        calls.append(1)
        energy, grad = honest(x)
        return energy, grad * (1 + 1e-3 * len(calls))

    run = drive_langevin(drifting, 100, seed=3, **SETTINGS)
    assert "got different gradients" in _audit(run, lambda: drifting)


def test_memorisation_threshold_separates_copies_from_real_digits() -> None:
    train, _ = load_mnist("train")
    heldout, _ = load_mnist("heldout")
    copies = (train[:50] + 0.02 * torch.randn(50, 1, 28, 28, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    assert nearest_digit_distances(copies, train).max() < MEMORISED_RMS
    assert nearest_digit_distances(train[:50], train).max() < 0.005  # itself, up to float32 rounding of |a|² - 2ab + |b|²
    new_digits_flagged = float((nearest_digit_distances(heldout, train) < MEMORISED_RMS).mean())
    assert new_digits_flagged < MEMORISED_ALLOWANCE / 2  # 1.1 %: real new digits are (almost) never near-copies
    assert memorisation_factor(round(new_digits_flagged * 200), 200) == 1.0
    noise = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert nearest_digit_distances(noise, train).min() > 0.5


def test_memorisation_factor() -> None:
    assert memorisation_factor(0, 200) == memorisation_factor(10, 200) == 1.0  # within the allowance
    assert memorisation_factor(200, 200) == memorisation_factor(100, 200) == 0.0  # half the samples flagged: nothing left
    assert memorisation_factor(55, 200) == pytest.approx(0.5)  # 27.5 %: halfway from the allowance to MEMORISED_ZERO
