"""A small, correct diffusion core: noise schedules, the DDPM loss and sampler, DDIM sampling."""

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
from .sr import TinyUNetSR, model_from_checkpoint  # noqa: F401  (few-step TinyUNet SR)

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
