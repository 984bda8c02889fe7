"""Every input check of srlab, in one place: bad input becomes one clear message that says what
was expected, instead of a deep error from inside torch or a silent wrong result.

Each check returns the value it checked (normalised where that helps), so a caller writes
``scale = check_scale(scale)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch


def check_image(
    x: object,
    name: str = "image",
    *,
    channels: int | None = None,
    value_range: bool = True,
) -> torch.Tensor:
    """Check that ``x`` is a float NCHW batch with finite values in [0, 1]; return it unchanged.

    ``value_range=False`` skips the value scan (it synchronises with the GPU, so training
    loops skip it). Raises ``TypeError``/``ValueError`` naming ``name`` and what was expected.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name}: expected a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}"
        )
    if x.ndim != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(
            f"{name}: expected a 4-D tensor (N, C, H, W), "
            f"got {x.ndim}-D shape {tuple(x.shape)}{hint}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name}: expected a float tensor with values in [0, 1], got dtype {x.dtype} "
            "(convert 8-bit images with x.float() / 255)"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name}: expected {channels} channels (N, {channels}, H, W), "
            f"got shape {tuple(x.shape)}"
        )
    if value_range and x.numel() > 0:
        lo, hi = (float(v) for v in torch.aminmax(x.detach()))
        if math.isnan(lo) or math.isnan(hi) or math.isinf(lo) or math.isinf(hi):
            bad = int((~torch.isfinite(x.detach())).sum())
            raise ValueError(f"{name}: expected finite values in [0, 1], but {bad} of "
                             f"{x.numel()} values are NaN or infinite")
        if lo < -1e-3 or hi > 1 + 1e-3:
            hint = " (looks like 0-255 values: divide by 255)" if hi > 2 else ""
            raise ValueError(
                f"{name}: expected values in [0, 1], got min {lo:.4g}, max {hi:.4g}{hint}"
            )
    return x


def check_batch(x: object, name: str) -> torch.Tensor:
    """Check that ``x`` is a float tensor with a batch dimension (N, ...); return it."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape (N, ...), "
                        f"got {type(x).__name__}")
    if x.ndim < 1 or not x.is_floating_point():
        raise ValueError(f"{name}: expected a float tensor with a batch dimension (N, ...), "
                         f"got dtype {x.dtype}, shape {tuple(x.shape)}")
    return x


def check_same_shape(
    a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("sr", "hr")
) -> None:
    """Raise ``ValueError`` if two tensors differ in shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_pair(lr: object, hr: object, scale: int) -> None:
    """Check an (lr, hr) batch: (N, 3, h, w) and (N, 3, h*scale, w*scale) float tensors."""
    for x, name in ((lr, "lr"), (hr, "hr")):
        check_image(x, name, channels=3, value_range=False)
    if hr.shape[0] != lr.shape[0] or tuple(hr.shape[-2:]) != (lr.shape[-2] * scale,
                                                              lr.shape[-1] * scale):
        raise ValueError(f"hr {tuple(hr.shape)} must be x{scale} the size of lr "
                         f"{tuple(lr.shape)}, with the same batch size")


def check_scale(scale: object, allowed: tuple[int, ...] | None = None) -> int:
    """Return ``scale`` as an int >= 2 (optionally one of ``allowed``); else ``ValueError``."""
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral):
        if isinstance(scale, float) and scale.is_integer():
            scale = int(scale)
        else:
            raise ValueError(f"scale must be an integer >= 2, got {scale!r}")
    scale = int(scale)
    if scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale}")
    if allowed is not None and scale not in allowed:
        raise ValueError(f"scale must be one of {allowed}, got {scale}")
    return scale


def check_int(value: object, name: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as an int in [minimum, maximum]; bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "" if minimum is None else f">= {minimum}"
        hi = "" if maximum is None else f"<= {maximum}"
        raise ValueError(f"{name} must be an integer {' and '.join(s for s in (lo, hi) if s)}, "
                         f"got {value}")
    return value


def check_positive(value: object, name: str) -> float:
    """Return ``value`` as a float > 0 (a learning rate, a scale factor, ...)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def check_eta(eta: object) -> float:
    """DDIM's stochasticity: a number in [0, 1] (0: deterministic DDIM, 1: DDPM-like)."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 <= eta <= 1:
        raise ValueError(f"eta must be a number in [0, 1] (0: DDIM, 1: DDPM-like), got {eta!r}")
    return float(eta)


def check_choice(value: object, choices: Sequence[object], name: str) -> object:
    """Return ``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {tuple(choices)}")
    return value
