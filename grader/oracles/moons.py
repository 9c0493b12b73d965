"""The exact law of sklearn's `make_moons` data, its density and its differential entropy.

`make_moons(n, noise=σ)` places `n // 2` points on the outer arc `(cos θ, sin θ)` and the
remaining `n - n // 2` on the inner arc `(1 - cos θ, 1/2 - sin θ)`, with `θ` on an evenly
spaced grid over `[0, π]`, then adds isotropic Gaussian noise of standard deviation `σ`.
As `n` grows (and already for a few hundred points, since the angular spacing is far below
`σ`) this is the continuous law

    p(x) = 1/2 Σ_arcs (1/π) ∫_0^π N(x; arc(θ), σ² I) dθ,

a uniform mixture over the two arcs (uniform in angle, hence in arc length) smoothed by the
noise. Odd `n` puts one extra point on the inner arc; that changes the mixture weights by
`O(1/n)` and is ignored here.

The density is computed by composite Gauss–Legendre quadrature over the arc angle, in log
space (log-sum-exp over the nodes) so that it never underflows; the entropy
`H = -∫ p log p` by the trapezoidal rule on a uniform grid, which converges spectrally fast
for this smooth, rapidly decaying integrand. Both routes are independent of `reference/`.

    >>> round(moons_entropy(0.05), 3)
    0.289
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["moons_density", "moons_log_density", "moons_entropy", "moons_entropy_mc", "sample_moons"]

DEFAULT_NOISE = 0.05
_MIN_PANELS = 64       # Gauss–Legendre panels over [0, π] per arc (at least; more for small noise)
_NODES_PER_PANEL = 8
_CHUNK = 2048          # query points per vectorised block


def _arc_points(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The outer and inner arcs of `make_moons` at the angles `theta`, each `(K, 2)`."""
    outer = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    inner = np.stack([1.0 - np.cos(theta), 0.5 - np.sin(theta)], axis=1)
    return outer, inner


