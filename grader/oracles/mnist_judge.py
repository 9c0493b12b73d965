"""A small MNIST classifier that judges Problem 3 samples, the grader's own Langevin sampler, a memorisation test.

Samples of an energy model are rated the way a person would look at them: does a classifier
trained on real digits recognise them (mean top-class confidence), do they cover the ten digits
(how many classes are the argmax at least `min_count` times), and do their classifier features
have the statistics of real held-out digits (a Fréchet distance, as in FID, but on this
classifier's penultimate layer). The classifier was also taught to answer "nothing" (a uniform
prediction) on noise and scrambled digits, so confidence on junk is low.

Nothing here imports `reference/`. The sampler runs in the grader's process: `drive_langevin`
owns the chain (start, noise, clip, clamp) and asks a `query` only for energies and input
gradients at the current states. For a submitted checkpoint the query is answered by the
student's process, so `drive_langevin` also prepares a `FreshAudit`: questions for two fresh
processes that never saw the chain (finite differences along random directions, one side of
each pair per process, and chain states asked again), whose answers must confirm the chain's;
`grader_langevin` is the same sampler on an energy that lives in this process (benchmarks,
tests). `collapse_distances`, `class_averages` and `nearest_digit_distances` find samples that
are copies rather than new images.

    rating = rate_samples(grader_langevin(energy, n=200, seed=0, **SAMPLER))
    run = drive_langevin(query, n=200, seed=0, **SAMPLER)   # run.samples; run.audit.judge(fresh answers)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from grader.mnist import load_mnist

__all__ = ["BLUR_PX", "DUPLICATE_RMS", "MEMORISED_ALLOWANCE", "MEMORISED_RMS", "MEMORISED_ZERO", "PROTOTYPE_RMS", "SAMPLER", "ChainRun", "DigitClassifier", "FreshAudit", "SampleRating", "drive_langevin", "features",
           "blurred", "class_averages", "collapse_distances", "frechet_distance", "fresh_audit", "grader_langevin", "load_classifier", "memorisation_factor", "nearest_digit_distances", "predict_proba", "rate_samples"]

CLASSIFIER_PATH = Path(__file__).resolve().parents[2] / "assets" / "mnist_classifier.pt"
N_CLASSES = 10
FEATURE_DIM = 128
# The Langevin settings the grader samples a submitted p3_energy.pt with (the template states them).
SAMPLER = dict(n_steps=200, step_size=10.0, noise_std=0.005, grad_clip=0.03)


class DigitClassifier(nn.Module):
    """Three conv blocks (28 -> 14 -> 7 -> 3 pixels), a 128-unit feature layer, ten logits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 3 * 3, FEATURE_DIM), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, N_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, 128) of images (N, 1, 28, 28) in [-1, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.body(x)))


@dataclass(frozen=True)
class SampleRating:
    """How digit-like a batch of samples looks to the classifier.

    mean_confidence: mean over samples of the top softmax probability (1 = sure, 0.1 = no idea).
    n_classes: how many digits are the argmax of at least `min_count` samples.
    class_histogram: argmax counts for digits 0..9.
    frechet: Fréchet distance between the feature Gaussians of the samples and of the 1,000
        held-out digits (0 for identical statistics; small-sample bias makes it positive).
    """

    n: int
    mean_confidence: float
    n_classes: int
    min_count: int
    class_histogram: tuple[int, ...]
    frechet: float


