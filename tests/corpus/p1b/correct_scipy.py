# Correct, another style: scipy's solve_ivp (RK45 at sensible tolerances) instead of torchdiffeq, whole batch at once.
import numpy as np
from scipy.integrate import solve_ivp


def _field_numpy(f, dtype, shape):
    def rhs(s, y):
        with torch.no_grad():
            return f(torch.tensor(s, dtype=dtype), torch.from_numpy(y.reshape(shape)).to(dtype)).double().numpy().ravel()
    return rhs


def simulate(f, z0, t1):
    if float(t1) == 0.0:
        return z0.clone()
    sol = solve_ivp(_field_numpy(f, z0.dtype, z0.shape), (0.0, float(t1)), z0.double().numpy().ravel(), rtol=1e-7, atol=1e-9)
    return torch.from_numpy(sol.y[:, -1].reshape(z0.shape)).to(z0.dtype)


def density_on_grid(f, t, points):
    n, d = points.shape

    def rhs(s, y):
        z = torch.from_numpy(y[: n * d].reshape(n, d)).to(points.dtype)
        dz_dt, dlogp_dt = ode_logp_dynamics(f, torch.tensor(s, dtype=points.dtype), z)
        return np.concatenate([dz_dt.detach().double().numpy().ravel(), dlogp_dt.detach().double().numpy()])

    y = np.concatenate([points.double().numpy().ravel(), np.zeros(n)])
    if float(t) != 0.0:
        y = solve_ivp(rhs, (float(t), 0.0), y, rtol=1e-7, atol=1e-9).y[:, -1]
    z0, delta = y[: n * d].reshape(n, d), y[n * d:]
    log_p = -0.5 * (z0**2).sum(1) - 0.5 * d * np.log(2 * np.pi) - delta
    return torch.from_numpy(np.exp(log_p)).to(points.dtype)
