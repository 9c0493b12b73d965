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
student's process, so `drive_langevin` also cross-checks the answers (finite differences along
random directions at a few steps, and repeated queries that must agree); `grader_langevin`
is the same sampler on an energy that lives in this process (benchmarks, tests).

    rating = rate_samples(grader_langevin(energy, n=200, seed=0, **SAMPLER))
    run = drive_langevin(query, n=200, seed=0, **SAMPLER)   # run.samples, run.problem
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

__all__ = ["MEMORISED_ALLOWANCE", "MEMORISED_RMS", "SAMPLER", "ChainRun", "DigitClassifier", "SampleRating", "drive_langevin", "features",
           "frechet_distance", "grader_langevin", "load_classifier", "memorisation_factor", "nearest_digit_distances", "predict_proba", "rate_samples"]

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

AUDIT_STEPS = 3  # steps at which the answers are cross-checked by finite differences
FD_H = 1e-2  # central-difference step along a unit direction per image
FD_RTOL = 0.05  # |FD - <g, v>| over the batch (2-norm), relative to |<g, v>|
FD_ATOL_ULPS = 64.0  # plus float32 rounding of the two energies: 64 ulps of |E| (measured: < 1), divided by 2h
REPEAT_RTOL = 1e-4  # a repeated query: energies and gradients agree to 1e-4 of their largest entry
_ULP32 = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class ChainRun:
    """What `drive_langevin` produced: the final states (n, *shape), and the first failed cross-check (None if all passed)."""

    samples: torch.Tensor
    problem: str | None
    queries: int


def drive_langevin(query: Query, n: int, n_steps: int, step_size: float, noise_std: float, seed: int,
                   grad_clip: float | None = None, shape: tuple[int, ...] = (1, 28, 28), audit: bool = True) -> ChainRun:
    """`n` chains of plain SGLD from uniform noise in [-1, 1], driven here; `query` supplies energies and gradients.

    x <- clamp(x - step_size * clip(g) + noise_std * eps, -1, 1) with g from `query(x)`. All
    randomness comes from a CPU generator seeded by `seed`, so the same energy gives the same
    chains on every run. With `audit`, at `AUDIT_STEPS` steps drawn from a second generator the
    energies at x ± FD_H v (v a random unit direction per image) must give the directional
    derivative <g, v> by central differences, and at the end the states of those steps are queried
    again and must get the same answers. A failed check stops the chain: `problem` says which.
    """
    generator = torch.Generator().manual_seed(int(seed))
    audit_rng = np.random.default_rng([int(seed), 3907])
    audited = set(audit_rng.choice(n_steps, size=min(AUDIT_STEPS, n_steps), replace=False).tolist()) if audit and n_steps else set()
    x = (torch.rand(n, *shape, generator=generator) * 2 - 1).numpy()
    queries, first_answers = 0, []
    for step in range(int(n_steps)):
        energy, grad = query(x)
        queries += 1
        if step in audited:
            problem = _finite_difference_problem(query, x, grad, audit_rng, step)
            queries += 2
            if problem:
                return ChainRun(torch.from_numpy(x), problem, queries)
            first_answers.append((step, x.copy(), energy, grad))
        g = torch.tensor(np.asarray(grad, dtype=np.float32))  # a copy: updated in place below
        if grad_clip is not None:
            g.clamp_(-grad_clip, grad_clip)
        kick = torch.randn(x.shape, generator=generator)
        x = torch.from_numpy(x.copy()).sub_(g, alpha=step_size).add_(kick, alpha=noise_std).clamp_(-1.0, 1.0).numpy()
    for step, state, energy, grad in first_answers:
        again_energy, again_grad = query(state)
        queries += 1
        for name, first, again in (("energies", energy, again_energy), ("gradients", grad, again_grad)):
            scale = max(float(np.max(np.abs(first))), 1e-12)
            worst = float(np.max(np.abs(np.asarray(again, np.float64) - first)))
            if worst > REPEAT_RTOL * scale:
                return ChainRun(torch.from_numpy(x), f"the same images (the states of step {step}) queried twice got different "
                                f"{name} (largest difference {worst:.3g}, {worst / scale:.2g} of the largest entry): "
                                "the energy must be a function of the images alone", queries)
    return ChainRun(torch.from_numpy(x), None, queries)


