"""Settings of one grading run (the CLI fills them; defaults are written once, here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.private import PrivateInputs
from grader.runner.sandbox import Limits


@dataclass(frozen=True)
class GradingOptions:
    limits: Limits = field(default_factory=Limits)
    mnist_root: Path | None = None  # full MNIST in torchvision's layout; default: the embedded subset
    device: str = "cpu"  # where the grader's own computations run
    progress: bool = True  # print one line per check to stderr
    private: PrivateInputs = field(default_factory=PrivateInputs)  # hidden seeds of the official grade
