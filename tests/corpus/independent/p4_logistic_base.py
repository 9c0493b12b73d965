# Against the contract: the flow is correct but its base distribution is a standard logistic
# (as in NICE), not the standard normal. It must lose exactly the points that judge the base
# density (log_prob's third of 4.model_logprob, and 4.sample), with messages naming the base.
_ReferenceRealNVP = RealNVP


class RealNVP(_ReferenceRealNVP):
    def log_prob(self, x):
        z, log_det = self.forward(x)
        return -(nn.functional.softplus(z) + nn.functional.softplus(-z)).sum(1) + log_det

    @torch.no_grad()
    def sample(self, n):
        u = torch.rand(n, self.dim).clamp(1e-6, 1 - 1e-6)
        return self.inverse(torch.log(u) - torch.log1p(-u))
