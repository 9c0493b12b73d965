"""Figures of the Problem 3 reference, written to reference/figures/.

    python -m reference.p3_figures [--checkpoint assets/p3_reference_energy.pt] [--buffer-iters 500]

* `p3_samples.png` — 64 samples from uniform noise (200 SGLD steps, the grader's settings);
* `p3_chains.png` — six Langevin chains from noise, snapshots every few steps;
* `p3_buffer.png` — the newest replay-buffer samples during a short training run of `train_ebm`
  (its short-run defaults), showing noise turn into strokes and then digit-like shapes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from grader.mnist import load_mnist  # noqa: E402
from reference.p3_ebm import GRAD_CLIP, NOISE_STD, STEP_SIZE, EnergyNet, ReplayBuffer, sgld_step, train_ebm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "reference" / "figures"
CHAIN_SNAPSHOTS = (0, 5, 10, 20, 30, 50, 75, 100, 150, 200)


def load_energy(path: Path) -> EnergyNet:
    energy = EnergyNet()
    energy.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return energy.eval()


def chains(energy: EnergyNet, n: int, snapshots: tuple[int, ...], seed: int = 0) -> list[torch.Tensor]:
    """States (n, 1, 28, 28) of `n` chains from uniform noise at each step count in `snapshots`."""
    torch.manual_seed(seed)
    x = torch.rand(n, 1, 28, 28) * 2 - 1
    states = []
    for step in range(max(snapshots) + 1):
        if step in snapshots:
            states.append(x)
        x = sgld_step(x, energy, STEP_SIZE, NOISE_STD, grad_clip=GRAD_CLIP)
    return states


def image_grid(ax: plt.Axes, images: torch.Tensor, n_cols: int) -> None:
    """Tile images (N, 1, 28, 28) in [-1, 1] into one picture with a 2-pixel gap."""
    n_rows = -(-len(images) // n_cols)
    canvas = torch.ones(n_rows * 30 + 2, n_cols * 30 + 2) * 0.4
    for i, image in enumerate(images):
        r, c = divmod(i, n_cols)
        canvas[2 + 30 * r: 30 + 30 * r, 2 + 30 * c: 30 + 30 * c] = (image[0] + 1) / 2
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def samples_figure(energy: EnergyNet, out: Path) -> None:
    final = chains(energy, 64, (200,), seed=0)[0]
    fig, ax = plt.subplots(figsize=(6, 6.3))
    image_grid(ax, final, 8)
    ax.set_title("Reference EBM: 64 samples, 200 SGLD steps from uniform noise\n"
                 f"(step {STEP_SIZE:g}, noise std {NOISE_STD:g}, gradient clip {GRAD_CLIP:g})", fontsize=9)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def chains_figure(energy: EnergyNet, out: Path) -> None:
    states = chains(energy, 6, CHAIN_SNAPSHOTS, seed=1)
    by_chain = torch.stack(states, 1).flatten(0, 1)  # row = chain, column = snapshot
    fig, ax = plt.subplots(figsize=(1.0 * len(states), 6.6))
    image_grid(ax, by_chain, len(states))
    ax.set_xticks([16 + 30 * i for i in range(len(states))], [str(s) for s in CHAIN_SNAPSHOTS], fontsize=8)
    ax.set_xlabel("SGLD steps from uniform noise")
    ax.set_title("Six Langevin chains under the reference energy", fontsize=10)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def buffer_figure(n_iters: int, out: Path) -> None:
    images, _ = load_mnist("train")
    marks = sorted({1, n_iters // 16, n_iters // 8, n_iters // 4, n_iters // 2, n_iters} - {0})
    snapshots: dict[int, torch.Tensor] = {}

    def snap(iteration: int, model: EnergyNet, buffer: ReplayBuffer) -> None:
        if iteration in marks:
            snapshots[iteration] = buffer.latest(16)

    train_ebm(images, n_iters, seed=0, callback=snap)
    fig, axes = plt.subplots(1, len(marks), figsize=(2.0 * len(marks), 2.4))
    for ax, iteration in zip(axes, marks):
        image_grid(ax, snapshots[iteration], 4)
        ax.set_title(f"iteration {iteration}", fontsize=8)
    fig.suptitle(f"Newest 16 samples in the replay buffer during a short train_ebm run "
                 f"({n_iters} iterations, default settings)", fontsize=10)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "assets" / "p3_reference_energy.pt")
    parser.add_argument("--buffer-iters", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=("samples", "chains", "buffer"), default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    FIGURES.mkdir(parents=True, exist_ok=True)
    jobs = {
        "samples": lambda: samples_figure(load_energy(args.checkpoint), FIGURES / "p3_samples.png"),
        "chains": lambda: chains_figure(load_energy(args.checkpoint), FIGURES / "p3_chains.png"),
        "buffer": lambda: buffer_figure(args.buffer_iters, FIGURES / "p3_buffer.png"),
    }
    for name, job in jobs.items():
        if args.only in (None, name):
            job()
            print(f"wrote reference/figures/p3_{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
