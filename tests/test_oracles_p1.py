"""The Problem 1 oracles against closed forms, against each other, and for internal consistency."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate, linalg, stats

from grader.checks.p1 import field_build
from grader.oracles import p1 as oracle
from grader.runner.child_library import BUILDERS



def _grid(n: int, low: float = -4.0, high: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    axis = np.linspace(low, high, n)
    return axis, np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


def _random_invertible(rng: np.random.Generator, d: int) -> np.ndarray:
    while True:
        A = rng.normal(size=(d, d))
        if abs(np.linalg.det(A)) > 0.1:
            return A


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_linear_gaussian_density_matches_change_of_variables(d):
    rng = np.random.default_rng(d)
    A, mu, y = _random_invertible(rng, d), rng.normal(size=d), rng.normal(size=(20, d))
    z = np.linalg.solve(A, y.T).T - mu
    expected = np.exp(-0.5 * (z**2).sum(1)) / (2 * np.pi) ** (d / 2) / abs(np.linalg.det(A))
    np.testing.assert_allclose(oracle.linear_gaussian_density(y, A, mu), expected, rtol=1e-8)


def test_linear_gaussian_density_homework_value_at_origin():
    A = [[0.6, 0.6], [0.2, 0.6]]
    value = oracle.linear_gaussian_density(np.zeros((1, 2)), A, [0.0, 0.0])
    np.testing.assert_allclose(value, [25 / 6 / (2 * np.pi)], rtol=1e-12)


def _linear_flow_law(M: np.ndarray, b: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """z(t) = E z0 + c with E = expm(M t), c = ∫_0^t expm(M s) b ds (from the augmented expm)."""
    d = len(b)
    block = np.zeros((d + 1, d + 1))
    block[:d, :d], block[:d, d] = M, b
    flow = linalg.expm(block * t)
    return flow[:d, :d], flow[:d, d]


@pytest.mark.parametrize("t", [0.3, 1.0])
def test_linear_field_simulate_and_density_match_expm(t):
    rng = np.random.default_rng(7)
    d = 3
    field = oracle.Linear(M=rng.normal(size=(d, d)) * 0.7, b=rng.normal(size=d))
    E, c = _linear_flow_law(field.M, field.b, t)
    z0 = rng.normal(size=(50, d))
    np.testing.assert_allclose(oracle.simulate(field, z0, t), z0 @ E.T + c, rtol=1e-8, atol=1e-9)
    x = rng.normal(size=(50, d)) * 1.5
    expected = stats.multivariate_normal(mean=c, cov=E @ E.T).pdf(x)
    np.testing.assert_allclose(oracle.density_at(field, t, x), expected, rtol=1e-8)


def _finite_difference_trace(field, t: float, z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    trace = np.zeros(len(z))
    for i in range(z.shape[1]):
        step = np.zeros(z.shape[1])
        step[i] = h
        trace += (field.value(t, z + step)[:, i] - field.value(t, z - step)[:, i]) / (2 * h)
    return trace


@pytest.mark.parametrize("field", [
    oracle.TanhPower(3), oracle.TanhPower(2, theta=-0.7), oracle.TanhPower(1, theta=1.3),
    oracle.random_mlp_field(np.random.default_rng(0), d=3, hidden=6),
    oracle.random_mlp_field(np.random.default_rng(1), d=2, hidden=5, time_dependent=True),
], ids=["tanh3", "tanh2", "tanh1", "mlp", "mlp-time"])
def test_analytic_trace_matches_finite_differences(field):
    rng = np.random.default_rng(3)
    d = field.W1.shape[1] if isinstance(field, oracle.MLPField) else 2
    z = rng.normal(size=(30, d))
    np.testing.assert_allclose(field.jacobian_trace(0.4, z), _finite_difference_trace(field, 0.4, z),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("t", [0.0, 0.25, 0.5, 1.0])
def test_homework_density_integrates_to_the_mass_left_in_the_box(t):
    # Mass in [-4, 4]^2 at time t is the Gaussian mass of the box's preimage (the field is odd).
    axis, points = _grid(81)
    density = oracle.density_at(oracle.HOMEWORK_FIELD, t, points).reshape(len(axis), len(axis))
    mass = integrate.simpson(integrate.simpson(density, x=axis), x=axis)
    edge = oracle.preimage_1d(oracle.HOMEWORK_FIELD, t, 4.0)
    assert mass == pytest.approx((2 * stats.norm.cdf(edge) - 1) ** 2, abs=2e-3)
    assert mass == pytest.approx(1.0, abs=1e-2)


@pytest.mark.parametrize("field", [oracle.TanhPower(3), oracle.TanhPower(2, theta=0.7),
                                   oracle.TanhPower(1, theta=-0.8)], ids=["tanh3", "tanh2", "tanh1"])
@pytest.mark.parametrize("t", [0.25, 0.5, 1.0])
def test_ode_oracle_agrees_with_the_solver_free_1d_route(field, t):
    _, points = _grid(21)
    rng = np.random.default_rng(11)
    points = np.concatenate([points, rng.normal(size=(20, 2)) * 2])
    ode = oracle.density_at(field, t, points)
    one_d = oracle.density_at_elementwise_1d(field, t, points)
    np.testing.assert_allclose(ode, one_d, rtol=1e-8, atol=1e-12)


def test_density_at_time_zero_is_standard_normal():
    x = np.random.default_rng(0).normal(size=(10, 3))
    expected = stats.multivariate_normal(np.zeros(3), np.eye(3)).pdf(x)
    np.testing.assert_allclose(oracle.density_at(oracle.TanhPower(3), 0.0, x), expected, rtol=1e-12)


def _materialise(build):
    """What the child's worker does with a `Build`: its builder called on tensors."""
    params = {k: _materialise(v) if hasattr(v, "params") else torch.from_numpy(v) if isinstance(v, np.ndarray) else v
              for k, v in build.params.items()}
    return BUILDERS[build.name](**params)


