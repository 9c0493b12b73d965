# Training on a fixed tiny batch: every step uses the same 8 points (data[:8]), so the flow
# memorises them and generalises badly to fresh moons.
_train_on = train_realnvp


def train_realnvp(data, n_steps, seed=0):
    return _train_on(np.asarray(data)[:8], n_steps, seed)
