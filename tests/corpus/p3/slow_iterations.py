# Each training iteration costs a fixed 0.08 s (a sleep standing in for a large batch), and the
# model is returned untrained. Graded with a small --time-scale, 150 iterations overrun the
# least time limit but fit the budget measured from 1 and 4 iterations: the check must not
# score 0 for time (it earns the "runs" point; the untrained energy separates nothing).
_SECONDS_PER_ITERATION = 0.08


def train_ebm(images, n_iters, seed=0):
    torch.manual_seed(seed)
    model = EnergyNet()
    for _ in range(n_iters):
        time.sleep(_SECONDS_PER_ITERATION)
    return model.eval()
