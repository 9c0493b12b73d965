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

from collections.abc import Mapping
from typing import Any, Callable

import torch
from torch import nn

_jacobian = torch.autograd.functional.jacobian
_tanh, _zeros_like, _no_grad = torch.tanh, torch.zeros_like, torch.no_grad
_grad = torch.autograd.grad
_is_tensor, _full_like, _cat, _load = torch.is_tensor, torch.full_like, torch.cat, torch.load
_enable_grad, _detach = torch.enable_grad, torch.Tensor.detach
_randn_like, _clamp = torch.randn_like, torch.clamp


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
    """E(x) = 0.5 s (x - m)^T P (x - m) over flattened x, with precision P and a parameter s = 1: returns (N,).

    With `held_grad` given, s.grad starts at that value and E gains the term
    `tilt * (s.grad - held_grad) * Σ x`, zero while s.grad is left alone: a step that changes the
    energy's parameter gradients (.backward() accumulates, zero_grad() erases) shifts every later
    gradient ∇_x E by a known constant, so the side effect shows in the values later calls return.
    """

    def __init__(self, mean: torch.Tensor, precision: torch.Tensor, held_grad: float | None = None, tilt: float = 0.0):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("precision", precision.float())
        self.scale = nn.Parameter(torch.ones(()))  # a parameter whose .grad must stay untouched
        self.held_grad, self.tilt = (None if held_grad is None else float(held_grad)), float(tilt)
        if self.held_grad is not None:
            self.scale.grad = _full_like(_detach(self.scale), self.held_grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        d = flat - self.mean
        energy = 0.5 * self.scale * ((d @ self.precision) * d).sum(dim=1)
        if self.held_grad is None:
            return energy
        held = self.scale.grad
        drift = (0.0 if held is None else float(held)) - self.held_grad
        return energy if drift == 0.0 else energy + self.tilt * drift * flat.sum(dim=1)


class LearnableGaussianEnergy(nn.Module):
    """E(x) = 0.5 s (x - m)^T P (x - m) with the mean `m` (D,) and the scale `s` as parameters: returns (N,)."""

    def __init__(self, mean: torch.Tensor, precision: torch.Tensor, scale: float = 1.0):
        super().__init__()
        self.mean = nn.Parameter(mean.float().clone())
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.register_buffer("precision", precision.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.reshape(x.shape[0], -1) - self.mean
        return 0.5 * self.scale * ((d @ self.precision) * d).sum(dim=1)


BUILDERS: dict[str, Callable[..., Any]] = {
    "linear_field": LinearField,
    "tanh_power_field": TanhPowerField,
    "mlp_field": MLPField,
    "mlp": MLP,
    "gaussian_energy": GaussianEnergy,
    "learnable_gaussian_energy": LearnableGaussianEnergy,
    "plain_function": lambda module: (lambda t, z: module(t, z)),  # a field as a bare function
}


def batch_jacobian(fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> torch.Tensor:
    """Per-sample Jacobians (N, D_out, D_in) of a row-wise map; a tuple output uses its first item.

    A claim, not a fact: the parent accepts it only where it agrees with differences of the
    map's own values (`grader.checks.p4.verified_jacobian`).
    """

    def first(inputs: torch.Tensor) -> torch.Tensor:
        out = fn(inputs)
        return out[0] if isinstance(out, (tuple, list)) else out

    full = _jacobian(lambda inputs: first(inputs).sum(dim=0), x)  # (D_out, N, D_in)
    return full.permute(1, 0, 2).contiguous()


# ---------------------------------------------------------------------------------- Problem 3
# Probes here do mechanical work only (call the student's objects, load a file into their class,
# evaluate energies and gradients) and return raw data. Nothing they return is believed as
# such: `grader/checks/p3.py` compares it with the parent's oracles or cross-checks it
# (docs/threat_model/p3.md says, number by number, why forging gains nothing).
def sgld_side_effects(sgld_step: Callable[..., Any], energy: nn.Module, x: torch.Tensor, step_size: float, noise_std: float,
                      noise: torch.Tensor | None = None, grad_clip: float | None = None) -> dict[str, Any]:
    """Call a student's `sgld_step` three times on one energy; return the results and the state around them.

    Calls 1 and 2 take the same leaf `x` (requires grad, `x.grad` = 7), call 3 a plain copy of x.
    Returns `{"outs": [3 results], "leaf", "leaf_grad", "plain", "plain_requires_grad",
    "plain_has_grad", "param_grad"}` (the leaf's values and .grad afterwards, the plain copy's,
    and the energy's first parameter's .grad): data that the parent judges.
    """
    param = next(iter(energy.parameters()))
    leaf = x.clone().requires_grad_(True)
    leaf.grad = _full_like(x, 7.0)
    outs = [sgld_step(leaf, energy, step_size, noise_std, noise=noise, grad_clip=grad_clip) for _ in range(2)]
    plain = x.clone()
    outs.append(sgld_step(plain, energy, step_size, noise_std, noise=noise, grad_clip=grad_clip))
    return {"outs": outs, "leaf": _detach(leaf), "leaf_grad": leaf.grad, "plain": _detach(plain),
            "plain_requires_grad": bool(plain.requires_grad), "plain_has_grad": plain.grad is not None,
            "param_grad": None if param.grad is None else _detach(param.grad)}


def loss_and_grads(loss_fn: Callable[..., Any], energy: nn.Module, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """`loss_fn(energy, *args, **kwargs)` and the autograd gradients of that loss w.r.t. the energy's parameters."""
    loss = loss_fn(energy, *args, **kwargs)
    report: dict[str, Any] = {"loss": _detach(loss) if _is_tensor(loss) else loss, "grads": None,
                              "attached": _is_tensor(loss) and loss.requires_grad}
    if report["attached"] and loss.numel() == 1:
        names, params = zip(*energy.named_parameters())
        grads = _grad(loss.sum(), params, allow_unused=True)
        report["grads"] = {name: (_zeros_like(p) if g is None else g) for name, p, g in zip(names, params, grads)}
    return report


def model_energies(model: Callable[[torch.Tensor], Any], x: torch.Tensor, batch_size: int = 250) -> Any:
    """A trained model's energies of `x` in eval mode, without autograd, in batches on the model's device."""
    device = _model_device(model)
    if isinstance(model, nn.Module):
        model.eval()
    with _no_grad():
        outputs = [model(chunk.to(device)) for chunk in x.split(batch_size)]
    if not all(_is_tensor(out) for out in outputs):
        return outputs[0]  # let the grader describe what came back
    return _cat([_detach(out).float().cpu() for out in outputs])


def _model_device(model: Any) -> Any:
    first = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
    return first.device if first is not None else "cpu"


_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # nn.DataParallel / DistributedDataParallel, torch.compile


def load_checkpoint(net: nn.Module, path: str, device: str = "cpu") -> dict[str, Any]:
    """Load a submitted state_dict into `net` (a fresh `EnergyNet()` behind a handle), in eval mode on `device`.

    Returns `{"problem": text}` when the file is not a state_dict that fits the net, else
    `{"problem": None, "notes": [...]}`. Exceptions raised by the student's class propagate.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        return {"problem": f"device {device!r} was requested but CUDA is not available in the grading process",
                "grader_error": True}
    try:
        state = _load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is a message, not a crash
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        hint = (" It holds pickled Python objects (a whole model saved with torch.save(model)?): save "
                "model.state_dict() instead." if "weights_only" in str(error).lower() or "Weights only" in str(error) else "")
        return {"problem": f"torch.load(p3_energy.pt, weights_only=True) failed ({type(error).__name__}: {first_line}).{hint}"}
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and _is_tensor(v) for k, v in state.items()):
        nested = [k for k, v in state.items() if isinstance(v, Mapping)] if isinstance(state, Mapping) else []
        hint = f" (it holds a dict under {nested[0]!r}: save model.state_dict() itself)" if nested else ""
        return {"problem": f"p3_energy.pt holds a {type(state).__name__}, not a state_dict of tensors{hint}"}
    notes = []
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
            notes.append(f"removed the {prefix!r} prefix of every key (a wrapped model was saved)")
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(state[k].shape)}, EnergyNet() {tuple(v.shape)}" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = [f"{label} ({len(items)}): {', '.join(items[:4])}{', ...' if len(items) > 4 else ''}"
                 for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)) if items]
        return {"problem": "p3_energy.pt does not fit your EnergyNet(): " + "; ".join(parts)}
    net.load_state_dict(state)
    net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return {"problem": None, "notes": notes}


def energies_and_grads(model: Callable[[torch.Tensor], Any], x: torch.Tensor) -> dict[str, Any]:
    """`{"energy": model(x), "grad": ∇_x Σ model(x)}` of images `x` on the model's device, returned to the CPU.

    What the parent's Langevin sampler (`grader.oracles.mnist_judge.drive_langevin`) asks for at
    every step; the parent cross-checks the answers (finite differences, repeated calls).
    """
    device = _model_device(model)
    if getattr(device, "type", "cpu") == "cuda":  # TF32 convolutions (cuDNN's default) round far above float32's finite differences
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    point = _detach(x.to(device)).requires_grad_(True)
    with _enable_grad():
        energy = model(point)
        if not _is_tensor(energy):
            return {"energy": energy, "grad": None}
        (grad,) = _grad(energy.sum(), point, allow_unused=True)
    return {"energy": _detach(energy).float().cpu(), "grad": _zeros_like(x) if grad is None else _detach(grad).float().cpu()}


def contract_sgld_step(x: torch.Tensor, energy: Callable[[torch.Tensor], Any], step_size: float, noise_std: float,
                       noise: torch.Tensor | None = None, grad_clip: float | None = None) -> torch.Tensor:
    """The step the contract states, clamp(x - step_size clip(∇_x Σ E(x)) + noise_std ε, -1, 1), with no side effects
    on the energy's parameter gradients: what `train_with_contract_step` puts in place of a mistaken `sgld_step`."""
    leaf = _detach(x).requires_grad_(True)
    with _enable_grad():
        (slope,) = _grad(energy(leaf).sum(), leaf)
    if grad_clip is not None:
        slope = _clamp(slope, -grad_clip, grad_clip)
    kick = _randn_like(leaf) if noise is None else noise
    return _clamp(_detach(leaf) - step_size * slope + noise_std * kick, -1.0, 1.0)


def train_with_contract_step(train_ebm: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`train_ebm(*args, **kwargs)` with the name `sgld_step` in its module bound to `contract_sgld_step` for the call.

    3.train_ebm judges a training again this way when the student's own step is wrong, to tell a
    training that fails through the step (3.sgld_step's mistake) from one that fails on its own.
    A training that does not look `sgld_step` up in its module is simply run again unchanged.
    """
    names = getattr(train_ebm, "__globals__", None)
    if not isinstance(names, dict) or "sgld_step" not in names:
        return train_ebm(*args, **kwargs)
    own = names["sgld_step"]
    names["sgld_step"] = contract_sgld_step
    try:
        return train_ebm(*args, **kwargs)
    finally:
        names["sgld_step"] = own


PROBES: dict[str, Callable[..., Any]] = {
    "batch_jacobian": batch_jacobian,
    "sgld_side_effects": sgld_side_effects,
    "loss_and_grads": loss_and_grads,
    "model_energies": model_energies,
    "load_checkpoint": load_checkpoint,
    "energies_and_grads": energies_and_grads,
    "train_with_contract_step": train_with_contract_step,
}


# ---------------------------------------------------------------------------------- Problem 4
# Nothing here is believed: the parent checks each answer against data it computes itself
# (`grader.checks.p4`: finite differences of forward's values, read-back and behaviour).
def parameter_values(module: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of `module`'s trainable floating-point parameters by name (tied ones under every name)."""
    return {name: _detach(p).clone() for name, p in module.named_parameters(remove_duplicate=False)
            if p.requires_grad and p.is_floating_point()}


def replace_parameters(module: nn.Module, values: Mapping[str, torch.Tensor]) -> int:
    """Give `module` new trainable parameters holding `values` (by name); returns how many were replaced.

    Each parameter object is swapped for a fresh `nn.Parameter` in its owner module, never written
    in place, so a tensor it shares storage with (a module-level mask, another model) is untouched;
    names tied to one parameter get one new parameter. Frozen parameters and buffers are left alone.
    """
    fresh: dict[int, nn.Parameter] = {}
    count = 0
    for name, p in list(module.named_parameters(remove_duplicate=False)):
        if name not in values or not (p.requires_grad and p.is_floating_point()):
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        if id(p) not in fresh:
            fresh[id(p)] = nn.Parameter(values[name].to(dtype=p.dtype, device=p.device).clone())
        owner._parameters[attr] = fresh[id(p)]
        count += 1
    return count


PROBES.update(parameter_values=parameter_values, replace_parameters=replace_parameters)
