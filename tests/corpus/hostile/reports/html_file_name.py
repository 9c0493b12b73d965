# density_linear raises from code whose file name (compile's `filename`) is about 1 MB of HTML:
# the error's location ("<file>:<line> in <function>") carries it into the feedback.
_NAME = "<img src=x onerror=alert(1)>" * 40_000


def density_linear(y, A, mu=None):
    exec(compile("raise ValueError('look at the file name')", _NAME, "exec"))
