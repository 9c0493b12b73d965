"""Problem 1b3 benchmark: the reference's `density_on_grid` on a fine grid, its time and its error.

    python benchmarks/bench_p1_density.py [--size 201] [--threads 1]

For every heatmap time of `assets/instance.toml`, prints the seconds the reference takes for the
homework field on a `size x size` grid of the instance's square (float64, one torch thread like
the grader's child), and its largest absolute and relative errors against the grader's oracle
(`grader.oracles.p1.density_at`: a backward DOP853 solve at rtol 1e-10 with the analytic trace).
Relative errors are taken where the density exceeds 1e-5 of its maximum (the far tails are
compared absolutely). This is the scale for 1b3's tolerance and time limit (`grader/checks/p1.py`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.instance import INSTANCE  # noqa: E402
from grader.oracles import p1 as oracle  # noqa: E402
from reference.p1_change_of_variables import density_on_grid  # noqa: E402


def homework_field(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return torch.tanh(z**3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=201, help="grid points per axis")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the grader's child uses 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    grid = INSTANCE.grid(args.size)
    points = torch.tensor(grid)
    print(f"reference density_on_grid, tanh(z**3), {args.size} x {args.size} grid of "
          f"[{INSTANCE.grid_low:g}, {INSTANCE.grid_high:g}]^2, float64, {args.threads} thread(s)")
    print(f"{'t':>6} {'seconds':>8} {'oracle s':>9} {'max abs err':>12} {'max rel err':>12} {'mass':>8}")
    for t in INSTANCE.p1b_heatmap_times:
        start = time.perf_counter()
        student = density_on_grid(homework_field, t, points).numpy()
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        expected = oracle.density_at(oracle.HOMEWORK_FIELD, t, grid)
        oracle_seconds = time.perf_counter() - start
        error = np.abs(student - expected)
        usable = expected > 1e-5 * expected.max()
        mass = student.sum() * INSTANCE.cell_area(args.size)
        print(f"{t:6g} {seconds:8.2f} {oracle_seconds:9.2f} {error.max():12.2e} {np.max(error[usable] / expected[usable]):12.2e} {mass:8.4f}")


if __name__ == "__main__":
    main()
