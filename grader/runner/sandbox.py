"""One child process that holds the student's code; the grader talks to it only through data.

    box = Sandbox(staged_submission_dir, Limits(timeout_s=20))
    box.import_module("p4_realnvp", path)
    model = box.call(Ref("p4_realnvp", "train_realnvp"), data, 200, keep=True)   # -> Handle
    logp = box.call(model.method("log_prob"), x)                                  # -> ArrayValue

Every failure the student's code can cause (an exception, a hang, an exit, a crash, running
out of memory, garbage on the channel) raises `StudentCodeError` with a reason a student can
read; after a hang, crash or protocol error the child is gone and `alive` is False.
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import resource
import secrets
import signal
import site
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.runner import wire
from grader.runner.disk import DiskWatch, remove_tree
from grader.runner.landlock import read_allowlist, runtime_roots

WORKER = Path(__file__).resolve().with_name("worker.py")
_PACKAGE_PARENT = WORKER.parents[2]  # a checkout; site-packages for a wheel; /autograder/source on Gradescope
_PASSED_ENV = ("LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass(frozen=True)
class Limits:
    """Per-call limits; `time_scale` stretches every timeout (for slow machines)."""

    timeout_s: float = 30.0
    memory_mb: int | None = 4096  # address space; None lifts it (CUDA reserves huge virtual ranges)
    threads: int = 1  # small models: one thread is as fast and far steadier on a loaded machine
    time_scale: float = 1.0
    startup_s: float = 60.0
    device: str = "cpu"  # "cuda": the child initialises CUDA before it confines itself


@dataclass(frozen=True)
class ArrayValue:
    """An array that came back from the child, with what it was on the student's side."""

    array: np.ndarray
    torch: bool
    dtype: str
    requires_grad: bool = False
    grad_fn: bool = False


@dataclass(frozen=True)
class ForeignObject:
    """A returned value that is not data (a custom object); only its type name crosses."""

    type_name: str


@dataclass(frozen=True)
class Ref:
    """An attribute of a student module (a function or class), to call in the child."""

    module: str
    attr: str


@dataclass(frozen=True)
class Method:
    handle: int
    name: str


@dataclass(frozen=True)
class Handle:
    """An object that lives in the child (e.g. a trained model)."""

    id: int
    type_name: str

    def method(self, name: str) -> Method:
        return Method(self.id, name)


@dataclass(frozen=True)
class Build:
    """A grader object to construct in the child (see `child_library.BUILDERS`)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    """A grader computation to run in the child (see `child_library.PROBES`)."""

    name: str


class StudentCodeError(Exception):
    """The student's code failed; `kind` is exception | timeout | crash | memory | protocol."""

    def __init__(self, kind: str, message: str, error_type: str = "", where: tuple[str, ...] = ()):
        super().__init__(message)
        self.kind, self.message, self.error_type, self.where = kind, message, error_type, where

    def __str__(self) -> str:
        location = f" (at {self.where[-1]})" if self.where else ""
        return f"{self.message}{location}"


class GraderSetupError(Exception):
    """The grader's installation cannot run student code here (a child cannot import torch, or
    cannot read its own staged files): the instructor's problem, never scored against a student."""

    def __str__(self) -> str:
        return (f"{self.args[0]}. This is a fault of the grader's installation, not of the submission; "
                "see the README's 'When the grader's setup is wrong'")


