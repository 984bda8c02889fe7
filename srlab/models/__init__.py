"""The course's networks, and the one way to build any of them from a checkpoint's config.

- ``msrn``: MSRN and SMSRN, x2/x3/x4 SR (notebooks 02, 03), with ``receptive_field`` (measured
  by back-propagation) and ``parameter_table`` (MSRN's parameters part by part).
- ``tinyunet``: the TinyUNet denoiser (notebook 05); ``tinyunet_sr``: ``TinyUNetSR``, the
  x2 super-resolver around it (few-step DDIM diffusion or one-pass regression);
  ``tinyunet_fast``: ``FastSampler``, its DDIM sampler with the per-step bookkeeping removed.
- ``cifar_classifier``: the small CIFAR-10 classifier whose features define FD-CIFAR.
- ``resshift_sr``: ``ResShiftSR``, residual-shifting diffusion with a TinyUNet (notebook 06).
- ``resdiff_sr``: ``ResDiffSR``, a CNN pre-prediction plus diffusion of its residual (notebook 06).

``build(kind, config)`` is how checkpoints, shipped weights and the command line make a
network; every model class has a ``kind``, a ``config`` dict and ``from_config``.
"""

from torch import nn

from srlab.checks import check_choice
from srlab.models.cifar_classifier import CifarClassifier
from srlab.models.msrn import MSRB, MSRN, SMSRN, parameter_table, receptive_field
from srlab.models.resdiff_sr import ResDiffSR
from srlab.models.resshift_sr import ResShiftSR
from srlab.models.tinyunet import TinyUNet
from srlab.models.tinyunet_fast import FastSampler
from srlab.models.tinyunet_sr import TinyUNetSR

MODELS: dict[str, type[nn.Module]] = {"msrn": MSRN, "smsrn": SMSRN, "tinyunet": TinyUNetSR,
                                      "resshift": ResShiftSR, "resdiff": ResDiffSR,
                                      "cifar_classifier": CifarClassifier}
SR_MODELS = ("msrn", "smsrn", "tinyunet", "resshift")


def build(kind: str, config: dict | None = None) -> nn.Module:
    """A fresh (untrained) ``kind`` network (a key of ``MODELS``) from ``config``."""
    check_choice(kind, tuple(MODELS), "model kind")
    return MODELS[kind].from_config(dict(config or {}))


__all__ = ["MODELS", "SR_MODELS", "CifarClassifier", "FastSampler", "MSRB", "MSRN", "ResDiffSR",
           "ResShiftSR", "SMSRN", "TinyUNet", "TinyUNetSR", "build", "parameter_table",
           "receptive_field"]
