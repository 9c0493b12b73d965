# Correct, with Glow's ActNorm: a per-coordinate affine layer whose parameters are initialised
# from the first batch it sees (its output then has zero mean and unit variance), remembered by
# a buffer flag; afterwards an ordinary trainable layer. One after each of 6 couplings and one
# in front (no fixed standardisation); the reference's couplings and networks; its own loop.
class _ActNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, x):
        if not bool(self.initialised):
            with torch.no_grad():
                self.loc.copy_(-x.mean(0))
                self.log_scale.copy_(-torch.log(x.std(0) + 1e-6))
                self.initialised.fill_(True)
        return (x + self.loc) * torch.exp(self.log_scale), self.log_scale.sum() * torch.ones(len(x))

    def inverse(self, y):
        return y * torch.exp(-self.log_scale) - self.loc


class RealNVP(nn.Module):
    def __init__(self, dim=2, n_layers=6, hidden=64):
        super().__init__()
        self.dim = dim
        first = torch.tensor([1.0, 0.0])
        self.register_buffer("masks", torch.stack([first if i % 2 == 0 else 1 - first for i in range(n_layers)]))
        self.s_nets = nn.ModuleList(CouplingNet(dim, hidden, 2, bounded=True) for _ in range(n_layers))
        self.t_nets = nn.ModuleList(CouplingNet(dim, hidden, 2, bounded=False) for _ in range(n_layers))
        self.norms = nn.ModuleList(_ActNorm(dim) for _ in range(n_layers + 1))

    def forward(self, x):
        z, log_det = self.norms[0](x)
        for mask, s_net, t_net, norm in zip(self.masks, self.s_nets, self.t_nets, self.norms[1:]):
            z, ld = coupling_forward(z, mask, s_net, t_net)
            z, ld_norm = norm(z)
            log_det = log_det + ld + ld_norm
        return z, log_det

    def inverse(self, z):
        for mask, s_net, t_net, norm in zip(reversed(self.masks), reversed(self.s_nets), reversed(self.t_nets),
                                            reversed(self.norms[1:])):
            z, _ = coupling_inverse(norm.inverse(z), mask, s_net, t_net)
        return self.norms[0].inverse(z)

    def log_prob(self, x):
        z, log_det = self.forward(x)
        return -0.5 * (z**2).sum(1) - math.log(2 * math.pi) + log_det

    def sample(self, n):
        with torch.no_grad():
            return self.inverse(torch.randn(n, self.dim))


def train_realnvp(data, n_steps, seed=0):
    torch.manual_seed(seed)
    data = torch.as_tensor(np.asarray(data), dtype=torch.float32)
    flow = RealNVP()
    optimiser = torch.optim.Adam(flow.parameters(), lr=5e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, n_steps)
    for _ in range(n_steps):
        batch = data[torch.randint(len(data), (512,))]
        loss = -flow.log_prob(batch).mean()
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(flow.parameters(), 1.0)
        optimiser.step()
        schedule.step()
    return flow.eval()
