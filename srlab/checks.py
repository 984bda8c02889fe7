"""Input checks that turn bad input into a clear message instead of a deep torch error."""

from __future__ import annotations

import numbers

import torch


def check_image(
    x: object,
    name: str = "image",
    *,
    channels: int | None = None,
    value_range: bool = True,
) -> torch.Tensor:
    """Check that ``x`` is a float NCHW batch with values in [0, 1]; return it unchanged.

    Raises ``TypeError``/``ValueError`` naming ``name`` and what was expected.
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
        if lo < -1e-3 or hi > 1 + 1e-3:
            hint = " (looks like 0-255 values: divide by 255)" if hi > 2 else ""
            raise ValueError(
                f"{name}: expected values in [0, 1], got min {lo:.4g}, max {hi:.4g}{hint}"
            )
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
