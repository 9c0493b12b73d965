# Writes a forged reply straight to the channel: forty array descriptors over one 8 MB payload
# (each would have been a copy in the grader: 320 MB; with 50 MB arrays, 2 GB).
import json
import os
import struct


def _frame(descriptors, payload_len):
    header = json.dumps({"id": "0", "ok": True, "value": [{"$t": "array", "i": i} for i in range(len(descriptors))],
                         "arrays": descriptors}).encode()
    return b"PS4W" + struct.pack("<II", len(header), payload_len) + header


def density_linear(y, A, mu=None):
    size = 2**23  # 8 MB: within the per-array cap, so the overlap itself is what gets refused
    frame = _frame([{"dtype": "uint8", "shape": [size], "offset": 0}] * 40, size)
    for fd in range(3, 32):
        try:
            os.fstat(fd)
            if os.get_blocking(fd) and fd != 0:
                os.write(fd, frame)
                os.write(fd, bytes(size))
        except OSError:
            pass
    return torch.zeros(len(y), dtype=y.dtype)
