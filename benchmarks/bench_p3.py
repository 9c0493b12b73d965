"""Problem 3 benchmark: the reference's training cost and the rating of its checkpoint's samples.

    python benchmarks/bench_p3.py [--iters 50] [--samples 200] [--threads 1] [--short-training]

Prints (1) seconds per iteration of `reference.p3_ebm.train_ebm` with its short-run defaults
(what the grader's short training pays per iteration) and (2) the classifier ratings of samples
that the grader's own sampler draws from `assets/p3_reference_energy.pt`. With
`--short-training` it also prints, for seeds 0-2, the AUROC of held-out digits against uniform
noise (lower energy = digit) after 100, 200 and 300 iterations of `train_ebm`, with the seconds
each took: the scale for the grader's short-training check.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.mnist import load_mnist  # noqa: E402
from grader.oracles.mnist_judge import SAMPLER, grader_langevin, rate_samples  # noqa: E402
from reference.p3_ebm import EnergyNet, energy_auroc, train_ebm  # noqa: E402

CHECKPOINT = ROOT / "assets" / "p3_reference_energy.pt"


def training_seconds_per_iteration(n_iters: int) -> float:
    images, _ = load_mnist("train")
    train_ebm(images, 3, seed=1)  # warm-up: allocator and convolution kernels
    started = time.perf_counter()
    train_ebm(images, n_iters, seed=0)
    return (time.perf_counter() - started) / n_iters


def short_training_auroc(marks: tuple[int, ...] = (100, 200, 300), seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    images, _ = load_mnist("train")
    heldout, _ = load_mnist("heldout")
    noise = torch.rand(len(heldout), 1, 28, 28, generator=torch.Generator().manual_seed(123)) * 2 - 1
    for seed in seeds:
        results = []
        clock = {"start": time.perf_counter(), "paused": 0.0}

        def judge(iteration: int, model: EnergyNet, buffer) -> None:
            if iteration in marks:
                paused = time.perf_counter()
                seconds = paused - clock["start"] - clock["paused"]
                results.append(f"{iteration} it: AUROC {energy_auroc(model, heldout, noise):.4f} ({seconds:.0f} s)")
                clock["paused"] += time.perf_counter() - paused

        train_ebm(images, max(marks), seed=seed, callback=judge)
        print(f"  seed {seed}: " + "; ".join(results), flush=True)


def reference_sample_rating(n: int):
    energy = EnergyNet()
    energy.load_state_dict(torch.load(CHECKPOINT, map_location="cpu", weights_only=True))
    energy.eval()
    started = time.perf_counter()
    samples = grader_langevin(energy, n=n, seed=0, **SAMPLER)
    return rate_samples(samples), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--short-training", action="store_true", help="also the AUROC after 100/200/300 iterations")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    print(f"reference train_ebm (defaults): {training_seconds_per_iteration(args.iters):.3f} s/iteration "
          f"over {args.iters} iterations")
    if args.short_training:
        print("short trainings (train_ebm defaults), held-out digits vs uniform noise:")
        short_training_auroc()
    rating, seconds = reference_sample_rating(args.samples)
    print(f"reference checkpoint, {args.samples} samples with the grader's sampler {SAMPLER} ({seconds:.1f} s):")
    print(f"  mean confidence {rating.mean_confidence:.3f}, classes with >= {rating.min_count} samples "
          f"{rating.n_classes}/10, Fréchet distance {rating.frechet:.1f}, histogram {list(rating.class_histogram)}")

    # --- time to grade Problem 3 -------------------------------------------------------------
    # Hook for the grader's end-to-end timing of Problem 3; added by the grader's maintainers.
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
