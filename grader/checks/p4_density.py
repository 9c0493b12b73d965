"""Problem 4's density query: scored points and their cross-checks in one shuffled batch, log-densities derived here.

SPEC's rule: a scored answer is indistinguishable from the answers that check it. So the
trained flow is asked for `forward(x) -> (z, log_det)` once, on a batch in which

- the held-out moons (the NLL's points) and the importance points of the mass check are drawn
  from one mixture `q = 1/2 moons law + 1/2 wide Gaussian`, so a moons-like point is scored or
  mass-checked with odds the child cannot know;
- every one of those base points (and the flow's own samples, for their round trip) sits at a
  random corner of a square of side `AUDIT_STEP`, whose four corners are all sent: a point and
  its audit partners cannot be told apart, and every point is audited;
- the rows are shuffled (and sent in chunks, each a random slice of the shuffled batch).

The grader then derives everything it scores from the child's `z` alone where it can:

- `fd_log_det`: log|det ∂z/∂x| from one-sided differences of `z` along the square's edges;
- the log-det it believes: the child's `log_det` where it agrees with `fd_log_det` within
  `AUDIT_TOL`, else the smaller of the two (a claim above what `z` shows gains nothing);
- `log p = log base(z) + log-det`, with the contract's standard normal base (or the logistic base
  of NICE, when the child's own `log_prob` says so: a named deviation charged in 4.model_logprob);
- a smoothness audit across squares: nearby base points' `z` must differ as their differences
  say (a trapezoid rule); squares faked one by one as unrelated affine maps fail it.

docs/threat_model/p1_p4.md argues, number by number, what an opponent that reads this source
and keeps state can still gain (at most `AUDIT_TOL` nats per point, and the mass tolerance).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from grader.oracles import p4 as oracle
from grader.oracles.moons import moons_log_density

AUDIT_STEP = 2.0**-14  # side of the squares: float32 differences of z err ~1e-3 relative, kinks of ReLU nets are crossed rarely
POINT_GRID = 2.0**-18  # base points rounded to it: every corner is exact in float32 for |x| < 32
AUDIT_TOL = 0.05  # nats: |log_det - fd_log_det| within it counts as agreement (honest ReLU flows: ~95% of points)
WIDE_CENTRE, WIDE_STD = (0.5, 0.25), (1.5, 1.2)  # the mixture's wide component (covers the old mass grid's box)
NEIGHBOUR_RADIUS = 0.02  # base points this close form the smoothness audit's pairs
NEIGHBOUR_REL = 0.5  # a pair is inconsistent when z's difference misses the trapezoid rule by this much (relative)
MIXTURE_PANELS = 24  # quadrature panels of q's moons part: within 2e-7 of the default rule wherever log p > -20, 2.6x faster
CHUNK_ROWS = 2048  # rows per forward call (a 32-coupling flow keeps its autograd graph: ~0.5 GB at this size)

HELD_OUT, IMPORTANCE, SAMPLE = 0, 1, 2  # roles of the base points (known to the grader only)


@dataclass(frozen=True)
class DensityQuery:
    """Base points `(N, 2)` float64 with their roles, and the shuffled corner batch `points` `(4N, 2)` float32 sent.

    `corner[i]` in {0, 1}^2 says which corner of its square base point i is; the squares' corners are
    ordered (0, 0), (0, 1), (1, 0), (1, 1) and `order[k]` is the flat corner index of row k of `points`.
    """

    base: np.ndarray
    role: np.ndarray
    corner: np.ndarray
    order: np.ndarray
    points: np.ndarray

    def squares(self, rows: np.ndarray) -> np.ndarray:
        """Per-row answers `(4N, ...)` in the order sent, back as `(N, 4, ...)` per square."""
        flat = np.empty_like(rows)
        flat[self.order] = rows
        return flat.reshape(len(self.base), 4, *rows.shape[1:])


def build_query(groups: list[tuple[int, np.ndarray]], rng: np.random.Generator) -> DensityQuery:
    """The batch for base points given as `(role, points (n, 2))` groups, each placed at a random corner of its square."""
    base = np.round(np.concatenate([points for _, points in groups]).astype(np.float64) / POINT_GRID) * POINT_GRID
    role = np.concatenate([np.full(len(points), r) for r, points in groups])
    corner = rng.integers(0, 2, size=(len(base), 2))
    anchor = base - AUDIT_STEP * corner
    offsets = AUDIT_STEP * np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    flat = (anchor[:, None, :] + offsets[None]).reshape(-1, 2)
    order = rng.permutation(len(flat))
    return DensityQuery(base, role, corner, order, flat[order].astype(np.float32))


def draw_mixture(held_out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """As many wide-Gaussian points as held-out moons: together a sample of `q` with fixed halves."""
    return rng.normal(size=held_out.shape) * WIDE_STD + WIDE_CENTRE


def mixture_log_density(x: np.ndarray, noise: float) -> np.ndarray:
    """log q(x) for `q = 1/2 moons law + 1/2 N(WIDE_CENTRE, diag(WIDE_STD^2))`, per row of `x` `(N, 2)`."""
    u = (x - WIDE_CENTRE) / WIDE_STD
    wide = -0.5 * (u**2).sum(axis=1) - math.log(2 * math.pi * WIDE_STD[0] * WIDE_STD[1])
    return np.logaddexp(moons_log_density(x, noise, panels=MIXTURE_PANELS), wide) + math.log(0.5)


BASES = {"normal": oracle.standard_normal_logpdf, "logistic": oracle.standard_logistic_logpdf}


@dataclass(frozen=True)
class DensityAnswers:
    """What the grader derives from the child's `(z, log_det)` on a `DensityQuery`, per base point `(N, ...)`."""

    z: np.ndarray  # (N, 2) at the base point itself
    log_det: np.ndarray  # (N,) the child's claim there
    fd_log_det: np.ndarray  # (N,) log|det| of the one-sided differences of z along the square's edges
    jacobian: np.ndarray  # (N, 2, 2) those differences

    @property
    def agrees(self) -> np.ndarray:
        """Where the claimed log-det matches the differences of z (both finite)."""
        with np.errstate(invalid="ignore"):
            return np.abs(self.log_det - self.fd_log_det) <= AUDIT_TOL

    @property
    def believed_log_det(self) -> np.ndarray:
        """The claim where the audit agrees, else the smaller of claim and differences (NaN when either is not finite)."""
        with np.errstate(invalid="ignore"):
            return np.where(self.agrees, self.log_det, np.minimum(self.log_det, self.fd_log_det))

    def log_density(self, base: str = "normal") -> np.ndarray:
        """log p = log base(z) + the believed log-det, `(N,)`; NaN where the child's values are not finite."""
        with np.errstate(invalid="ignore", over="ignore"):
            return BASES[base](self.z) + self.believed_log_det