@lru_cache(maxsize=1)
def load_classifier() -> nn.Module:
    """The shipped classifier (assets/mnist_classifier.pt), in eval mode with frozen weights."""
    if not CLASSIFIER_PATH.exists():
        raise FileNotFoundError(f"{CLASSIFIER_PATH} missing; train it with `python tools/train_mnist_classifier.py`")
    model = DigitClassifier()
    model.load_state_dict(torch.load(CLASSIFIER_PATH, map_location="cpu", weights_only=True))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def features(images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Classifier features (N, 128) of images (N, 1, 28, 28) in [-1, 1]."""
    model = load_classifier()
    images = _as_images(images)
    with torch.no_grad():
        return torch.cat([model.features(chunk) for chunk in images.split(batch_size)]) if len(images) else torch.empty(0, FEATURE_DIM)


def predict_proba(images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Softmax class probabilities (N, 10)."""
    model = load_classifier()
    with torch.no_grad():
        return torch.cat([model.head(model.features(chunk)).softmax(-1) for chunk in _as_images(images).split(batch_size)])


def rate_samples(images: torch.Tensor, min_count: int = 5) -> SampleRating:
    """Rate samples (N, 1, 28, 28) in [-1, 1] (values outside are clamped, NaNs count as -1).

    Example:
        >>> x, _ = load_mnist("heldout")
        >>> r = rate_samples(x[:200]); r.n_classes, round(r.mean_confidence, 2)
        (10, 0.99)
    """
    images = _as_images(images)
    if len(images) < 2:
        raise ValueError("rate_samples needs at least two images")
    feats = features(images).double().numpy()
    probs = predict_proba(images)
    top, label = probs.max(-1)
    histogram = torch.bincount(label, minlength=N_CLASSES)
    mu, sigma = _heldout_statistics()
    return SampleRating(
        n=len(images),
        mean_confidence=float(top.double().mean()),
        n_classes=int((histogram >= min_count).sum()),
        min_count=min_count,
        class_histogram=tuple(int(c) for c in histogram),
        frechet=frechet_distance(feats.mean(0), np.cov(feats, rowvar=False), mu, sigma),
    )


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|² + tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½) between two Gaussians.

    tr (Σ1 Σ2)^½ is computed as Σ √λ over the eigenvalues λ of the symmetric PSD matrix
    Σ1^½ Σ2 Σ1^½ (same spectrum as Σ1 Σ2), which stays stable when the covariances are singular
    (fewer samples than features, or dead features).
    """
    root1 = _psd_sqrt(sigma1)
    eigenvalues = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_covmean = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    distance = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean
    return float(max(0.0, distance))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    eigenvalues, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T


@lru_cache(maxsize=1)
def _heldout_statistics() -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the features of the 1,000 held-out digits of the embedded subset."""
    x, _ = load_mnist("heldout")
    feats = features(x).double().numpy()
    return feats.mean(0), np.cov(feats, rowvar=False)


def _as_images(images: torch.Tensor) -> torch.Tensor:
    images = torch.as_tensor(images).detach().to("cpu", torch.float32).reshape(-1, 1, 28, 28)
    return torch.nan_to_num(images, nan=-1.0).clamp(-1.0, 1.0)


# ---------------------------------------------------------------------------------- the sampler
Query = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # x (N, *shape) float32 -> (E (N,), ∇_x Σ E like x)

AUDIT_STEPS = 3  # steps whose gradients are cross-checked by finite differences of energies asked of fresh processes
AUDIT_IMAGES = 64  # chains audited per audited step
RECHECK_STEPS = 8  # other steps whose states are asked again in the fresh processes
RECHECK_IMAGES = 32  # chains re-asked per re-checked step (none of them audited)
FD_H = 1e-2  # central-difference step along a unit direction per image
FD_RTOL = 0.05  # |FD - <g, v>| over the audited images (2-norm), relative to |<g, v>|
FD_ATOL_ULPS = 64.0  # plus float32 rounding of the two energies: 64 ulps of |E| (measured: < 1), divided by 2h
REPEAT_RTOL = 1e-4  # a re-asked state: energies and gradients agree to 1e-4 of their largest entry
SATURATED = 1.0 - 2 * FD_H  # pixels at or beyond this |value| are not moved by the audit (see `fresh_audit`)
_ULP32 = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class ChainRun:
    """What `drive_langevin` produced: the final states (n, *shape), the audit to put to fresh processes, the queries made."""

    samples: torch.Tensor
    audit: "FreshAudit | None"
    queries: int


