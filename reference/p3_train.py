"""Full training of the Problem 3 reference energy model on the embedded MNIST train split.

    python -m reference.p3_train --out assets/p3_reference_energy.pt --iters 1500
    python -m reference.p3_train --init assets/p3_reference_energy.pt --out assets/p3_reference_energy.pt \
        --iters 1000 --seed 1 --threads 2        # the shipped checkpoint: 1,000 more iterations
    python -m reference.p3_train --device cuda --iters 5000   # on a GPU (minutes)

Uses `reference.p3_ebm.train_ebm` with more Langevin steps per iteration and a larger batch
than its short-run defaults. Deterministic for a given seed and thread count; prints progress,
writes a checkpoint (the EnergyNet state_dict) every `--save-every` iterations and at the end,
and copies the final one to `--copy-to` (default `reference/p3_energy.pt`, the checkpoint the
reference hands in as a submission). Settings and timings are recorded in docs/p3_calibration.md.
With `--device cuda` every tensor is created on the GPU (torch's default device), and the
checkpoints are saved as CPU tensors, so they load anywhere.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from grader.mnist import load_mnist
from reference.p3_ebm import EnergyNet, ReplayBuffer, train_ebm

ROOT = Path(__file__).resolve().parents[1]
FULL_SETTINGS = dict(batch_size=64, n_steps=40, lr=3e-4, alpha=0.1)


def cpu_state(model: EnergyNet) -> dict[str, torch.Tensor]:
    """The model's state_dict as CPU tensors (a checkpoint that loads without a GPU)."""
    return {name: value.detach().cpu() for name, value in model.state_dict().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "p3_reference_energy.pt")
    parser.add_argument("--copy-to", default=str(ROOT / "reference" / "p3_energy.pt"),
                        help="where to copy the final checkpoint; '' for nowhere")
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared machine)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train (default %(default)s)")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--mnist-root", type=Path, default=None, help="full MNIST in torchvision's layout")
    parser.add_argument("--init", type=Path, default=None,
                        help="continue from this state_dict (a fresh replay buffer and optimiser; use another --seed)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here")
    torch.set_default_device(args.device)  # the model, the replay buffer and every random draw live there
    images, _ = load_mnist("train", args.mnist_root)
    images = images.to(args.device)
    print(f"training on {len(images)} digits for {args.iters} iterations on {args.device}: {FULL_SETTINGS}", flush=True)
    started_wall, started_cpu = time.perf_counter(), time.process_time()

    def checkpoint(iteration: int, model: EnergyNet, buffer: ReplayBuffer) -> None:
        if iteration % args.save_every == 0 and iteration < args.iters:
            torch.save(cpu_state(model), args.out.with_suffix(f".iter{iteration}.pt"))

    start = None
    if args.init is not None:
        start = EnergyNet()
        start.load_state_dict(torch.load(args.init, weights_only=True, map_location=args.device))
    model = train_ebm(images, args.iters, seed=args.seed, model=start, log_every=25, callback=checkpoint, **FULL_SETTINGS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(cpu_state(model), args.out)
    if args.copy_to:
        shutil.copyfile(args.out, Path(args.copy_to))
    wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    print(f"done: {args.iters} iterations, wall {wall:.0f} s ({wall / args.iters:.3f} s/iter), "
          f"process CPU {cpu:.0f} s, threads {args.threads}, {args.device}; wrote {args.out}", flush=True)
    for stale in args.out.parent.glob(args.out.stem + ".iter*.pt"):
        stale.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