def encode(value: Any, arrays: list[np.ndarray]) -> Any:
    """A tagged JSON node for an argument; numpy arrays become tensors in the child."""
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"$t": "array", "i": len(arrays) - 1}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"$t": "tuple", "items": [encode(item, arrays) for item in value]}
    if isinstance(value, list):
        return [encode(item, arrays) for item in value]
    if isinstance(value, dict):
        return {"$t": "dict", "items": {str(k): encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, Handle):
        return {"$t": "handle", "id": value.id}
    if isinstance(value, Ref):
        return {"$t": "ref", "module": value.module, "attr": value.attr}
    if isinstance(value, Method):
        return {"$t": "method", "handle": value.handle, "name": value.name}
    if isinstance(value, Probe):
        return {"$t": "probe", "name": value.name}
    if isinstance(value, Build):
        return {"$t": "build", "name": value.name, "params": encode(value.params, arrays)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot send {type(value).__name__} to the child")


def decode(node: Any, arrays: list[np.ndarray]) -> Any:
    """The Python value of a node the child sent: data, `ArrayValue`, `Handle` or `ForeignObject`."""
    if isinstance(node, list):
        return [decode(item, arrays) for item in node]
    if not isinstance(node, dict):
        return node
    tag = node.get("$t")
    if tag == "array":
        index = node.get("i")
        if not isinstance(index, int) or not 0 <= index < len(arrays):
            raise wire.WireError("array reference out of range")
        return ArrayValue(arrays[index], bool(node.get("torch")), str(node.get("dtype"))[:40], bool(node.get("requires_grad")), bool(node.get("grad_fn")))
    if tag == "tuple":
        return tuple(decode(item, arrays) for item in node.get("items", []))
    if tag == "dict":
        return {str(k): decode(v, arrays) for k, v in dict(node.get("items", {})).items()}
    if tag == "handle":
        return Handle(int(node["id"]), str(node.get("type", ""))[:80])
    if tag == "object":
        return ForeignObject(str(node.get("type", "?"))[:80])
    raise wire.WireError(f"unknown node tag {tag!r}")


def child_sys_path() -> list[str]:
    """The import path the child gets: the parent's entries that belong to the Python installation.

    Only the standard library and site directories are kept (entries beneath a prefix or a site
    directory); the current folder, PYTHONPATH entries and any checkout of this project are
    dropped, so no folder the grader was started in becomes readable. A site directory that holds
    the installed grader (a wheel install) is kept: the child needs its torch, and Landlock cuts
    the grader's own packages out of it (`hidden_paths`).
    """
    installation = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                                                *site.getsitepackages(), site.getusersitepackages()) if os.path.isdir(p)]
    hidden = hidden_paths()
    keep = []
    for entry in sys.path:
        if not entry or not os.path.exists(entry):
            continue
        resolved = Path(entry).resolve()
        if resolved in hidden or _is_checkout(resolved):  # a .venv's site directory inside a checkout stays
            continue
        if any(resolved == root or root in resolved.parents for root in installation):
            keep.append(str(resolved))
    return list(dict.fromkeys(keep))


def _is_checkout(folder: Path) -> bool:
    """A source tree of this project (the grader beside the reference), as opposed to a site directory."""
    return (folder / "grader" / "runner" / "worker.py").is_file() and (folder / "reference").is_dir()


def hidden_paths() -> list[Path]:
    """What the child must not read: the project checkout, else the installed `grader` and `assets` packages.

    An installed copy in a site directory is hidden too. A checkout is hidden whole (the reference,
    the tests, the template), except what the Python runtime needs when a virtual environment lives
    inside it (`.venv/`): Landlock only cuts a hidden path out of a root that contains it, so a
    runtime root beneath the checkout stays readable while its siblings do not.
    """
    hidden = [_PACKAGE_PARENT] if _is_checkout(_PACKAGE_PARENT) else [_PACKAGE_PARENT / "grader", _PACKAGE_PARENT / "assets"]
    for folder in site.getsitepackages():  # a second, installed copy (the grader run from a folder beside its wheel)
        if Path(folder, "grader", "runner", "worker.py").is_file():
            hidden += [Path(folder, "grader"), Path(folder, "assets")]
    return list(dict.fromkeys(path.resolve() for path in hidden))


_CHILD_IDS = itertools.count(1)
CHILD_ID_BASE = 1_000_000_000  # far above ordinary users and the usual subordinate-id ranges


def new_child_id() -> int:
    """A uid/gid no other process uses: unique per grader process (its pid) and per child."""
    return CHILD_ID_BASE + ((os.getpid() % 4_000_000) << 8) + next(_CHILD_IDS) % 256


@functools.lru_cache(maxsize=1)
def runtime_needs_read_search() -> bool:
    """Whether an unprivileged uid could not reach the Python runtime (e.g. it lives in /root)."""
    for root in runtime_roots(child_sys_path()):
        path = Path(root).resolve()
        if not path.exists():
            continue
        for directory in [*reversed(path.parents), path] if path.is_dir() else reversed(path.parents):
            if not os.stat(directory).st_mode & stat.S_IXOTH:
                return True
    return False


