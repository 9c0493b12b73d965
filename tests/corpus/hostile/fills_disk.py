# Fills its working folder with many files, each far under the per-file size limit, as a child
# that wants the shared temporary space full while classmates are staged and graded. Stops by
# itself at 64 MB and then waits (so a test that lowers the disk budget never fills the machine).
import os
import time


def density_linear(y, A, mu=None):
    block = os.urandom(2**20)
    os.makedirs("filler", exist_ok=True)
    for index in range(64):
        with open(os.path.join("filler", f"part{index}.bin"), "wb") as handle:
            handle.write(block)
    time.sleep(600)
    return torch.zeros(len(y), dtype=y.dtype)
