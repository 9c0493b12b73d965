"""The homework instance (assets/instance.toml): the values the original PDF fixes.

    from grader.instance import INSTANCE
    INSTANCE.p1a_A, INSTANCE.grid(), INSTANCE.points[4]
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assets import ASSETS_DIR

INSTANCE_FILE = ASSETS_DIR / "instance.toml"


@dataclass(frozen=True)
class Instance:
    points: dict[int, float]  # rubric total per problem
    p1a_A: np.ndarray  # (2, 2)
    p1a_mu: np.ndarray  # (2,)
    p1b_histogram_time: float
    p1b_heatmap_times: tuple[float, ...]
    grid_low: float
    grid_high: float
    grid_size: int
    moons_noise: float

    def grid_axis(self, size: int | None = None) -> np.ndarray:
        return np.linspace(self.grid_low, self.grid_high, size or self.grid_size)

    def grid(self, size: int | None = None) -> np.ndarray:
        """The points of the square grid, (size*size, 2), x varying fastest (row-major image)."""
        axis = self.grid_axis(size)
        xx, yy = np.meshgrid(axis, axis)
        return np.stack([xx.ravel(), yy.ravel()], axis=1)

    def cell_area(self, size: int | None = None) -> float:
        axis = self.grid_axis(size)
        return float((axis[1] - axis[0]) ** 2)


def load_instance(path: Path = INSTANCE_FILE) -> Instance:
    data = tomllib.loads(path.read_text())
    p1a, p1b = data["p1a"], data["p1b"]
    return Instance(
        points={int(k): float(v) for k, v in data["points"].items()},
        p1a_A=np.array(p1a["A"], dtype=np.float64),
        p1a_mu=np.array(p1a["mu"], dtype=np.float64),
        p1b_histogram_time=float(p1b["histogram_time"]),
        p1b_heatmap_times=tuple(float(t) for t in p1b["heatmap_times"]),
        grid_low=float(p1b["grid_low"]),
        grid_high=float(p1b["grid_high"]),
        grid_size=int(p1b["grid_size"]),
        moons_noise=float(data["p4"]["moons_noise"]),
    )


INSTANCE = load_instance()
