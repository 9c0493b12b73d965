# Correct, another style: torch.distributions with the pushed-forward Gaussian N(A mu, A A^T).
def density_linear(y, A, mu=None):
    A = torch.as_tensor(A).to(y.dtype)
    mean = torch.zeros(A.shape[0], dtype=y.dtype) if mu is None else A @ torch.as_tensor(mu).to(y.dtype)
    law = torch.distributions.MultivariateNormal(mean, covariance_matrix=A @ A.T)
    return law.log_prob(y).exp()
