"""The child process: loads the student's modules and answers the grader's calls.

Started by `grader.runner.sandbox` as `python -I -S worker.py CONFIG` with a scrubbed
environment, resource limits and a temporary working directory; CONFIG (JSON, written by the
parent) names the two inherited pipe descriptors, the import path, the read allowlist, the
device and, when the grader runs as root, the uid/gid to drop to. It speaks only the data
frames of `wire.py` over the pipes (the student's prints go to a log file, never to the
channel), blocks `grader`/`reference` imports, and confines itself before any student code
runs, in this order:

1. imports torch and numpy, and on `device: cuda` initialises CUDA (which fails once Landlock
   is on);
2. Landlock (`landlock.py`): reads only from the allowlist, writes only in its folder and to
   /dev/null, no TCP, no signals or abstract sockets outside itself;
3. as root: drops to its own uid/gid with no supplementary groups and no capabilities
   (keeping only CAP_DAC_READ_SEARCH when the runtime lives where other users cannot enter,
   e.g. /root; Landlock still decides what it reads);
4. seccomp (`seccomp.py`): an allowlist of system calls, no processes, sockets or io_uring,
   signals and prlimit only on itself.

Then it serves:

    {"op": "confinement"}               -> {"confinement": what could not be applied above, "setup":
                                          what the grader's installation fails to provide (a library
                                          it ships, the staged files); the parent asks first, before
                                          any student code has run
    {"op": "import", "module", "path"}  -> loads one student module
    {"op": "call", "fn", "args", "kwargs", "seed", "keep"} -> calls it; `keep` stores the result
                                          behind a handle instead of sending it back

Objects in messages are tagged JSON nodes (see `encode`/`decode`); arrays become tensors here.
"""
from __future__ import annotations

import ctypes
import importlib
import importlib.abc
import importlib.util
import json
import os
import random
import sys
import traceback

BLOCKED_PACKAGES = ("grader", "reference", "student_template", "assets")
HERE = os.path.dirname(os.path.abspath(__file__))


