# alpha is ignored: the penalty weight is always 0.1.
def cd_loss(energy, x_real, x_fake, alpha=0.1):
    e_real, e_fake = energy(x_real), energy(x_fake)
    return e_real.mean() - e_fake.mean() + 0.1 * (e_real.pow(2).mean() + e_fake.pow(2).mean())
