"""Figures for Problem 1b: the sample histogram (b1), the ODE density heatmaps (b3), and their agreement.

Run from the repository root:

    python -m reference.p1_figures

Reads the field, times and grid from ``assets/instance.toml`` and writes into
``reference/figures/``:

* ``p1_b1_histogram.png`` — 2-D histogram of samples pushed to the histogram time (b1);
* ``p1_b3_heatmaps.png`` — ``density_on_grid`` on the grid at every heatmap time (b3);
* ``p1_b1_vs_b3.png`` — the two side by side at the histogram time, with their measured
  agreement (total-variation distance over the histogram's bins, and correlation) in the title.
"""
from __future__ import annotations

import math
import time
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from reference.p1_change_of_variables import density_on_grid, simulate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "assets" / "instance.toml"
FIGURES = Path(__file__).resolve().parent / "figures"

N_SAMPLES = 500_000
HIST_BINS = 64          # per axis on [low, high]
SUBPOINTS = 3           # density evaluated at SUBPOINTS^2 midpoints per bin to integrate it
SEED = 0

_FUNCTIONS = {name: getattr(torch, name) for name in ("tanh", "sin", "cos", "exp", "log", "sqrt", "abs", "sigmoid")}


def field_from_expression(expression: str, **constants: float):
    """The elementwise field ``f(t, z)`` written as ``expression`` in ``t``, ``z`` (e.g. ``"tanh(z**3)"``)."""
    code = compile(expression, f"<field {expression!r}>", "eval")

    def field(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return eval(code, {"__builtins__": {}}, {**_FUNCTIONS, **constants, "t": t, "z": z})

    return field


def _grid(low: float, high: float, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Axis ``(n,)`` and points ``(n*n, 2)`` in ``ij`` order (first coordinate slowest)."""
    axis = torch.linspace(low, high, n, dtype=torch.float64)
    return axis, torch.cartesian_prod(axis, axis)


def _show(ax, image: np.ndarray, low: float, high: float, vmax: float, title: str):
    """Heatmap of ``image[i, j]`` = value at ``(z1_i, z2_j)``, z1 horizontal."""
    im = ax.imshow(image.T, origin="lower", extent=(low, high, low, high), cmap="viridis",
                   vmin=0.0, vmax=vmax, interpolation="nearest", aspect="equal")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return im


def histogram_density(samples: np.ndarray, low: float, high: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin probability ``(bins, bins)`` (share of *all* samples) and the bin edges."""
    edges = np.linspace(low, high, bins + 1)
    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=(edges, edges))
    return counts / len(samples), edges


def density_bin_probabilities(field, t: float, edges: np.ndarray, sub: int) -> np.ndarray:
    """``∫_bin p_t`` for every bin, by the midpoint rule on ``sub x sub`` cells per bin."""
    bins, width = len(edges) - 1, edges[1] - edges[0]
    mids = edges[0] + (np.arange(bins * sub) + 0.5) * width / sub
    axis = torch.tensor(mids)
    p = density_on_grid(field, t, torch.cartesian_prod(axis, axis)).numpy()
    p = p.reshape(bins, sub, bins, sub).mean(axis=(1, 3))
    return p * width**2


def agreement(hist_prob: np.ndarray, ode_prob: np.ndarray, n_samples: int) -> dict[str, float]:
    """Total variation between the binned laws, its Monte Carlo noise floor, and their correlation.

    The noise floor is the expected TV of a perfect density against a histogram of
    ``n_samples`` draws: ``½ Σ sqrt(2 p (1 - p) / (π n))`` (mean absolute deviation of a binomial
    share, normal approximation).
    """
    tv = 0.5 * np.abs(hist_prob - ode_prob).sum()
    noise = 0.5 * np.sqrt(2 * ode_prob * (1 - ode_prob) / (math.pi * n_samples)).sum()
    corr = np.corrcoef(hist_prob.ravel(), ode_prob.ravel())[0, 1]
    return {"tv": float(tv), "tv_noise_floor": float(noise), "correlation": float(corr)}


def main() -> None:
    instance = tomllib.loads(INSTANCE.read_text())["p1b"]
    field = field_from_expression(instance["field"])
    low, high, n = instance["grid_low"], instance["grid_high"], instance["grid_size"]
    t_hist, times = instance["histogram_time"], instance["heatmap_times"]
    FIGURES.mkdir(parents=True, exist_ok=True)

    # (b1) samples from N(0, I) pushed to t_hist
    start = time.perf_counter()
    z0 = torch.randn(N_SAMPLES, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        samples = simulate(field, z0, t_hist).numpy()
    hist_prob, edges = histogram_density(samples, low, high, HIST_BINS)
    width = edges[1] - edges[0]
    hist_density = hist_prob / width**2
    print(f"b1: {N_SAMPLES} samples pushed to t={t_hist} in {time.perf_counter() - start:.1f} s")

    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    im = _show(ax, hist_density, low, high, hist_density.max(),
               f"(b1) histogram of {N_SAMPLES:,} samples at t = {t_hist}\nfield f(t, z) = {instance['field']}")
    fig.colorbar(im, ax=ax, label="density")
    fig.tight_layout()
    fig.savefig(FIGURES / "p1_b1_histogram.png", dpi=130)
    plt.close(fig)

    # (b3) density by the augmented ODE, backward from t to 0, on the instance's grid
    axis, points = _grid(low, high, n)
    heatmaps = {}
    for t in times:
        start = time.perf_counter()
        heatmaps[t] = density_on_grid(field, t, points).numpy().reshape(n, n)
        mass = heatmaps[t].sum() * float(axis[1] - axis[0]) ** 2
        print(f"b3: t={t}: {n}x{n} grid in {time.perf_counter() - start:.1f} s, mass on the grid {mass:.4f}")
    vmax = max(h.max() for h in heatmaps.values())
    fig, axes = plt.subplots(1, len(times), figsize=(4.0 * len(times) + 1.0, 4.7), constrained_layout=True)
    for ax, t in zip(np.atleast_1d(axes), times):
        im = _show(ax, heatmaps[t], low, high, vmax, f"t = {t}")
    fig.colorbar(im, ax=axes, label="density $p_t(z)$", shrink=0.9)
    fig.suptitle(f"(b3) density of Z(t) from the augmented ODE, f(t, z) = {instance['field']}, Z(0) ~ N(0, I)")
    fig.savefig(FIGURES / "p1_b3_heatmaps.png", dpi=110)
    plt.close(fig)

    # b1 vs b3 at t_hist, over the histogram's own bins
    ode_prob = density_bin_probabilities(field, t_hist, edges, SUBPOINTS)
    stats = agreement(hist_prob, ode_prob, N_SAMPLES)
    summary = (f"TV = {stats['tv']:.4f} (Monte Carlo noise floor {stats['tv_noise_floor']:.4f}), "
               f"correlation = {stats['correlation']:.5f}")
    print(f"b1 vs b3 at t={t_hist} over {HIST_BINS}x{HIST_BINS} bins: {summary}")
    ode_density = ode_prob / width**2
    vmax = max(hist_density.max(), ode_density.max())
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 4.6), constrained_layout=True)
    _show(axes[0], hist_density, low, high, vmax, f"(b1) histogram, {N_SAMPLES:,} samples")
    im = _show(axes[1], ode_density, low, high, vmax, "(b3) ODE density, averaged over the same bins")
    fig.colorbar(im, ax=axes[:2], label="density", shrink=0.9)
    diff = hist_density - ode_density
    bound = np.abs(diff).max()
    im = axes[2].imshow(diff.T, origin="lower", extent=(low, high, low, high), cmap="RdBu_r",
                        vmin=-bound, vmax=bound, interpolation="nearest")
    axes[2].set_title("histogram − ODE density", fontsize=10)
    axes[2].set_xlabel("$z_1$")
    axes[2].set_ylabel("$z_2$")
    fig.colorbar(im, ax=axes[2], shrink=0.9)
    fig.suptitle(f"t = {t_hist}: {summary}")
    fig.savefig(FIGURES / "p1_b1_vs_b3.png", dpi=110)
    plt.close(fig)
    print(f"figures written to {FIGURES}")


if __name__ == "__main__":
    main()
