# A sampler loop in the style of public EBM libraries (the JEM and IGEBM papers' code), issue 21: langevin_sample does
# not call sgld_step; it keeps one leaf tensor, takes the input gradient with torch.autograd.grad, and updates its
# .data in place (gradient step, Gaussian noise, clamp). The same chain as the contract's: full marks.
def langevin_sample(energy, x0, n_steps, step_size, noise_std, grad_clip=None):
    x_k = x0.clone().detach().requires_grad_(True)
    for _ in range(n_steps):
        f_prime = torch.autograd.grad(energy(x_k).sum(), [x_k])[0]
        if grad_clip is not None:
            f_prime.clamp_(-grad_clip, grad_clip)
        x_k.data.add_(f_prime, alpha=-step_size)
        x_k.data.add_(torch.randn_like(x_k), alpha=noise_std)
        x_k.data.clamp_(-1.0, 1.0)
    return x_k.detach()
