"""Where grading runs: `--device cpu|cuda|auto`, and the time and memory limits that go with each device.

`auto` is `cuda` when torch sees a CUDA device, else `cpu`. On `cuda` the child's address-space
limit is lifted (CUDA reserves huge virtual ranges; memory is bounded by the card instead) and
the child's start-up allowance grows by `CUDA_STARTUP_S` (initialising CUDA before confinement
takes seconds); the per-call limits stay those of the CPU, which a GPU only undercuts.
"""
from __future__ import annotations

from dataclasses import replace

from grader.runner.sandbox import Limits

DEVICES = ("cpu", "cuda", "auto")
CUDA_STARTUP_S = 60.0


class DeviceError(Exception):
    """The device asked for is not available here."""


def cuda_available() -> bool:
    import torch  # noqa: PLC0415 - only when a device is resolved

    return torch.cuda.is_available()


def resolve_device(name: str) -> str:
    """'cpu' or 'cuda' for `name` in DEVICES; raises DeviceError for cuda without a CUDA device."""
    if name not in DEVICES:
        raise DeviceError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)}")
    if name == "auto":
        return "cuda" if cuda_available() else "cpu"
    if name == "cuda" and not cuda_available():
        raise DeviceError("--device cuda was given but torch sees no CUDA device here; use --device cpu or auto")
    return name


def device_limits(limits: Limits, device: str, memory_mb_given: bool) -> Limits:
    """`limits` adjusted for `device` (see the module docstring); an explicit --memory-mb is kept."""
    if device != "cuda":
        return replace(limits, device=device)
    return replace(limits, device=device, memory_mb=limits.memory_mb if memory_mb_given else None,
                   startup_s=limits.startup_s + CUDA_STARTUP_S)
