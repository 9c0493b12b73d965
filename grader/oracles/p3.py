"""Problem 3 oracles: closed forms on Gaussian energies, the exact law of a Langevin chain, tests.

Every expected value of the Problem 3 checks comes from here, by routes that share nothing
with `reference/`: the energy E(x) = ½ s (x - m)ᵀ P (x - m) (over flattened images) has the
gradient s P (x - m), so one SGLD step, a whole noise-free chain, and the Gaussian law of a
noisy chain after n steps are all closed forms (numpy, float64).

    step = sgld_expected(x, GaussianCase(m, P), eta, sigma, eps, clip)
    mean, cov = chain_law(GaussianCase(m, P), x0, n_steps, eta, sigma)
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class GaussianCase:
    """E(x) = ½ scale (x - mean)ᵀ precision (x - mean) on x flattened to (N, D)."""

    mean: np.ndarray  # (D,)
    precision: np.ndarray  # (D, D), symmetric positive definite
    scale: float = 1.0

    @property
    def dim(self) -> int:
        return len(self.mean)

    def params(self) -> dict[str, np.ndarray]:
        """The parameters of `child_library.GaussianEnergy` (float64; the child works in float32)."""
        return {"mean": self.mean, "precision": self.precision}

    def energy(self, x: np.ndarray) -> np.ndarray:
        """(N,) energies of x (N, ...)."""
        d = x.reshape(len(x), -1) - self.mean
        return 0.5 * self.scale * np.einsum("ni,ij,nj->n", d, self.precision, d)

    def grad(self, x: np.ndarray) -> np.ndarray:
        """∇_x Σ E(x) = s P (x - m), in x's shape."""
        d = x.reshape(len(x), -1) - self.mean
        return (self.scale * d @ self.precision).reshape(x.shape)


def random_precision(rng: np.random.Generator, dim: int, low: float, high: float) -> np.ndarray:
    """A symmetric positive definite matrix with eigenvalues spread log-uniformly over [low, high]."""
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    eigenvalues = np.exp(rng.uniform(np.log(low), np.log(high), size=dim))
    eigenvalues[:2] = (low, high)[: min(2, dim)]
    return (q * eigenvalues) @ q.T


# ---------------------------------------------------------------------------------- SGLD
def sgld_expected(x: np.ndarray, case: GaussianCase, eta: float, sigma: float, eps: np.ndarray,
                  clip: float | None = None, *, ascent: bool = False, use_noise: bool = True,
                  clamp: bool = True, clip_update: bool = False, noise_first: bool = False,
                  clamp_between: bool = True) -> np.ndarray:
    """clamp(x - eta clip(g) + sigma eps, -1, 1) with g = s P (x - m); the keywords build classic mistakes and variants.

    ascent: + eta g; use_noise=False: no noise term; clamp=False: no clamp to [-1, 1];
    clip_update: the clip applied to eta * g instead of g; noise_first: the order of some public
    tutorials, y = x + sigma eps (clamped to [-1, 1] when `clamp_between`), then the gradient step
    taken at y: clamp(y - eta clip(g(y)), -1, 1).
    """
    if noise_first:
        y = x + sigma * eps if use_noise else x
        y = np.clip(y, -1.0, 1.0) if clamp_between else y
        return sgld_expected(y, case, eta, 0.0, np.zeros_like(y), clip, ascent=ascent, clamp=clamp, clip_update=clip_update)
    g = case.grad(x)
    if clip is not None and not clip_update:
        g = np.clip(g, -clip, clip)
    update = eta * g
    if clip is not None and clip_update:
        update = np.clip(update, -clip, clip)
    out = x + update if ascent else x - update
    if use_noise:
        out = out + sigma * eps
    return np.clip(out, -1.0, 1.0) if clamp else out


def clipped_descent_path(x0: np.ndarray, case: GaussianCase, n_steps: int, eta: float, clip: float | None) -> np.ndarray:
    """x_n of the noise-free chain x <- clamp(x - eta clip(g(x)), -1, 1), n_steps times."""
    x = x0.astype(np.float64)
    for _ in range(n_steps):
        x = sgld_expected(x, case, eta, 0.0, np.zeros_like(x), clip)
    return x


