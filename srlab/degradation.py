"""The degradation model of SR benchmarks and the bicubic baseline (taught in notebook 00).

LR = quantize(bicubic_down(mod_crop(HR, s), s)): crop HR to a multiple of the scale,
downsample with MATLAB-style antialiased bicubic, round to 8 bits. The bicubic baseline
upsamples LR back with the same kernel; every SR model must beat it.

Two ways to handle the border (``border=``), identical away from it:

- ``"renormalise"`` (the default; what the shipped weights were trained on): near the edge
  the part of the kernel that falls outside the image is dropped and the remaining weights
  are rescaled to sum to 1 (PIL, and PyTorch's resize with ``antialias=True``; PyTorch's
  plain bicubic repeats the edge pixel instead);
- ``"symmetric"``: the image is mirrored with its edge pixel repeated (d c b a | a b c d |
  d c b a, period 2L), as MATLAB's ``imresize`` does, so the whole kernel always applies.

For notebook 00's figures: ``cubic_kernel`` (Keys' kernel, the weights), ``border_band`` (how
far in from the border two images differ) and ``noise_at_psnr`` (noise of a given PSNR).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from srlab.checks import check_image, check_scale
from srlab.metrics import psnr


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


BORDERS = ("renormalise", "symmetric")


def symmetric_index(n: int, pad: int, device: torch.device | None = None) -> torch.Tensor:
    """Indices 0..n-1 of an axis of length ``n`` padded by ``pad`` on both sides, mirrored
    MATLAB-style (edge sample repeated, period 2n, so any ``pad`` works, even pad > n):
    n=3, pad=4 -> [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]. Returns a (n + 2 pad,) int64 tensor."""
    i = torch.arange(-pad, n + pad, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def symmetric_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad (..., H, W) by ``pad`` pixels on every side with MATLAB's symmetric mirroring
    (``symmetric_index``): (..., H + 2 pad, W + 2 pad), like ``np.pad(mode="symmetric")``."""
    h, w = x.shape[-2:]
    rows, cols = symmetric_index(h, pad, x.device), symmetric_index(w, pad, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _resize(x: torch.Tensor, size: tuple[int, int], border: str, pad: int, crop: int
            ) -> torch.Tensor:
    """Antialiased bicubic (a = -0.5) resize of (N, C, H, W) to ``size``; with
    ``border="symmetric"`` pad the input by ``pad`` first and crop ``crop`` output pixels
    off every side (``pad`` and ``crop`` cover the kernel's reach at this scale)."""
    if border == "symmetric":
        x = symmetric_pad(x, pad)
        size = (size[0] + 2 * crop, size[1] + 2 * crop)
    out = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
    if border == "symmetric":
        out = out[..., crop:-crop, crop:-crop]
    return out.clamp(0, 1)


def _check_border(border: object) -> str:
    if border not in BORDERS:
        raise ValueError(f"border must be one of {BORDERS} ('renormalise': torch/PIL, the "
                         f"default; 'symmetric': MATLAB's imresize), got {border!r}")
    return border


def bicubic_down(hr: torch.Tensor, scale: int, *, quantize: bool = True,
                 border: str = "renormalise") -> torch.Tensor:
    """Downsample (N, C, H, W) in [0, 1] by ``scale`` like MATLAB's ``imresize``.

    Antialiased bicubic with a = -0.5: the kernel is stretched by ``scale`` (it reaches
    ``2 * scale`` HR pixels to each side) so it also acts as the low-pass filter. Away from
    the borders this is MATLAB's and PIL's result. ``border`` says what happens where the
    kernel sticks out of the image (the outer 2 LR pixels):

    - ``"renormalise"`` (default, what the shipped weights were trained with): the weights
      inside the image are rescaled to sum to 1 (PIL, and torch with ``antialias=True``);
    - ``"symmetric"``: MATLAB's rule. HR is mirrored with the edge pixel repeated by
      ``2 * scale`` pixels (period-2H indexing, so images smaller than that work too),
      interpolated, and the 2 extra LR pixels per side cropped off.

    Bicubic x4 on Set5 and Set14 (Y, shave 4) moves by less than 0.01 dB between the two
    (notebook 00, section 6, measures it). Output (N, C, H/s, W/s), clamped to [0, 1], 8-bit
    quantised unless ``quantize=False``.
    """
    scale = check_scale(scale)
    border = _check_border(border)
    check_image(hr, "hr")
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(
            f"hr size {h}x{w} is not divisible by scale {scale}; crop it first with mod_crop"
        )
    lr = _resize(hr, (h // scale, w // scale), border, pad=2 * scale, crop=2)
    return _quantize(lr) if quantize else lr


def bicubic_up(lr: torch.Tensor, scale: int, *, quantize: bool = False,
               border: str = "renormalise") -> torch.Tensor:
    """Upsample (N, C, h, w) in [0, 1] by ``scale`` with bicubic (a = -0.5), clamped to [0, 1].

    ``antialias=True`` selects torch's a = -0.5 kernel (MATLAB's); without it torch uses
    a = -0.75. For upsampling no extra blur is involved; the kernel reaches 2 LR pixels.
    ``border``: as in ``bicubic_down`` (``"symmetric"`` pads LR by 2 pixels, MATLAB's rule).
    Output (N, C, h*s, w*s).
    """
    scale = check_scale(scale)
    border = _check_border(border)
    check_image(lr, "lr")
    h, w = lr.shape[-2:]
    up = _resize(lr, (h * scale, w * scale), border, pad=2, crop=2 * scale)
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


# -- the kernel and the border, as notebook 00 looks at them ------------------------------------


def cubic_kernel(t: torch.Tensor | float, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel w(t) at distances ``t`` (in input pixels), elementwise.

    w(t) = (a + 2)|t|^3 - (a + 3)|t|^2 + 1 for |t| <= 1, a|t|^3 - 5a|t|^2 + 8a|t| - 4a for
    1 < |t| < 2, and 0 beyond. ``a = -0.5`` is MATLAB's kernel (torch's with ``antialias=True``,
    which ``bicubic_down``/``bicubic_up`` use); ``a = -0.75`` is torch's plain bicubic. w(0) = 1
    and w(+-1) = w(+-2) = 0, so it interpolates, and the 4 weights at any sub-pixel offset sum
    to 1. Downsampling by s stretches it to w(t / s) / s (t in HR pixels). ``t``: a number or
    a tensor of any shape; returns a float64 tensor of the same shape.
    """
    if not isinstance(a, int | float) or isinstance(a, bool):
        raise TypeError(f"a must be a number (MATLAB: -0.5, torch: -0.75), got {a!r}")
    t = torch.as_tensor(t, dtype=torch.float64).abs()
    near = (a + 2) * t**3 - (a + 3) * t**2 + 1
    far = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def border_band(a: torch.Tensor, b: torch.Tensor, atol: float = 0.0) -> int:
    """How far in from the border two images differ: the width, in pixels, of the frame that
    holds every pixel where ``a`` and ``b`` differ by more than ``atol`` (in any image or
    channel). 0 = equal everywhere; 1 = they differ on the outermost ring only; a band as wide
    as half the image = they differ in the middle too. a, b: (N, C, H, W), the same shape.
    """
    check_image(a, "a", value_range=False)
    check_image(b, "b", value_range=False)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    differs = ((a - b).abs() > atol).flatten(0, 1).any(dim=0)  # (H, W)
    if not differs.any():
        return 0
    h, w = differs.shape
    i, j = torch.arange(h)[:, None], torch.arange(w)[None, :]
    to_border = torch.minimum(torch.minimum(i, h - 1 - i), torch.minimum(j, w - 1 - j))
    return int(to_border[differs.cpu()].max()) + 1


def noise_at_psnr(hr: torch.Tensor, target_db: float, *, y_channel: bool = False,
                  shave: int = 0, seed: int = 0, tol_db: float = 1e-3) -> torch.Tensor:
    """``hr`` plus Gaussian noise, clamped to [0, 1], whose PSNR against ``hr`` is
    ``target_db`` (within ``tol_db``), measured as ``srlab.metrics.psnr(..., y_channel,
    shave)`` does. One noise pattern (``seed``) is scaled; its standard deviation is found
    by bisection (the PSNR falls as it grows, clamping included). hr: (N, C, H, W) in [0, 1];
    returns the same shape. For the classic demonstration that errors of equal PSNR can look
    very different (noise vs blur). Raises ValueError for a target noise cannot reach.
    """
    check_image(hr, "hr")
    noise = torch.randn(hr.shape, generator=torch.Generator().manual_seed(seed),
                        dtype=hr.dtype).to(hr.device)

    def score(sigma: float) -> float:
        return psnr((hr + sigma * noise).clamp(0, 1), hr, y_channel=y_channel, shave=shave).item()

    low, high = 0.0, 1.0
    if not score(high) <= target_db < float("inf"):
        raise ValueError(f"target_db={target_db} is out of reach: noise of standard deviation "
                         f"1 gives {score(high):.2f} dB, so ask for more than that")
    for _ in range(60):
        sigma = (low + high) / 2
        got = score(sigma)
        if abs(got - target_db) <= tol_db:
            break
        low, high = (sigma, high) if got > target_db else (low, sigma)
    return (hr + sigma * noise).clamp(0, 1)
