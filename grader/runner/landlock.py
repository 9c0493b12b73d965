"""Landlock: what the child may read and write on the file system, and whom it may reach.

Two halves. The grader (parent) decides the policy with `read_allowlist`: an allowlist of the
paths the child may read (the Python runtime, the import path, system libraries, its staged
submission), never the project checkout, the grader or an output or class folder. The worker
(loaded by file path, before any student code runs) applies it with `restrict`:

- reads only beneath the allowlist and its own working folder; writes only in that folder and
  to `/dev/null`; nothing may be executed (ABI 1-3, 5: truncation and device ioctls too);
- no TCP bind or connect (ABI 4), no abstract UNIX sockets and no signals to processes outside
  the child's own Landlock domain (ABI 6), so it cannot stop or kill the grader.

Each feature applies where the kernel has it; `restrict` reports what it could not apply.
"""
from __future__ import annotations

import ctypes
import os
import sys
import sysconfig
from pathlib import Path

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # same numbers on x86_64 and aarch64
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR, _REMOVE_DIR, _REMOVE_FILE = 1, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5
_MAKE_ANY = sum(1 << bit for bit in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3 and 5
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV  # what a rule on a file may grant
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2  # ABI 4
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2  # ABI 6

READ, READ_WRITE, DEVICE = "read", "read-write", "device"  # the kinds of rule in a policy

# What any Python process with torch and numpy needs at call time, beside its runtime and imports
# (measured with strace on a confined worker: CPU topology, the loader cache, time zones).
SYSTEM_READ = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/usr/share/zoneinfo",
               "/etc/ld.so.cache", "/etc/localtime", "/proc/self", "/proc/cpuinfo", "/proc/meminfo",
               "/sys/devices/system/cpu", "/dev/zero", "/dev/urandom", "/dev/random")
SYSTEM_READ_WRITE = ("/dev/null",)
# CUDA mode only: the driver's device files and what the driver reads beside them.
CUDA_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
CUDA_READ = ("/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices", "/usr/share/nvidia", "/etc/nvidia")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def runtime_roots(import_path: list[str]) -> list[str]:
    """The Python installation: prefixes, the standard library, the interpreter, the import path."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.realpath(sys.executable)}
    roots |= {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")}
    return sorted(roots | set(import_path))


def read_allowlist(import_path: list[str], own: list[str], hidden: list[Path], device: str = "cpu") -> list[tuple[str, str]]:
    """The child's policy as (kind, path) rules: `own` are its staged submission and working folder.

    Any root that holds a `hidden` path (the project checkout, an installed grader) is replaced
    by its other entries, level by level, so the hidden subtree stays out.
    """
    reads = list(runtime_roots(import_path)) + list(SYSTEM_READ) + list(own)
    devices: list[str] = []
    if device.startswith("cuda"):
        reads += list(CUDA_READ)
        devices = [str(p) for p in sorted(Path("/dev").glob("nvidia[0-9]*"))] + list(CUDA_DEVICES)
    rules = [(READ, path) for path in _without(reads, hidden)]
    return rules + [(READ_WRITE, path) for path in SYSTEM_READ_WRITE] + [(DEVICE, path) for path in devices]


def _without(roots: list[str], hidden: list[Path]) -> list[str]:
    hidden = [h.resolve() for h in hidden]
    kept: list[str] = []

    def visit(path: Path) -> None:
        if path in hidden:
            return
        if path.is_dir() and not path.is_symlink() and any(path in h.parents for h in hidden):
            for child in sorted(path.iterdir()):
                visit(child)
        else:
            kept.append(str(path))

    for root in dict.fromkeys(roots):
        if os.path.exists(root):
            visit(Path(root).resolve() if not root.startswith("/proc/self") else Path(root))
    return list(dict.fromkeys(kept))


def kernel_abi() -> int:
    """The Landlock ABI version this kernel offers (0 where there is none, or not Linux)."""
    if sys.platform != "linux":
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(0, int(libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))))


def restrict(writable: list[str], rules: list[tuple[str, str]]) -> list[str]:
    """Confine this process: full access beneath `writable`, and `rules` (see `read_allowlist`).

    Returns what could not be applied (empty when every layer this kernel has is on).
    """
    if sys.platform != "linux":
        return [f"Landlock is Linux-only (this is {sys.platform})"]
    abi = kernel_abi()
    if abi < 1:
        return [f"Landlock is not available (errno {ctypes.get_errno()})"]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    read = _READ_FILE | _READ_DIR
    write = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_ANY | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    ioctl = _IOCTL_DEV if abi >= 5 else 0
    attr = _RulesetAttr(read | write | ioctl | _EXECUTE, _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0,
                        _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    problems = [] if abi >= 6 else [f"Landlock ABI {abi} (< 6): no signal or abstract-socket scoping"]
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return [f"landlock_create_ruleset failed (errno {ctypes.get_errno()})"]
    rights = {READ: read, READ_WRITE: read | write, DEVICE: read | _WRITE_FILE | ioctl}
    try:
        for kind, path in [(READ_WRITE, p) for p in writable] + list(rules):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # absent or unreachable: nothing to allow
            try:
                allowed = rights[kind] if os.path.isdir(path) else rights[kind] & _FILE_RIGHTS
                rule = _PathBeneathAttr(allowed, fd)
                if libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    return [f"landlock_add_rule failed for {path} (errno {ctypes.get_errno()})"]
            finally:
                os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, required by restrict_self
            return [f"prctl(NO_NEW_PRIVS) failed (errno {ctypes.get_errno()})"]
        if libc.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return [f"landlock_restrict_self failed (errno {ctypes.get_errno()})"]
    finally:
        os.close(ruleset)
    return problems
