"""The make_moons oracle: a normalised density, a converged entropy, and agreement with sklearn's samples."""
from __future__ import annotations

import math

import numpy as np
import pytest

from grader.oracles.moons import (
    moons_density,
    moons_entropy,
    moons_entropy_mc,
    moons_grid,
    moons_log_density,
    sample_moons,
)

NOISE = 0.05


def _ring_entropy(noise: float) -> float:
    """Entropy of a uniform law on curves of total length 2π thickened by N(0, σ²) across them (no ends)."""
    return math.log(2 * math.pi) + 0.5 * math.log(2 * math.pi * math.e * noise**2)


def test_density_integrates_to_one() -> None:
    xs, ys, area = moons_grid(NOISE)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    mass = moons_density(np.stack([gx.ravel(), gy.ravel()], axis=1), NOISE).sum() * area
    assert mass == pytest.approx(1.0, abs=1e-6)


def test_log_density_is_finite_far_away_and_matches_density() -> None:
    x = np.array([[0.0, 1.0], [1.0, -0.5], [10.0, 10.0], [-5.0, 3.0]])
    log_p = moons_log_density(x, NOISE)
    assert np.all(np.isfinite(log_p))
    assert log_p[2] < -1e4
    np.testing.assert_allclose(np.exp(log_p[:2]), moons_density(x[:2], NOISE), rtol=1e-12)


def test_entropy_value_at_the_homework_noise() -> None:
    assert moons_entropy(NOISE) == pytest.approx(0.28923, abs=5e-5)


def test_entropy_is_converged_in_grid_and_angle_quadrature() -> None:
    reference = moons_entropy(NOISE)
    assert moons_entropy(NOISE, spacing=NOISE / 3) == pytest.approx(reference, abs=1e-7)
    assert moons_entropy(NOISE, panels=32) == pytest.approx(reference, abs=1e-7)


def test_entropy_agrees_with_monte_carlo() -> None:
    estimate, stderr = moons_entropy_mc(NOISE, n=30_000, seed=3)
    assert abs(estimate - moons_entropy(NOISE)) < 4 * stderr


def test_density_matches_a_kde_of_sklearn_samples() -> None:
    """A Gaussian KDE of bandwidth h estimates p convolved with N(0, h²I): the law with noise √(σ² + h²)."""
    h = 0.03
    samples = sample_moons(200_000, NOISE, seed=1).astype(np.float64)
    rng = np.random.default_rng(0)
    query = samples[rng.choice(len(samples), 100, replace=False)] + rng.normal(0, 0.03, (100, 2))
    sq = ((query[:, None, :] - samples[None, :, :]) ** 2).sum(-1)
    kde = np.exp(-sq / (2 * h**2)).mean(1) / (2 * math.pi * h**2)
    expected = moons_density(query, math.hypot(NOISE, h))
    dense = expected > 0.5
    assert dense.sum() > 60
    np.testing.assert_allclose(kde[dense], expected[dense], rtol=0.12)
    assert abs(np.median(kde[dense] / expected[dense]) - 1) < 0.02


def test_entropy_increases_with_noise() -> None:
    values = [moons_entropy(s) for s in (0.03, 0.05, 0.1, 0.2)]
    assert all(a < b for a, b in zip(values, values[1:]))


def test_entropy_approaches_the_thin_ring_limit() -> None:
    """For small σ the law is a uniform curve of length 2π thickened by noise; the four arc ends add O(σ)."""
    excess = [(moons_entropy(s) - _ring_entropy(s)) / s for s in (0.03, 0.05)]
    assert all(0 < e < 1 for e in excess)
    assert excess[0] == pytest.approx(excess[1], rel=0.05)


def test_sample_moons_is_seeded_float32_and_shuffled() -> None:
    a, b, c = sample_moons(1001, NOISE, seed=7), sample_moons(1001, NOISE, seed=7), sample_moons(1001, NOISE, seed=8)
    assert a.shape == (1001, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    upper_half = a[:500, 1] > 0.25  # shuffled: both moons appear in the first half
    assert 0.2 < upper_half.mean() < 0.8
