# Tries to leave data in RAM outside its folder (/dev/shm, SysV shared memory) and to make device nodes.
import ctypes
import os


def _attempt(outcomes, name, call):
    try:
        result = call()
        outcomes[name] = "SUCCEEDED" if not isinstance(result, int) or result >= 0 else f"refused ({os.strerror(ctypes.get_errno())})"
    except OSError as error:
        outcomes[name] = f"refused ({error.strerror})"


def attack():
    outcomes = {}
    _attempt(outcomes, "/dev/shm file", lambda: open("/dev/shm/{SHM_NAME}", "wb").write(b"x" * 2**20) and None)
    libc = ctypes.CDLL(None, use_errno=True)
    _attempt(outcomes, "shmget", lambda: libc.shmget(0, 2**20, 0o1666))  # IPC_PRIVATE, IPC_CREAT | 0666
    _attempt(outcomes, "mknod", lambda: os.mknod("node", 0o600 | 0o020000, os.makedev(1, 3)))
    _attempt(outcomes, "write /dev/sda", lambda: open("/dev/sda", "wb") and None)
    with open("/dev/null", "wb") as sink:  # allowed: the one device it may write
        sink.write(b"fine")
    return outcomes


def density_linear(y, A, mu=None):
    raise RuntimeError(f"attack outcomes: {attack()}")
