"""A small, correct diffusion core: noise schedules, the DDPM loss and sampler, DDIM sampling.

Taught in notebook 04. It imports nothing from the SR side of srlab: any denoiser
``model(x_t, t, cond)`` works with it (the TinyUNet super-resolver in ``srlab.models`` is one).
"""

from .ddim import SPACINGS, ddim_sample, ddim_timesteps
from .ddpm import (
    PREDICTIONS,
    ddpm_sample,
    diffusion_loss,
    predict_x0_eps,
    prediction_target,
    q_sample,
)
from .schedules import (
    NoiseSchedule,
    cosine_schedule,
    linear_schedule,
    make_schedule,
    rescale_zero_terminal_snr,
)

__all__ = [
    "NoiseSchedule",
    "linear_schedule",
    "cosine_schedule",
    "rescale_zero_terminal_snr",
    "make_schedule",
    "q_sample",
    "diffusion_loss",
    "ddpm_sample",
    "predict_x0_eps",
    "prediction_target",
    "ddim_timesteps",
    "ddim_sample",
    "PREDICTIONS",
    "SPACINGS",
]
