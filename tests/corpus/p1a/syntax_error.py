# Mistake: the file does not parse.
def density_linear(y, A, mu=None)
    return y
