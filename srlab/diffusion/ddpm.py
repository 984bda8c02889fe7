"""DDPM: the forward process, the training loss and ancestral sampling (Ho et al. 2020).

A denoiser is any callable ``model(x_t, t, cond) -> prediction`` with ``x_t`` of shape
(N, ...), ``t`` a LongTensor (N,) of timesteps in [0, T-1] and ``cond`` anything (or None).
The prediction has the shape of ``x_t`` and is one of

- ``"eps"``: the noise,  x_t = sqrt(ab) x0 + sqrt(1-ab) eps,
- ``"x0"``:  the clean sample,
- ``"v"``:   v = sqrt(ab) eps - sqrt(1-ab) x0  (Salimans & Ho 2022),

where ab = alpha_bar_t. Data are assumed scaled to [-1, 1] (``clip_x0`` clamps to it; a
number c clamps to [-c, c], for data scaled to that range).

Zero terminal SNR: at a step where alpha_bar = 0 the input is pure noise and an eps-prediction
says nothing about x0 (x0 = (x_t - eps) / 0). Sampling with ``prediction="eps"`` through such
a step raises a ``ValueError``; train with ``"v"`` or ``"x0"`` instead.

Taught in notebook 04.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from srlab.checks import check_batch, check_choice

from .schedules import NoiseSchedule

PREDICTIONS = ("eps", "x0", "v")

Denoiser = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def check_prediction(prediction: object) -> str:
    """Return ``prediction`` if it is one of ``PREDICTIONS``, else raise ``ValueError``."""
    return check_choice(prediction, PREDICTIONS, "prediction type")  # type: ignore[return-value]


def _check_schedule(schedule: object) -> NoiseSchedule:
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(
            f"schedule: expected a NoiseSchedule (e.g. make_schedule('linear', 1000)), "
            f"got {type(schedule).__name__}"
        )
    return schedule


def _batch_t(t: int | torch.Tensor, x: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """Validated timesteps as a LongTensor (N,) on x's device (an int or 0-d t is broadcast)."""
    t = schedule.check_t(t)
    n = x.shape[0]
    if t.ndim == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(
            f"t: expected shape ({n},) (one timestep per sample), got {tuple(t.shape)}"
        )
    return t.to(x.device)


