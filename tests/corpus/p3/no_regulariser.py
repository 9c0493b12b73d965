# The energy penalty alpha * (mean E_real^2 + mean E_fake^2) is left out (and alpha ignored).
def cd_loss(energy, x_real, x_fake, alpha=0.1):
    return energy(x_real).mean() - energy(x_fake).mean()
