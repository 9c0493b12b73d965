# A correct Problem 3 in another style: a different network (stride-2 4x4 convolutions, ELU),
# the input gradient through torch.func, all the chain's noise drawn up front, a deque buffer,
# and other training hyperparameters (batch 40, 12 SGLD steps, lr 1.5e-4, no jitter, no
# parameter-gradient clipping). It consumes the random number generator differently from the
# reference everywhere, so only the grader's statistical checks can recognise it as correct.
import collections

import torch.func


class EnergyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 24, 4, stride=2, padding=1), nn.ELU(),   # 14 x 14
            nn.Conv2d(24, 48, 4, stride=2, padding=1), nn.ELU(),  # 7 x 7
            nn.Conv2d(48, 64, 3, stride=2, padding=1), nn.ELU(),  # 4 x 4
            nn.Flatten(), nn.Linear(64 * 16, 32), nn.ELU(), nn.Linear(32, 1),
        )

    def forward(self, x):
        return self.net(x).flatten()


def _input_gradient(energy, x):
    # torch.func.grad's result stays attached to the energy's parameters (g depends on them), so detach it
    return torch.func.grad(lambda z: energy(z).sum())(x.detach().clone()).detach()


def sgld_step(x, energy, step_size, noise_std, noise=None, grad_clip=None):
    g = _input_gradient(energy, x)
    if grad_clip is not None:
        g = torch.maximum(torch.minimum(g, torch.tensor(grad_clip)), torch.tensor(-grad_clip))
    if noise is None:
        noise = torch.randn(x.shape, dtype=x.dtype)
    return torch.clamp(x.detach() - step_size * g + noise_std * noise, min=-1.0, max=1.0)


def langevin_sample(energy, x0, n_steps, step_size, noise_std, grad_clip=None):
    kicks = torch.randn((n_steps, *x0.shape), dtype=x0.dtype)
    x = x0.detach().clone()
    for k in range(n_steps):
        x = sgld_step(x, energy, step_size, noise_std, noise=kicks[k], grad_clip=grad_clip)
    return x


class ReplayBuffer:
    def __init__(self, capacity=8192, shape=(1, 28, 28), reinit_prob=0.05):
        self.capacity, self.shape, self.reinit_prob = capacity, tuple(shape), reinit_prob
        self.rows = collections.deque(maxlen=capacity)

    def push(self, x):
        for row in x.detach().float().reshape(-1, *self.shape):
            self.rows.append(row.clone())

    def sample(self, n):
        noise = 2 * torch.rand((n, *self.shape)) - 1
        if not self.rows:
            return noise
        picks = torch.randint(0, len(self.rows), (n,)).tolist()
        stored = torch.stack([self.rows[i] for i in picks])
        fresh = torch.bernoulli(torch.full((n,), float(self.reinit_prob))).bool()
        stored[fresh] = noise[fresh]
        return stored


def cd_loss(energy, x_real, x_fake, alpha=0.1):
    both = energy(torch.cat([x_real, x_fake]))
    e_real, e_fake = both[: len(x_real)], both[len(x_real):]
    contrast = e_real.sum() / len(e_real) - e_fake.sum() / len(e_fake)
    return contrast + alpha * ((e_real * e_real).sum() / len(e_real) + (e_fake * e_fake).sum() / len(e_fake))


def train_ebm(images, n_iters, seed=0, batch_size=40, n_steps=12, lr=1.5e-4):
    torch.manual_seed(seed)
    model = EnergyNet()
    buffer = ReplayBuffer(capacity=4096, shape=images.shape[1:])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.0, 0.999))
    for _ in range(n_iters):
        real = images[torch.randperm(len(images))[:batch_size]]
        fake = langevin_sample(model, buffer.sample(batch_size), n_steps, STEP_SIZE, NOISE_STD, GRAD_CLIP)
        buffer.push(fake)
        optimizer.zero_grad()
        cd_loss(model, real, fake).backward()
        optimizer.step()
    return model.eval()
