# sample pushes the noise through forward (data -> latent) instead of inverse.
@torch.no_grad()
def _sample_forward(self, n):
    return self.forward(torch.randn(n, self.dim))[0]


RealNVP.sample = _sample_forward
