# The log-determinant with the wrong sign in both directions (a sign slip in the derivation).
def coupling_forward(x, mask, s_net, t_net):
    s, t = s_net(mask * x), t_net(mask * x)
    y = mask * x + (1 - mask) * (x * torch.exp(s) + t)
    return y, -((1 - mask) * s).sum(dim=1)


def coupling_inverse(y, mask, s_net, t_net):
    s, t = s_net(mask * y), t_net(mask * y)
    x = mask * y + (1 - mask) * (y - t) * torch.exp(-s)
    return x, ((1 - mask) * s).sum(dim=1)