def share_with_group(folder: Path, gid: int) -> None:
    """Let group `gid` read `folder` (a staged submission: a handful of files) and nobody else."""
    for directory, _, files in os.walk(folder):
        os.chown(directory, -1, gid)
        os.chmod(directory, 0o750)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chown(path, -1, gid)
                os.chmod(path, 0o640)


class Sandbox:
    """A child process running `worker.py` over a staged copy of the submission.

    When the grader runs as root the child also runs as its own unprivileged uid (a fresh one per
    child, see `new_child_id`) in group `gid` (one per submission: the group that may read the
    staged copy, see `share_with_group`), with no capabilities; the parent still removes
    everything it wrote.
    """

    _ids = itertools.count(1)

    def __init__(self, submission_dir: Path, limits: Limits = Limits(), gid: int | None = None):
        self.limits = limits
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ps4-child{next(self._ids)}-"))
        own, import_path = [str(submission_dir), str(self.workdir)], child_sys_path()
        config = {"threads": limits.threads, "submission": str(submission_dir), "sys_path": import_path,
                  "rules": read_allowlist(import_path, own, hidden_paths(), limits.device), "device": limits.device}
        if os.geteuid() == 0 and sys.platform == "linux":  # the drop uses Linux capabilities
            uid = new_child_id()
            config.update(uid=uid, gid=uid if gid is None else gid, read_search=runtime_needs_read_search())
            os.chown(self.workdir, uid, config["gid"])
        log_path = self.workdir / ".output.log"  # what the student prints; never read back (it could hold hidden inputs)
        parent_read, child_write = os.pipe()
        child_read, parent_write = os.pipe()
        config.update(fd_in=child_read, fd_out=child_write)
        config_path = self.workdir / ".config.json"
        config_path.write_text(json.dumps(config))
        threads = str(limits.threads)
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        env.update(PATH="/usr/bin:/bin", HOME=str(self.workdir), TMPDIR=str(self.workdir), PYTHONHASHSEED="0",
                   USER="student", LOGNAME="student",  # getpass.getuser() without a passwd lookup
                   OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WORKER), str(config_path)],
                cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(child_read, child_write), start_new_session=True, preexec_fn=self._limit_resources,
            )
        os.close(child_read)
        os.close(child_write)
        for fd in (parent_read, parent_write):  # so that every read and write can honour a deadline
            os.set_blocking(fd, False)
        self._read_fd, self._write_fd = parent_read, parent_write
        self._disk = DiskWatch(self.workdir, self.process.pid, lambda: self.process.poll() is None)  # kills it over the disk budget
        self._started = time.monotonic()
        self._first_reply_pending = True
        self.confinement_problems: tuple[str, ...] | None = None  # asked before the first import
        self.startup_log = ""  # the child's last words when it failed before any student code ran

    def _limit_resources(self) -> None:  # runs in the child between fork and exec
        if self.limits.memory_mb is not None:
            memory = self.limits.memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 2**20, 256 * 2**20))
        resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))  # counts for root too once the worker drops to its uid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def import_module(self, name: str, path: Path, timeout_s: float = 60.0) -> None:
        if self.confinement_problems is None:
            self._check_setup(timeout_s)
        self._request({"op": "import", "module": name, "path": str(path)}, [], timeout_s)

    def _check_setup(self, timeout_s: float) -> None:
        """Ask the fresh child what it could not confine or lacks; raise `GraderSetupError` for the latter.

        Only trustworthy while no student code has run in the child, so it is the first request.
        Any failure up to this answer is the installation's: no student code has run yet, which
        is also why the child's log may be read back here.
        """
        try:
            answer = self._request({"op": "confinement"}, [], timeout_s)
        except StudentCodeError as error:
            raise GraderSetupError(f"a student process could not start ({error}){self.startup_log}") from None
        answer = answer if isinstance(answer, dict) else {}
        problems, setup = answer.get("confinement"), answer.get("setup")
        self.confinement_problems = tuple(_text(p, 300) for p in problems) if isinstance(problems, list) else ("no answer",)
        if setup:
            self.close()
            raise GraderSetupError("a student process " + "; ".join(_text(p, 300) for p in setup[:5]))

    def _keep_startup_log(self) -> None:
        """Before the folder goes: the last line the child wrote, while no student code had run in it."""
        try:
            lines = (self.workdir / ".output.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return
        self.startup_log = f": {lines[-1][:300]}" if lines else ""

    def call(self, fn: Ref | Method | Probe, *args: Any, timeout_s: float | None = None, seed: int = 0, keep: bool = False,
             on_device: bool = False, **kwargs: Any) -> Any:
        """Call `fn(*args, **kwargs)` in the child with all RNGs seeded; `keep` returns a `Handle`.

        `on_device` delivers the arguments' tensors on the grading device (`Limits.device`): the
        short trainings receive their data there, so a student's training runs on the GPU when asked.
        """
        arrays: list[np.ndarray] = []
        message = {"op": "call", "fn": encode(fn, arrays), "args": encode(list(args), arrays),
                   "kwargs": encode(kwargs, arrays), "seed": seed, "keep": keep, "on_device": on_device}
        return self._request(message, arrays, self.limits.timeout_s if timeout_s is None else timeout_s)

    def _request(self, message: dict, arrays: list[np.ndarray], timeout_s: float) -> Any:
        if not self.alive:
            raise StudentCodeError("crash", f"the student's process was stopped: it {self._disk.reason}" if self._disk.reason
                                   else "the student's process is no longer running")
        timeout = timeout_s * self.limits.time_scale
        if self._first_reply_pending:  # the first request also waits for the child to import torch
            timeout += self.limits.startup_s * max(1.0, self.limits.time_scale)
        nonce = secrets.token_hex(8)
        deadline = time.monotonic() + timeout
        try:
            wire.write_frame(self._write_fd, wire.pack({**message, "id": nonce}, arrays), deadline)
            reply, reply_arrays = wire.read_frame(self._read_fd, deadline, wire.REPLY_CAPS)
            if reply.get("id") != nonce:
                raise wire.WireError("a reply did not answer the request")
            self._first_reply_pending = False
            if reply.get("ok") is True:
                return _decode_reply(reply.get("value"), reply_arrays)
        except wire.ReadTimeout:
            self.close()
            raise StudentCodeError("timeout", f"did not finish within {timeout_s * self.limits.time_scale:.0f} s (time limit)") from None
        except (wire.ChannelClosed, BrokenPipeError):
            raise StudentCodeError("crash", self._death_reason()) from None
        except wire.WireError as error:
            self.close()
            raise StudentCodeError("protocol", f"the student's process sent something that is not a reply ({error})") from None
        error = reply.get("error")
        error = error if isinstance(error, dict) else {}
        error_type = _text(error.get("type", "Exception"), 80)
        message_text = _text(error.get("message", ""), 600)
        where = error.get("where")
        where = tuple(_text(w, 200) for w in where[-4:]) if isinstance(where, list) else ()
        kind = "memory" if error_type == "MemoryError" else "exception"
        text = f"{error_type}: {message_text}".rstrip(": ")
        if kind == "memory":
            text = f"ran out of memory (limit {self.limits.memory_mb} MB): {message_text}"[:400]
        raise StudentCodeError(kind, text, error_type, where)

    def _death_reason(self) -> str:
        if self._disk.reason:
            self.close()
            return f"the student's process was stopped: it {self._disk.reason}"
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.close()
            return "the student's process stopped answering"
        self.close()
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            hint = " (often a memory limit or a crash in native code)" if name in ("SIGKILL", "SIGSEGV", "SIGABRT") else ""
            return f"the student's process was killed by {name}{hint}"
        return f"the student's process exited with code {code} (sys.exit or os._exit in submitted code?)"

    def close(self) -> None:
        """Kill the child's whole process group and remove its working directory (idempotent)."""
        if self._read_fd < 0:
            return
        self._disk.stop()
        for attempt in range(2):  # the group again after reaping the leader, for stragglers
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if attempt == 0:
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for fd in (self._read_fd, self._write_fd):
            os.close(fd)
        self._read_fd = self._write_fd = -1
        if self.confinement_problems is None:  # the student's code never ran here: the log is the worker's own
            self._keep_startup_log()
        remove_tree(self.workdir)


def _text(value: Any, limit: int) -> str:
    """A string the child sent, cut to `limit` characters."""
    return str(value)[:limit] if isinstance(value, (str, int, float)) else ""


def _decode_reply(node: Any, arrays: list[np.ndarray]) -> Any:
    try:
        return decode(node, arrays)
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError, OverflowError):  # e.g. a handle id of 1e999
        raise wire.WireError("a reply that is not well-formed data") from None
