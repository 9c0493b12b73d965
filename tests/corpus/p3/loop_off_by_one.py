# A loop that runs one step too few. Graded after sgld_ascent.py (the key "sgld_ascent+loop_off_by_one" in
# tests/test_p3.py): the step's mistake is charged in 3.sgld_step, and the loop's own mistake must still cost
# 3.langevin, judged against chains of that very step.
def langevin_sample(energy, x0, n_steps, step_size, noise_std, grad_clip=None):
    x = x0.detach()
    for _ in range(n_steps - 1):
        x = sgld_step(x, energy, step_size, noise_std, grad_clip=grad_clip)
    return x