def chain_law(case: GaussianCase, n_steps: int, eta: float, sigma: float, noise_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The exact law of x_n - m - Aⁿ (x_0 - m) for x <- x - eta s P (x - m) + sigma ξ (no clamp).

    With A = I - eta s P, x_n = m + Aⁿ (x_0 - m) + Σ_{k<n} A^k sigma ξ_k, so given x_0 the chain
    is Gaussian with covariance sigma² Σ_{k<n} A^{2k}. Returns (Aⁿ, that covariance). As n → ∞
    the covariance tends to the discrete stationary one, the solution of Σ = A Σ Aᵀ + sigma² I,
    which is sigma² (I - A²)⁻¹ — not the continuous-time sigma²/(2 eta) (sP)⁻¹. With
    `noise_first` (the noise added before the gradient is taken: x <- y - eta s P (y - m),
    y = x + sigma ξ) each kick is also multiplied by A: the covariance is sigma² Σ_{1≤k≤n} A^{2k}.
    """
    eigenvalues, vectors = np.linalg.eigh(case.scale * case.precision)
    a = 1.0 - eta * eigenvalues
    if np.any(np.abs(a) >= 1):
        raise ValueError("eta too large: the chain does not contract")
    power = (vectors * a**n_steps) @ vectors.T
    variances = sigma**2 * (1 - a ** (2 * n_steps)) / (1 - a**2)
    if noise_first:
        variances = variances * a**2
    return power, (vectors * variances) @ vectors.T


def stationary_covariance(case: GaussianCase, eta: float, sigma: float) -> np.ndarray:
    """sigma² (I - A²)⁻¹ with A = I - eta s P: the discrete chain's stationary covariance."""
    eigenvalues, vectors = np.linalg.eigh(case.scale * case.precision)
    a = 1.0 - eta * eigenvalues
    return (vectors * (sigma**2 / (1 - a**2))) @ vectors.T


@dataclass(frozen=True)
class GaussianFit:
    """How well samples (N, D) fit N(0, cov): the mean's Hotelling χ² p-value and the covariance's z-scores."""

    mean_p: float  # P(χ²_D ≥ N r̄ᵀ cov⁻¹ r̄)
    cov_z: float  # max |whitened sample covariance - I| in units of its standard error
    variance_ratio: float  # mean of the whitened sample variances (1 for the right scale)


def gaussian_fit(residuals: np.ndarray, cov: np.ndarray) -> GaussianFit:
    n, d = residuals.shape
    whitener = np.linalg.inv(np.linalg.cholesky(cov))
    w = residuals @ whitener.T
    mean = w.mean(0)
    mean_p = float(stats.chi2.sf(n * float(mean @ mean), d))
    s = w.T @ w / n  # the true mean is 0: no Bessel correction
    standard_error = np.where(np.eye(d, dtype=bool), np.sqrt(2.0 / n), np.sqrt(1.0 / n))
    cov_z = float(np.max(np.abs(s - np.eye(d)) / standard_error))
    return GaussianFit(mean_p, cov_z, float(np.mean(np.diag(s))))


def simulated_chains(case: GaussianCase, x0: np.ndarray, n_steps: int, eta: float, sigma: float, seed: int,
                     **mistake: bool) -> Iterator[np.ndarray]:
    """x_1 .. x_n of `n_steps` SGLD steps from each row of `x0` `(N, ...)`, one state at a time, with this grader's own
    noise and the step rule `mistake` (`sgld_expected`'s switches): samples of the law a loop of that step has, where
    no closed form is kept."""
    rng = np.random.default_rng(seed)
    x = x0.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_steps):
            x = sgld_expected(x, case, eta, sigma, rng.standard_normal(x.shape), None, **mistake)
            yield x


def two_sample_z(a: np.ndarray, b: np.ndarray) -> float:
    """The largest |z| of Welch's test between samples `a` `(N, D)` and `b` `(M, D)` on each coordinate's mean and each
    centred product's mean (D + D(D+1)/2 statistics: the means and covariances); inf when a statistic differs while
    neither sample varies (both pinned, as chains at a clamp are)."""
    centre = 0.5 * (a.mean(axis=0) + b.mean(axis=0))
    rows, cols = np.triu_indices(a.shape[1])

    def features(x: np.ndarray) -> np.ndarray:
        d = x - centre
        return np.concatenate([x, d[:, rows] * d[:, cols]], axis=1)

    fa, fb = features(a), features(b)
    gap = fa.mean(axis=0) - fb.mean(axis=0)
    spread = np.sqrt(fa.var(axis=0) / len(fa) + fb.var(axis=0) / len(fb))
    pinned = spread < 1e-12
    if np.any(np.abs(gap[pinned]) > 1e-4):
        return float("inf")
    return float(np.max(np.abs(gap[~pinned]) / spread[~pinned], initial=0.0))


# ---------------------------------------------------------------------------------- the loss
def cd_loss_value(case: GaussianCase, x_real: np.ndarray, x_fake: np.ndarray, alpha: float) -> float:
    """mean E(x_real) - mean E(x_fake) + alpha (mean E(x_real)² + mean E(x_fake)²)."""
    er, ef = case.energy(x_real), case.energy(x_fake)
    return float(er.mean() - ef.mean() + alpha * (np.mean(er**2) + np.mean(ef**2)))


def cd_loss_gradients(case: GaussianCase, x_real: np.ndarray, x_fake: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """∂ cd_loss / ∂ (mean, scale) for `child_library.LearnableGaussianEnergy`."""

    def per_sample(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = x.reshape(len(x), -1) - case.mean
        energy = 0.5 * case.scale * np.einsum("ni,ij,nj->n", d, case.precision, d)
        d_mean = -case.scale * d @ case.precision  # ∂E/∂m, (N, D)
        d_scale = energy / case.scale  # ∂E/∂s
        return energy, d_mean, d_scale

    er, gm_r, gs_r = per_sample(x_real)
    ef, gm_f, gs_f = per_sample(x_fake)
    weight_r = (1 + 2 * alpha * er) / len(er)
    weight_f = (-1 + 2 * alpha * ef) / len(ef)
    return {"mean": weight_r @ gm_r + weight_f @ gm_f, "scale": np.array(weight_r @ gs_r + weight_f @ gs_f)}


# ---------------------------------------------------------------------------------- statistics
def binomial_p_value(successes: int, trials: int, p: float) -> float:
    """Two-sided exact binomial test of `successes` in `trials` against rate `p`."""
    return float(stats.binomtest(successes, trials, p).pvalue)


def auroc(lower: np.ndarray, higher: np.ndarray) -> float:
    """P(a < b) for a from `lower`, b from `higher` (ties count ½): 1 when every `lower` is below every `higher`."""
    ranks = stats.rankdata(np.concatenate([lower, higher]))
    n, m = len(lower), len(higher)
    u = ranks[n:].sum() - m * (m + 1) / 2  # pairs with higher above lower
    return float(u / (n * m))


def shuffle_pixels(images: np.ndarray, seed: int) -> np.ndarray:
    """Each image's pixels in its own random order: the same intensities, no strokes."""
    rng = np.random.default_rng(seed)
    flat = images.reshape(len(images), -1)
    order = np.argsort(rng.random(flat.shape), axis=1)
    return np.take_along_axis(flat, order, axis=1).reshape(images.shape)
