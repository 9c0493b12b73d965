"""Figures for the report: the student's output beside the expected one (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def heatmaps(path: Path, panels: dict[str, np.ndarray], extent: tuple[float, float], title: str, shared_scale: bool = True) -> None:
    """One heatmap per panel (2-D arrays, row = y), side by side, on the square `extent`."""
    finite = [p[np.isfinite(p)] for p in panels.values()]
    vmax = max((float(f.max()) for f in finite if f.size), default=1.0) if shared_scale else None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.5), squeeze=False)
    for ax, (label, image) in zip(axes[0], panels.items()):
        shown = ax.imshow(image, origin="lower", extent=(*extent, *extent), cmap="viridis", vmin=0 if shared_scale else None, vmax=vmax)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def heatmap_rows(path: Path, rows: dict[str, dict[str, np.ndarray]], extent: tuple[float, float], title: str) -> None:
    """A grid of heatmaps: one row per source (e.g. the student's, the expected), one column per
    panel label (e.g. a time); the panels of one column share a colour scale, so rows compare."""
    labels = list(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), len(labels), figsize=(3.3 * len(labels), 3.1 * len(rows)), squeeze=False)
    for column, label in enumerate(labels):
        finite = [image[np.isfinite(image)] for images in rows.values() for image in [images[label]]]
        vmax = max((float(f.max()) for f in finite if f.size), default=1.0)
        for row, (source, images) in enumerate(rows.items()):
            ax = axes[row][column]
            shown = ax.imshow(images[label], origin="lower", extent=(*extent, *extent), cmap="viridis", vmin=0, vmax=vmax)
            ax.set_title(f"{source}, {label}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def histogram_beside_density(path: Path, samples: np.ndarray, density: np.ndarray, extent: tuple[float, float],
                             bins: int, title: str) -> None:
    """A 2-D histogram of `samples` (N, 2), scaled to a density, beside the heatmap `density` (row = y)."""
    edges = np.linspace(*extent, bins + 1)
    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=(edges, edges))
    histogram = counts.T / (len(samples) * (edges[1] - edges[0]) ** 2)  # row = y, like the heatmap
    heatmaps(path, {f"histogram of {len(samples):,} simulated samples": histogram, "density_on_grid": density},
             extent, title)


def moons_flow(path: Path, data: np.ndarray, samples: np.ndarray, log_density: np.ndarray,
               extent: tuple[float, float, float, float], title: str, floor: float = 12.0) -> None:
    """Three panels on `extent` (x0, x1, y0, y1): the data, a model's samples (both (N, 2)) and its log-density (row = y).

    The log-density is shown down to `floor` nats below its maximum; NaN (not computed) is blank.
    """
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, points, label, colour in ((axes[0], data, f"fresh moons ({len(data):,})", "black"),
                                      (axes[1], samples, f"your samples ({len(samples):,})", "tab:blue")):
        ax.scatter(points[:, 0], points[:, 1], s=1.5, c=colour, alpha=0.6, linewidths=0)
        ax.set_title(label, fontsize=10)
    finite = log_density[np.isfinite(log_density)]
    top = float(finite.max()) if finite.size else 0.0
    shown = axes[2].imshow(np.clip(log_density, top - floor, None), origin="lower", extent=extent, cmap="magma", aspect="auto")
    axes[2].set_title("your log_prob", fontsize=10)
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_xlim(extent[:2])
        ax.set_ylim(extent[2:])
        ax.set_aspect("equal" if ax is not axes[2] else "auto")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
