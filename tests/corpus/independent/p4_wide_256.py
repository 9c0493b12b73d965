# Correct, with the wide coupling networks of many tutorials: 256 hidden units, PyTorch's default
# initialisation (no zero-initialised last layer, so the untrained couplings are not the identity),
# Tanh on s; the reference's couplings and training.
class _Wide(nn.Module):
    def __init__(self, tanh):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 256), nn.LeakyReLU(), nn.Linear(256, 256), nn.LeakyReLU(), nn.Linear(256, 2))
        self.tanh = tanh

    def forward(self, x):
        out = self.net(x)
        return torch.tanh(out) if self.tanh else out


_ReferenceRealNVP = RealNVP


class RealNVP(_ReferenceRealNVP):
    def __init__(self, dim=2, **unused):
        super().__init__(dim, n_layers=6)
        self.s_nets = nn.ModuleList(_Wide(True) for _ in range(6))
        self.t_nets = nn.ModuleList(_Wide(False) for _ in range(6))
