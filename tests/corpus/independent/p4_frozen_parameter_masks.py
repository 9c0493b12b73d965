# Correct, in a style common in public RealNVP code: the masks are module-level tensors wrapped
# in frozen nn.Parameters (requires_grad=False), so every instance -- the trained model and a
# fresh RealNVP() in the same process -- shares their storage; s and t come from separate
# Sequential networks (LeakyReLU, Tanh on s), trained by the reference's train_realnvp.
MASKS = [torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])] * 4


class _ScaleNet(nn.Module):
    def __init__(self, hidden=64, tanh=True):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden), nn.LeakyReLU(),
                                 nn.Linear(hidden, 2))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.tanh = tanh

    def forward(self, x):
        out = self.net(x)
        return torch.tanh(out) if self.tanh else out


class RealNVP(nn.Module):
    def __init__(self, dim=2, **unused):
        super().__init__()
        self.dim = dim
        self.mask = nn.ParameterList([nn.Parameter(m, requires_grad=False) for m in MASKS])
        self.s = nn.ModuleList([_ScaleNet(tanh=True) for _ in MASKS])
        self.t = nn.ModuleList([_ScaleNet(tanh=False) for _ in MASKS])
        self.register_buffer("shift", torch.zeros(dim))
        self.register_buffer("log_scale", torch.zeros(dim))

    def set_standardisation(self, data):
        self.shift.copy_(data.mean(0))
        self.log_scale.copy_(data.std(0).log())

    def forward(self, x):
        z = (x - self.shift) * torch.exp(-self.log_scale)
        log_det = -self.log_scale.sum() * torch.ones(x.shape[0])
        for i in range(len(self.t)):
            z, ld = coupling_forward(z, self.mask[i], self.s[i], self.t[i])
            log_det = log_det + ld
        return z, log_det

    def inverse(self, z):
        for i in reversed(range(len(self.t))):
            z, _ = coupling_inverse(z, self.mask[i], self.s[i], self.t[i])
        return z * torch.exp(self.log_scale) + self.shift

    def log_prob(self, x):
        z, log_det = self.forward(x)
        return -0.5 * (z**2).sum(1) - math.log(2 * math.pi) + log_det

    def sample(self, n):
        with torch.no_grad():
            return self.inverse(torch.randn(n, self.dim))