FIELDS = [oracle.TanhPower(3), oracle.TanhPower(2, theta=-0.7),
          oracle.Linear(M=[[0.1, -0.3], [0.2, 0.05]], b=[0.3, -0.1]),
          oracle.random_mlp_field(np.random.default_rng(2), d=2, hidden=4, time_dependent=True),
          oracle.random_mlp_field(np.random.default_rng(3), d=3, hidden=6)]
FIELD_IDS = ["tanh3", "tanh2", "linear", "mlp-time", "mlp3"]


@pytest.mark.parametrize("field", FIELDS, ids=FIELD_IDS)
@pytest.mark.parametrize("plain", [False, True], ids=["module", "function"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_child_builders_compute_the_oracle_fields(field, plain, dtype):
    """The field student code receives (built in the child from `field_build`) is the oracle's field."""
    d = getattr(field, "dim", 2)
    z = np.random.default_rng(5).normal(size=(16, d)) * 1.5
    f = _materialise(field_build(field, plain=plain))
    out = f(torch.tensor(0.7, dtype=dtype), torch.tensor(z, dtype=dtype))
    assert out.dtype == dtype and out.shape == (16, d)
    np.testing.assert_allclose(out.detach().double().numpy(), field.value(0.7, z),
                               rtol=1e-5 if dtype == torch.float32 else 1e-13, atol=1e-6 if dtype == torch.float32 else 1e-14)


@pytest.mark.parametrize("field", FIELDS, ids=FIELD_IDS)
def test_analytic_jacobian_matches_autograd_on_the_child_builder(field):
    d = getattr(field, "dim", 2)
    z = np.random.default_rng(6).normal(size=(7, d))
    f = _materialise(field_build(field))
    jac = torch.func.vmap(torch.func.jacrev(lambda x: f(torch.tensor(0.4, dtype=torch.float64), x[None])[0]))(torch.tensor(z))
    np.testing.assert_allclose(field.jacobian(0.4, z), jac.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(field.jacobian_trace(0.4, z), np.trace(field.jacobian(0.4, z), axis1=1, axis2=2), rtol=1e-12)


def test_spec_round_trip_keeps_the_field():
    for field in FIELDS:
        z = np.random.default_rng(0).normal(size=(4, getattr(field, "dim", 2)))
        again = oracle.field_from_spec(field.to_spec())
        np.testing.assert_array_equal(again.value(0.3, z), field.value(0.3, z))


def test_euler_and_backward_solve_conventions():
    field = oracle.Linear(M=[[-0.5, 0.0], [0.0, 0.2]], b=[0.0, 0.0])
    z0 = np.array([[1.0, 1.0]])
    np.testing.assert_allclose(oracle.euler(field, z0, 1.0, 2), [[0.75**2, 1.1**2]])
    x = np.array([[0.3, -0.4]])
    pre, ell = oracle.backward_solve(field, 0.5, x)
    np.testing.assert_allclose(pre, x * np.exp([0.25, -0.1]), rtol=1e-9)  # z(0) = exp(-M t) x
    np.testing.assert_allclose(ell, [0.5 * -0.3], rtol=1e-9)  # ℓ(0) = ∫_0^t tr M ds = t tr M
    # a negative time integrates the other way: the density "at time -t"
    np.testing.assert_allclose(oracle.density_at(field, -0.5, x),
                               oracle.linear_gaussian_density(x, np.diag(np.exp([0.25, -0.1]))), rtol=1e-8)


def test_importing_the_oracles_and_checks_loads_no_torch():
    import subprocess  # noqa: PLC0415

    code = "import sys, grader.checks.p1; print(sorted(m for m in ('torch', 'scipy.stats', 'scipy.integrate') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.strip() == "[]"


def test_unknown_field_kind_lists_the_known_ones():
    with pytest.raises(ValueError, match="linear"):
        oracle.field_from_spec({"kind": "spline"})
