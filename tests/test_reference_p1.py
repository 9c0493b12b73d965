"""The Problem 1 reference against the grader's independent oracles."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grader.checks.p1 import field_build
from grader.oracles import p1 as oracle
from grader.runner.child_library import BUILDERS
from reference import p1_change_of_variables as ref

DTYPES = [torch.float32, torch.float64]
# (rtol, atol) of the reference against the float64 oracles, per dtype
TOL = {torch.float64: (1e-7, 1e-10), torch.float32: (2e-4, 2e-6)}



def torch_field(field):
    """The field exactly as graded code receives it: the child library's builder for it (an nn.Module)."""
    build = field_build(field)
    return BUILDERS[build.name](**{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in build.params.items()})


def homework_field(t, z):
    return torch.tanh(z**3)


def _close(actual: torch.Tensor, expected: np.ndarray, dtype: torch.dtype) -> None:
    assert actual.dtype == dtype
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(actual.detach().double().numpy(), expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_density_linear_matches_the_gaussian_oracle(d, dtype):
    rng = np.random.default_rng(d)
    A = rng.normal(size=(d, d))
    A[0] *= -1 if np.linalg.det(A) > 0 else 1  # a negative determinant
    mu, y = rng.normal(size=d), rng.normal(size=(40, d)) * 2
    out = ref.density_linear(torch.tensor(y, dtype=dtype), torch.tensor(A), torch.tensor(mu))
    assert out.shape == (40,)
    _close(out, oracle.linear_gaussian_density(y, A, mu), dtype)


def test_density_linear_homework_instance():
    A = [[0.6, 0.6], [0.2, 0.6]]
    out = ref.density_linear(torch.zeros(1, 2, dtype=torch.float64), A)
    assert out.item() == pytest.approx(25 / 6 / (2 * math.pi), rel=1e-12)


def _mlp(d: int, time_dependent: bool = True, seed: int = 0) -> oracle.MLPField:
    return oracle.random_mlp_field(np.random.default_rng(seed), d=d, hidden=8, time_dependent=time_dependent)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["homework", "mlp3"])
def test_simulate_matches_the_scipy_oracle(case, dtype):
    field = oracle.HOMEWORK_FIELD if case == "homework" else _mlp(3)
    d = 2 if case == "homework" else 3
    z0 = np.random.default_rng(1).normal(size=(200, d))
    out = ref.simulate(torch_field(field), torch.tensor(z0, dtype=dtype), 0.5)
    assert out.shape == (200, d)
    _close(out, oracle.simulate(field, z0, 0.5), dtype)


def test_simulate_time_zero_returns_the_samples():
    z0 = torch.randn(5, 2, dtype=torch.float64)
    assert torch.equal(ref.simulate(homework_field, z0, 0.0), z0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("field", [oracle.HOMEWORK_FIELD, oracle.TanhPower(2, 0.7), _mlp(3), _mlp(1)],
                         ids=["homework", "tanh2", "mlp3", "mlp1"])
def test_ode_logp_dynamics_is_the_field_and_minus_the_exact_trace(field, dtype):
    d = field.W1.shape[1] if isinstance(field, oracle.MLPField) else 2
    z = np.random.default_rng(2).normal(size=(30, d))
    z_t = torch.tensor(z, dtype=dtype)
    module = torch_field(field)
    dz, dlogp = ref.ode_logp_dynamics(module, torch.tensor(0.3, dtype=dtype), z_t)
    assert dz.shape == (30, d) and dlogp.shape == (30,)
    _close(dz, field.value(0.3, z), dtype)
    _close(dlogp, -field.jacobian_trace(0.3, z), dtype)
    # a graph only where one is wanted: the MLP builder's weights are trainable parameters
    trainable = any(p.requires_grad for p in module.parameters())
    assert dz.requires_grad == dlogp.requires_grad == trainable and not z_t.requires_grad


def test_ode_logp_dynamics_keeps_the_graph_for_trainable_fields():
    theta = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    z = torch.randn(10, 2, dtype=torch.float64)
    _, dlogp = ref.ode_logp_dynamics(lambda t, x: torch.tanh(theta * x**2), 0.0, z)
    (grad,) = torch.autograd.grad(dlogp.sum(), theta)
    # d/dθ of -Σ 2θz sech²(θz²) = -Σ 2z sech²(θz²) (1 - 2θz² tanh(θz²))
    s = torch.tanh(theta.detach() * z**2)
    expected = -(2 * z * (1 - s**2) * (1 - 2 * theta.detach() * z**2 * s)).sum()
    assert grad.item() == pytest.approx(expected.item(), rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("t", [0.0, 0.25, 0.5, 1.0])
def test_density_on_grid_matches_the_oracle_for_the_homework_field(t, dtype):
    axis = np.linspace(-4, 4, 41)
    points = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    out = ref.density_on_grid(homework_field, t, torch.tensor(points, dtype=dtype))
    assert out.shape == (len(points),)
    _close(out, oracle.density_at_elementwise_1d(oracle.HOMEWORK_FIELD, t, points), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_density_on_grid_in_three_dimensions_with_a_time_dependent_mlp(dtype):
    field = _mlp(3, seed=4)
    points = np.random.default_rng(5).normal(size=(100, 3)) * 1.5
    out = ref.density_on_grid(torch_field(field), 0.8, torch.tensor(points, dtype=dtype))
    _close(out, oracle.density_at(field, 0.8, points), dtype)


def test_density_on_grid_linear_field_in_five_dimensions():
    rng = np.random.default_rng(6)
    field = oracle.Linear(M=rng.normal(size=(5, 5)) * 0.5, b=rng.normal(size=5))
    points = rng.normal(size=(50, 5))
    out = ref.density_on_grid(torch_field(field), 0.6, torch.tensor(points))
    _close(out, oracle.density_at(field, 0.6, points), torch.float64)
