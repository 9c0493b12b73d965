# A correct alternative in another style: coupling written with index splits (gather/scatter by
# the mask's nonzero positions), a learned ActNorm layer (data-initialised, trainable) instead
# of a fixed standardisation, 8 couplings of width 48 with SiLU, log-scales soft-clamped,
# AdamW at 1e-2 with cosine decay and no warm-up, batch 512, gradient norm clipped to 1.
def coupling_forward(x, mask, s_net, t_net):
    m = mask.to(x.dtype)
    s = s_net(x * m)
    t = t_net(x * m)
    free = (m == 0).nonzero().flatten()
    y = x.clone()
    y[:, free] = x[:, free] * torch.exp(s[:, free]) + t[:, free]
    return y, s[:, free].sum(dim=1)


def coupling_inverse(y, mask, s_net, t_net):
    m = mask.to(y.dtype)
    s = s_net(y * m)
    t = t_net(y * m)
    free = (m == 0).nonzero().flatten()
    x = y.clone()
    x[:, free] = (y[:, free] - t[:, free]) * torch.exp(-s[:, free])
    return x, -s[:, free].sum(dim=1)


class _Net(nn.Module):
    def __init__(self, dim, hidden, clamp):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim))
        self.f[-1].weight.data.mul_(0.01)
        self.f[-1].bias.data.zero_()
        self.clamp = clamp

    def forward(self, x):
        out = self.f(x)
        return self.clamp * torch.tanh(out / self.clamp) if self.clamp else out


class RealNVP(nn.Module):
    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(2))
        self.log_s = nn.Parameter(torch.zeros(2))
        masks = [torch.tensor([1.0, 0.0]) if k % 2 == 0 else torch.tensor([0.0, 1.0]) for k in range(8)]
        self.register_buffer("masks", torch.stack(masks))
        self.s = nn.ModuleList(_Net(2, 48, 2.0) for _ in range(8))
        self.t = nn.ModuleList(_Net(2, 48, None) for _ in range(8))

    def forward(self, x):
        z = (x - self.loc) * torch.exp(-self.log_s)
        total = torch.zeros(len(x)) - self.log_s.sum()
        for k in range(len(self.s)):
            z, ld = coupling_forward(z, self.masks[k], self.s[k], self.t[k])
            total = total + ld
        return z, total

    def inverse(self, z):
        for k in reversed(range(len(self.s))):
            z, _ = coupling_inverse(z, self.masks[k], self.s[k], self.t[k])
        return z * torch.exp(self.log_s) + self.loc

    def log_prob(self, x):
        z, ld = self.forward(x)
        return -0.5 * (z * z).sum(1) - math.log(2 * math.pi) + ld

    def sample(self, n):
        with torch.no_grad():
            return self.inverse(torch.randn(n, 2))


def train_realnvp(data, n_steps, seed=0):
    torch.manual_seed(seed)
    x = torch.tensor(np.asarray(data), dtype=torch.float32)
    flow = RealNVP()
    with torch.no_grad():
        flow.loc.copy_(x.mean(0))
        flow.log_s.copy_(x.std(0).log())
    opt = torch.optim.AdamW(flow.parameters(), lr=1e-2, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)
    for _ in range(n_steps):
        idx = torch.randint(0, len(x), (512,))
        loss = -flow.log_prob(x[idx]).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 1.0)
        opt.step()
        sched.step()
    flow.eval()
    return flow
