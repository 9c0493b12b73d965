"""Objects the grader builds inside the child, and computations it runs there ("probes").

The grader cannot send callables across the process boundary, so it sends a `Build(name,
params)` and the worker turns it into a torch object with a builder below: the fields of
Problem 1, the s/t networks of Problem 4, the known energies of Problem 3. A probe is a
grader-written computation that must run beside the student's objects (an autograd Jacobian of
a student's model). Loaded by file path in the child before any student code, so every torch
function used here is bound before a student could monkeypatch it.

Each builder takes the parameters as torch tensors (float64) or plain numbers.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

_jacobian = torch.autograd.functional.jacobian
_tanh, _zeros_like, _stack, _no_grad = torch.tanh, torch.zeros_like, torch.stack, torch.no_grad


class LinearField(nn.Module):
    """f(t, z) = z @ M.T + b; works in the dtype of `z`."""

    def __init__(self, M: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.register_buffer("M", M)
        self.register_buffer("b", b)

    def forward(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:
        return z @ self.M.to(z.dtype).T + self.b.to(z.dtype)


class TanhPowerField(nn.Module):
    """f(t, z) = tanh(theta * z**power), elementwise."""

    def __init__(self, power: int, theta: float = 1.0):
        super().__init__()
        self.power, self.theta = int(power), float(theta)

    def forward(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:
        return _tanh(self.theta * z**self.power)


class MLPField(nn.Module):
    """f(t, z) = tanh(z W1^T + b1 + t c1) W2^T + b2 (c1 = 0 gives an autonomous field)."""

    def __init__(self, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor, c1: torch.Tensor | None = None):
        super().__init__()
        self.hidden = nn.Linear(W1.shape[1], W1.shape[0], dtype=torch.float64)
        self.out = nn.Linear(W2.shape[1], W2.shape[0], dtype=torch.float64)
        with _no_grad():
            self.hidden.weight.copy_(W1), self.hidden.bias.copy_(b1), self.out.weight.copy_(W2), self.out.bias.copy_(b2)
        self.register_buffer("c1", _zeros_like(b1) if c1 is None else c1)

    def forward(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=z.dtype)
        h = _tanh(nn.functional.linear(z, self.hidden.weight.to(z.dtype), self.hidden.bias.to(z.dtype)) + t * self.c1.to(z.dtype))
        return nn.functional.linear(h, self.out.weight.to(z.dtype), self.out.bias.to(z.dtype))


class MLP(nn.Module):
    """A plain MLP x -> y with given weights (a list of (W, b)) and tanh between layers, in float32."""

    def __init__(self, weights: list[torch.Tensor], biases: list[torch.Tensor]):
        super().__init__()
        self.layers = nn.ModuleList()
        for W, b in zip(weights, biases):
            layer = nn.Linear(W.shape[1], W.shape[0])
            with _no_grad():
                layer.weight.copy_(W.float()), layer.bias.copy_(b.float())
            self.layers.append(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            x = layer(x.to(layer.weight.dtype))
            if index < len(self.layers) - 1:
                x = _tanh(x)
        return x


class GaussianEnergy(nn.Module):
    """E(x) = 0.5 (x - m)^T P (x - m) over flattened x, with precision P: returns (N,)."""

    def __init__(self, mean: torch.Tensor, precision: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("precision", precision.float())
        self.scale = nn.Parameter(torch.ones(()))  # a parameter whose .grad must stay untouched

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.reshape(x.shape[0], -1) - self.mean
        return 0.5 * self.scale * ((d @ self.precision) * d).sum(dim=1)


BUILDERS: dict[str, Callable[..., Any]] = {
    "linear_field": LinearField,
    "tanh_power_field": TanhPowerField,
    "mlp_field": MLPField,
    "mlp": MLP,
    "gaussian_energy": GaussianEnergy,
    "plain_function": lambda module: (lambda t, z: module(t, z)),  # a field as a bare function
}


def batch_jacobian(fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> torch.Tensor:
    """Per-sample Jacobians (N, D_out, D_in) of a row-wise map; a tuple output uses its first item."""

    def first(inputs: torch.Tensor) -> torch.Tensor:
        out = fn(inputs)
        return out[0] if isinstance(out, (tuple, list)) else out

    full = _jacobian(lambda inputs: first(inputs).sum(dim=0), x)  # (D_out, N, D_in)
    return full.permute(1, 0, 2).contiguous()


PROBES: dict[str, Callable[..., Any]] = {
    "batch_jacobian": batch_jacobian,
}