def _load_by_path(name: str, filename: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, filename))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class _BlockGraderImports(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED_PACKAGES:
            raise ImportError(f"'{fullname}' cannot be imported by submitted code")
        return None


class Worker:
    def __init__(self, fd_in: int, fd_out: int):
        self.fd_in, self.fd_out = fd_in, fd_out
        self.wire = _load_by_path("_ps4_wire", "wire.py")
        import numpy as np
        import torch

        self.np, self.torch = np, torch
        self.library = _load_by_path("_ps4_child_library", "child_library.py")
        self.modules: dict[str, object] = {}
        self.handles: dict[int, object] = {}
        self.device = "cpu"  # the grading device; `on_device` calls receive their tensors there
        self.confinement_problems: list[str] = []  # the layers that could not be applied (reported, not fatal)
        self.setup_problems: list[str] = []  # the grader's installation at fault (fatal for the run, never the student's)
        # bound now, before student code can monkeypatch torch
        self._is_tensor, self._detach = torch.is_tensor, torch.Tensor.detach
        self._to_numpy, self._from_numpy = torch.Tensor.numpy, torch.from_numpy
        self._disable_subclass = torch._C.DisableTorchFunctionSubclass

    # ---- values -------------------------------------------------------------------------
    def encode(self, value, arrays: list) -> object:
        """A tagged JSON node for `value`; arrays are appended to `arrays`."""
        np = self.np
        if isinstance(value, _HandleReply):
            return {"$t": "handle", "id": value.handle, "type": value.type_name}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value if isinstance(value, float) or abs(value) < 2**53 else float(value)
        if self._is_tensor(value):
            with self._disable_subclass():
                plain = self._detach(value).cpu()
                meta = {"torch": True, "requires_grad": bool(value.requires_grad), "grad_fn": value.grad_fn is not None, "dtype": str(plain.dtype).replace("torch.", "")}
                if plain.dtype == self.torch.bfloat16:
                    plain = plain.float()
                arrays.append(np.array(self._to_numpy(plain.resolve_conj().resolve_neg()), copy=True))
            return {"$t": "array", "i": len(arrays) - 1, **meta}
        if isinstance(value, np.ndarray) or isinstance(value, np.generic):
            array = np.asarray(value)
            if array.dtype.name not in self.wire.ALLOWED_DTYPES:
                return {"$t": "object", "type": f"numpy array of {array.dtype}"}
            arrays.append(array.copy())
            return {"$t": "array", "i": len(arrays) - 1, "torch": False, "requires_grad": False, "grad_fn": False, "dtype": array.dtype.name}
        if type(value) in (tuple, list):
            items = [self.encode(item, arrays) for item in value]
            return {"$t": "tuple", "items": items} if type(value) is tuple else items
        if type(value) is dict and all(type(k) is str for k in value):
            return {"$t": "dict", "items": {k: self.encode(v, arrays) for k, v in value.items()}}
        return {"$t": "object", "type": type(value).__qualname__[:80]}

    def decode(self, node, arrays: list):
        if isinstance(node, list):
            return [self.decode(item, arrays) for item in node]
        if not isinstance(node, dict):
            return node
        tag = node.get("$t")
        if tag == "array":
            return self._from_numpy(arrays[node["i"]].copy())
        if tag == "tuple":
            return tuple(self.decode(item, arrays) for item in node["items"])
        if tag == "dict":
            return {k: self.decode(v, arrays) for k, v in node["items"].items()}
        if tag == "handle":
            return self.handles[node["id"]]
        if tag == "ref":
            return getattr(self.modules[node["module"]], node["attr"])
        if tag == "method":
            return getattr(self.handles[node["handle"]], node["name"])
        if tag == "probe":
            return self.library.PROBES[node["name"]]
        if tag == "build":
            params = self.decode(node["params"], arrays)
            return self.library.BUILDERS[node["name"]](**params)
        raise ValueError(f"unknown node tag {tag!r}")

    # ---- requests -----------------------------------------------------------------------
    def serve(self) -> None:
        while True:
            request, arrays = self.wire.read_frame(self.fd_in, None, self.wire.REQUEST_CAPS)
            reply = {"id": request.get("id")}
            out_arrays: list = []
            try:
                if request["op"] == "confinement":
                    reply.update(ok=True, value=self.encode({"confinement": list(self.confinement_problems), "setup": list(self.setup_problems)}, out_arrays))
                elif request["op"] == "import":
                    self.import_module(request["module"], request["path"])
                    reply.update(ok=True, value=None)
                elif request["op"] == "call":
                    value = self.call(request, arrays)
                    reply.update(ok=True, value=self.encode(value, out_arrays))
                else:
                    raise ValueError(f"unknown op {request['op']!r}")
            except BaseException as error:  # noqa: BLE001 - the student's exceptions become data
                out_arrays = []
                reply.update(ok=False, error=self.describe(error))
            self.wire.write_frame(self.fd_out, self.wire.pack(reply, out_arrays))

    def import_module(self, name: str, path: str) -> None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        self.modules[name] = module

    def call(self, request: dict, arrays: list):
        fn = self.decode(request["fn"], arrays)
        args = self.decode(request.get("args", []), arrays)
        kwargs = self.decode(request["kwargs"], arrays)
        if request.get("on_device") and self.device != "cpu":
            args, kwargs = self.placed(args), self.placed(kwargs)
        seed = int(request.get("seed", 0))
        random.seed(seed)
        self.np.random.seed(seed)
        self.torch.manual_seed(seed)
        value = fn(*args, **kwargs)
        if request.get("keep"):
            handle = len(self.handles) + 1
            self.handles[handle] = value
            return _HandleReply(handle, type(value).__qualname__)
        return value

    def placed(self, value):
        """`value` with every tensor in it moved to the grading device (lists, tuples and dicts walked)."""
        if self._is_tensor(value):
            return value.to(self.device)
        if isinstance(value, (list, tuple)):
            return type(value)(self.placed(item) for item in value)
        if isinstance(value, dict):
            return {k: self.placed(v) for k, v in value.items()}
        return value

    def describe(self, error: BaseException) -> dict:
        kind = type(error).__name__
        message = str(error)
        if isinstance(error, SystemExit):
            message = f"sys.exit({error.code!r}) was called"
        elif isinstance(error, MemoryError) or "can't allocate memory" in message or "DefaultCPUAllocator" in message:
            kind = "MemoryError"
        frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(HERE)]
        where = [f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in frames[-4:]]
        return {"type": kind, "message": message[:600], "where": where}