@dataclass(frozen=True)
class FreshAudit:
    """Questions for two fresh processes that never saw the chain, and how to judge their answers.

    `batches[0]` holds x + h v and `batches[1]` x - h v for the audited chains (v a random unit
    direction per image, zero on saturated pixels so that both points stay in [-1, 1] and keep
    the chain's exact ±1 pixels), each mixed with re-checked chain states of other steps and
    other chains, in a seeded random order. A process sees one side of each pair only, so it
    cannot find the state x, the direction v or the gradient the chain was given; the energies
    it returns must come from its images alone.

    steps: the audited steps, one per block of `AUDIT_IMAGES` pairs.
    plus, minus: where the pairs sit in `batches[0]` and `batches[1]`, shape (AUDIT_STEPS * AUDIT_IMAGES,).
    directions: v, flattened (AUDIT_STEPS * AUDIT_IMAGES, D); chain_grads: the chain's gradients at x, same shape.
    recheck: for each batch, (positions in it, the chain's energies, the chain's gradients, the steps) of its re-checked states.
    """

    batches: tuple[np.ndarray, np.ndarray]
    steps: tuple[int, ...]
    plus: np.ndarray
    minus: np.ndarray
    directions: np.ndarray
    chain_grads: np.ndarray
    recheck: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]

    def judge(self, answers: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> str | None:
        """None if the fresh processes' answers (energies (N,), gradients (N, *shape) per batch) confirm the chain's."""
        for (energy, grad), (where, chain_energy, chain_grad, steps) in zip(answers, self.recheck):
            for name, first, again in (("energies", chain_energy, np.asarray(energy, np.float64)[where]),
                                       ("gradients", chain_grad, np.asarray(grad, np.float64)[where].reshape(chain_grad.shape))):
                scale = max(float(np.max(np.abs(first), initial=0.0)), 1e-12)
                errors = np.abs(again - first).reshape(len(first), -1).max(1)
                worst = int(np.argmax(errors)) if len(errors) else 0
                if len(errors) and errors[worst] > REPEAT_RTOL * scale:
                    return (f"the same images (states of step {int(steps[worst])}) asked again in a fresh process that never saw "
                            f"the chain got different {name} (largest difference {errors[worst]:.3g}, "
                            f"{errors[worst] / scale:.2g} of the largest entry): the energy must be a function of the images alone")
        up = np.asarray(answers[0][0], np.float64)[self.plus]
        down = np.asarray(answers[1][0], np.float64)[self.minus]
        numeric = (up - down) / (2 * FD_H)
        analytic = np.sum(self.chain_grads * self.directions, axis=1)
        rounding = FD_ATOL_ULPS * _ULP32 * np.maximum(np.maximum(np.abs(up), np.abs(down)), 1e-6) / (2 * FD_H)
        for block, step in enumerate(self.steps):
            rows = slice(block * AUDIT_IMAGES, (block + 1) * AUDIT_IMAGES)
            error = float(np.linalg.norm(numeric[rows] - analytic[rows]))
            if not error <= FD_RTOL * float(np.linalg.norm(analytic[rows])) + float(np.linalg.norm(rounding[rows])):
                return (f"the gradients returned at step {step} do not match the energies: along random directions, finite "
                        f"differences of the energies (h = {FD_H:g}, asked of fresh processes that never saw the chain) "
                        f"differ from <gradient, direction> by {error:.3g} (2-norm over {AUDIT_IMAGES} images; the directional "
                        f"derivatives themselves have norm {float(np.linalg.norm(analytic[rows])):.3g}, tolerance "
                        f"{FD_RTOL:.0%} plus float32 rounding)")
        return None


def drive_langevin(query: Query, n: int, n_steps: int, step_size: float, noise_std: float, seed: int,
                   grad_clip: float | None = None, shape: tuple[int, ...] = (1, 28, 28), audit: bool = True) -> ChainRun:
    """`n` chains of plain SGLD from uniform noise in [-1, 1], driven here; `query` supplies energies and gradients.

    x <- clamp(x - step_size * clip(g) + noise_std * eps, -1, 1) with g from `query(x)`. All
    randomness comes from a CPU generator seeded by `seed`, so the same energy gives the same
    chains on every run, and `query` is asked only for the chain's states. With `audit`, the
    states, energies and gradients of some chains at some steps (drawn from a second generator)
    are kept, and `run.audit` holds the questions that check them in fresh processes
    (`FreshAudit`): whoever answers `query` never sees them, so it cannot answer them from memory.
    """
    generator = torch.Generator().manual_seed(int(seed))
    audit_rng = np.random.default_rng([int(seed), 3907])
    n_steps = int(n_steps)
    picked = audit_rng.choice(n_steps, size=min(AUDIT_STEPS + RECHECK_STEPS, n_steps), replace=False) if audit else []
    audited = {int(s): np.sort(audit_rng.choice(n, min(AUDIT_IMAGES, n), replace=False)) for s in picked[:AUDIT_STEPS]}
    rechecked = {}
    for s in picked[AUDIT_STEPS:]:
        others = np.setdiff1d(np.arange(n), np.concatenate(list(audited.values())))
        rechecked[int(s)] = np.sort(audit_rng.choice(others, min(RECHECK_IMAGES, len(others)), replace=False))
    x = (torch.rand(n, *shape, generator=generator) * 2 - 1).numpy()
    kept: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for step in range(n_steps):
        energy, grad = query(x)
        rows = audited.get(step, rechecked.get(step))
        if rows is not None:
            kept[step] = (x[rows].copy(), np.asarray(energy, np.float64).reshape(-1)[rows], np.asarray(grad, np.float64)[rows])
        g = torch.tensor(np.asarray(grad, dtype=np.float32))  # a copy: updated in place below
        if grad_clip is not None:
            g.clamp_(-grad_clip, grad_clip)
        kick = torch.randn(x.shape, generator=generator)
        x = torch.from_numpy(x.copy()).sub_(g, alpha=step_size).add_(kick, alpha=noise_std).clamp_(-1.0, 1.0).numpy()
    plan = fresh_audit(kept, list(audited), list(rechecked), audit_rng) if audited else None
    return ChainRun(torch.from_numpy(x), plan, n_steps)


def fresh_audit(kept: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], audited: list[int], rechecked: list[int],
                rng: np.random.Generator) -> FreshAudit:
    """The two batches of `FreshAudit` from the chain's kept (states, energies, gradients) per step."""
    directions, centres, grads = [], [], []
    for step in audited:
        x, _, g = kept[step]
        v = rng.normal(size=x.shape) * (np.abs(x) < SATURATED)
        v /= np.maximum(np.linalg.norm(v.reshape(len(v), -1), axis=1), 1e-12).reshape(-1, *([1] * (x.ndim - 1)))
        directions.append(v.reshape(len(v), -1))
        centres.append(x.astype(np.float64))
        grads.append(g.reshape(len(g), -1))
    v = np.concatenate(directions)
    x = np.concatenate(centres).reshape(len(v), -1)
    sides = [(x + FD_H * v).astype(np.float32), (x - FD_H * v).astype(np.float32)]
    # each re-checked state goes to one of the two processes, at random
    order = rng.permutation(rechecked)
    shares = [order[0::2], order[1::2]]
    batches, positions, recheck = [], [], []
    for side, steps in zip(sides, shares):
        states = [kept[s][0].reshape(len(kept[s][0]), -1) for s in steps]
        rows = np.concatenate([side, *states]) if states else side
        permutation = rng.permutation(len(rows))
        inverse = np.argsort(permutation)
        batches.append(rows[permutation].reshape(len(rows), *kept[audited[0]][0].shape[1:]))
        positions.append(inverse[:len(side)])
        where = inverse[len(side):]
        energies = np.concatenate([kept[s][1] for s in steps]) if len(steps) else np.empty(0)
        chain_grads = (np.concatenate([kept[s][2] for s in steps]) if len(steps)
                       else np.empty((0, *kept[audited[0]][0].shape[1:])))
        labels = np.concatenate([np.full(len(kept[s][0]), s) for s in steps]) if len(steps) else np.empty(0, int)
        recheck.append((where, energies, chain_grads, labels))
    return FreshAudit(tuple(batches), tuple(audited), positions[0], positions[1], v, np.concatenate(grads), tuple(recheck))


