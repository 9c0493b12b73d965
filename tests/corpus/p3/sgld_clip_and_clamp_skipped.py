# Two classic mistakes in one step (issue 21): grad_clip is ignored and the result is not clamped to [-1, 1]. The
# reference's langevin_sample loops this step, so its loop is right: 3.langevin must not charge it again.
def sgld_step(x, energy, step_size, noise_std, noise=None, grad_clip=None):
    point = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(point).sum(), point)
    eps = torch.randn_like(point) if noise is None else noise
    return (point - step_size * g + noise_std * eps).detach()
