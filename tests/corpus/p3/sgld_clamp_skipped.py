# The result is not clamped to [-1, 1] (one classic mistake); the reference's loop of this step is right.
def sgld_step(x, energy, step_size, noise_std, noise=None, grad_clip=None):
    point = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(point).sum(), point)
    if grad_clip is not None:
        g = g.clamp(-grad_clip, grad_clip)
    eps = torch.randn_like(point) if noise is None else noise
    return (point - step_size * g + noise_std * eps).detach()
