"""Independent oracles for Problem 1, computed in float64 numpy/scipy.

Nothing here shares code or method with ``reference/``: the reference uses torch, torchdiffeq
and autograd traces; these use ``scipy.stats`` closed forms, analytic Jacobians and
``scipy.integrate.solve_ivp`` (DOP853, tight tolerances). For the elementwise ``tanh`` fields
a second, solver-free route (:func:`density_at_elementwise_1d`) cross-checks the first.

Fields are data, not callables: small frozen dataclasses with ``value(t, z)``,
``jacobian(t, z)`` and ``jacobian_trace(t, z)``. Student code receives the same fields built
inside its own process by ``grader/runner/child_library.py`` (``tanh_power_field``,
``linear_field``, ``mlp_field``: the same parameter names as the dataclasses here);
:meth:`to_spec` / :func:`field_from_spec` turn a field into plain JSON-able data and back.

This module imports no torch, and scipy only when a function needs it, so loading the
grader's checks stays cheap.

Shapes: points and samples ``(N, d)``; densities and traces ``(N,)``; Jacobians ``(N, d, d)``
with ``[n, i, j] = ∂f_i/∂z_j``; time is a float.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np

RTOL, ATOL = 1e-10, 1e-12  # solve_ivp DOP853 tolerances for every oracle solve


def _array(x) -> np.ndarray:
    return np.array(x, dtype=np.float64)


# ----------------------------------------------------------------------------- Problem 1a

def linear_gaussian_density(y, A, mu=None) -> np.ndarray:
    """Density of ``Y = A Z``, ``Z ~ N(mu, I)``: the Gaussian ``N(A mu, A A^T)``, at ``y`` ``(N, d)``."""
    from scipy import stats  # noqa: PLC0415 - scipy.stats costs ~1 s to import; only 1a needs it

    y, A = np.atleast_2d(_array(y)), _array(A)
    mu = np.zeros(A.shape[1]) if mu is None else _array(mu)
    law = stats.multivariate_normal(mean=A @ mu, cov=A @ A.T, allow_singular=False)
    return np.atleast_1d(law.pdf(y)).reshape(len(y))


# ----------------------------------------------------------------------------- fields

@dataclass(frozen=True, eq=False)
class TanhPower:
    """``f(t, z) = tanh(theta * z**power)``, elementwise, time-independent."""

    power: int
    theta: float = 1.0

    def value(self, t: float, z: np.ndarray) -> np.ndarray:
        return np.tanh(self.theta * z**self.power)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """Elementwise ``df_i/dz_i``, same shape as ``z``."""
        k, theta = self.power, self.theta
        slope = k * z ** (k - 1) if k != 0 else np.zeros_like(z)
        return theta * slope / np.cosh(theta * z**k) ** 2

    def jacobian(self, t: float, z: np.ndarray) -> np.ndarray:
        diagonal = self.derivative(z)
        return diagonal[:, :, None] * np.eye(z.shape[-1])

    def jacobian_trace(self, t: float, z: np.ndarray) -> np.ndarray:
        return self.derivative(z).sum(axis=-1)

    def to_spec(self) -> dict:
        return {"kind": "tanh_power", "power": int(self.power), "theta": float(self.theta)}


@dataclass(frozen=True, eq=False)
class Linear:
    """``f(t, z) = z @ M.T + b``; its Jacobian is ``M`` everywhere."""

    M: np.ndarray
    b: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "M", _array(self.M))
        object.__setattr__(self, "b", _array(self.b))

    def value(self, t: float, z: np.ndarray) -> np.ndarray:
        return z @ self.M.T + self.b

    def jacobian(self, t: float, z: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.M, (z.shape[0], *self.M.shape)).copy()

    def jacobian_trace(self, t: float, z: np.ndarray) -> np.ndarray:
        return np.full(z.shape[0], np.trace(self.M))

    def to_spec(self) -> dict:
        return {"kind": "linear", "M": self.M.tolist(), "b": self.b.tolist()}


@dataclass(frozen=True, eq=False)
class MLPField:
    """``f(t, z) = tanh(z W1^T + b1 + t c1) W2^T + b2``, one hidden layer of ``H`` units.

    ``W1`` is ``(H, d)``, ``b1`` ``(H,)``, ``W2`` ``(d, H)``, ``b2`` ``(d,)``; ``c1`` ``(H,)``
    makes the field time-dependent (``None``: autonomous) — the convention and names of
    ``child_library.MLPField``, so one parameter dict builds both. The Jacobian is
    ``W2 diag(1 - h^2) W1``, so its trace is ``Σ_h (1 - h_h^2) (W2[:, h] · W1[h, :])``.
    """

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    c1: np.ndarray | None = None

    def __post_init__(self):
        for name in ("W1", "b1", "W2", "b2"):
            object.__setattr__(self, name, _array(getattr(self, name)))
        if self.c1 is not None:
            object.__setattr__(self, "c1", _array(self.c1))

    @property
    def dim(self) -> int:
        return self.W1.shape[1]

    def _hidden(self, t: float, z: np.ndarray) -> np.ndarray:
        pre = z @ self.W1.T + self.b1
        if self.c1 is not None:
            pre = pre + t * self.c1
        return np.tanh(pre)

    def value(self, t: float, z: np.ndarray) -> np.ndarray:
        return self._hidden(t, z) @ self.W2.T + self.b2

    def jacobian(self, t: float, z: np.ndarray) -> np.ndarray:
        slope = 1.0 - self._hidden(t, z) ** 2  # (N, H)
        return np.einsum("ih,nh,hj->nij", self.W2, slope, self.W1)

    def jacobian_trace(self, t: float, z: np.ndarray) -> np.ndarray:
        coupling = np.einsum("ih,hi->h", self.W2, self.W1)
        return (1.0 - self._hidden(t, z) ** 2) @ coupling

    def to_spec(self) -> dict:
        spec = {"kind": "mlp", "W1": self.W1.tolist(), "b1": self.b1.tolist(),
                "W2": self.W2.tolist(), "b2": self.b2.tolist()}
        if self.c1 is not None:
            spec["c1"] = self.c1.tolist()
        return spec


OracleField = Union[TanhPower, Linear, MLPField]


def field_from_spec(spec: dict) -> OracleField:
    """Inverse of ``field.to_spec()``."""
    kinds = {"tanh_power": TanhPower, "linear": Linear, "mlp": MLPField}
    if spec.get("kind") not in kinds:
        raise ValueError(f"unknown field kind {spec.get('kind')!r}; known: {sorted(kinds)}")
    return kinds[spec["kind"]](**{k: v for k, v in spec.items() if k != "kind"})


def random_mlp_field(rng: np.random.Generator, d: int, hidden: int = 8, time_dependent: bool = False,
                     scale: float = 1.0) -> MLPField:
    """A random, mild MLP field (weights ~ N(0, scale^2 / fan_in)) for randomised checks."""
    return MLPField(W1=rng.normal(0, scale / np.sqrt(d), (hidden, d)), b1=rng.normal(0, 0.5, hidden),
                    W2=rng.normal(0, scale / np.sqrt(hidden), (d, hidden)), b2=rng.normal(0, 0.2, d),
                    c1=rng.normal(0, 1.0, hidden) if time_dependent else None)


# ----------------------------------------------------------------------------- ODE oracles

def _solve(rhs, span: tuple[float, float], y0: np.ndarray) -> np.ndarray:
    """The state at ``span[1]`` of one DOP853 solve at the oracle tolerances."""
    from scipy import integrate  # noqa: PLC0415 - deferred: importing the checks must stay cheap

    sol = integrate.solve_ivp(rhs, span, y0, method="DOP853", rtol=RTOL, atol=ATOL)
    if not sol.success:
        raise RuntimeError(f"oracle solve failed: {sol.message}")
    return sol.y[:, -1]


def simulate(field: OracleField, z0, t1: float) -> np.ndarray:
    """``z(t1)`` for ``dz/dt = field(t, z)``, ``z(0) = z0`` ``(N, d)``: one DOP853 solve over the batch.

    ``t1 < 0`` follows the flow backward in time.
    """
    z0 = np.atleast_2d(_array(z0))
    if t1 == 0:
        return z0.copy()
    shape = z0.shape
    return _solve(lambda t, y: field.value(t, y.reshape(shape)).ravel(), (0.0, float(t1)), z0.ravel()).reshape(shape)


def euler(field: OracleField, z0, t1: float, steps: int) -> np.ndarray:
    """Explicit Euler with ``steps`` equal steps from 0 to ``t1``: what an inaccurate solver returns."""
    z, h = np.atleast_2d(_array(z0)).copy(), float(t1) / steps
    for k in range(steps):
        z = z + h * field.value(k * h, z)
    return z


def standard_normal_logpdf(z: np.ndarray) -> np.ndarray:
    return -0.5 * (z * z).sum(axis=-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


def backward_solve(field: OracleField, t: float, points) -> tuple[np.ndarray, np.ndarray]:
    """``(z(0) (N, d), ℓ(0) (N,))`` of the augmented ODE solved backward from ``s = t`` to 0.

    ``d/ds [z, ℓ] = [f(s, z), -tr ∂f/∂z]`` (analytic trace) with ``z(t) = x, ℓ(t) = 0``: ``z(0)``
    is each point's preimage and ``-ℓ(0) = -∫_0^t tr ∂f/∂z ds`` its log-volume term. A negative
    ``t`` solves forward from ``t`` to 0 (the mistake of integrating the wrong way, for
    autonomous fields).
    """
    x = np.atleast_2d(_array(points))
    n, d = x.shape
    if t == 0:
        return x.copy(), np.zeros(n)

    def rhs(s, y):
        z = y[: n * d].reshape(n, d)
        return np.concatenate([field.value(s, z).ravel(), -field.jacobian_trace(s, z)])

    y0 = _solve(rhs, (float(t), 0.0), np.concatenate([x.ravel(), np.zeros(n)]))
    return y0[: n * d].reshape(n, d), y0[n * d:]


def log_density_at(field: OracleField, t: float, points) -> np.ndarray:
    """``log p_t(x)`` of ``Z(t)``, ``Z(0) ~ N(0, I)``, at ``points`` ``(N, d)``.

    From :func:`backward_solve`: ``log p_t(x) = log N(z(0); 0, I) - ℓ(0)``.
    """
    z0, ell0 = backward_solve(field, t, points)
    return standard_normal_logpdf(z0) - ell0


def density_at(field: OracleField, t: float, points) -> np.ndarray:
    """``exp(log_density_at(field, t, points))``, ``(N,)``."""
    return np.exp(log_density_at(field, t, points))


# ----------------------------------------------------------------------------- 1-D cross-check

def preimage_1d(field: TanhPower, t: float, x: float) -> float:
    """The ``z0`` with ``Φ_t(z0) = x`` for the 1-D autonomous ODE ``dz/dt = g(z)``.

    Without any ODE solver: the time to travel from ``z0`` to ``x`` is ``∫_{z0}^{x} du / g(u)``
    (``g`` keeps one sign between them: a trajectory never crosses the zero of ``g`` at 0), and
    ``z0`` is the root of ``∫_{z0}^{x} du / g(u) = t``, bracketed and found with ``brentq``.
    """
    from scipy import integrate, optimize  # noqa: PLC0415 - deferred (see the module docstring)

    g = lambda u: float(field.value(0.0, np.array(u)))
    gx = g(x)
    if gx == 0.0 or t == 0.0:
        return x
    direction = -np.sign(gx)  # where z0 lies relative to x

    def travel_time_minus_t(z0: float) -> float:
        if z0 == x:
            return -t
        value, _ = integrate.quad(lambda u: 1.0 / g(u), z0, x, epsabs=1e-13, epsrel=1e-12, limit=200)
        return value - t

    if x * direction < 0:  # z0 between 0 and x: approach 0 geometrically until the travel time exceeds t
        far = 0.5 * x
        while travel_time_minus_t(far) < 0:
            far *= 0.5
    else:  # z0 beyond x, away from 0: |g| <= 1, so |x - z0| >= t; widen until bracketed
        far = x + direction * (t + 1.0)
        while travel_time_minus_t(far) < 0:
            far = x + 2 * (far - x)
    lo, hi = sorted((x, far))
    return optimize.brentq(travel_time_minus_t, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)


def _density_1d(field: TanhPower, t: float, x: float) -> float:
    """1-D density of ``z(t)``, ``z(0) ~ N(0, 1)``: ``φ(z0) · dz0/dx``, with ``dz0/dx = g(z0) / g(x)``.

    The Jacobian of a 1-D autonomous flow is ``g(Φ_t(z0)) / g(z0)`` (both sides of
    ``∫_{z0}^{x} du/g = t`` differentiated in ``z0``); at the fixed point ``g = 0`` it is
    ``exp(t g'(0))``.
    """
    z0 = preimage_1d(field, t, x)
    gx, g0 = float(field.value(0.0, np.array(x))), float(field.value(0.0, np.array(z0)))
    if gx == 0.0:
        jacobian = np.exp(-t * float(field.derivative(np.array(x))))
    else:
        jacobian = g0 / gx
    return float(math.exp(-0.5 * z0 * z0) / math.sqrt(2 * math.pi) * jacobian)


def density_at_elementwise_1d(field: TanhPower, t: float, points) -> np.ndarray:
    """Density at time ``t`` for an elementwise ``TanhPower`` field, by a solver-free route.

    Each coordinate evolves on its own, so ``p_t(x) = Π_i q_t(x_i)`` with ``q_t`` the 1-D density
    (see :func:`_density_1d`). Values are computed once per distinct coordinate, so a grid
    of ``n^d`` points costs ``n`` 1-D problems.
    """
    if not isinstance(field, TanhPower):
        raise TypeError("the 1-D cross-check applies to elementwise TanhPower fields only")
    if t < 0:
        raise ValueError("t must be >= 0")
    x = np.atleast_2d(_array(points))
    unique, inverse = np.unique(x, return_inverse=True)
    q = np.array([_density_1d(field, float(t), float(u)) for u in unique])
    return q[inverse.reshape(x.shape)].prod(axis=-1)


HOMEWORK_FIELD = TanhPower(power=3)
"""The homework's Problem 1b field ``tanh(z**3)``."""
