"""DDIM: deterministic (eta = 0) or stochastic few-step sampling (Song et al. 2021).

DDIM eq. 12 (the update) with sigma_t(eta) from eq. 16; ab = alpha_bar, t the current and t' the
next (smaller) timestep:

    x_{t'} = sqrt(ab_{t'}) x0_hat + sqrt(1 - ab_{t'} - sigma_t^2) eps_hat + sigma_t z,
    sigma_t = eta sqrt((1 - ab_{t'}) / (1 - ab_t)) sqrt(1 - ab_t / ab_{t'}).

After the last listed timestep t' = -1 with ab_{-1} = 1, so the output is x0_hat.

Taught in notebook 04.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from srlab.checks import check_eta

from .ddpm import Denoiser, _check_schedule, check_prediction, denoise, randn, sampler_device
from .schedules import NoiseSchedule

SPACINGS = ("linspace", "leading", "trailing")


def ddim_timesteps(T: int, n_steps: int, spacing: str = "trailing") -> list[int]:
    """The ``n_steps`` timesteps visited by DDIM, in decreasing order.

    Conventions of Lin et al. 2024, Table 2 (T=1000, 4 steps):
    linspace [999, 666, 333, 0], leading [750, 500, 250, 0], trailing [999, 749, 499, 249].
    Only "linspace" and "trailing" start at T-1, where the model sees pure noise.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be an integer >= 1, got {T!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)):
        raise ValueError(f"n_steps must be an integer in [1, {T}], got {n_steps!r}")
    n = int(n_steps)
    if not 1 <= n <= T:
        raise ValueError(f"n_steps must be in [1, T={T}], got {n}")
    if spacing == "linspace":
        steps = np.round(np.linspace(0, T - 1, n)).astype(np.int64)[::-1]
    elif spacing == "leading":
        steps = (np.arange(n, dtype=np.int64) * (T // n))[::-1]
    elif spacing == "trailing":
        # i * T / n, not i * (T / n): the product stays exact, so a tie (x.5) rounds as in
        # Python's round(T - i * T / n) instead of by the last bit of T / n
        steps = np.round(T - np.arange(n) * T / n).astype(np.int64) - 1
    else:
        raise ValueError(f"unknown spacing {spacing!r}; expected one of {SPACINGS}")
    out = [int(s) for s in steps]
    assert len(set(out)) == n and out == sorted(out, reverse=True), out  # internal invariant
    return out


@torch.no_grad()
def ddim_sample(
    model: Denoiser,
    shape: Sequence[int],
    cond: Any,
    schedule: NoiseSchedule,
    n_steps: int,
    eta: float = 0.0,
    spacing: str = "trailing",
    prediction: str = "eps",
    clip_x0: bool | float = True,
    generator: torch.Generator | None = None,
    return_trajectory: bool = False,
    *,
    x_T: torch.Tensor | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor | tuple[torch.Tensor, dict]:
    """Sample with DDIM in ``n_steps`` model calls; returns x0 of ``shape``.

    model(x_t, t, cond) -> prediction of type ``prediction`` ("eps", "x0" or "v");
    eta = 0 is deterministic DDIM, eta = 1 with n_steps = T is DDPM. x_T is drawn with
    ``generator`` on its device (CPU by default) and moved to ``device`` (default: cond's
    device, else the schedule's), so a seed gives the same x_T everywhere; pass ``x_T`` to
    start from given noise. ``clip_x0`` clamps x0_hat to [-1, 1] (a number c: to [-c, c]).

    With ``return_trajectory`` returns ``(x0, traj)``, traj a dict with "t" (list of n_steps
    timesteps), "x" (n_steps + 1 tensors: x_T, then x after every step) and "x0_hat"
    (n_steps tensors).
    """
    schedule = _check_schedule(schedule)
    prediction = check_prediction(prediction)
    timesteps = ddim_timesteps(schedule.T, n_steps, spacing)
    eta = check_eta(eta)
    device = sampler_device(cond, schedule, device)
    if x_T is None:
        x = randn(shape, generator, device, dtype)
    else:
        if not isinstance(x_T, torch.Tensor) or tuple(x_T.shape) != tuple(shape):
            got = tuple(x_T.shape) if isinstance(x_T, torch.Tensor) else type(x_T).__name__
            raise ValueError(f"x_T: expected shape {tuple(shape)}, got {got}")
        x = x_T.to(device, dtype)
    traj: dict = {"t": timesteps, "x": [x], "x0_hat": []}
    for i, t in enumerate(timesteps):
        x0_hat, eps_hat = denoise(model, x, t, cond, schedule, prediction, clip_x0)
        ab = float(schedule.alpha_bar[t])
        ab_prev = float(schedule.alpha_bar[timesteps[i + 1]]) if i + 1 < len(timesteps) else 1.0
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)) ** 0.5
        x = ab_prev**0.5 * x0_hat + max(1 - ab_prev - sigma**2, 0.0) ** 0.5 * eps_hat
        if sigma > 0:
            x = x + sigma * randn(shape, generator, device, dtype)
        if return_trajectory:
            traj["x"].append(x)
            traj["x0_hat"].append(x0_hat)
    return (x, traj) if return_trajectory else x
