# A correct alternative: one network per coupling produces both s and t, masks are boolean
# inside the flow (torch.where instead of arithmetic with 0/1 floats), 8 couplings of width 96,
# log-scales bounded by tanh, Adam at lr 5e-3 with a step decay, batch 256.
def coupling_forward(x, mask, s_net, t_net):
    keep = mask.bool()
    conditioner = torch.where(keep, x, torch.zeros_like(x))
    s, t = s_net(conditioner), t_net(conditioner)
    y = torch.where(keep, x, x * torch.exp(s) + t)
    return y, s.masked_fill(keep, 0.0).sum(-1)


def coupling_inverse(y, mask, s_net, t_net):
    keep = mask.bool()
    conditioner = torch.where(keep, y, torch.zeros_like(y))
    s, t = s_net(conditioner), t_net(conditioner)
    x = torch.where(keep, y, (y - t) * torch.exp(-s))
    return x, -s.masked_fill(keep, 0.0).sum(-1)


class _JointNet(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden), nn.LeakyReLU(),
                                  nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)
        self.s_scale = nn.Parameter(torch.full((dim,), 1.5))

    def forward(self, x):
        s, t = self.body(x).chunk(2, dim=-1)
        return self.s_scale * torch.tanh(s / self.s_scale), t


class RealNVP(nn.Module):
    def __init__(self, dim=2, n_layers=8, hidden=96):
        super().__init__()
        self.dim = dim
        self.register_buffer("mu", torch.zeros(dim))
        self.register_buffer("sigma", torch.ones(dim))
        self.register_buffer("keep", torch.stack([(torch.arange(dim) + k) % 2 == 0 for k in range(n_layers)]))
        self.nets = nn.ModuleList(_JointNet(dim, hidden) for _ in range(n_layers))

    def _couple(self, x, keep, net, sign):
        cond = torch.where(keep, x, torch.zeros_like(x))
        s, t = net(cond)
        s = s.masked_fill(keep, 0.0)
        if sign > 0:
            return torch.where(keep, x, x * torch.exp(s) + t), s.sum(-1)
        return torch.where(keep, x, (x - t) * torch.exp(-s)), -s.sum(-1)

    def forward(self, x):
        z = (x - self.mu) / self.sigma
        log_det = -torch.log(self.sigma).sum() * torch.ones(x.shape[0], dtype=x.dtype)
        for keep, net in zip(self.keep, self.nets):
            z, ld = self._couple(z, keep, net, +1)
            log_det = log_det + ld
        return z, log_det

    def inverse(self, z):
        for keep, net in zip(reversed(self.keep), reversed(self.nets)):
            z, _ = self._couple(z, keep, net, -1)
        return z * self.sigma + self.mu

    def log_prob(self, x):
        z, log_det = self(x)
        return torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1) + log_det

    @torch.no_grad()
    def sample(self, n):
        return self.inverse(torch.randn(n, self.dim))


def train_realnvp(data, n_steps, seed=0):
    torch.manual_seed(seed)
    data = torch.as_tensor(np.asarray(data), dtype=torch.float32)
    flow = RealNVP(dim=data.shape[1])
    flow.mu.copy_(data.mean(0))
    flow.sigma.copy_(data.std(0))
    opt = torch.optim.Adam(flow.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.6 * n_steps), int(0.85 * n_steps)], gamma=0.3)
    for _ in range(n_steps):
        batch = data[torch.randint(len(data), (256,))]
        loss = -flow.log_prob(batch).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 5.0)
        opt.step()
        sched.step()
    return flow.eval()
