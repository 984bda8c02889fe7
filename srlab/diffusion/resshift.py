"""Residual shifting (ResShift, Yue et al., NeurIPS 2023): diffusion that starts from the LR image.

Instead of ending at pure noise, the forward process shifts x0 towards the (upsampled) LR
image y while adding noise: with e0 = y - x0 and a schedule 0 < eta_1 < ... < eta_T close to 1,

    q(x_t | x0, y) = N(x0 + eta_t e0, kappa^2 eta_t I)                      (ResShift eq. 2)

so x_T ~ N(y, kappa^2 eta_T I) is the prior a sampler starts from. That is not a little noise:
with the paper's kappa = 2 (tuned for VQGAN latents at x4) on images in [-1, 1], x_T = y +
1.98 eps, and y's SNR in it is about 0.06 on CIFAR-10. The chain is short (T = 15 or 4) by
construction of its schedule. The posterior, with
alpha_t = eta_t - eta_{t-1} (eta_0 = 0), is

    q(x_{t-1} | x_t, x0) = N((eta_{t-1}/eta_t) x_t + (alpha_t/eta_t) x0,
                             kappa^2 (eta_{t-1}/eta_t) alpha_t I)           (ResShift eq. 7)

and a network predicting x0 from (x_t, y, t) replaces x0 there. SinSR (Wang et al., CVPR 2024)
samples the same model deterministically, x_{t-1} = k x0_hat + m x_t + j y, and distils that
ODE into one step. Timesteps here are 1..T (t = 0 is the data). It imports nothing from the SR
side of srlab; taught in notebook 06.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from srlab.checks import check_int, check_positive

X0Model = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, y, t)


@dataclass(frozen=True)
class ShiftSchedule:
    """eta_1..eta_T of residual shifting (``eta[t - 1]`` is eta_t) and the noise scale kappa."""

    eta: torch.Tensor  # (T,) float64, increasing, in (0, 1)
    kappa: float

    @property
    def T(self) -> int:
        return len(self.eta)

    def eta_at(self, t: torch.Tensor) -> torch.Tensor:
        """eta_t for timesteps ``t`` (any shape, values 1..T; 0 gives eta_0 = 0), float64."""
        padded = torch.cat([self.eta.new_zeros(1), self.eta])
        return padded.to(t.device)[t]

    def config(self) -> dict:
        return {"T": self.T, "kappa": self.kappa}


def shift_schedule(T: int = 15, kappa: float = 2.0, power: float = 0.3,
                   min_noise: float = 0.04, sqrt_eta_end: float = 0.99) -> ShiftSchedule:
    """ResShift's schedule: sqrt(eta_t) rises geometrically from sqrt(eta_1) = min(min_noise /
    kappa, min_noise) to sqrt(eta_T) = ``sqrt_eta_end``, along timesteps warped by ``power``:
    sqrt(eta_t) = sqrt(eta_1) b^((T - 1) ((t - 1) / (T - 1))^power), b^(T - 1) = sqrt(eta_T) /
    sqrt(eta_1). The paper's x4 model: T = 15, kappa = 2, power = 0.3, min_noise = 0.04; its
    4-step variant: min_noise = 0.2 (eta ~ 0.01, 0.27, 0.58, 0.98)."""
    T = check_int(T, "T", minimum=2)
    kappa = check_positive(kappa, "kappa")
    power = check_positive(power, "power")
    start = min(check_positive(min_noise, "min_noise") / kappa, min_noise)
    if not start < sqrt_eta_end < 1:
        raise ValueError(f"need sqrt(eta_1) = {start:.4g} < sqrt_eta_end = {sqrt_eta_end} < 1")
    warped = torch.linspace(0, 1, T, dtype=torch.float64) ** power * (T - 1)
    sqrt_eta = start * torch.exp(warped * math.log(sqrt_eta_end / start) / (T - 1))
    return ShiftSchedule(sqrt_eta**2, float(kappa))


def shift_q_sample(x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                   schedule: ShiftSchedule) -> torch.Tensor:
    """x_t = x0 + eta_t (y - x0) + kappa sqrt(eta_t) noise, t (N,) in 1..T (eq. 2)."""
    if t.ndim != 1 or len(t) != len(x0):
        raise ValueError(f"t: expected one timestep per image, shape ({len(x0)},), got "
                         f"{tuple(t.shape)}")
    if int(t.min()) < 1 or int(t.max()) > schedule.T:
        raise ValueError(f"t must be in 1..T={schedule.T}, got {int(t.min())}..{int(t.max())}")
    eta = schedule.eta_at(t).to(x0.device, x0.dtype).view(-1, *([1] * (x0.ndim - 1)))
    return x0 + eta * (y - x0) + schedule.kappa * eta.sqrt() * noise


def shift_posterior(x_t: torch.Tensor, x0: torch.Tensor, t: int, schedule: ShiftSchedule
                    ) -> tuple[torch.Tensor, float]:
    """Mean and variance of q(x_{t-1} | x_t, x0) at timestep ``t`` in 1..T (eq. 7)."""
    eta_t = float(schedule.eta[t - 1])
    eta_prev = float(schedule.eta[t - 2]) if t > 1 else 0.0
    alpha = eta_t - eta_prev
    mean = (eta_prev / eta_t) * x_t + (alpha / eta_t) * x0
    return mean, schedule.kappa**2 * eta_prev / eta_t * alpha


def shift_ode_coefficients(t: int, schedule: ShiftSchedule) -> tuple[float, float, float]:
    """SinSR's deterministic step x_{t-1} = k x0_hat + m x_t + j y at timestep t in 1..T:
    (k, m, j) with m = sqrt(eta_{t-1}/eta_t), j = eta_{t-1} - sqrt(eta_{t-1} eta_t),
    k = 1 - eta_{t-1} + sqrt(eta_{t-1} eta_t) - m. It keeps x_{t-1} on the marginal of eq. 2
    for the x0 and noise that x_t implies."""
    eta_t = float(schedule.eta[t - 1])
    eta_prev = float(schedule.eta[t - 2]) if t > 1 else 0.0
    m = math.sqrt(eta_prev / eta_t)
    j = eta_prev - math.sqrt(eta_prev * eta_t)
    return 1 - eta_prev + math.sqrt(eta_prev * eta_t) - m, m, j


def shift_sample(model: X0Model, y: torch.Tensor, schedule: ShiftSchedule,
                 generator: torch.Generator | None = None, *, deterministic: bool = False,
                 x_T: torch.Tensor | None = None, clip: float | None = 1.0,
                 return_trajectory: bool = False):
    """Sample x0 given y (N, C, H, W) in T model calls, from x_T = y + kappa sqrt(eta_T) z.

    ``model(x_t, y, t)`` predicts x0 (t: (N,) int64 in 1..T); x0_hat is clamped to
    [-clip, clip] unless ``clip`` is None. Stochastic: the posterior of eq. 7 (ResShift);
    ``deterministic``: SinSR's ODE step. Noise is drawn with ``generator`` on the CPU, so a
    seed gives the same sample on every device. With ``return_trajectory`` also returns
    {"t", "x" (x_T, then every x_{t-1}), "x0_hat"}.
    """
    def noise() -> torch.Tensor:
        return torch.randn(tuple(y.shape), generator=generator).to(y.device, y.dtype)

    kappa, T = schedule.kappa, schedule.T
    x = x_T.to(y) if x_T is not None else y + kappa * math.sqrt(float(schedule.eta[-1])) * noise()
    traj: dict = {"t": list(range(T, 0, -1)), "x": [x], "x0_hat": []}
    for t in range(T, 0, -1):
        x0_hat = model(x, y, torch.full((len(y),), t, dtype=torch.long, device=y.device))
        if clip is not None:
            x0_hat = x0_hat.clamp(-clip, clip)
        if t == 1:
            x = x0_hat  # eta_0 = 0: the posterior is x0_hat itself
        elif deterministic:
            k, m, j = shift_ode_coefficients(t, schedule)
            x = k * x0_hat + m * x + j * y
        else:
            mean, var = shift_posterior(x, x0_hat, t, schedule)
            x = mean + math.sqrt(var) * noise()
        traj["x0_hat"].append(x0_hat)
        traj["x"].append(x)
    return (x, traj) if return_trajectory else x
