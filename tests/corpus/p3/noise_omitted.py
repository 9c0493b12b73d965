# The noise is left out: plain (clipped) gradient descent, whatever noise_std and noise say.
def sgld_step(x, energy, step_size, noise_std, noise=None, grad_clip=None):
    point = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(point).sum(), point)
    if grad_clip is not None:
        g = g.clamp(-grad_clip, grad_clip)
    return (point.detach() - step_size * g).clamp(-1.0, 1.0)