def autograd_query(energy: Callable[[torch.Tensor], torch.Tensor]) -> Query:
    """A `query` for an energy that lives in this process: energies and ∇_x Σ E by autograd (parameters left alone)."""

    def query(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        point = torch.from_numpy(np.asarray(x, np.float32)).requires_grad_(True)
        with torch.enable_grad():
            e = energy(point)
            (g,) = torch.autograd.grad(e.sum(), point)
        return e.detach().numpy(), g.numpy()

    return query


def grader_langevin(energy: Callable[[torch.Tensor], torch.Tensor], n: int, n_steps: int, step_size: float,
                    noise_std: float, seed: int, grad_clip: float | None = None,
                    shape: tuple[int, ...] = (1, 28, 28)) -> torch.Tensor:
    """The grader's sampler on an energy in this process: the same chains `drive_langevin` gives a student's model."""
    return drive_langevin(autograd_query(energy), n, n_steps, step_size, noise_std, seed, grad_clip, shape, audit=False).samples


# ---------------------------------------------------------------------------------- copies and collapse
# A sample closer than this to a digit the grader holds (root-mean-square pixel distance, images in [-1, 1]) is a
# near-copy. Embedded subset: 1.1 % of the held-out digits fall this close to a training digit (the closest at 0.084);
# the reference's samples are >= 0.15 from every digit; chains of an energy that only stores 20 training digits end
# 0.056-0.088 from them (the sampler's large step keeps them moving around the stored digit).
MEMORISED_RMS = 0.12
# A sample closer than this to a class average (the mean image of one digit class of the grader's digits), both blurred
# by BLUR_PX, is a copy of a prototype: a class mean, or one with noise added (the blur removes the noise, not the
# strokes in which real digits differ from their class mean). 1.1 % of the 5,000 embedded digits fall this close, 1.0 %
# of the reference's samples; energies with wells at (blurred, noisy or flat-bottomed) class means put 60-100 % of their
# samples there (docs/p3_calibration.md).
PROTOTYPE_RMS = 0.15
# Two samples of the same predicted class closer than this, after both are blurred by a Gaussian of BLUR_PX pixels, are
# the same image up to pixel noise: chains that collapsed into one well. The blur removes the sampler's pixel jitter
# and a well's added noise, not the strokes in which real digits differ: 200 held-out digits have 1 % of such nearest
# neighbours below 0.074, the reference's samples below 0.073; energies with wells end at 0.02-0.07 (docs/p3_calibration.md).
DUPLICATE_RMS = 0.06
BLUR_PX = 1.0
# The share of flagged samples (copies or collapsed) that costs nothing (4x the rate of new real digits); above it,
# credit falls to 0 at MEMORISED_ZERO. Correct checkpoints flag 0-1.5 %; energies of wells at stored or averaged images
# 60-100 % (docs/p3_calibration.md): half the samples flagged leaves no sample credit.
MEMORISED_ALLOWANCE = 0.05
MEMORISED_ZERO = 0.5


def memorisation_factor(copies: int, n: int) -> float:
    """The multiplier of the sample-quality credit when `copies` of `n` samples are flagged (copies or collapsed)."""
    share = copies / n
    return float(np.clip(1.0 - (share - MEMORISED_ALLOWANCE) / (MEMORISED_ZERO - MEMORISED_ALLOWANCE), 0.0, 1.0))


def nearest_digit_distances(samples: torch.Tensor | np.ndarray, digits: torch.Tensor | np.ndarray, batch: int = 1000) -> np.ndarray:
    """Root-mean-square pixel distance (images in [-1, 1]) of each sample (N, 1, 28, 28) to its nearest digit in `digits`."""
    a = _as_images(torch.as_tensor(samples)).reshape(len(samples), -1)  # float32: squared distances err < 1e-3 of 0.12² x 784
    best = torch.full((len(a),), float("inf"))
    for chunk in torch.as_tensor(digits).reshape(len(digits), -1).float().split(batch):
        squared = (a * a).sum(1, keepdim=True) - 2 * a @ chunk.T + (chunk * chunk).sum(1)
        best = torch.minimum(best, squared.min(1).values)
    return (best.clamp_min(0.0) / a.shape[1]).sqrt().numpy()


def class_averages(digits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean image (10, 1, 28, 28) of each digit class among `digits` (N, 1, 28, 28) with `labels` (N,)."""
    return torch.stack([digits[labels == c].float().mean(0) for c in range(N_CLASSES) if bool((labels == c).any())])


def blurred(images: torch.Tensor, sigma: float = BLUR_PX) -> torch.Tensor:
    """Images (N, 1, 28, 28) smoothed by a separable Gaussian of `sigma` pixels (7 taps, zero padding)."""
    taps = torch.arange(-3, 4, dtype=torch.float32)
    kernel = torch.exp(-taps**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    out = torch.nn.functional.conv2d(_as_images(images), kernel.view(1, 1, 1, 7), padding=(0, 3))
    return torch.nn.functional.conv2d(out, kernel.view(1, 1, 7, 1), padding=(3, 0))


def collapse_distances(samples: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per sample: RMS distance, after `blurred`, to the nearest OTHER sample of the same predicted class (inf if alone)."""
    images = _as_images(torch.as_tensor(samples))
    labels = predict_proba(images).argmax(-1)
    flat = blurred(images).reshape(len(images), -1).double()
    distances = torch.cdist(flat, flat) / np.sqrt(flat.shape[1])
    distances[labels[:, None] != labels[None, :]] = float("inf")
    distances.fill_diagonal_(float("inf"))
    return distances.min(1).values.numpy()
