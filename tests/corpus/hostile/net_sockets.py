# Tries to reach the outside: TCP to a loopback listener, UNIX sockets by path and abstract
# name, a socket pair, and io_uring (whose IORING_OP_SOCKET/CONNECT bypass a socket filter).
import ctypes
import os
import socket


def _attempt(outcomes, name, call):
    try:
        result = call()
        outcomes[name] = "SUCCEEDED" if not isinstance(result, int) or result >= 0 else f"refused ({os.strerror(ctypes.get_errno())})"
    except OSError as error:
        outcomes[name] = f"refused ({error.strerror})"


def attack():
    outcomes = {}
    _attempt(outcomes, "tcp connect", lambda: socket.create_connection(("127.0.0.1", int("{TCP_PORT}")), timeout=2).sendall(b"leak"))
    _attempt(outcomes, "unix path", lambda: socket.socket(socket.AF_UNIX).connect("{UNIX_PATH}"))
    _attempt(outcomes, "unix abstract", lambda: socket.socket(socket.AF_UNIX).connect("\0{ABSTRACT_NAME}"))
    _attempt(outcomes, "socketpair", lambda: socket.socketpair() and None)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    _attempt(outcomes, "io_uring_setup", lambda: libc.syscall(425, 8, params))
    return outcomes


def density_linear(y, A, mu=None):
    raise RuntimeError(f"attack outcomes: {attack()}")
