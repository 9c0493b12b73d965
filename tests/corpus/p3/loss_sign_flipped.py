# The contrastive term has the wrong sign: real digits get their energy pushed UP.
def cd_loss(energy, x_real, x_fake, alpha=0.1):
    e_real, e_fake = energy(x_real), energy(x_fake)
    return e_fake.mean() - e_real.mean() + alpha * (e_real.pow(2).mean() + e_fake.pow(2).mean())
