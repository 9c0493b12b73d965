"""What a check sees: calls into the student's module, the submission's files, a figures folder.

Hidden inputs stay hidden (SPEC, "Same grade wherever it runs"): once a check has drawn data from
a private seed (`seed()` with an instructor's file), every failure of its later calls, and of
any call on an object such a call created (a model trained on private data), reaches the
feedback without the student's message, exception class name or traceback: a student's error
text could otherwise carry the held-out points back to a visible result.
"""
from __future__ import annotations

import builtins
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.checks.registry import Check
from grader.options import GradingOptions
from grader.runner.sandbox import ForeignObject, Handle, Method, Probe, Ref, StudentCodeError
from grader.runner.session import StudentModules
from grader.submission import Submission


@dataclass
class CheckContext:
    check: Check
    modules: StudentModules
    submission: Submission
    out_dir: Path
    options: GradingOptions
    uses_hidden: bool = field(default=False, init=False)  # a private seed has been drawn: failures are redacted from here on

    def call(self, attr: str, *args: Any, seed: int = 0, keep: bool = False, timeout_s: float | None = None,
             on_device: bool = False, **kwargs: Any) -> Any:
        """Call `attr` of the check's student module in the child; failures name the function.

        `on_device`: the tensors arrive on the grading device (`--device`), as the short trainings' data does.
        """
        return self._call(Ref(self.check.module, attr), attr, args, kwargs, seed, keep, timeout_s, on_device)

    def call_method(self, handle: Handle, name: str, *args: Any, seed: int = 0, keep: bool = False, timeout_s: float | None = None, **kwargs: Any) -> Any:
        return self._call(handle.method(name), f"{handle.type_name}.{name}", args, kwargs, seed, keep, timeout_s)

    def probe(self, name: str, *args: Any, seed: int = 0, keep: bool = False, timeout_s: float | None = None,
              on_device: bool = False, **kwargs: Any) -> Any:
        """Run a grader computation from `child_library.PROBES` beside the student's objects."""
        return self._call(Probe(name), name, args, kwargs, seed, keep, timeout_s, on_device)

    def _call(self, fn, label: str, args, kwargs, seed, keep, timeout_s, on_device: bool = False) -> Any:
        key = (self.check.module, label)
        earlier = self.modules.timed_out.get(key)
        if earlier is not None:  # a hang costs one time limit per function, not one per check
            raise StudentCodeError("timeout", f"{label}: timed out earlier in {earlier} (not called again)")
        box = self.modules.sandbox(self.check.module)
        hidden = self.uses_hidden or _touches_hidden(self.modules, fn, args, kwargs)
        try:
            result = box.call(fn, *args, seed=seed, keep=keep, timeout_s=timeout_s or self.check.timeout_s, on_device=on_device, **kwargs)
        except StudentCodeError as error:
            if error.kind == "timeout":
                self.modules.timed_out[key] = self.check.id
            if hidden:
                raise redacted(error, label) from None
            raise StudentCodeError(error.kind, f"{label}: {error.message}", error.error_type, error.where) from None
        if not hidden:
            return result
        if isinstance(result, Handle):
            _HIDDEN_HANDLES.setdefault(self.modules, set()).add(result.id)
        return _scrubbed(result)

    def seed(self, name: str, public: int) -> int:
        """A data seed of this check: the instructor's private one when given (`grade --private`), else `public`.

        With an instructor's file, the check's calls from here on count as using hidden inputs (see the module's docstring).
        """
        if self.options.private.source is not None:
            self.uses_hidden = True
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



_HIDDEN_HANDLES: weakref.WeakKeyDictionary[StudentModules, set[int]] = weakref.WeakKeyDictionary()
_BUILTIN_ERRORS = frozenset(name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException))


def _touches_hidden(modules: StudentModules, fn: Any, args: tuple, kwargs: dict) -> bool:
    """Whether a call runs on, or passes, an object created by a call that used hidden inputs."""
    tainted = _HIDDEN_HANDLES.get(modules)
    if not tainted:
        return False
    if isinstance(fn, Method) and fn.handle in tainted:
        return True
    return any(isinstance(value, Handle) and value.id in tainted for value in (*args, *kwargs.values()))


def redacted(error: StudentCodeError, label: str) -> StudentCodeError:
    """`error` as feedback may show it after a call that used hidden inputs: what failed, never the student's text.

    Kept: the kind (exception, timeout, ...) and a built-in exception's class name (NotImplementedError still reads
    "not implemented"). Dropped: the message, the traceback's frames (file and function names can be made at run
    time), a class name the student defined, and a crash's exit code.
    """
    error_type = error.error_type if error.error_type in _BUILTIN_ERRORS else "an exception of the submission's own class"
    text = f"raised {error_type}; " if error.kind == "exception" else ""
    return StudentCodeError(error.kind, f"{label}: {text}details withheld (this call used hidden inputs)",
                            error.error_type if error.error_type in _BUILTIN_ERRORS else "Exception")


_CONTRACT_TYPES = frozenset({"RealNVP", "EnergyNet", "ReplayBuffer"})  # class names a result may show as they are


def _scrubbed(value: Any) -> Any:
    """A hidden call's result with the type names the student chose (which feedback would print) made neutral."""
    if isinstance(value, Handle):
        return value if value.type_name in _CONTRACT_TYPES else Handle(value.id, "object")
    if isinstance(value, ForeignObject):
        return ForeignObject("withheld")
    if isinstance(value, tuple):
        return tuple(_scrubbed(v) for v in value)
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    return value
