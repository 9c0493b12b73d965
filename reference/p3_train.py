"""Full training of the Problem 3 reference energy model on the embedded MNIST train split.

The shipped checkpoint is three stages (about 40 minutes on one CPU core; docs/p3_calibration.md):

    python -m reference.p3_train --iters 1500                                  # 1. persistent chains
    python -m reference.p3_train --init assets/p3_reference_energy.pt --iters 1000 --seed 1 --threads 2
    python -m reference.p3_train --init assets/p3_reference_energy.pt --iters 600 --seed 5 \
        --max-age 200 --average 0.99                                           # 3. short-run chains
    python -m reference.p3_train --device cuda --iters 5000   # on a GPU (minutes)

Uses `reference.p3_ebm.train_ebm` with more Langevin steps per iteration and a larger batch
than its short-run defaults. With `--max-age` the chains restart from noise once they have run
that many steps (`ShortRunBuffer`): the grader samples a checkpoint by 200 steps from noise, and
an energy trained only on long-lived persistent chains need not bring noise to a digit that
quickly. With `--average` the checkpoint is an exponential moving average of the parameters
(`ParameterAverage`), which smooths the oscillation that contrastive divergence is prone to.

Deterministic for a given seed and thread count; prints progress, writes a checkpoint (the
EnergyNet state_dict) every `--save-every` iterations and at the end, and copies the final one to `--copy-to` (default `reference/p3_energy.pt`, the checkpoint the
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
FULL_SETTINGS = dict(batch_size=64, n_steps=40, alpha=0.1)


class ShortRunBuffer(ReplayBuffer):
    """A replay buffer whose chains restart from uniform noise once they have run `max_age` steps.

    Each stored row remembers how many Langevin steps its chain has run. Relies on how
    `train_ebm` uses a buffer: every `sample(n)` is followed by one `push` of the same n chains
    after `steps_per_push` more steps. Rows of age `max_age` or more are drawn as fresh noise
    (age 0); `reinit_prob` still restarts others at random.
    """

    def __init__(self, max_age: int, steps_per_push: int, capacity: int = 8192, reinit_prob: float = 0.0,
                 shape: tuple[int, ...] = (1, 28, 28)) -> None:
        super().__init__(capacity=capacity, shape=shape, reinit_prob=reinit_prob)
        self.max_age, self.steps_per_push = int(max_age), int(steps_per_push)
        self._ages = torch.empty(0, dtype=torch.long)  # the age of each stored row, in the store's order
        self._drawn_ages = torch.empty(0, dtype=torch.long)  # the ages of the rows the last `sample` returned

    def sample(self, n: int) -> torch.Tensor:
        fresh = torch.rand(n, *self.shape) * 2 - 1
        if len(self) == 0:
            self._drawn_ages = torch.zeros(n, dtype=torch.long)
            return fresh
        index = torch.randint(len(self), (n,))
        ages = self._ages[index]
        restart = (ages >= self.max_age) | (torch.rand(n) < self.reinit_prob)
        self._drawn_ages = torch.where(restart, 0, ages)
        return torch.where(restart.view(n, *([1] * len(self.shape))), fresh, self._store[index])

    def push(self, x: torch.Tensor) -> None:
        super().push(x)
        ages = self._drawn_ages + self.steps_per_push
        self._ages = torch.cat([self._ages, self._ages.new_zeros(len(self) - len(self._ages))])  # grows with the store
        kept = min(len(ages), len(self))
        self._ages[self._newest_index(kept)] = ages[len(ages) - kept:]


class ParameterAverage:
    """An exponential moving average of a model's parameters: avg <- decay avg + (1 - decay) params.

    The average starts as a copy of the model at the first `update`.
    """

    def __init__(self, decay: float) -> None:
        self.decay = float(decay)
        self.model: EnergyNet | None = None

    def update(self, model: EnergyNet) -> None:
        if self.model is None:
            self.model = EnergyNet().to(next(model.parameters()).device)
            self.model.load_state_dict(model.state_dict())
            return
        with torch.no_grad():
            for average, current in zip(self.model.parameters(), model.parameters()):
                average.lerp_(current, 1.0 - self.decay)


def cpu_state(model: EnergyNet) -> dict[str, torch.Tensor]:
    """The model's state_dict as CPU tensors (a checkpoint that loads without a GPU)."""
    return {name: value.detach().cpu() for name, value in model.state_dict().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "p3_reference_energy.pt")
    parser.add_argument("--copy-to", default=str(ROOT / "reference" / "p3_energy.pt"),
                        help="where to copy the final checkpoint; '' for nowhere")
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--max-age", type=int, default=0,
                        help="restart chains from noise after this many Langevin steps (0: persistent chains, 5%% restarts)")
    parser.add_argument("--average", type=float, default=0.0, metavar="DECAY",
                        help="save an exponential moving average of the parameters with this decay (0: the parameters)")
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
    settings = dict(FULL_SETTINGS, lr=args.lr)
    print(f"training on {len(images)} digits for {args.iters} iterations on {args.device}: {settings}, "
          f"max age {args.max_age or 'none'}, average {args.average or 'none'}", flush=True)
    started_wall, started_cpu = time.perf_counter(), time.process_time()

    start = None
    if args.init is not None:
        start = EnergyNet()
        start.load_state_dict(torch.load(args.init, weights_only=True, map_location=args.device))
    average = ParameterAverage(args.average) if args.average else None
    buffer = ShortRunBuffer(args.max_age, settings["n_steps"]) if args.max_age else None

    def after_iteration(iteration: int, model: EnergyNet, buffer: ReplayBuffer) -> None:
        if average is not None:
            average.update(model)
        if iteration % args.save_every == 0 and iteration < args.iters:
            torch.save(cpu_state(average.model if average else model), args.out.with_suffix(f".iter{iteration}.pt"))

    model = train_ebm(images, args.iters, seed=args.seed, model=start, buffer=buffer, log_every=25, callback=after_iteration, **settings)
    if average is not None:
        model = average.model.eval()
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
