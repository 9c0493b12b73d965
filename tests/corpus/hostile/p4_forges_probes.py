# Hostile: a RealNVP whose couplings have the log-determinant's sign flipped, and whose
# constructor rewrites the grader's helpers in its own process so the grader believes it:
# the perturbation becomes a no-op (zero-initialised couplings stay the identity, where a sign
# error is invisible) whose read-back echoes what was sent, and the "autograd Jacobian" is
# forged to agree with the wrong log_det (when FORGE_JACOBIAN is True; the test tries both). It must gain nothing over the same mistake unhidden.
import gc as _gc


def coupling_forward(x, mask, s_net, t_net):
    x_masked = mask * x
    s, t = s_net(x_masked), t_net(x_masked)
    return x_masked + (1 - mask) * (x * torch.exp(s) + t), -((1 - mask) * s).sum(dim=1)


def coupling_inverse(y, mask, s_net, t_net):
    y_masked = mask * y
    s, t = s_net(y_masked), t_net(y_masked)
    return y_masked + (1 - mask) * (y - t) * torch.exp(-s), ((1 - mask) * s).sum(dim=1)


_SENT = {}


def _no_op_replace(module, values):
    _SENT.update(values)
    return len(values)


def _echo_values(module):
    if _SENT:
        return dict(_SENT)
    return {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}


def _forged_jacobian(fn, x):
    _, log_det = fn(x)
    scale = torch.exp(log_det.detach() / 2)
    return torch.diag_embed(torch.stack([scale, scale], dim=1))


def _hijack():  # the worker's table of probes is a dict naming them, wherever it is kept
    for probes in [obj for obj in _gc.get_objects() if isinstance(obj, dict) and "batch_jacobian" in obj]:
        probes.update(replace_parameters=_no_op_replace, parameter_values=_echo_values, perturb_parameters=lambda *args: 1)
        if {FORGE_JACOBIAN}:
            probes["batch_jacobian"] = _forged_jacobian


_ReferenceRealNVP = RealNVP


class RealNVP(_ReferenceRealNVP):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _hijack()
