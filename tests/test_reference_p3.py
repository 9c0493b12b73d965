"""Fast contract tests of the Problem 3 reference (reference/p3_ebm.py)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torch import nn

from reference.p3_ebm import EnergyNet, ReplayBuffer, cd_loss, langevin_sample, sgld_step, train_ebm

SOURCE = Path(__file__).resolve().parents[1] / "reference" / "p3_ebm.py"



def quadratic(x: torch.Tensor) -> torch.Tensor:
    """E(x) = ½|x|² per sample, so ∇_x Σ E = x."""
    return 0.5 * x.flatten(1).pow(2).sum(1)


def test_module_imports_only_stdlib_numpy_and_torch() -> None:
    tree = ast.parse(SOURCE.read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert roots <= {"__future__", "math", "time", "typing", "torch", "numpy"}, roots


def test_energy_net_shape_size_and_dtype() -> None:
    net = EnergyNet()
    out = net(torch.rand(5, 1, 28, 28) * 2 - 1)
    assert out.shape == (5,) and out.dtype == torch.float32
    assert sum(p.numel() for p in net.parameters()) < 300_000


def test_sgld_step_is_exact_with_injected_noise() -> None:
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    noise = torch.randn_like(x)
    got = sgld_step(x, quadratic, step_size=0.3, noise_std=0.1, noise=noise)
    assert torch.allclose(got, (x - 0.3 * x + 0.1 * noise).clamp(-1, 1), atol=1e-6)


def test_sgld_step_clips_the_gradient_then_clamps_the_image() -> None:
    x = torch.linspace(-1, 1, 4 * 784).reshape(4, 1, 28, 28)
    got = sgld_step(x, lambda z: 3.0 * quadratic(z), step_size=2.0, noise_std=0.0, noise=torch.zeros_like(x), grad_clip=0.05)
    assert torch.allclose(got, (x - 2.0 * (3.0 * x).clamp(-0.05, 0.05)).clamp(-1, 1), atol=1e-6)
    wild = sgld_step(x, quadratic, step_size=-50.0, noise_std=0.0, noise=torch.zeros_like(x))
    assert wild.min() >= -1 and wild.max() <= 1


def test_sgld_step_matches_autograd_on_the_network() -> None:
    torch.manual_seed(0)
    net, x = EnergyNet(), torch.rand(3, 1, 28, 28) * 2 - 1
    noise = torch.randn_like(x)
    probe = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(probe).sum(), probe)
    got = sgld_step(x, net, step_size=10.0, noise_std=0.005, noise=noise)
    assert torch.allclose(got, (x - 10.0 * grad + 0.005 * noise).clamp(-1, 1), atol=1e-5)


def test_sgld_step_leaves_gradients_untouched_and_returns_a_detached_tensor() -> None:
    net = EnergyNet()
    x = (torch.rand(2, 1, 28, 28) * 2 - 1).requires_grad_(True)
    x.grad = torch.full_like(x, 7.0)
    net.head[-1].bias.grad = torch.tensor([3.0])
    out = sgld_step(x, net, 1.0, 0.01)
    assert not out.requires_grad and out.grad_fn is None
    assert torch.all(x.grad == 7.0)
    assert net.head[-1].bias.grad.item() == 3.0
    assert all(p.grad is None for name, p in net.named_parameters() if name != "head.2.bias")


def test_sgld_step_draws_fresh_noise_when_none_is_given() -> None:
    x = torch.zeros(2000, 1, 1, 1)
    moved = sgld_step(x, quadratic, step_size=0.1, noise_std=0.2)
    assert abs(moved.std().item() - 0.2) < 0.02 and abs(moved.mean().item()) < 0.02


def test_langevin_sample_is_n_steps_of_sgld() -> None:
    x0 = torch.rand(3, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    got = langevin_sample(quadratic, x0, n_steps=4, step_size=0.2, noise_std=0.05, grad_clip=0.5)
    torch.manual_seed(1)
    want = x0
    for _ in range(4):
        want = sgld_step(want, quadratic, 0.2, 0.05, grad_clip=0.5)
    assert torch.equal(got, want)
    assert torch.equal(langevin_sample(quadratic, x0, 0, 0.2, 0.05), x0)


def test_replay_buffer_is_all_noise_while_empty() -> None:
    buffer = ReplayBuffer(capacity=10, shape=(1, 4, 4))
    out = buffer.sample(500)
    assert out.shape == (500, 1, 4, 4) and out.min() >= -1 and out.max() <= 1
    assert abs(out.mean().item()) < 0.05 and out.std().item() > 0.5


def test_replay_buffer_never_exceeds_capacity_and_keeps_the_newest() -> None:
    buffer = ReplayBuffer(capacity=8, shape=(1, 2, 2), reinit_prob=0.0)
    for value in range(5):
        buffer.push(torch.full((3, 1, 2, 2), float(value) / 10))
    assert len(buffer) == 8
    stored = {round(v, 3) for v in buffer.sample(400)[:, 0, 0, 0].tolist()}
    assert stored <= {0.2, 0.3, 0.4} and {0.3, 0.4} <= stored
    buffer.push(torch.full((20, 1, 2, 2), 0.9))
    assert len(buffer) == 8 and torch.all(buffer.sample(50) == 0.9)


def test_replay_buffer_reinitialisation_rate() -> None:
    torch.manual_seed(0)
    buffer = ReplayBuffer(capacity=16, shape=(1, 3, 3), reinit_prob=0.2)
    buffer.push(torch.full((16, 1, 3, 3), 5.0))  # outside [-1, 1]: any row not 5 is fresh noise
    rows = buffer.sample(20_000)
    fresh = (rows != 5.0).flatten(1).all(1).double().mean().item()
    assert abs(fresh - 0.2) < 4 * (0.2 * 0.8 / 20_000) ** 0.5


def test_cd_loss_value() -> None:
    real, fake = torch.tensor([[1.0], [3.0]]), torch.tensor([[-1.0], [0.0], [2.0]])
    energy = lambda x: x[:, 0]  # noqa: E731
    want = 2.0 - 1 / 3 + 0.1 * (5.0 + 5 / 3)
    assert cd_loss(energy, real, fake).item() == pytest.approx(want)
    assert cd_loss(energy, real, fake, alpha=0.0).item() == pytest.approx(2.0 - 1 / 3)


def test_cd_loss_sends_gradients_to_the_parameters() -> None:
    net = EnergyNet()
    cd_loss(net, torch.rand(4, 1, 28, 28) * 2 - 1, torch.rand(4, 1, 28, 28) * 2 - 1).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_train_ebm_runs_and_is_deterministic() -> None:
    images = torch.rand(32, 1, 28, 28) * 2 - 1
    a, b = (train_ebm(images, 2, seed=3, batch_size=8, n_steps=2) for _ in range(2))
    assert isinstance(a, nn.Module)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name


def test_replay_buffer_latest_returns_the_newest_rows_in_order() -> None:
    buffer = ReplayBuffer(capacity=5, shape=(1,), reinit_prob=0.0)
    buffer.push(torch.arange(3.0).view(3, 1))
    assert buffer.latest(2).flatten().tolist() == [1.0, 2.0]
    buffer.push(torch.arange(3.0, 9.0).view(6, 1))
    assert len(buffer) == 5 and buffer.latest(3).flatten().tolist() == [6.0, 7.0, 8.0]


def test_short_run_buffer_restarts_chains_at_the_age_limit() -> None:
    from reference.p3_train import ShortRunBuffer

    torch.manual_seed(0)
    buffer = ShortRunBuffer(max_age=80, steps_per_push=40, capacity=4)
    assert buffer.sample(4).abs().max() <= 1  # empty: noise, age 0
    buffer.push(torch.full((4, 1, 28, 28), 5.0))  # age 40
    assert torch.equal(buffer.sample(4), torch.full((4, 1, 28, 28), 5.0))  # young enough to continue
    buffer.push(torch.full((4, 1, 28, 28), 6.0))  # overwrites all four rows, age 80
    restarted = buffer.sample(4)
    assert restarted.abs().max() <= 1 and restarted.std() > 0.3  # at the limit: fresh uniform noise
    buffer.push(torch.full((4, 1, 28, 28), 7.0))  # age 40 again
    assert torch.equal(buffer.sample(4), torch.full((4, 1, 28, 28), 7.0))


def test_parameter_average_starts_at_the_model_and_follows_it() -> None:
    from reference.p3_train import ParameterAverage

    model, average = EnergyNet(), ParameterAverage(decay=0.75)
    first = [p.detach().clone() for p in model.parameters()]
    average.update(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update(model)
    for averaged, start in zip(average.model.parameters(), first):
        assert torch.allclose(averaged, start + 0.25)


def test_p3_train_short_run_stage_writes_an_averaged_checkpoint(tmp_path, capsys) -> None:
    from reference.p3_train import main

    start = EnergyNet()
    torch.save(start.state_dict(), tmp_path / "start.pt")
    threads = torch.get_num_threads()
    try:
        assert main(["--init", str(tmp_path / "start.pt"), "--out", str(tmp_path / "out.pt"), "--copy-to", "", "--iters", "3",
                     "--max-age", "80", "--average", "0.5", "--save-every", "2"]) == 0
    finally:
        torch.set_num_threads(threads)
        torch.set_default_device("cpu")
    trained = EnergyNet()
    trained.load_state_dict(torch.load(tmp_path / "out.pt", weights_only=True))
    moved = [not torch.equal(a, b) for a, b in zip(trained.state_dict().values(), start.state_dict().values())]
    assert any(moved) and sorted(p.name for p in tmp_path.iterdir()) == ["out.pt", "start.pt"]  # intermediate ones removed
    assert "max age 80, average 0.5" in capsys.readouterr().out
