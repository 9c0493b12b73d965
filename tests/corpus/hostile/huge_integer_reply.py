# Makes the worker reply with a 5,000-digit integer: lifts Python's int/str conversion limit in
# the child and replaces the worker's encoder, so the reply's JSON carries the number itself.
# The grader must read it as data (a float, here inf), never fail with an internal error.
import gc
import sys

sys.set_int_max_str_digits(0)


def density_linear(y, A, mu=None):
    for thing in gc.get_objects():
        if type(thing).__name__ == "Worker" and hasattr(thing, "encode"):
            thing.encode = lambda value, arrays: 10**4999 + 1
    return torch.zeros(len(y), dtype=y.dtype)
