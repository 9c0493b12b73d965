# train_ebm at a well-known tutorial's settings: batch 128 and 60 Langevin steps per iteration
# (about 1.7 s per iteration on one core, ten times the reference). Correct, only slow: the
# grader's budget (1.5 x 150 x the measured cost of one iteration) must let it finish, so it
# never gets 0 for time. Too slow for the test suite: `benchmarks/bench_p3.py --tutorial`
# grades it; the tests check the budget with `slow_iterations.py`.
_reference_train_ebm = train_ebm


def train_ebm(images, n_iters, seed=0):
    return _reference_train_ebm(images, n_iters, seed, batch_size=128, n_steps=60, lr=1e-4)
