"""A small MNIST classifier that judges Problem 3 samples, and the grader's own Langevin sampler.

Samples of an energy model are rated the way a person would look at them: does a classifier
trained on real digits recognise them (mean top-class confidence), do they cover the ten digits
(how many classes are the argmax at least `min_count` times), and do their classifier features
have the statistics of real held-out digits (a Fréchet distance, as in FID, but on this
classifier's penultimate layer). The classifier was also taught to answer "nothing" (a uniform
prediction) on noise and scrambled digits, so confidence on junk is low.

Nothing here imports `reference/`. The sampler, `grader_langevin`, is written independently of
it and lives in `grader/runner/child_library.py`, because it must run in the student's process
beside their model (a submitted checkpoint is loaded into the student's own `EnergyNet`); it is
re-exported here so that the parent (benchmarks, tests) samples with the very same code.

    rating = rate_samples(grader_langevin(energy, n=200, seed=0, **SAMPLER))
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
import numpy as np
import torch
from torch import nn

from grader.mnist import load_mnist
from grader.runner.child_library import grader_langevin

__all__ = ["SAMPLER", "SampleRating", "DigitClassifier", "features", "frechet_distance", "grader_langevin",
           "load_classifier", "predict_proba", "rate_samples"]

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
