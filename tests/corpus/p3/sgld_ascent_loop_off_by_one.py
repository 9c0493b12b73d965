# Gradient ascent in the step, and a loop that runs one step too few: the step's mistake is charged in 3.sgld_step,
# and the loop's own mistake must still cost 3.langevin (judged against chains of this very step).
def sgld_step(x, energy, step_size, noise_std, noise=None, grad_clip=None):
    point = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(point).sum(), point)
    if grad_clip is not None:
        g = g.clamp(-grad_clip, grad_clip)
    eps = torch.randn_like(point) if noise is None else noise
    return (point.detach() + step_size * g + noise_std * eps).clamp(-1.0, 1.0)


def langevin_sample(energy, x0, n_steps, step_size, noise_std, grad_clip=None):
    x = x0.detach()
    for _ in range(n_steps - 1):
        x = sgld_step(x, energy, step_size, noise_std, grad_clip=grad_clip)
    return x