def _finite_difference_problem(query: Query, x: np.ndarray, grad: np.ndarray,
                               rng: np.random.Generator, step: int) -> str | None:
    """None if (E(x + h v) - E(x - h v)) / 2h ≈ <g, v> over the batch (v: a random unit direction per image)."""
    v = rng.normal(size=x.shape)
    v /= np.linalg.norm(v.reshape(len(v), -1), axis=1).reshape(-1, *([1] * (x.ndim - 1)))
    up, _ = query((x + FD_H * v).astype(np.float32))
    down, _ = query((x - FD_H * v).astype(np.float32))
    up, down = np.asarray(up, np.float64), np.asarray(down, np.float64)
    numeric = (up - down) / (2 * FD_H)
    analytic = np.sum(np.asarray(grad, np.float64).reshape(len(x), -1) * v.reshape(len(x), -1), axis=1)
    rounding = FD_ATOL_ULPS * _ULP32 * np.maximum(np.maximum(np.abs(up), np.abs(down)), 1e-6) / (2 * FD_H)
    error = float(np.linalg.norm(numeric - analytic))
    if error <= FD_RTOL * float(np.linalg.norm(analytic)) + float(np.linalg.norm(rounding)):
        return None
    return (f"the gradients returned at step {step} do not match the energies: along random directions, finite "
            f"differences of the energies (h = {FD_H:g}) differ from <gradient, direction> by {error:.3g} "
            f"(2-norm over {len(x)} images; the directional derivatives themselves have norm "
            f"{float(np.linalg.norm(analytic)):.3g}, tolerance {FD_RTOL:.0%} plus float32 rounding)")


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


# ---------------------------------------------------------------------------------- memorisation
# A sample closer than this to a digit the grader holds (root-mean-square pixel distance, images in [-1, 1]) is a
# near-copy. Embedded subset: 1.1 % of the held-out digits fall this close to a training digit (the closest at 0.084);
# the reference's samples are >= 0.27 from every digit; chains of an energy that only stores 20 training digits end
# 0.056-0.088 from them (the sampler's large step keeps them moving around the stored digit).
MEMORISED_RMS = 0.12
# The share of near-copies that costs nothing (4x the rate of new real digits); above it, credit falls to 0 at 100 %.
MEMORISED_ALLOWANCE = 0.05


def memorisation_factor(copies: int, n: int) -> float:
    """The multiplier of the sample-quality credit when `copies` of `n` samples are near-copies of digits."""
    share = copies / n
    return max(0.0, 1.0 - max(0.0, share - MEMORISED_ALLOWANCE) / (1.0 - MEMORISED_ALLOWANCE))


def nearest_digit_distances(samples: torch.Tensor | np.ndarray, digits: torch.Tensor | np.ndarray, batch: int = 1000) -> np.ndarray:
    """Root-mean-square pixel distance (images in [-1, 1]) of each sample (N, 1, 28, 28) to its nearest digit in `digits`."""
    a = _as_images(torch.as_tensor(samples)).reshape(len(samples), -1)  # float32: squared distances err < 1e-3 of 0.12² x 784
    best = torch.full((len(a),), float("inf"))
    for chunk in torch.as_tensor(digits).reshape(len(digits), -1).float().split(batch):
        squared = (a * a).sum(1, keepdim=True) - 2 * a @ chunk.T + (chunk * chunk).sum(1)
        best = torch.minimum(best, squared.min(1).values)
    return (best.clamp_min(0.0) / a.shape[1]).sqrt().numpy()