@lru_cache(maxsize=8)
def _angle_rule(panels: int, nodes_per_panel: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre nodes on `[0, π]` and log-weights that sum to one (a mean over θ)."""
    x, w = np.polynomial.legendre.leggauss(nodes_per_panel)
    edges = np.linspace(0.0, np.pi, panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[:-1] + edges[1:])
    theta = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    weights = (half[:, None] * w[None, :]).ravel() / np.pi
    return theta, np.log(weights)


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log Σ_k exp(a[:, k]) per row of a finite `(B, K)` block, overwriting `a` (a third of scipy's time here)."""
    top = a.max(axis=1, keepdims=True)
    a -= top
    np.exp(a, out=a)
    return top[:, 0] + np.log(a.sum(axis=1))


def moons_log_density(x: np.ndarray, noise: float = DEFAULT_NOISE, *,
                      panels: int | None = None, nodes_per_panel: int = _NODES_PER_PANEL) -> np.ndarray:
    """Log-density of the `make_moons` law at the points `x` `(N, 2)`; returns `(N,)` float64.

    `panels × nodes_per_panel` Gauss–Legendre nodes per arc. The default number of panels
    (`max(64, ⌈π/σ⌉)`, a panel no wider than `σ` radians) resolves the angular width
    `σ/|x - centre|` of the integrand near the arcs; at σ = 0.05 halving or quadrupling it
    changes the entropy by less than 1e-12.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (N, 2), got {x.shape}")
    if noise <= 0:
        raise ValueError(f"noise must be positive, got {noise}")
    if panels is None:
        panels = max(_MIN_PANELS, int(np.ceil(np.pi / noise)))
    theta, log_w = _angle_rule(panels, nodes_per_panel)
    outer, inner = _arc_points(theta)
    log_norm = -np.log(2.0 * np.pi * noise**2)
    out = np.empty(len(x))
    scale = 1.0 / (2.0 * noise**2)
    for start in range(0, len(x), _CHUNK):
        block = x[start:start + _CHUNK]
        block_sq = (block**2).sum(1)[:, None]
        per_arc = []
        for arc in (outer, inner):
            # |x - a|² = |x|² + |a|² - 2 x·a, as one matrix product per block
            sq = np.maximum(block_sq + (arc**2).sum(1)[None, :] - 2.0 * block @ arc.T, 0.0)
            per_arc.append(_logsumexp_rows(log_w[None, :] - sq * scale))
        out[start:start + _CHUNK] = np.logaddexp(per_arc[0], per_arc[1]) + np.log(0.5) + log_norm
    return out


def moons_density(x: np.ndarray, noise: float = DEFAULT_NOISE, **quadrature: int) -> np.ndarray:
    """Density of the `make_moons` law at the points `x` `(N, 2)`; returns `(N,)` float64."""
    return np.exp(moons_log_density(x, noise, **quadrature))


def moons_grid(noise: float = DEFAULT_NOISE, spacing: float | None = None,
               margin_sigmas: float = 9.0) -> tuple[np.ndarray, np.ndarray, float]:
    """A uniform grid that holds all but a negligible part of the mass: `(xs, ys, cell area)`.

    The arcs span `[-1, 2] × [-0.5, 1]`; the grid extends `margin_sigmas · noise` beyond.
    """
    spacing = noise / 2.0 if spacing is None else spacing
    margin = margin_sigmas * noise
    xs = np.arange(-1.0 - margin, 2.0 + margin + spacing / 2, spacing)
    ys = np.arange(-0.5 - margin, 1.0 + margin + spacing / 2, spacing)
    return xs, ys, spacing * spacing


def moons_entropy(noise: float = DEFAULT_NOISE, spacing: float | None = None, **quadrature: int) -> float:
    """Differential entropy `-∫ p log p` (nats) of the `make_moons` law in raw coordinates.

    Trapezoidal rule on a uniform grid of the given `spacing` (default `noise / 2`); the
    integrand is smooth on the scale `noise`, so the rule's error is far below 1e-6.
    """
    return _entropy_cached(float(noise), None if spacing is None else float(spacing),
                           tuple(sorted(quadrature.items())))


@lru_cache(maxsize=16)
def _entropy_cached(noise: float, spacing: float | None, quadrature: tuple) -> float:
    xs, ys, area = moons_grid(noise, spacing)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    log_p = moons_log_density(np.stack([gx.ravel(), gy.ravel()], axis=1), noise, **dict(quadrature))
    p = np.exp(log_p)
    # The integrand vanishes (to double precision) on the border, so the trapezoidal rule is
    # the plain sum times the cell area.
    return float(-(p * log_p).sum() * area)


def sample_moons_continuous(n: int, noise: float = DEFAULT_NOISE, seed: int = 0) -> np.ndarray:
    """`n` draws `(n, 2)` float64 from the continuous law (random arc, uniform random angle)."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.0, np.pi, n)
    outer, inner = _arc_points(theta)
    pick_inner = rng.random(n) < 0.5
    centre = np.where(pick_inner[:, None], inner, outer)
    return centre + noise * rng.standard_normal((n, 2))


def moons_entropy_mc(noise: float = DEFAULT_NOISE, n: int = 100_000, seed: int = 0) -> tuple[float, float]:
    """Monte Carlo entropy `-E log p(X)` with its standard error: `(estimate, standard error)`."""
    log_p = moons_log_density(sample_moons_continuous(n, noise, seed), noise)
    return float(-log_p.mean()), float(log_p.std(ddof=1) / np.sqrt(n))


def sample_moons(n: int, noise: float = DEFAULT_NOISE, seed: int = 0) -> np.ndarray:
    """`n` points `(n, 2)` float32 from `sklearn.datasets.make_moons(n, noise=noise)`, shuffled, seeded."""
    from sklearn.datasets import make_moons

    x, _ = make_moons(n_samples=n, noise=noise, shuffle=True, random_state=seed)
    return x.astype(np.float32)
