"""The degradation model of SR benchmarks and the bicubic baseline (taught in notebook 00).

LR = quantize(bicubic_down(mod_crop(HR, s), s)): crop HR to a multiple of the scale,
downsample with MATLAB-style antialiased bicubic, round to 8 bits. The bicubic baseline
upsamples LR back with the same kernel; every SR model must beat it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from srlab.checks import check_image, check_scale


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] values to the 256 levels of an 8-bit image (what saving a PNG does)."""
    return (x.clamp(0, 1) * 255).round() / 255


def mod_crop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop (..., H, W) at the bottom/right so H and W are multiples of ``scale``."""
    scale = check_scale(scale)
    h, w = img.shape[-2:]
    if h < scale or w < scale:
        raise ValueError(f"image of size {h}x{w} is smaller than the scale {scale}")
    return img[..., : h - h % scale, : w - w % scale]


def bicubic_down(hr: torch.Tensor, scale: int, *, quantize: bool = True) -> torch.Tensor:
    """Downsample (N, C, H, W) in [0, 1] by ``scale`` like MATLAB's ``imresize``.

    Antialiased bicubic with a = -0.5: the kernel is stretched by ``scale`` so it also acts
    as the low-pass filter. Inside the image this matches MATLAB and PIL; at the borders
    torch renormalises the truncated kernel (as PIL does) where MATLAB mirrors the image,
    so the outermost ``2 * scale`` pixels differ slightly. Evaluations shave ``scale``
    pixels, which is why they agree with the published bicubic numbers to ~0.01 dB.
    Output (N, C, H/s, W/s), clamped to [0, 1], 8-bit quantised unless ``quantize=False``.
    """
    scale = check_scale(scale)
    check_image(hr, "hr")
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(
            f"hr size {h}x{w} is not divisible by scale {scale}; crop it first with mod_crop"
        )
    lr = F.interpolate(hr, size=(h // scale, w // scale), mode="bicubic", antialias=True,
                       align_corners=False).clamp(0, 1)
    return _quantize(lr) if quantize else lr


def bicubic_up(lr: torch.Tensor, scale: int, *, quantize: bool = False) -> torch.Tensor:
    """Upsample (N, C, h, w) in [0, 1] by ``scale`` with bicubic (a = -0.5), clamped to [0, 1].

    ``antialias=True`` selects torch's a = -0.5 kernel (MATLAB's); without it torch uses
    a = -0.75. For upsampling no extra blur is involved.
    """
    scale = check_scale(scale)
    check_image(lr, "lr")
    h, w = lr.shape[-2:]
    up = F.interpolate(lr, size=(h * scale, w * scale), mode="bicubic", antialias=True,
                       align_corners=False).clamp(0, 1)
    return _quantize(up) if quantize else up


_quantize = quantize  # the keyword arguments above shadow the function's name


def bicubic(scale: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The bicubic baseline as a model: a callable lr (N, 3, h, w) -> sr (N, 3, sh, sw).

    It carries ``.scale`` and ``.name`` like the networks, so ``srlab.evaluate`` and the
    benchmark tables treat it as one more row.
    """
    scale = check_scale(scale)

    def upsample(lr: torch.Tensor) -> torch.Tensor:
        return bicubic_up(lr, scale)

    upsample.scale = scale
    upsample.name = "bicubic"
    return upsample


def make_pairs(hr: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(lr, hr) for a batch of HR images (N, 3, H, W) in [0, 1]: HR mod-cropped to ``scale``,
    LR = ``bicubic_down`` (8-bit), the degradation every model of the course is trained on."""
    check_image(hr, "hr", channels=3)
    hr = mod_crop(hr, scale)
    return bicubic_down(hr, scale), hr
