# Correct for 2-D data, in the split style: the flow's own layers cut x into its two columns, and
# their s/t networks map one column (N, 1) to one column (N, 1); log_det = s.squeeze(1). The
# contract's coupling_forward / coupling_inverse (which receive (N, D) -> (N, D) networks) stay
# the reference's.
class _Column(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.s = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Tanh())
        self.t = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, keep, move):
        s, t = self.s(keep), self.t(keep)
        return move * torch.exp(s) + t, s.squeeze(1)

    def inverse(self, keep, move):
        s, t = self.s(keep), self.t(keep)
        return (move - t) * torch.exp(-s), -s.squeeze(1)


class RealNVP(nn.Module):
    def __init__(self, n_layers=8, **unused):
        super().__init__()
        self.layers = nn.ModuleList(_Column() for _ in range(n_layers))
        self.register_buffer("shift", torch.zeros(2))
        self.register_buffer("log_scale", torch.zeros(2))

    def set_standardisation(self, data):
        self.shift.copy_(data.mean(0))
        self.log_scale.copy_(data.std(0).log())

    def forward(self, x):
        z = (x - self.shift) * torch.exp(-self.log_scale)
        log_det = -self.log_scale.sum() * torch.ones(len(x))
        for k, layer in enumerate(self.layers):
            a, b = (z[:, :1], z[:, 1:]) if k % 2 == 0 else (z[:, 1:], z[:, :1])
            b, ld = layer(a, b)
            z = torch.cat([a, b], 1) if k % 2 == 0 else torch.cat([b, a], 1)
            log_det = log_det + ld
        return z, log_det

    def inverse(self, z):
        for k in reversed(range(len(self.layers))):
            a, b = (z[:, :1], z[:, 1:]) if k % 2 == 0 else (z[:, 1:], z[:, :1])
            b, _ = self.layers[k].inverse(a, b)
            z = torch.cat([a, b], 1) if k % 2 == 0 else torch.cat([b, a], 1)
        return z * torch.exp(self.log_scale) + self.shift

    def log_prob(self, x):
        z, log_det = self.forward(x)
        return -0.5 * (z**2).sum(1) - math.log(2 * math.pi) + log_det

    def sample(self, n):
        with torch.no_grad():
            return self.inverse(torch.randn(n, 2))
