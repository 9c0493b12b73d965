"""Problem 1b4/1b5 demo: the gradient of a CNF log-likelihood by the adjoint method, and why.

Run from the repository root:

    python -m reference.p1_adjoint_demo

Model: ``dz/dt = f_θ(t, z) = tanh(θ z**2)`` (elementwise, ``θ`` a scalar ``nn.Parameter``),
``Z(0) ~ N(0, I)``; ``log p(x; θ)`` is the log-density of ``Z(T)`` at ``x``, computed by solving the
augmented ODE ``[z, ℓ]`` backward from ``T`` to 0. The script

1. computes ``d Σ_x log p(x; θ) / dθ`` three ways — ``odeint_adjoint`` (the adjoint ODE), direct
   backpropagation through ``odeint``'s operations, and central finite differences in float64 —
   and prints the three numbers with their relative errors;
2. measures the peak memory of backprop-through-the-solver against the adjoint as the number of
   fixed ``rk4`` steps grows, prints a table and saves ``reference/figures/p1_adjoint_memory.png``.

Memory is measured two ways, in a child process per method (glibc told to ``mmap`` every
allocation of 16 KiB or more, so freed tensors leave the resident set at once):
*peak RSS growth* — Linux's peak resident set ``VmHWM``, reset through ``/proc/self/clear_refs``
just before the forward pass, minus the resident set ``VmRSS`` at that moment: the real,
end-to-end CPU memory of one gradient; and *peak bytes saved for backward* — the live bytes of
every tensor autograd keeps for a backward pass, counted once per storage through
``torch.autograd.graph.saved_tensors_hooks``. (``tracemalloc`` would not see torch's C++
allocations.)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

from reference.p1_change_of_variables import ode_logp_dynamics

FIGURES = Path(__file__).resolve().parent / "figures"
ROOT = Path(__file__).resolve().parents[1]

T_FINAL = 1.0
THETA = 0.8
DATA = [[0.5, -1.0], [1.5, 0.3], [-0.7, 2.0], [0.1, 0.9]]
TIGHT = {"rtol": 1e-10, "atol": 1e-12, "method": "dopri5"}
STEPS = [10, 20, 40, 80, 160, 320]
MEMORY_BATCH = 4096


class AugmentedCNF(nn.Module):
    """``d/dt (z, ℓ) = (tanh(θ z²), -tr ∂f/∂z)`` with a learnable scalar ``θ``."""

    def __init__(self, theta: float = THETA):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(theta, dtype=torch.float64))

    def field(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.theta * z**2)

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        z, _ = state
        return ode_logp_dynamics(self.field, t, z)


def log_likelihood(model: AugmentedCNF, x: torch.Tensor, solver=odeint, **solver_kwargs) -> torch.Tensor:
    """``Σ_x log p(x; θ)``: solve ``(z, ℓ)`` from ``(x, 0)`` at ``T`` back to 0, then ``log N(z(0)) - ℓ(0)``."""
    times = torch.tensor([T_FINAL, 0.0], dtype=x.dtype)
    kwargs = dict(solver_kwargs)
    if solver is odeint_adjoint:
        kwargs["adjoint_params"] = tuple(model.parameters())
    z_all, ell_all = solver(model, (x, torch.zeros(len(x), dtype=x.dtype)), times, **kwargs)
    z0, ell0 = z_all[-1], ell_all[-1]
    log_normal = -0.5 * (z0**2).sum(-1) - 0.5 * x.shape[1] * math.log(2 * math.pi)
    return (log_normal - ell0).sum()


def gradient(solver, **solver_kwargs) -> float:
    model = AugmentedCNF()
    log_likelihood(model, torch.tensor(DATA, dtype=torch.float64), solver, **solver_kwargs).backward()
    return model.theta.grad.item()


def finite_difference_gradient(h: float = 1e-5) -> float:
    x = torch.tensor(DATA, dtype=torch.float64)
    with torch.no_grad():
        plus = log_likelihood(AugmentedCNF(THETA + h), x, **TIGHT).item()
        minus = log_likelihood(AugmentedCNF(THETA - h), x, **TIGHT).item()
    return (plus - minus) / (2 * h)


class _SavedTensorMeter:
    """Live bytes of the tensors autograd holds for backward passes, and their peak.

    ``pack`` wraps each saved tensor in a token that autograd keeps for as long as the graph
    lives; the token's storage is counted once however many times it is saved, and uncounted
    when its last token is freed with its graph.
    """

    def __init__(self):
        self.refs: dict[int, int] = {}
        self.live = self.peak = 0

    def pack(self, tensor: torch.Tensor) -> "_Token":
        return _Token(self, tensor)

    @staticmethod
    def unpack(token: "_Token") -> torch.Tensor:
        return token.tensor

    def _add(self, key: int, nbytes: int) -> None:
        if self.refs.get(key, 0) == 0:
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        self.refs[key] = self.refs.get(key, 0) + 1

    def _remove(self, key: int, nbytes: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.live -= nbytes


class _Token:
    def __init__(self, meter: _SavedTensorMeter, tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        # detached: the token must not hold the tensor's grad_fn, or a saved output and its own
        # graph would keep each other alive (autograd re-attaches the grad_fn on unpack)
        self.meter, self.tensor = meter, tensor.detach()
        self.key, self.nbytes = storage.data_ptr(), storage.nbytes()
        meter._add(self.key, self.nbytes)

    def __del__(self):
        self.meter._remove(self.key, self.nbytes)


def _memory_kib(field: str) -> int:
    """``VmRSS`` (current) or ``VmHWM`` (peak since the last reset) of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(method: str, steps: int, batch: int = MEMORY_BATCH) -> dict[str, float]:
    """Peak RSS growth and peak bytes saved for backward during one gradient (forward + backward)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 2, dtype=torch.float64, generator=generator)
    model = AugmentedCNF()
    solver = odeint_adjoint if method == "adjoint" else odeint
    kwargs = {"method": "rk4", "options": {"step_size": T_FINAL / steps}}
    if method == "adjoint":
        kwargs.update(adjoint_method="rk4", adjoint_options={"step_size": T_FINAL / steps})

    held = _SavedTensorMeter()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (Linux)
    baseline_kib = _memory_kib("VmRSS")
    with torch.autograd.graph.saved_tensors_hooks(held.pack, held.unpack):
        loss = log_likelihood(model, x, solver, **kwargs)
        loss.backward()
    peak_kib = _memory_kib("VmHWM")
    return {"method": method, "steps": steps, "peak_rss_mib": (peak_kib - baseline_kib) / 1024,
            "saved_peak_mib": held.peak / 2**20, "grad": model.theta.grad.item()}


def _measure_in_child(method: str) -> list[dict[str, float]]:
    """All step counts for one method, in a fresh process whose freed tensors leave the RSS at once."""
    command = [sys.executable, "-m", "reference.p1_adjoint_demo", "--measure", method]
    # glibc: serve every allocation of 16 KiB or more by mmap, so a freed tensor's pages go back at once
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "16384", "MALLOC_TRIM_THRESHOLD_": "0"}
    output = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _plot(rows: list[dict[str, float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    styles = (("backprop", "C3", "backprop through the solver"), ("adjoint", "C0", "adjoint (odeint_adjoint)"))
    for method, colour, label in styles:
        own = [r for r in rows if r["method"] == method]
        steps = [r["steps"] for r in own]
        ax.plot(steps, [r["peak_rss_mib"] for r in own], "o-", color=colour, label=f"{label}: peak RSS growth")
        ax.plot(steps, [r["saved_peak_mib"] for r in own], "s--", color=colour, alpha=0.7,
                label=f"{label}: peak bytes saved for backward")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(STEPS, [str(s) for s in STEPS])
    ax.set_xlabel("number of fixed rk4 steps on [0, 1]")
    ax.set_ylabel("MiB")
    ax.set_title(f"Memory of one gradient of Σ log p(x; θ), batch {MEMORY_BATCH}, d = 2, float64", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / "p1_adjoint_memory.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main() -> None:
    torch.set_num_threads(1)
    print(f"f_θ(t, z) = tanh(θ z²), θ = {THETA}, T = {T_FINAL}, {len(DATA)} data points, float64")
    adjoint = gradient(odeint_adjoint, **TIGHT)
    backprop = gradient(odeint, **TIGHT)
    finite = finite_difference_gradient()
    print(f"d Σ log p / dθ  adjoint (odeint_adjoint, dopri5 1e-10): {adjoint:.12f}")
    print(f"                backprop through odeint (same solver):  {backprop:.12f}")
    print(f"                central finite differences (h = 1e-5):  {finite:.12f}")
    print(f"relative error vs finite differences: adjoint {abs(adjoint - finite) / abs(finite):.2e}, "
          f"backprop {abs(backprop - finite) / abs(finite):.2e}; adjoint vs backprop "
          f"{abs(adjoint - backprop) / abs(backprop):.2e}")

    print(f"\nmemory of one gradient, batch {MEMORY_BATCH} x 2 float64, rk4 with a fixed number of steps "
          "(one fresh process per method):")
    print(f"{'steps':>6} | {'backprop: RSS':>13} | {'saved':>9} | {'adjoint: RSS':>12} | {'saved':>9} | "
          f"{'grad backprop':>14} | {'grad adjoint':>14}")
    backprop, adjoint = _measure_in_child("backprop"), _measure_in_child("adjoint")
    for b, a in zip(backprop, adjoint):
        print(f"{b['steps']:>6} | {b['peak_rss_mib']:>9.1f} MiB | {b['saved_peak_mib']:>5.1f} MiB | "
              f"{a['peak_rss_mib']:>8.1f} MiB | {a['saved_peak_mib']:>5.1f} MiB | {b['grad']:>14.8f} | {a['grad']:>14.8f}")
    rows = backprop + adjoint
    print(f"figure: {_plot(rows)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=["backprop", "adjoint"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        torch.set_num_threads(1)
        measure(args.measure, STEPS[0])  # warm-up: lazy imports and first-use allocations
        print(json.dumps([measure(args.measure, steps) for steps in STEPS]))
    else:
        main()
