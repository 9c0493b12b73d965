# Mistake: returns shape (N, 1) instead of (N,).
_correct_density_linear = density_linear


def density_linear(y, A, mu=None):
    return _correct_density_linear(y, A, mu)[:, None]
