"""Contract tests for the Problem 4 reference: couplings, the RealNVP density, sampling and a short training."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from reference.p4_realnvp import RealNVP, coupling_forward, coupling_inverse, train_realnvp


def _net(dim: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(dim, 16), nn.Tanh(), nn.Linear(16, dim)).double()


def _randomised_flow(seed: int = 0) -> RealNVP:
    """A flow whose couplings are far from the identity (the zero-initialised last layers perturbed)."""
    torch.manual_seed(seed)
    flow = RealNVP().double()
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return flow


MASKS = [torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 1.0, 0.0])]


@pytest.mark.parametrize("mask", MASKS, ids=lambda m: "".join(str(int(v)) for v in m))
def test_coupling_inverse_undoes_forward(mask: torch.Tensor) -> None:
    dim = len(mask)
    mask = mask.double()
    s_net, t_net = _net(dim, 1), _net(dim, 2)
    x = torch.randn(64, dim, dtype=torch.float64)
    y, ld_fwd = coupling_forward(x, mask, s_net, t_net)
    x_back, ld_inv = coupling_inverse(y, mask, s_net, t_net)
    assert y.shape == x.shape and ld_fwd.shape == (64,)
    torch.testing.assert_close(x_back, x)
    torch.testing.assert_close(ld_inv, -ld_fwd)
    torch.testing.assert_close(y * mask, x * mask)  # conditioning coordinates pass through


@pytest.mark.parametrize("mask", MASKS, ids=lambda m: "".join(str(int(v)) for v in m))
def test_coupling_log_det_matches_autograd_jacobian(mask: torch.Tensor) -> None:
    dim = len(mask)
    mask = mask.double()
    s_net, t_net = _net(dim, 3), _net(dim, 4)
    x = torch.randn(8, dim, dtype=torch.float64)
    _, log_det = coupling_forward(x, mask, s_net, t_net)
    for i in range(len(x)):
        jac = jacobian(lambda row: coupling_forward(row[None], mask, s_net, t_net)[0][0], x[i])
        assert log_det[i].item() == pytest.approx(torch.linalg.slogdet(jac)[1].item(), abs=1e-10)


def test_realnvp_log_prob_is_the_change_of_variables_formula() -> None:
    flow = _randomised_flow()
    x = torch.randn(10, 2, dtype=torch.float64) * torch.tensor([0.9, 0.5], dtype=torch.float64) + 0.3
    log_p = flow.log_prob(x)
    for i in range(len(x)):
        z = flow(x[i:i + 1])[0][0]
        jac = jacobian(lambda row: flow(row[None])[0][0], x[i])
        expected = -0.5 * (z**2).sum() - math.log(2 * math.pi) + torch.linalg.slogdet(jac)[1]
        assert log_p[i].item() == pytest.approx(expected.item(), abs=1e-9)


def test_realnvp_inverse_undoes_forward() -> None:
    flow = _randomised_flow(1)
    x = torch.randn(256, 2, dtype=torch.float64)
    z, log_det = flow(x)
    assert z.shape == (256, 2) and log_det.shape == (256,)
    torch.testing.assert_close(flow.inverse(z), x)


def test_default_realnvp_is_float32_and_samples_have_the_right_shape() -> None:
    flow = RealNVP()
    assert all(p.dtype == torch.float32 for p in flow.parameters())
    torch.manual_seed(0)
    samples = flow.sample(123)
    assert samples.shape == (123, 2) and samples.dtype == torch.float32
    assert flow.log_prob(samples).shape == (123,)
    assert torch.isfinite(flow.log_prob(samples)).all()


def test_gradients_reach_every_parameter() -> None:
    flow = _randomised_flow(2)
    flow.log_prob(torch.randn(32, 2, dtype=torch.float64)).mean().backward()
    for name, p in flow.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _moons(n: int, seed: int) -> np.ndarray:
    from sklearn.datasets import make_moons

    return make_moons(n, noise=0.05, random_state=seed)[0].astype(np.float32)


def test_short_training_improves_held_out_nll_and_is_deterministic() -> None:
    torch.set_num_threads(1)
    data, held_out = _moons(4000, 0), torch.from_numpy(_moons(4000, 1))
    small = {"n_layers": 4, "hidden": 32}  # keeps the test to a few seconds
    flow = train_realnvp(data, n_steps=100, seed=0, **small)
    untrained = RealNVP(**small)
    untrained.set_standardisation(torch.from_numpy(data))
    with torch.no_grad():
        before = -untrained.log_prob(held_out).mean().item()
        after = -flow.log_prob(held_out).mean().item()
    assert after < before - 0.5, (before, after)
    once, twice = (train_realnvp(data, n_steps=10, seed=0, **small) for _ in range(2))
    for a, b in zip(once.state_dict().values(), twice.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
