# Mistake: returns the log-density.
def density_linear(y, A, mu=None):
    A = torch.as_tensor(A, dtype=y.dtype)
    z = torch.linalg.solve(A, y.T).T
    if mu is not None:
        z = z - torch.as_tensor(mu, dtype=y.dtype)
    return -0.5 * (z**2).sum(1) - 0.5 * y.shape[1] * math.log(2 * math.pi) - torch.linalg.slogdet(A)[1]
