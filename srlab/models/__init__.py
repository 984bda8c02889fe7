"""The course's networks: MSRN / SMSRN (x2, x3, x4 SR) and TinyUNet (diffusion SR denoiser)."""

from srlab.models.msrn import MSRB, MSRN, SMSRN  # noqa: F401
from srlab.models.tinyunet import TinyUNet  # noqa: F401
