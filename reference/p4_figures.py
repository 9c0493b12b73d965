"""Figures for Problem 4: how the RealNVP reference evolves, layer by layer and step by step.

    python -m reference.p4_figures [--steps N] [--seed S]

Trains the reference once (under a minute on a laptop CPU) and writes into `reference/figures/`:
- `p4_layers.png`: data pushed through the flow, one panel per coupling, ending at the Gaussian;
- `p4_training.png`: samples and log-density heatmap at several points during training;
- `p4_samples.png`: model samples beside the data, and the learned density.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402

from reference.p4_realnvp import RealNVP, coupling_forward, train_realnvp  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"
NOISE = 0.05
EXTENT = (-1.5, 2.5, -1.0, 1.5)


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Moons points `(n, 2)` and a colour value per point: the position along its arc (moon 2 offset)."""
    x, label = make_moons(n, noise=NOISE, random_state=seed)
    along = np.where(label == 0, (1 - x[:, 0]) / 2, 1.5 + x[:, 0] / 2)  # 0..1 outer, 1.5..2.5 inner
    return x.astype(np.float32), along


@torch.no_grad()
def _layer_outputs(flow: RealNVP, x: torch.Tensor) -> list[tuple[str, np.ndarray]]:
    """The points after the standardisation and after each coupling layer, with panel titles."""
    z = (x - flow.shift) * torch.exp(-flow.log_scale)
    out = [("data x", x.numpy()), ("standardised", z.numpy())]
    for k, (mask, s_net, t_net) in enumerate(zip(flow.masks, flow.s_nets, flow.t_nets), 1):
        z, _ = coupling_forward(z, mask, s_net, t_net)
        moved = "x₂" if mask[0] == 1 else "x₁"
        out.append((f"coupling {k} (moves {moved})", z.numpy().copy()))
    return out


@torch.no_grad()
def _log_density_grid(flow: RealNVP, size: int = 200) -> np.ndarray:
    xs = np.linspace(EXTENT[0], EXTENT[1], size)
    ys = np.linspace(EXTENT[2], EXTENT[3], size)
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    return flow.log_prob(pts).numpy().reshape(size, size)


def _heatmap(ax: plt.Axes, log_p: np.ndarray) -> None:
    ax.imshow(np.clip(log_p, -8, None), origin="lower", extent=EXTENT, cmap="magma", vmin=-8, vmax=2.5, aspect="auto")
    ax.set_xlim(EXTENT[:2])
    ax.set_ylim(EXTENT[2:])


def plot_layers(flow: RealNVP, path: Path, seed: int = 1) -> None:
    x, colour = _data(3000, seed)
    stages = _layer_outputs(flow, torch.from_numpy(x))
    gauss = np.random.default_rng(seed).standard_normal((3000, 2))
    stages.append(("N(0, I) for comparison", gauss))
    cols = 5
    rows = -(-len(stages) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.0 * rows))
    for ax in axes.ravel()[len(stages):]:
        ax.axis("off")
    for ax, (title, pts) in zip(axes.ravel(), stages):
        if title.startswith("N(0"):
            ax.scatter(pts[:, 0], pts[:, 1], c="0.5", s=2, rasterized=True)
        else:
            ax.scatter(pts[:, 0], pts[:, 1], c=colour, s=2, cmap="coolwarm", vmin=0, vmax=2.5, rasterized=True)
        ax.set_title(title, fontsize=10)
        lim = 4 if title != "data x" else None
        if lim:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    fig.suptitle("Problem 4: the moons pushed through the trained RealNVP, layer by layer (x → z)\n"
                 "colour = position along each moon (blue: outer moon, red: inner moon)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training(snapshots: list[tuple[int, RealNVP]], n_steps: int, path: Path, seed: int = 1) -> None:
    fig, axes = plt.subplots(2, len(snapshots), figsize=(3.6 * len(snapshots), 6.6))
    torch.manual_seed(seed)
    held_out = torch.from_numpy(_data(5000, seed=998)[0])
    for col, (step, flow) in enumerate(snapshots):
        with torch.no_grad():
            nll = -flow.log_prob(held_out).mean().item()
        samples = flow.sample(2000).numpy()
        top, bottom = axes[0, col], axes[1, col]
        top.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", rasterized=True)
        top.set_xlim(EXTENT[:2])
        top.set_ylim(EXTENT[2:])
        top.set_title(f"step {step} / {n_steps}: samples", fontsize=10)
        _heatmap(bottom, _log_density_grid(flow))
        bottom.set_title(f"log-density; held-out NLL {nll:.3f}", fontsize=10)
        for ax in (top, bottom):
            ax.tick_params(labelsize=7)
    fig.suptitle("Problem 4: RealNVP during maximum-likelihood training "
                 "(NLL in nats; the data's entropy, the best possible, is 0.289)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_samples(flow: RealNVP, path: Path, seed: int = 1) -> None:
    x, _ = _data(2000, seed)
    torch.manual_seed(seed)
    samples = flow.sample(2000).numpy()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    axes[0].scatter(x[:, 0], x[:, 1], s=2, c="k", rasterized=True)
    axes[0].set_title("data: make_moons(noise=0.05)")
    axes[1].scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", rasterized=True)
    axes[1].set_title("RealNVP samples")
    _heatmap(axes[2], _log_density_grid(flow))
    axes[2].set_title("RealNVP log-density (clipped at -8)")
    for ax in axes[:2]:
        ax.set_xlim(EXTENT[:2])
        ax.set_ylim(EXTENT[2:])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the reference's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=FIGURES)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one is fastest for this small model)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from reference.p4_realnvp import DEFAULT_STEPS

    n_steps = args.steps or DEFAULT_STEPS
    args.out.mkdir(parents=True, exist_ok=True)
    data, _ = _data(10_000, seed=100 + args.seed)
    keep = {0, n_steps // 10, (3 * n_steps) // 10, n_steps}
    snapshots: list[tuple[int, RealNVP]] = []

    def snapshot(step: int, flow: RealNVP) -> None:
        if step in keep:
            copy = RealNVP(**flow.config)
            copy.load_state_dict(flow.state_dict())
            snapshots.append((step, copy.eval()))

    start = time.perf_counter()
    flow = train_realnvp(data, n_steps, seed=args.seed, callback=snapshot)
    print(f"trained {n_steps} steps in {time.perf_counter() - start:.1f} s")
    held_out, _ = _data(20_000, seed=999)
    with torch.no_grad():
        nll = -flow.log_prob(torch.from_numpy(held_out)).mean().item()
    print(f"held-out NLL {nll:.4f} nats")
    plot_layers(flow, args.out / "p4_layers.png")
    plot_training(snapshots, n_steps, args.out / "p4_training.png")
    plot_samples(flow, args.out / "p4_samples.png")
    print(f"wrote p4_layers.png, p4_training.png, p4_samples.png into {args.out}")


if __name__ == "__main__":
    main()
