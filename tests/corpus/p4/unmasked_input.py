# s and t computed from the whole input instead of mask * input: the layer is not invertible
# (the inverse cannot recompute s and t) and its log-det formula is not the Jacobian's.
def coupling_forward(x, mask, s_net, t_net):
    s, t = s_net(x), t_net(x)
    return mask * x + (1 - mask) * (x * torch.exp(s) + t), ((1 - mask) * s).sum(dim=1)


def coupling_inverse(y, mask, s_net, t_net):
    s, t = s_net(y), t_net(y)
    return mask * y + (1 - mask) * (y - t) * torch.exp(-s), -((1 - mask) * s).sum(dim=1)
