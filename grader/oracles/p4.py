"""Problem 4 oracles: affine couplings in float64 numpy, and measures of moons samples.

The coupling oracle evaluates the grader's s/t networks (`MLPNet`, the twin of
`child_library.MLP`: tanh between layers) with numpy in float64 and applies the affine
coupling formula of the SPEC directly; it shares no code with `reference/`. `coupling_forward`
and `coupling_inverse` also produce the classic mistakes (`mistake=...`), so a check can say
which one a student's output matches.

The sample measures use the exact geometry of `make_moons` (two unit half-circles): the
distance of a point to the nearest arc, and which twelfth of the arcs it is closest to
(six equal angular segments per arc; the law puts 1/12 of its mass on each).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

FORWARD_MISTAKES = ("sign", "no_log_det", "unmasked", "exp_confusion", "mask_inverted", "all_dims")
INVERSE_MISTAKES = ("sign", "no_log_det", "unmasked", "exp_sign", "order", "forward")


@dataclass(frozen=True)
class MLPNet:
    """x -> y through affine layers `(W, b)` with tanh between them (not after the last)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float64)
        for index, (W, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ W.T + b
            if index < len(self.weights) - 1:
                h = np.tanh(h)
        return h


def random_mlp(rng: np.random.Generator, dim: int, hidden: int, out_scale: float) -> MLPNet:
    """A random `dim -> hidden -> hidden -> dim` net, weights exactly representable in float32 (the child's dtype)."""
    sizes = (dim, hidden, hidden, dim)
    weights, biases = [], []
    for index, (n_in, n_out) in enumerate(pairwise(sizes)):
        scale = out_scale if index == len(sizes) - 2 else 1.0
        weights.append(_f32(rng.normal(size=(n_out, n_in)) * scale / math.sqrt(n_in) * 1.5))
        biases.append(_f32(rng.normal(size=n_out) * 0.3 * scale))
    return MLPNet(tuple(weights), tuple(biases))


def _f32(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float32).astype(np.float64)


def coupling_forward(x: np.ndarray, mask: np.ndarray, s_net: MLPNet, t_net: MLPNet,
                     mistake: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`y = m x + (1-m)(x e^s + t)`, `s, t` of `m x`; `log_det = Σ (1-m) s`. `mistake` in FORWARD_MISTAKES."""
    m = np.asarray(mask, dtype=np.float64)
    if mistake == "mask_inverted":
        m = 1.0 - m
    condition = x if mistake == "unmasked" else m * x
    s, t = s_net(condition), t_net(condition)
    scale = s if mistake == "exp_confusion" else np.exp(s)
    y = m * x + (1 - m) * (x * scale + t)
    log_det = ((1 - m) * s).sum(axis=1)
    if mistake == "sign":
        log_det = -log_det
    elif mistake == "no_log_det":
        log_det = np.zeros(len(x))
    elif mistake == "all_dims":
        log_det = s.sum(axis=1)
    elif mistake == "exp_confusion":
        log_det = ((1 - m) * np.log(np.abs(s))).sum(axis=1)
    return y, log_det


def coupling_inverse(y: np.ndarray, mask: np.ndarray, s_net: MLPNet, t_net: MLPNet,
                     mistake: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`x = m y + (1-m)(y - t) e^{-s}`, `s, t` of `m y`; `log_det = -Σ (1-m) s`. `mistake` in INVERSE_MISTAKES."""
    m = np.asarray(mask, dtype=np.float64)
    if mistake == "forward":
        return coupling_forward(y, mask, s_net, t_net)
    condition = y if mistake == "unmasked" else m * y
    s, t = s_net(condition), t_net(condition)
    if mistake == "exp_sign":
        moved = (y - t) * np.exp(s)
    elif mistake == "order":
        moved = y * np.exp(-s) - t
    else:
        moved = (y - t) * np.exp(-s)
    x = m * y + (1 - m) * moved
    log_det = -((1 - m) * s).sum(axis=1)
    if mistake == "sign":
        log_det = -log_det
    elif mistake == "no_log_det":
        log_det = np.zeros(len(y))
    return x, log_det


def standard_normal_logpdf(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) per row of `z` `(N, D)`."""
    return -0.5 * (z**2).sum(axis=1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def standard_logistic_logpdf(z: np.ndarray) -> np.ndarray:
    """log of the product of standard logistic densities, e^{-u} / (1 + e^{-u})^2, per row of `z` `(N, D)`."""
    return -(np.abs(z) + 2 * np.log1p(np.exp(-np.abs(z)))).sum(axis=1)


def log_abs_det(jacobians: np.ndarray) -> np.ndarray:
    """log |det J| per matrix of `jacobians` `(N, D, D)` (-inf where singular)."""
    with np.errstate(divide="ignore"):
        return np.linalg.slogdet(jacobians)[1]


# ---------------------------------------------------------------------------------- finite differences
def offset_points(x: np.ndarray, offsets: tuple[float, ...]) -> np.ndarray:
    """`x` `(N, D)`, then `x + o e_j` for each coordinate `j` and offset `o`: `((1 + D K) N, D)` in blocks of N rows.

    Exact in float32 when `x` lies on a grid of 2^-16 and the offsets are powers of two above it.
    """
    d = x.shape[1]
    blocks = [x]
    for j in range(d):
        for offset in offsets:
            moved = x.copy()
            moved[:, j] += offset
            blocks.append(moved)
    return np.concatenate(blocks)


def offset_values(values: np.ndarray, n: int, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A map's values at `offset_points`: the centre `(N, M)` and the moved ones `(D, K, N, M)`."""
    return values[:n], values[n:].reshape(d, k, n, -1)


def five_point_jacobian(values: np.ndarray, n: int, d: int, step: float) -> np.ndarray:
    """Jacobians `(N, M, D)` by fourth-order central differences from values at offsets `(2h, h, -h, -2h)`."""
    _, moved = offset_values(values, n, d, 4)
    columns = (-moved[:, 0] + 8 * moved[:, 1] - 8 * moved[:, 2] + moved[:, 3]) / (12 * step)  # (D, N, M)
    return np.transpose(columns, (1, 2, 0))


def one_sided_mismatch(claim: np.ndarray, values: np.ndarray, offsets: tuple[float, ...]) -> np.ndarray:
    """How far a claimed Jacobian `(N, M, D)` is from the map's one-sided differences, per point `(N,)`.

    For each column the closest of the differences `(f(x + o e_j) - f(x)) / o` over `offsets`
    counts (at a kink of a ReLU network one side is clean); the worst column, relative to
    `1 + max |claim|` at that point.
    """
    n, _, d = claim.shape
    centre, moved = offset_values(values, n, d, len(offsets))
    best = np.full((n, d), np.inf)
    for k, offset in enumerate(offsets):
        difference = (moved[:, k] - centre[None]) / offset  # (D, N, M)
        error = np.max(np.abs(np.transpose(difference, (1, 2, 0)) - claim), axis=1)  # (N, D)
        best = np.minimum(best, error)
    return best.max(axis=1) / (1 + np.max(np.abs(claim), axis=(1, 2)))


# ---------------------------------------------------------------------------------- samples
_INNER_CENTRE = np.array([1.0, 0.5])


def _nearest_on_arc(x: np.ndarray, inner: bool) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each point to one arc and the angle θ ∈ [0, π] of the nearest arc point."""
    u = (_INNER_CENTRE - x) if inner else x  # the inner arc is the outer one turned by π about (1, 1/2)
    angle = np.arctan2(u[:, 1], u[:, 0])
    below = angle < 0  # nearest point is an end of the half-circle
    angle = np.where(below, np.where(u[:, 0] >= 0, 0.0, np.pi), angle)
    nearest = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return np.linalg.norm(u - nearest, axis=1), angle


def arc_distance(x: np.ndarray) -> np.ndarray:
    """Distance of each point `(N, 2)` to the nearer of the two moons' arcs."""
    return np.minimum(_nearest_on_arc(x, False)[0], _nearest_on_arc(x, True)[0])


def segment_shares(x: np.ndarray, per_arc: int = 6) -> np.ndarray:
    """Share of the points `(N, 2)` nearest to each of `2 * per_arc` equal angular segments (outer arc first)."""
    d_out, a_out = _nearest_on_arc(x, False)
    d_in, a_in = _nearest_on_arc(x, True)
    on_inner = d_in < d_out
    angle = np.where(on_inner, a_in, a_out)
    segment = np.minimum((angle / np.pi * per_arc).astype(int), per_arc - 1) + per_arc * on_inner
    return np.bincount(segment, minlength=2 * per_arc) / max(len(x), 1)


def coverage_tv(x: np.ndarray, per_arc: int = 6) -> float:
    """Total-variation distance between the points' segment shares and the moons law's (1/12 each)."""
    shares = segment_shares(x, per_arc)
    return 0.5 * float(np.abs(shares - 1.0 / len(shares)).sum())
