"""Problem 3 reference: an energy-based model of MNIST digits.

The model is p(x) ∝ exp(-E(x)) on images in [-1, 1] of shape (1, 28, 28); lower energy means
more likely. It is trained by contrastive divergence: real digits have their energy pushed
down, samples of the current model (stochastic-gradient Langevin dynamics, started from a
replay buffer of earlier samples) have theirs pushed up, and a small penalty on the squared
energies keeps their scale bounded.

This module is self-contained (stdlib, numpy and torch only) because it is graded as a
submission, in a process that cannot import the grader or the rest of the reference.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn

# Langevin settings used for training and, with more steps, for sampling from noise.
STEP_SIZE = 10.0
NOISE_STD = 0.005
GRAD_CLIP = 0.03


class EnergyNet(nn.Module):
    """A small convolutional energy E(x): (N, 1, 28, 28) in [-1, 1] -> (N,).

    Four strided convolutions (28 -> 16 -> 8 -> 4 -> 2 pixels) with SiLU activations, which are
    smooth so that ∇_x E is well behaved for Langevin dynamics, then two linear layers. About
    80K parameters, so that sampling on a CPU is fast.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        c1, c2, c3 = width // 2, width, 2 * width
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5, stride=2, padding=4), nn.SiLU(),   # 16 x 16
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.SiLU(),  # 8 x 8
            nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.SiLU(),  # 4 x 4
            nn.Conv2d(c3, c3, 3, stride=2, padding=1), nn.SiLU(),  # 2 x 2
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(4 * c3, c3), nn.SiLU(), nn.Linear(c3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(-1)


def sgld_step(
    x: torch.Tensor,
    energy: Callable[[torch.Tensor], torch.Tensor],
    step_size: float,
    noise_std: float,
    noise: torch.Tensor | None = None,
    grad_clip: float | None = None,
) -> torch.Tensor:
    """One Langevin step: clamp(x - step_size * g + noise_std * eps, -1, 1).

    `g = ∇_x Σ_i E(x_i)`, clamped elementwise to [-grad_clip, grad_clip] when `grad_clip` is
    given; `eps` is `noise` when given, else fresh standard normal noise of x's shape. The
    gradient is taken on a detached copy, so neither `x.grad` nor the energy's parameter
    gradients change; the result is detached.

    Example:
        >>> x = torch.rand(8, 1, 28, 28) * 2 - 1
        >>> sgld_step(x, EnergyNet(), 10.0, 0.005, grad_clip=0.03).shape
        torch.Size([8, 1, 28, 28])
    """
    point = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(energy(point).sum(), point)
    if grad_clip is not None:
        grad = grad.clamp(-grad_clip, grad_clip)
    eps = torch.randn_like(point) if noise is None else noise.to(point)
    return (point.detach() - step_size * grad + noise_std * eps).clamp(-1.0, 1.0)


def langevin_sample(
    energy: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    n_steps: int,
    step_size: float,
    noise_std: float,
    grad_clip: float | None = None,
) -> torch.Tensor:
    """`n_steps` applications of `sgld_step` starting from `x0`; returns the last state (detached)."""
    x = x0.detach()
    for _ in range(n_steps):
        x = sgld_step(x, energy, step_size, noise_std, grad_clip=grad_clip)
    return x


class ReplayBuffer:
    """A store of past Langevin samples that chains restart from (persistent contrastive divergence).

    `sample(n)` gives each row fresh uniform noise in [-1, 1] with probability `reinit_prob`,
    otherwise a uniformly chosen stored sample (all noise while the buffer is empty). `push(x)`
    stores rows; once `capacity` is reached the oldest rows are overwritten.
    """

    def __init__(self, capacity: int = 8192, shape: tuple[int, ...] = (1, 28, 28), reinit_prob: float = 0.05) -> None:
        self.capacity, self.shape, self.reinit_prob = int(capacity), tuple(shape), float(reinit_prob)
        self._store = torch.empty(0, *self.shape)
        self._next = 0  # where the next push starts overwriting once full

    def __len__(self) -> int:
        return len(self._store)

    def sample(self, n: int) -> torch.Tensor:
        fresh = torch.rand(n, *self.shape) * 2 - 1
        if len(self) == 0:
            return fresh
        stored = self._store[torch.randint(len(self), (n,))]
        reinit = (torch.rand(n) < self.reinit_prob).view(n, *([1] * len(self.shape)))
        return torch.where(reinit, fresh, stored)

    def latest(self, n: int) -> torch.Tensor:
        """The `n` most recently pushed rows, oldest first (fewer while the buffer holds fewer)."""
        return self._store[self._newest_index(n)].clone()

    def _newest_index(self, n: int) -> torch.Tensor:
        """Where the `n` most recently pushed rows are stored, oldest first (at most len(self) of them)."""
        n = min(n, len(self))
        end = self._next if len(self) == self.capacity else len(self)
        return (end - n + torch.arange(n)) % max(len(self), 1)

    def push(self, x: torch.Tensor) -> None:
        x = x.detach().to(self._store.device, torch.float32).reshape(-1, *self.shape)[-self.capacity:]  # stored where the buffer lives
        room = self.capacity - len(self)
        if room > 0:
            taken = x[:room]
            self._store = torch.cat([self._store, taken])
            x = x[len(taken):]
        if len(x):
            index = (self._next + torch.arange(len(x))) % self.capacity
            self._store[index] = x
            self._next = int((self._next + len(x)) % self.capacity)


def cd_loss(energy: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor, x_fake: torch.Tensor, alpha: float = 0.1) -> torch.Tensor:
    """Contrastive divergence with an energy penalty:
    mean E(x_real) - mean E(x_fake) + alpha * (mean E(x_real)^2 + mean E(x_fake)^2).

    With batches of equal size the penalty is the SPEC's alpha * mean(E(x_real)^2 + E(x_fake)^2);
    writing it as two means also allows batches of different sizes."""
    e_real, e_fake = energy(x_real), energy(x_fake)
    return e_real.mean() - e_fake.mean() + alpha * (e_real.pow(2).mean() + e_fake.pow(2).mean())


def train_ebm(
    images: torch.Tensor,
    n_iters: int,
    seed: int = 0,
    *,
    batch_size: int = 32,
    n_steps: int = 10,
    lr: float = 2e-4,
    alpha: float = 0.1,
    buffer: ReplayBuffer | None = None,
    model: EnergyNet | None = None,
    log_every: int = 0,
    callback: Callable[[int, EnergyNet, ReplayBuffer], None] | None = None,
) -> EnergyNet:
    """Train an EnergyNet on `images` (N, 1, 28, 28) in [-1, 1] by persistent contrastive divergence.

    Each iteration draws a batch of real digits (with a little Gaussian noise, so the model does
    not have to put infinite density on exact pixel values), starts `batch_size` chains from the
    replay buffer, runs `n_steps` Langevin steps (STEP_SIZE, NOISE_STD, GRAD_CLIP), pushes the
    results back, and takes one Adam step on `cd_loss`. The defaults are sized for the grader's
    short CPU run (about 0.15 s per iteration on one core); `reference/p3_train.py` runs the
    full training with a larger batch and more steps. `callback(iteration, model, buffer)` is
    called after every iteration when given. The model trains on `images.device` (the grader's
    `--device cuda` delivers the digits on the GPU); the buffer stays where it was made.
    """
    torch.manual_seed(seed)
    images = images.detach().to(torch.float32)
    model = (model if model is not None else EnergyNet()).to(images.device)
    buffer = buffer if buffer is not None else ReplayBuffer(shape=tuple(images.shape[1:]))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.0, 0.999))
    started = time.perf_counter()
    model.train()
    for iteration in range(1, n_iters + 1):
        real = images[torch.randint(len(images), (batch_size,))]
        real = (real + 0.005 * torch.randn_like(real)).clamp(-1.0, 1.0)
        fake = langevin_sample(model, buffer.sample(batch_size).to(images.device), n_steps, STEP_SIZE, NOISE_STD, GRAD_CLIP)
        buffer.push(fake)
        loss = cd_loss(model, real, fake, alpha)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        if callback is not None:
            callback(iteration, model, buffer)
        if log_every and (iteration % log_every == 0 or iteration == n_iters):
            elapsed = time.perf_counter() - started
            print(f"iter {iteration:6d}/{n_iters}  loss {loss.item():+.4f}  {elapsed / iteration:.3f} s/iter", flush=True)
    model.eval()
    return model


def sample_from_noise(energy: EnergyNet, n: int, n_steps: int = 200, seed: int = 0) -> torch.Tensor:
    """`n` samples (n, 1, 28, 28): Langevin chains from uniform noise with the training settings."""
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.rand(n, 1, 28, 28, generator=generator) * 2 - 1
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return langevin_sample(energy, x0, n_steps, STEP_SIZE, NOISE_STD, GRAD_CLIP)


def energy_auroc(energy: Callable[[torch.Tensor], torch.Tensor], data: torch.Tensor, noise: torch.Tensor) -> float:
    """P(E(digit) < E(noise)) over all pairs (ties count one half): 1 means every digit beats all noise."""
    with torch.no_grad():
        e_data, e_noise = energy(data).double(), energy(noise).double()
    less = (e_data[:, None] < e_noise[None, :]).double().mean()
    ties = (e_data[:, None] == e_noise[None, :]).double().mean()
    return float(less + 0.5 * ties) if math.isfinite(float(less)) else float("nan")
