"""Figures for the report: the student's output beside the expected one (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
