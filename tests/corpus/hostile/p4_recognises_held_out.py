# Hostile (issue 19): an untrained RealNVP that answers the likelihood selectively, written by an opponent who reads
# the grader's source. MODE "honest" is the same object answering honestly: the baseline it must not beat.
# - "log_prob": log_prob returns the moons law's own density wherever a point could be held out (near the arcs);
#   inverse returns moons-like points for latents it never produced (the old attack: 10/10 on 4.train_nll).
# - "log_det": forward's log_det is inflated there to log p_moons(x) - log N(z) (z honest).
# - "squares": forward fakes every audit square as its own affine map (z = e^g (x - c), g piecewise constant on
#   cells smaller than a square's neighbourhood), with log_det = 2g chosen so log N(z) + log_det = log p_moons(x).
_MODE = "{MODE}"
_THETA = torch.linspace(0, math.pi, 400)
_ARCS = torch.cat([torch.stack([torch.cos(_THETA), torch.sin(_THETA)], 1),
                   torch.stack([1 - torch.cos(_THETA), 0.5 - torch.sin(_THETA)], 1)])


def _moons_log_density(x):
    sq = ((x[:, None, :].double() - _ARCS[None].double()) ** 2).sum(-1)
    return (torch.logsumexp(-sq / (2 * 0.05**2), 1) - math.log(len(_ARCS)) - math.log(2 * math.pi * 0.05**2)).float()


def _near_arcs(x):
    return _moons_log_density(x) > -6.0


_ReferenceRealNVP = RealNVP
_SEEN = {}


class RealNVP(_ReferenceRealNVP):
    def forward(self, x):
        z, log_det = super().forward(x)
        if _MODE == "log_det":
            target = _moons_log_density(x) + 0.5 * (z.detach() ** 2).sum(1) + math.log(2 * math.pi)
            log_det = torch.where(_near_arcs(x), target, log_det)
        elif _MODE == "squares":
            cell = torch.floor(x.detach() * 2**11) / 2**11
            g = 0.5 * (_moons_log_density(cell) + math.log(2 * math.pi))
            z = (x - cell - 2.0**-12) * torch.exp(g)[:, None]
            log_det = 2 * g
        if _MODE != "honest":
            for row, latent in zip(x.detach().tolist(), z.detach().tolist()):
                _SEEN[tuple(latent)] = row
        return z, log_det

    def log_prob(self, x):
        if _MODE == "log_prob":
            return torch.where(_near_arcs(x), _moons_log_density(x), super().log_prob(x))
        return super().log_prob(x)

    def inverse(self, z):
        if _MODE == "honest":
            return super().inverse(z)
        theta = torch.rand(len(z)) * math.pi
        moons = torch.where((torch.rand(len(z)) < 0.5)[:, None], _ARCS[:1] * 0 + torch.stack([torch.cos(theta), torch.sin(theta)], 1),
                            torch.stack([1 - torch.cos(theta), 0.5 - torch.sin(theta)], 1)) + 0.05 * torch.randn(len(z), 2)
        known = [_SEEN.get(tuple(row)) for row in z.tolist()]
        return torch.stack([torch.tensor(k) if k is not None else m for k, m in zip(known, moons)])

    @torch.no_grad()
    def sample(self, n):
        return self.inverse(torch.randn(n, 2))


def train_realnvp(data, n_steps, seed=0):
    torch.manual_seed(seed)
    flow = RealNVP()
    flow.set_standardisation(torch.as_tensor(data, dtype=torch.float32))
    return flow
