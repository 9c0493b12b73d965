"""Problem 3 figures: grids of sampled digits, and the energies a short training gave."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from grader.mnist import torchvision_module  # noqa: E402


def tile(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """Images (N, 1, 28, 28) (or (N, 28, 28)) as one mosaic, `columns` per row, with 2-pixel gaps at -1.

    `torchvision.utils.make_grid` builds it when torchvision is importable; the loop below is the same layout.
    """
    images = np.asarray(images, dtype=np.float64).reshape(len(images), 28, 28)
    torchvision = torchvision_module()
    if torchvision is not None:
        import torch  # noqa: PLC0415

        grid = torchvision.utils.make_grid(torch.from_numpy(images[:, None]), nrow=columns, padding=2, pad_value=-1.0)
        return grid[0].numpy()
    rows = -(-len(images) // columns)
    mosaic = np.full((rows * 30 + 2, columns * 30 + 2), -1.0)
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        mosaic[2 + 30 * r: 30 + 30 * r, 2 + 30 * c: 30 + 30 * c] = image
    return mosaic


def sample_grids(path: Path, panels: dict[str, np.ndarray], title: str, columns: int = 8) -> None:
    """One mosaic per panel (label -> images in [-1, 1]), side by side, grey scale from -1 to 1."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6), squeeze=False)
    for ax, (label, images) in zip(axes[0], panels.items()):
        ax.imshow(tile(np.clip(np.nan_to_num(images, nan=-1.0), -1, 1), columns), cmap="gray", vmin=-1, vmax=1)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def energy_histograms(path: Path, energies: dict[str, np.ndarray], title: str) -> None:
    """Overlaid histograms of energies (label -> (N,)) on shared bins."""
    finite = {label: e[np.isfinite(e)] for label, e in energies.items()}
    values = np.concatenate([e for e in finite.values() if e.size] or [np.zeros(1)])
    low, high = np.percentile(values, [0.5, 99.5]) if values.size > 1 else (values.min() - 1, values.max() + 1)
    edges = np.linspace(low, high if high > low else low + 1, 60)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for label, e in finite.items():
        ax.hist(np.clip(e, edges[0], edges[-1]), bins=edges, alpha=0.5, label=label)
    ax.set_xlabel("energy (lower = more likely)")
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
