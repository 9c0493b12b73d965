"""What a check sees: calls into the student's module, the submission's files, a figures folder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.checks.registry import Check
from grader.options import GradingOptions
from grader.runner.sandbox import Handle, Probe, Ref, StudentCodeError
from grader.runner.session import StudentModules
from grader.submission import Submission


@dataclass
class CheckContext:
    check: Check
    modules: StudentModules
    submission: Submission
    out_dir: Path
    options: GradingOptions

    def call(self, attr: str, *args: Any, seed: int = 0, keep: bool = False, timeout_s: float | None = None,
             on_device: bool = False, **kwargs: Any) -> Any:
        """Call `attr` of the check's student module in the child; failures name the function.

        `on_device`: the tensors arrive on the grading device (`--device`), as the short trainings' data does.
        """
        return self._call(Ref(self.check.module, attr), attr, args, kwargs, seed, keep, timeout_s, on_device)

    def call_method(self, handle: Handle, name: str, *args: Any, seed: int = 0, keep: bool = False, timeout_s: float | None = None, **kwargs: Any) -> Any:
        return self._call(handle.method(name), f"{handle.type_name}.{name}", args, kwargs, seed, keep, timeout_s)

    def probe(self, name: str, *args: Any, seed: int = 0, timeout_s: float | None = None, **kwargs: Any) -> Any:
        """Run a grader computation from `child_library.PROBES` beside the student's objects."""
        return self._call(Probe(name), name, args, kwargs, seed, False, timeout_s)

    def _call(self, fn, label: str, args, kwargs, seed, keep, timeout_s, on_device: bool = False) -> Any:
        key = (self.check.module, label)
        earlier = self.modules.timed_out.get(key)
        if earlier is not None:  # a hang costs one time limit per function, not one per check
            raise StudentCodeError("timeout", f"{label}: timed out earlier in {earlier} (not called again)")
        box = self.modules.sandbox(self.check.module)
        try:
            return box.call(fn, *args, seed=seed, keep=keep, timeout_s=timeout_s or self.check.timeout_s, on_device=on_device, **kwargs)
        except StudentCodeError as error:
            if error.kind == "timeout":
                self.modules.timed_out[key] = self.check.id
            raise StudentCodeError(error.kind, f"{label}: {error.message}", error.error_type, error.where) from None

    def seed(self, name: str, public: int) -> int:
        """A data seed of this check: the instructor's private one when given (`grade --private`), else `public`."""
        return self.options.private.seed(name, public)

    def ref(self, attr: str) -> Ref:
        """A student function or class to pass as an argument (e.g. to a probe)."""
        return Ref(self.check.module, attr)

    def figure_path(self, name: str) -> tuple[Path, str]:
        """Where to save a figure: the absolute path, and the path relative to the output folder."""
        relative = f"figures/{self.check.id}-{name}.png"
        path = self.out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, relative

