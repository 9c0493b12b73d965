# Correct, with the batch-normalisation flow layer of the RealNVP paper between couplings: in
# train mode it normalises by the batch's statistics and updates running averages; in eval mode
# it uses the running averages, so each point is mapped on its own. log_det = Σ (log γ -
# 0.5 log(var + eps)). Couplings and networks are the reference's; its own training loop
# (Adam, batch 512), and it returns the model without calling eval() (public code often does not).
class _BatchNormFlow(nn.Module):
    def __init__(self, dim, momentum=0.1, eps=1e-5):
        super().__init__()
        self.log_gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def forward(self, x):
        if self.training:
            mean, var = x.mean(0), x.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var)
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean) / torch.sqrt(var + self.eps) * torch.exp(self.log_gamma) + self.beta
        log_det = (self.log_gamma - 0.5 * torch.log(var + self.eps)).sum() * torch.ones(len(x))
        return y, log_det

    def inverse(self, y):
        mean, var = self.running_mean, self.running_var
        return (y - self.beta) * torch.exp(-self.log_gamma) * torch.sqrt(var + self.eps) + mean


class RealNVP(nn.Module):
    def __init__(self, dim=2, n_layers=6, hidden=64):
        super().__init__()
        self.dim = dim
        first = torch.tensor([1.0, 0.0])
        self.register_buffer("masks", torch.stack([first if i % 2 == 0 else 1 - first for i in range(n_layers)]))
        self.s_nets = nn.ModuleList(CouplingNet(dim, hidden, 2, bounded=True) for _ in range(n_layers))
        self.t_nets = nn.ModuleList(CouplingNet(dim, hidden, 2, bounded=False) for _ in range(n_layers))
        self.norms = nn.ModuleList(_BatchNormFlow(dim) for _ in range(n_layers + 1))

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
            z = norm.inverse(z)
            z, _ = coupling_inverse(z, mask, s_net, t_net)
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
    with torch.no_grad():  # start the running averages at the data's statistics
        flow.norms[0].running_mean.copy_(data.mean(0))
        flow.norms[0].running_var.copy_(data.var(0))
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
    return flow