def extract(values: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``values[t]`` reshaped to (N, 1, 1, ...) to broadcast against x, in x's dtype/device."""
    out = values[t.to(values.device)].to(x.device, x.dtype)
    return out.view(-1, *([1] * (x.ndim - 1)))


def randn(
    shape: Sequence[int],
    generator: torch.Generator | None,
    device: torch.device | str,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device (CPU by default), then moved.

    Drawing on the CPU makes a seed give the same numbers on every device.
    """
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype).to(device)


def q_sample(
    x0: torch.Tensor,
    t: int | torch.Tensor,
    noise: torch.Tensor | None,
    schedule: NoiseSchedule,
) -> torch.Tensor:
    """Sample x_t ~ q(x_t | x0) = N(sqrt(ab_t) x0, (1 - ab_t) I)  (DDPM eq. 4).

    x0: float (N, ...); t: int or LongTensor (N,) in [0, T-1]; noise: like x0 (None: drawn
    with ``torch.randn_like``). Returns x_t, same shape and dtype as x0.
    """
    x0 = check_batch(x0, "x0")
    schedule = _check_schedule(schedule)
    t = _batch_t(t, x0, schedule)
    if noise is None:
        noise = torch.randn_like(x0)
    elif not isinstance(noise, torch.Tensor) or noise.shape != x0.shape:
        got = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        raise ValueError(f"noise: expected the shape of x0 {tuple(x0.shape)}, got {got}")
    return extract(schedule.sqrt_alpha_bar, t, x0) * x0 + extract(
        schedule.sqrt_one_minus_alpha_bar, t, x0
    ) * noise


def prediction_target(
    x0: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    schedule: NoiseSchedule,
    prediction: str,
) -> torch.Tensor:
    """What a denoiser of type ``prediction`` should output for x_t = q_sample(x0, t, noise)."""
    prediction = check_prediction(prediction)
    if prediction == "eps":
        return noise
    if prediction == "x0":
        return x0
    a = extract(schedule.sqrt_alpha_bar, t, x0)
    s = extract(schedule.sqrt_one_minus_alpha_bar, t, x0)
    return a * noise - s * x0


def predict_x0_eps(
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    t: torch.Tensor,
    out: torch.Tensor,
    prediction: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert a model output into (x0_hat, eps_hat), both shaped like x_t.

    Raises ``ValueError`` for an eps-prediction at a step with alpha_bar = 0 (zero terminal
    SNR), where x0 cannot be recovered, and for an output whose shape differs from x_t.
    """
    prediction = check_prediction(prediction)
    if not isinstance(out, torch.Tensor) or out.shape != x_t.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"model output: expected the shape of x_t {tuple(x_t.shape)}, got {got} "
            "(the denoiser must return one prediction per input element)"
        )
    a = extract(schedule.sqrt_alpha_bar, t, x_t)
    s = extract(schedule.sqrt_one_minus_alpha_bar, t, x_t)
    if prediction == "eps":
        if bool((a == 0).any()):
            raise ValueError(
                "an eps-prediction cannot recover x0 at a step with alpha_bar = 0 (zero terminal "
                "SNR: x_t is pure noise). Use prediction='v' or 'x0', or a schedule without "
                "zero_terminal_snr, or spacing='leading' which skips the last step."
            )
        return (x_t - s * out) / a, out
    if prediction == "x0":
        return out, (x_t - a * out) / s
    return a * x_t - s * out, s * x_t + a * out


def eps_from_x0(
    schedule: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor
) -> torch.Tensor:
    """The noise implied by x_t and an x0 estimate: (x_t - sqrt(ab) x0) / sqrt(1 - ab)."""
    a = extract(schedule.sqrt_alpha_bar, t, x_t)
    s = extract(schedule.sqrt_one_minus_alpha_bar, t, x_t)
    return (x_t - a * x0) / s


def x0_bound(clip_x0: bool | float) -> float:
    """The clamp range c of ``clip_x0``: True -> 1.0, a number c > 0 -> c (else ValueError)."""
    if clip_x0 is True:
        return 1.0
    if isinstance(clip_x0, bool) or not isinstance(clip_x0, int | float) or not clip_x0 > 0:
        raise ValueError(f"clip_x0 must be True, False or a bound c > 0, got {clip_x0!r}")
    return float(clip_x0)


def denoise(
    model: Denoiser,
    x_t: torch.Tensor,
    t: int,
    cond: Any,
    schedule: NoiseSchedule,
    prediction: str,
    clip_x0: bool | float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One model call at timestep ``t`` for the whole batch -> (x0_hat, eps_hat).

    With ``clip_x0`` x0_hat is clamped to [-1, 1] (to [-c, c] for a number c > 0) and eps_hat
    recomputed from the clamped x0.
    """
    t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    out = model(x_t, t_batch, cond)
    x0_hat, eps_hat = predict_x0_eps(schedule, x_t, t_batch, out, prediction)
    if clip_x0:
        bound = x0_bound(clip_x0)
        x0_hat = x0_hat.clamp(-bound, bound)
        eps_hat = eps_from_x0(schedule, x_t, t_batch, x0_hat)
    return x0_hat, eps_hat


def diffusion_loss(
    model: Denoiser,
    x0: torch.Tensor,
    cond: Any,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    *,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The simple DDPM loss: mean squared error between the model output and its target.

    x0: float (N, ...) scaled to [-1, 1]; t ~ Uniform{0..T-1} and noise ~ N(0, I) are drawn
    (with ``generator`` if given) unless passed. Returns a scalar tensor.
    """
    x0 = check_batch(x0, "x0")
    schedule = _check_schedule(schedule)
    prediction = check_prediction(prediction)
    n = x0.shape[0]
    if t is None:
        gen_device = generator.device if generator is not None else torch.device("cpu")
        t = torch.randint(0, schedule.T, (n,), generator=generator, device=gen_device)
    t = _batch_t(t, x0, schedule)
    if noise is None:
        noise = randn(x0.shape, generator, x0.device, x0.dtype)
    x_t = q_sample(x0, t, noise, schedule)
    out = model(x_t, t, cond)
    if not isinstance(out, torch.Tensor) or out.shape != x0.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model output: expected the shape of x_t {tuple(x0.shape)}, got {got}")
    target = prediction_target(x0, noise, t, schedule, prediction)
    return torch.mean((out - target) ** 2)


def sampler_device(cond: Any, schedule: NoiseSchedule, device: torch.device | str | None):
    """Where samples live: ``device`` if given, else cond's device, else the schedule's."""
    if device is not None:
        return torch.device(device)
    if isinstance(cond, torch.Tensor):
        return cond.device
    return schedule.device


@torch.no_grad()
def ddpm_sample(
    model: Denoiser,
    shape: Sequence[int],
    cond: Any,
    schedule: NoiseSchedule,
    generator: torch.Generator | None = None,
    *,
    prediction: str = "eps",
    clip_x0: bool | float = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Ancestral sampling through all T steps (DDPM Algorithm 2, posterior variance beta_tilde).

    x_{t-1} = mu_t(x0_hat, x_t) + sqrt(beta_tilde_t) z, with the posterior q(x_{t-1} | x_t, x0)
    (DDPM eq. 6-7); no noise at t = 0. Returns x0 of ``shape`` on ``device``.
    """
    schedule = _check_schedule(schedule)
    prediction = check_prediction(prediction)
    device = sampler_device(cond, schedule, device)
    x = randn(shape, generator, device, dtype)
    for t in range(schedule.T - 1, -1, -1):
        x0_hat, _ = denoise(model, x, t, cond, schedule, prediction, clip_x0)
        ab, ab_prev = float(schedule.alpha_bar[t]), float(schedule.alpha_bar_prev[t])
        beta, alpha = float(schedule.betas[t]), float(schedule.alphas[t])
        coef_x0 = beta * ab_prev**0.5 / (1 - ab)
        coef_xt = (1 - ab_prev) * alpha**0.5 / (1 - ab)
        mean = coef_x0 * x0_hat + coef_xt * x
        if t > 0:
            var = beta * (1 - ab_prev) / (1 - ab)
            x = mean + var**0.5 * randn(shape, generator, device, dtype)
        else:
            x = mean
    return x
