# log_prob adds the standardisation's log-determinant a second time (moons' std < 1, so the
# density is scaled up by 1/(std_1 std_2) ≈ 2.3 and the NLL falls below the data's entropy).
# train_realnvp also runs only 200 steps, to keep the test short: the bug shows all the same.
_log_prob_once = RealNVP.log_prob
_train_full = train_realnvp


def _log_prob_twice(self, x):
    return _log_prob_once(self, x) - self.log_scale.sum()


def train_realnvp(data, n_steps, seed=0):
    return _train_full(data, min(n_steps, 200), seed)


RealNVP.log_prob = _log_prob_twice
