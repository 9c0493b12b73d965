"""Independent oracles for Problem 1, computed in float64 numpy/scipy.

Nothing here shares code or method with ``reference/``: the reference uses torch, torchdiffeq
and autograd traces; these use ``scipy.stats`` closed forms, analytic Jacobian traces and
``scipy.integrate.solve_ivp`` (DOP853, tight tolerances). For the elementwise ``tanh`` fields
a second, solver-free route (:func:`density_at_elementwise_1d`) cross-checks the first.

Fields are data, not callables: small frozen dataclasses with ``value(t, z)`` and
``jacobian_trace(t, z)``. :func:`as_torch_callable` builds the same field as a float64-capable
``nn.Module`` to hand to student code; :meth:`to_spec` / :func:`field_from_spec` turn a field into
plain JSON-able data and back, for crossing a process boundary.

Shapes: points and samples ``(N, d)``; densities and traces ``(N,)``; time is a float.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
from scipy import integrate, optimize, stats

RTOL, ATOL = 1e-10, 1e-12  # solve_ivp DOP853 tolerances for every oracle solve


def _array(x) -> np.ndarray:
    return np.array(x, dtype=np.float64)


# ----------------------------------------------------------------------------- Problem 1a

def linear_gaussian_density(y, A, mu=None) -> np.ndarray:
    """Density of ``Y = A Z``, ``Z ~ N(mu, I)``: the Gaussian ``N(A mu, A A^T)``, at ``y`` ``(N, d)``."""
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

    def jacobian_trace(self, t: float, z: np.ndarray) -> np.ndarray:
        return np.full(z.shape[0], np.trace(self.M))

    def to_spec(self) -> dict:
        return {"kind": "linear", "M": self.M.tolist(), "b": self.b.tolist()}


@dataclass(frozen=True, eq=False)
class MLPField:
    """``f(t, z) = tanh(z W1^T + t wt + b1) W2^T + b2``, one hidden layer of ``H`` units.

    ``W1`` is ``(H, d)``, ``b1`` ``(H,)``, ``W2`` ``(d, H)``, ``b2`` ``(d,)``; ``wt`` ``(H,)``
    makes the field time-dependent (``None``: autonomous). The Jacobian is
    ``W2 diag(1 - h^2) W1``, so its trace is ``Σ_h (1 - h_h^2) (W2[:, h] · W1[h, :])``.
    """

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    wt: np.ndarray | None = None

    def __post_init__(self):
        for name in ("W1", "b1", "W2", "b2"):
            object.__setattr__(self, name, _array(getattr(self, name)))
        if self.wt is not None:
            object.__setattr__(self, "wt", _array(self.wt))

    def _hidden(self, t: float, z: np.ndarray) -> np.ndarray:
        pre = z @ self.W1.T + self.b1
        if self.wt is not None:
            pre = pre + t * self.wt
        return np.tanh(pre)

    def value(self, t: float, z: np.ndarray) -> np.ndarray:
        return self._hidden(t, z) @ self.W2.T + self.b2

    def jacobian_trace(self, t: float, z: np.ndarray) -> np.ndarray:
        coupling = np.einsum("ih,hi->h", self.W2, self.W1)
        return (1.0 - self._hidden(t, z) ** 2) @ coupling

    def to_spec(self) -> dict:
        spec = {"kind": "mlp", "W1": self.W1.tolist(), "b1": self.b1.tolist(),
                "W2": self.W2.tolist(), "b2": self.b2.tolist()}
        if self.wt is not None:
            spec["wt"] = self.wt.tolist()
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
                    wt=rng.normal(0, 1.0, hidden) if time_dependent else None)


# ----------------------------------------------------------------------------- torch builders

class _TorchTanhPower(torch.nn.Module):
    def __init__(self, power: int, theta: float):
        super().__init__()
        self.power = int(power)
        self.register_buffer("theta", torch.tensor(float(theta), dtype=torch.float64))

    def forward(self, t, z):
        return torch.tanh(self.theta.to(z.dtype) * z**self.power)


class _TorchLinear(torch.nn.Module):
    def __init__(self, M, b):
        super().__init__()
        self.register_buffer("M", torch.tensor(M, dtype=torch.float64))
        self.register_buffer("b", torch.tensor(b, dtype=torch.float64))

    def forward(self, t, z):
        return z @ self.M.to(z.dtype).T + self.b.to(z.dtype)


class _TorchMLP(torch.nn.Module):
    def __init__(self, W1, b1, W2, b2, wt=None):
        super().__init__()
        as64 = lambda x: torch.nn.Parameter(torch.tensor(x, dtype=torch.float64))
        self.W1, self.b1, self.W2, self.b2 = as64(W1), as64(b1), as64(W2), as64(b2)
        self.wt = None if wt is None else as64(wt)

    def forward(self, t, z):
        # float64 master weights, cast to the caller's dtype (float32 or float64) on each call
        cast = lambda w: w.to(z.dtype)
        pre = torch.nn.functional.linear(z, cast(self.W1), cast(self.b1))
        if self.wt is not None:
            pre = pre + torch.as_tensor(t, dtype=z.dtype) * cast(self.wt)
        return torch.nn.functional.linear(torch.tanh(pre), cast(self.W2), cast(self.b2))


def as_torch_callable(field: OracleField) -> torch.nn.Module:
    """The same field as an ``nn.Module`` ``f(t, z) -> (N, d)`` that follows ``z``'s dtype.

    Weights are float64 (cast to ``z``'s dtype on each call) and require no grad; an
    ``MLPField`` holds them as ``nn.Parameter``s (so student code meets real parameters), the
    other families as buffers.
    """
    spec = field.to_spec()
    kind = spec.pop("kind")
    builders = {"tanh_power": _TorchTanhPower, "linear": _TorchLinear, "mlp": _TorchMLP}
    module = builders[kind](**spec)
    module.requires_grad_(False)
    return module


# ----------------------------------------------------------------------------- ODE oracles

def simulate(field: OracleField, z0, t1: float) -> np.ndarray:
    """``z(t1)`` for ``dz/dt = field(t, z)``, ``z(0) = z0`` ``(N, d)``: one DOP853 solve over the batch."""
    z0 = np.atleast_2d(_array(z0))
    if t1 == 0:
        return z0.copy()
    shape = z0.shape

    def rhs(t, y):
        return field.value(t, y.reshape(shape)).ravel()

    sol = integrate.solve_ivp(rhs, (0.0, float(t1)), z0.ravel(), method="DOP853", rtol=RTOL, atol=ATOL)
    if not sol.success:
        raise RuntimeError(f"oracle solve failed: {sol.message}")
    return sol.y[:, -1].reshape(shape)


def _standard_normal_logpdf(z: np.ndarray) -> np.ndarray:
    return stats.norm.logpdf(z).sum(axis=-1)


def log_density_at(field: OracleField, t: float, points) -> np.ndarray:
    """``log p_t(x)`` of ``Z(t)``, ``Z(0) ~ N(0, I)``, at ``points`` ``(N, d)``.

    Solves ``d/ds [z, ℓ] = [f(s, z), -tr ∂f/∂z]`` (analytic trace) backward from ``s = t`` to 0
    with ``z(t) = x, ℓ(t) = 0``; then ``log p_t(x) = log N(z(0)) - ℓ(0)``.
    """
    x = np.atleast_2d(_array(points))
    if t == 0:
        return _standard_normal_logpdf(x)
    n, d = x.shape

    def rhs(s, y):
        z = y[: n * d].reshape(n, d)
        return np.concatenate([field.value(s, z).ravel(), -field.jacobian_trace(s, z)])

    y_t = np.concatenate([x.ravel(), np.zeros(n)])
    sol = integrate.solve_ivp(rhs, (float(t), 0.0), y_t, method="DOP853", rtol=RTOL, atol=ATOL)
    if not sol.success:
        raise RuntimeError(f"oracle solve failed: {sol.message}")
    z0, ell0 = sol.y[: n * d, -1].reshape(n, d), sol.y[n * d:, -1]
    return _standard_normal_logpdf(z0) - ell0


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
    return float(stats.norm.pdf(z0) * jacobian)


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
