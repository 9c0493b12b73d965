# Mistake: the mean mu is never used.
def density_linear(y, A, mu=None):
    A = torch.as_tensor(A, dtype=y.dtype)
    z = torch.linalg.solve(A, y.T).T
    return torch.exp(-0.5 * (z**2).sum(1) - torch.linalg.slogdet(A)[1]) / (2 * math.pi) ** (y.shape[1] / 2)
