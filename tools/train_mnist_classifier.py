"""Train the classifier that judges Problem 3 samples and save `assets/mnist_classifier.pt`.

    python tools/train_mnist_classifier.py [--epochs 12] [--seed 0]

Trained on the 4,000-digit train split of the embedded subset only, with light augmentation
(random shifts, rotations and scalings). Each batch also holds "junk" images — uniform noise,
pixel-shuffled digits and smooth random blobs — whose target is the uniform distribution over
the ten classes (outlier exposure), so the classifier's confidence is low on images that are no
digit at all. Prints the held-out accuracy and the mean confidence on junk.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from grader.mnist import load_mnist
from grader.oracles.mnist_judge import CLASSIFIER_PATH, DigitClassifier


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random affine jitter: rotation ±12°, scale 0.9–1.1, shift ±2.5 px; background stays -1."""
    n = len(x)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(12)
    scale = 0.9 + 0.2 * torch.rand(n, generator=generator)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2.5 / 14)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def junk(real: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """`n` images that are no digit: uniform noise, pixel-shuffled digits, smooth blobs."""
    kinds = torch.randint(3, (n,), generator=generator)
    noise = torch.rand(n, 1, 28, 28, generator=generator) * 2 - 1
    perm = torch.stack([torch.randperm(784, generator=generator) for _ in range(n)])
    picks = real[torch.randint(len(real), (n,), generator=generator)].flatten(1)
    shuffled = torch.gather(picks, 1, perm).view(n, 1, 28, 28)
    coarse = torch.rand(n, 1, 6, 6, generator=generator) * 2 - 1
    blobs = F.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False).mul(2).clamp(-1, 1)
    choice = kinds.view(n, 1, 1, 1)
    return torch.where(choice == 0, noise, torch.where(choice == 1, shuffled, blobs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=CLASSIFIER_PATH)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("heldout")
    model = DigitClassifier()
    steps_per_epoch, batch = math.ceil(len(x_train) / 64), 64
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=args.epochs * steps_per_epoch)
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for step in range(steps_per_epoch):
            index = order[step * batch:(step + 1) * batch]
            x, y = augment(x_train[index], generator), y_train[index]
            j = junk(x_train, len(index) // 4, generator)
            logits = model(torch.cat([x, j]))
            loss = F.cross_entropy(logits[: len(x)], y) - 0.5 * logits[len(x):].log_softmax(-1).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
        accuracy, junk_conf = evaluate(model, x_test, y_test, junk(x_test, 500, torch.Generator().manual_seed(1)))
        print(f"epoch {epoch:2d}  loss {loss.item():.3f}  held-out accuracy {accuracy:.4f}  "
              f"junk confidence {junk_conf:.3f}  {time.perf_counter() - started:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"wrote {args.out}: held-out accuracy {accuracy:.4f} on {len(x_test)} digits")
    return 0


def evaluate(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor, junk_images: torch.Tensor) -> tuple[float, float]:
    """Held-out accuracy and mean top-class confidence on junk."""
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(-1) == y).double().mean().item()
        junk_conf = model(junk_images).softmax(-1).max(-1).values.mean().item()
    return accuracy, junk_conf


if __name__ == "__main__":
    raise SystemExit(main())
