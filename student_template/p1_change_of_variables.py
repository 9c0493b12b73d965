"""Problem 1 — change of variables, discrete (1a) and continuous (1b).

Fill in the four functions below. The autograder imports this file and calls them on the
homework's instance *and* on randomly drawn ones (other matrices, other vector fields, other
dimensions), so write general code, not code for the example only.

Conventions (the same for every function):

* points and samples are batch-first tensors of shape ``(N, d)``; densities are ``(N,)``;
* inputs may be ``float32`` or ``float64``; return a result of the **input's dtype**;
* a vector field ``f`` is any callable ``f(t, z) -> (N, d)`` — a plain Python function or a
  small ``nn.Module`` — where ``t`` is a scalar tensor and each row of ``z`` is one sample;
* you may import ``math``, ``numpy``, ``scipy``, ``torch`` and ``torchdiffeq``
  (``from torchdiffeq import odeint``); you may add helper functions;
* put any experiment or plotting code under ``if __name__ == "__main__":`` so that importing
  this file runs nothing.
"""
from __future__ import annotations

from typing import Callable

import torch

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def density_linear(y: torch.Tensor, A, mu=None) -> torch.Tensor:
    """Problem 1a: the density of ``Y = A Z`` with ``Z ~ N(mu, I_d)``, at the points ``y``.

    Args:
        y: points ``(N, d)``.
        A: an invertible ``(d, d)`` matrix (a tensor, or something ``torch.as_tensor`` accepts).
            Its determinant may be negative.
        mu: the mean of ``Z``, shape ``(d,)``; ``None`` means the zero vector.

    Returns:
        The density ``p_Y(y)`` (the density itself, **not** its log), shape ``(N,)``, in
        ``y``'s dtype.

    Hints:
        * Change of variables: ``z = A^{-1} y`` and ``p_Y(y) = p_Z(A^{-1} y) / |det A|``.
        * Prefer ``torch.linalg.solve`` to forming ``A^{-1}``, and ``torch.linalg.slogdet`` to
          ``det`` (it stays finite for badly scaled matrices and gives ``log|det A|`` directly).
        * Convert ``A`` (and ``mu``) to ``y``'s dtype before using them.
        * Check: for the homework's ``A`` and ``y = 0``, the answer is ``(25/6) / (2π) ≈ 0.663``.
    """
    raise NotImplementedError("density_linear: implement the density of Y = A Z (Problem 1a)")


def simulate(f: Field, z0: torch.Tensor, t1) -> torch.Tensor:
    """Problem 1b1: push the samples ``z0`` at time 0 through ``dz/dt = f(t, z)`` to time ``t1``.

    Args:
        f: the vector field ``f(t, z) -> (N, d)``.
        z0: samples at ``t = 0``, shape ``(N, d)``.
        t1: the final time, a float (``t1 = 0`` must return the samples unchanged).

    Returns:
        ``z(t1)``, shape ``(N, d)``, in ``z0``'s dtype.

    Hints:
        * ``torchdiffeq.odeint(f, z0, torch.tensor([0.0, t1]))`` returns the solution at every
          requested time; you want the last one. Build the time tensor in ``z0``'s dtype.
        * Be accurate: the grader compares with a high-accuracy solve. An adaptive method such
          as ``method="dopri5"`` with small tolerances (e.g. ``rtol=1e-7, atol=1e-9`` in
          float64) is enough; a fixed-step Euler scheme with few steps is not.
    """
    raise NotImplementedError("simulate: integrate dz/dt = f(t, z) from 0 to t1 (Problem 1b1)")


def ode_logp_dynamics(f: Field, t, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Problem 1b2: the right-hand side of the augmented ODE for ``(z, log p)``.

    By the instantaneous change of variables (Neural ODE paper, Theorem 1):
    ``dz/dt = f(t, z)`` and ``d log p(z(t), t) / dt = -tr(∂f/∂z)``.

    Args:
        f: the vector field ``f(t, z) -> (N, d)``; any differentiable function (an MLP, say),
            not only the homework's elementwise field.
        t: the current time (pass it to ``f`` unchanged).
        z: the current state, shape ``(N, d)``; any ``d``.

    Returns:
        ``(dz_dt, dlogp_dt)`` with shapes ``(N, d)`` and ``(N,)``, in ``z``'s dtype.

    Hints:
        * Compute the trace **exactly** (no Hutchinson estimator): with autograd, for each
          dimension ``i`` take the gradient of ``f(t, z)[:, i].sum()`` with respect to ``z`` and
          keep its column ``i`` — that is ``∂f_i/∂z_i`` for every sample at once, because the
          samples do not interact. Sum over ``i``.
        * ``z`` may arrive without ``requires_grad``: differentiate with respect to a copy
          ``z.detach().requires_grad_(True)`` inside ``torch.enable_grad()``, and use
          ``retain_graph=True`` for all but the last gradient.
        * Return tensors, not graphs you no longer need (``.detach()`` when nothing downstream
          needs gradients).
    """
    raise NotImplementedError("ode_logp_dynamics: return (f(t, z), -trace of df/dz) (Problem 1b2)")


def density_on_grid(f: Field, t, points: torch.Tensor) -> torch.Tensor:
    """Problem 1b3: the density at time ``t`` of ``Z(t)``, with ``Z(0) ~ N(0, I)``, at ``points``.

    Args:
        f: the vector field ``f(t, z) -> (N, d)``.
        t: the time, a float ``>= 0`` (``t = 0`` gives the standard normal density).
        points: where to evaluate the density, shape ``(N, d)`` — e.g. a flattened grid on
            ``[-4, 4]^2``.

    Returns:
        The density (**not** the log-density), shape ``(N,)``, in ``points``' dtype.

    Hints:
        * Integrate the augmented ODE of :func:`ode_logp_dynamics` **backward**, from time ``t``
          (where ``z = points`` and the accumulated log-density change is 0) to time 0.
          ``odeint`` accepts a decreasing time tensor ``[t, 0]`` and a tuple state ``(z, l)``.
        * At time 0 you know ``z(0)`` (where each point came from) and the accumulated change
          ``l(0)``; combine the standard normal log-density of ``z(0)`` with it — think about the
          sign: where a flow expands volume (``tr ∂f/∂z > 0``), densities must *decrease*.
        * Sanity checks: the density should integrate to about 1 over the grid, and agree
          with your histogram of (b1) at ``t = 0.5``.
    """
    raise NotImplementedError("density_on_grid: integrate the augmented ODE backward (Problem 1b3)")