def read_answers(query: DensityQuery, z_rows: np.ndarray, log_det_rows: np.ndarray) -> DensityAnswers:
    """Sort the child's rows back into squares and take one-sided differences at each base point."""
    z, log_det = query.squares(z_rows), query.squares(log_det_rows)
    n = len(query.base)
    index = np.arange(n)
    c0, c1 = query.corner[:, 0], query.corner[:, 1]
    at = 2 * c0 + c1
    along0, along1 = 2 * (1 - c0) + c1, 2 * c0 + (1 - c1)
    step0, step1 = (1 - 2 * c0) * AUDIT_STEP, (1 - 2 * c1) * AUDIT_STEP
    centre = z[index, at]
    with np.errstate(invalid="ignore", over="ignore"):
        jacobian = np.stack([(z[index, along0] - centre) / step0[:, None], (z[index, along1] - centre) / step1[:, None]], axis=2)
        fd = np.full(n, np.nan)
        finite = np.isfinite(jacobian).all(axis=(1, 2))
        fd[finite] = oracle.log_abs_det(jacobian[finite])
    return DensityAnswers(centre, log_det[index, at], fd, jacobian)


def inconsistent_neighbours(query: DensityQuery, answers: DensityAnswers) -> np.ndarray:
    """The smoothness audit, per base point `(N,)`: 1.0 when z changes towards its nearest base neighbour (within
    `NEIGHBOUR_RADIUS`) otherwise than the two squares' differences say (trapezoid rule, `NEIGHBOUR_REL` relative),
    0.0 when as they say, NaN without a neighbour or with non-finite values."""
    out = np.full(len(query.base), np.nan)
    finite = np.flatnonzero(np.isfinite(answers.z).all(axis=1) & np.isfinite(answers.jacobian).all(axis=(1, 2)))
    if len(finite) < 2:
        return out
    points, z, jac = query.base[finite], answers.z[finite], answers.jacobian[finite]
    distance, neighbour = cKDTree(points).query(points, k=2)
    near = distance[:, 1] < NEIGHBOUR_RADIUS
    i, j = np.flatnonzero(near), neighbour[near, 1]
    dx = points[j] - points[i]
    predicted = 0.5 * (np.einsum("nab,nb->na", jac[i], dx) + np.einsum("nab,nb->na", jac[j], dx))
    miss = np.linalg.norm(z[j] - z[i] - predicted, axis=1) / (np.linalg.norm(predicted, axis=1) + 1e-3)
    out[finite[i]] = (miss > NEIGHBOUR_REL).astype(float)
    return out


def importance_mass(log_p: np.ndarray, log_q: np.ndarray) -> float:
    """∫ p by importance sampling over points drawn from q: mean of p / q; non-finite log p counts as zero density."""
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.exp(np.where(np.isfinite(log_p), log_p, -np.inf) - log_q)
    return float(np.mean(ratio))
