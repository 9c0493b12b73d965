# Correct, another style: numpy with an explicit inverse, converted back to a tensor.
import numpy as np


def density_linear(y, A, mu=None):
    yn, An = y.detach().numpy().astype(np.float64), np.asarray(A, dtype=np.float64)
    z = yn @ np.linalg.inv(An).T - (0 if mu is None else np.asarray(mu, dtype=np.float64))
    d = yn.shape[1]
    p = np.exp(-0.5 * (z**2).sum(1)) / ((2 * np.pi) ** (d / 2) * abs(np.linalg.det(An)))
    return torch.from_numpy(p).to(y.dtype)
