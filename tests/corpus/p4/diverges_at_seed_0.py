# A training that does not learn at seed 0 (it returns a flow as untrained as a diverged run leaves it) and learns at
# any other seed: the grader trains once more with seed 1 and judges that model, saying why (issue 21).
_reference_train_realnvp = train_realnvp


def train_realnvp(data, n_steps, seed=0):
    if seed == 0:
        return RealNVP()
    return _reference_train_realnvp(data, n_steps, seed)