class _HandleReply:
    def __init__(self, handle: int, type_name: str):
        self.handle, self.type_name = handle, type_name


_CAP_DAC_READ_SEARCH = 2
_PR_SET_DUMPABLE, _PR_SET_KEEPCAPS, _PR_CAPBSET_DROP, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 4, 8, 24, 47, 4


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_privileges(uid: int, gid: int, read_search: bool) -> str | None:
    """Become `uid`/`gid` with no groups and no capabilities (but CAP_DAC_READ_SEARCH if asked)."""
    libc = ctypes.CDLL(None, use_errno=True)
    kept = 1 << _CAP_DAC_READ_SEARCH if read_search else 0
    for cap in range(64):
        if not kept >> cap & 1 and libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            return f"could not drop capability {cap} from the bounding set (errno {ctypes.get_errno()})"
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    libc.prctl(_PR_SET_KEEPCAPS, 1 if kept else 0, 0, 0, 0)
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as error:
        return f"could not drop to uid {uid}: {error}"
    data = (_CapData * 2)(_CapData(kept, kept, 0), _CapData(0, 0, 0))
    if libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), data) != 0:  # _LINUX_CAPABILITY_VERSION_3
        return f"capset failed (errno {ctypes.get_errno()})"
    libc.prctl(_PR_SET_KEEPCAPS, 0, 0, 0, 0)
    libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc/self belongs to it again (core dumps stay off: RLIMIT_CORE 0)
    return None


def _init_cuda(torch) -> None:
    """Open the GPU now: CUDA cannot initialise once Landlock is on (error 304).

    A convolution's forward and backward pass and a matrix product also load cuDNN and cuBLAS
    and create their handles here, while the process may still do whatever their set-up needs.
    """
    torch.cuda.init()
    x = torch.randn(2, 1, 8, 8, device="cuda", requires_grad=True)
    weight = torch.randn(4, 1, 3, 3, device="cuda", requires_grad=True)
    out = torch.nn.functional.conv2d(x, weight, padding=1).flatten(1)
    (out @ out.T).sum().backward()
    torch.cuda.synchronize()


def main() -> None:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    sys.path[:] = list(config["sys_path"])
    worker = Worker(int(config["fd_in"]), int(config["fd_out"]))
    worker.torch.set_num_threads(int(config["threads"]))
    worker.device = str(config.get("device", "cpu"))
    if worker.device.startswith("cuda"):
        _init_cuda(worker.torch)
    sys.meta_path.insert(0, _BlockGraderImports())
    sys.path.insert(0, config["submission"])
    landlock, seccomp = _load_by_path("_ps4_landlock", "landlock.py"), _load_by_path("_ps4_seccomp", "seccomp.py")
    problems = landlock.restrict([os.getcwd()], [tuple(rule) for rule in config["rules"]])
    if "uid" in config:
        problems.append(drop_privileges(int(config["uid"]), int(config["gid"]), bool(config.get("read_search"))))
    problems.append(seccomp.install())
    worker.confinement_problems = [str(problem) for problem in problems if problem]
    worker.setup_problems = setup_problems(config["submission"])
    worker.serve()


GRADER_PROVIDED = ("numpy", "torch", "torchdiffeq")  # what the template imports and the grader installs


def setup_problems(submission: str) -> list[str]:
    """What a confined child lacks that is not the student's doing: a library the grader's
    installation provides, or read access to its own staged copy (checked after confinement,
    before any student code runs, so the answer can be trusted)."""
    problems = []
    for name in GRADER_PROVIDED:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - any failure to import is the installation's
            problems.append(f"cannot import {name} ({type(error).__name__}: {str(error)[:200]})")
    for folder, _, names in os.walk(submission):
        for name in names:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as handle:
                    handle.read(1)
            except OSError as error:
                problems.append(f"cannot read its staged file {os.path.relpath(path, submission)} ({error.strerror})")
    return problems


if __name__ == "__main__":
    main()
