"""Problem 4 benchmark: the reference RealNVP's held-out NLL against the data's exact entropy, and its cost.

    python benchmarks/bench_p4_training.py [--steps 2000] [--seeds 0] [--n-train 10000] [--threads 1]

For each seed: trains `reference.p4_realnvp.train_realnvp` on `make_moons(n_train, noise=0.05)`,
then prints the mean negative log-likelihood of 20,000 fresh points (raw coordinates), its gap to
the exact entropy from `grader.oracles.moons`, the wall-clock seconds and the process CPU
seconds of the training. A gap below zero by more than the standard error signals a bug.
`--steps` takes several values to trace NLL against training length (the grader's short runs).
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

from grader.oracles.moons import moons_entropy, sample_moons  # noqa: E402
from reference.p4_realnvp import DEFAULT_STEPS, train_realnvp  # noqa: E402

NOISE = 0.05
HELD_OUT_SEED = 20_240_604


def held_out_nll(flow: torch.nn.Module, n: int = 20_000) -> tuple[float, float]:
    """Mean NLL of `n` fresh moons points and its standard error."""
    x = torch.from_numpy(sample_moons(n, NOISE, seed=HELD_OUT_SEED))
    with torch.no_grad():
        nll = -flow.log_prob(x).double()
    return nll.mean().item(), (nll.std() / np.sqrt(n)).item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[DEFAULT_STEPS])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    entropy = moons_entropy(NOISE)
    print(f"exact entropy of make_moons(noise={NOISE}): {entropy:.5f} nats; torch threads: {args.threads}")
    print(f"{'steps':>6} {'seed':>4} {'NLL':>8} {'± s.e.':>7} {'gap':>7} {'wall s':>7} {'cpu s':>7}")
    for n_steps in args.steps:
        for seed in args.seeds:
            data = sample_moons(args.n_train, NOISE, seed=1000 + seed)
            wall, cpu = time.perf_counter(), time.process_time()
            flow = train_realnvp(data, n_steps, seed=seed)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            nll, stderr = held_out_nll(flow)
            print(f"{n_steps:>6} {seed:>4} {nll:>8.4f} {stderr:>7.4f} {nll - entropy:>+7.4f} {wall:>7.1f} {cpu:>7.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
