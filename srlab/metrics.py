"""Image quality metrics used in SR papers: PSNR and SSIM, on RGB or on the Y channel.

Torch-native and batched, so they run on the GPU inside training loops. Checked against
``skimage.metrics`` in ``tests/test_metrics.py``.

Taught in notebook 00.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from srlab.checks import check_image, check_same_shape


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """Luma of an RGB batch (N, 3, H, W) in [0, 1] -> (N, 1, H, W) in [16/255, 235/255].

    ITU-R BT.601 as MATLAB's ``rgb2ycbcr``: Y = 16 + 65.481 R + 128.553 G + 24.966 B on the
    0-255 scale, with R, G, B in [0, 1]. SR papers report PSNR/SSIM on this channel.
    """
    check_image(x, "x", channels=3)
    return _luma(x)


def _luma(x: torch.Tensor) -> torch.Tensor:
    weights = x.new_tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1) / 255.0
    return F.conv2d(x, weights) + 16.0 / 255.0


def _prepare(sr: torch.Tensor, hr: torch.Tensor, y_channel: bool, shave: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
    check_image(sr, "sr")
    check_image(hr, "hr")
    check_same_shape(sr, hr)
    if shave < 0 or 2 * shave >= min(sr.shape[-2:]):
        raise ValueError(f"shave={shave} leaves no pixels of a {sr.shape[-2]}x{sr.shape[-1]} image")
    if shave:
        sr = sr[..., shave:-shave, shave:-shave]
        hr = hr[..., shave:-shave, shave:-shave]
    sr, hr = sr.double(), hr.double()
    if y_channel:
        if sr.shape[1] != 3:
            raise ValueError(f"y_channel=True needs RGB images (N, 3, H, W), got {tuple(sr.shape)}")
        sr, hr = _luma(sr), _luma(hr)
    return sr, hr


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def psnr(sr: torch.Tensor, hr: torch.Tensor, *, y_channel: bool = False, shave: int = 0,
         data_range: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Peak signal-to-noise ratio in dB: 10 log10(data_range^2 / MSE), per image then averaged.

    sr, hr: (N, 3, H, W) in [0, 1]. ``y_channel`` compares BT.601 luma; ``shave`` drops that
    many border pixels (SR papers shave ``scale``). Returns a float64 scalar, or (N,) with
    ``reduction="none"``. Identical images give +inf.
    """
    sr, hr = _prepare(sr, hr, y_channel, shave)
    mse = (sr - hr).pow(2).flatten(1).mean(dim=1)
    return _reduce(10 * torch.log10(data_range**2 / mse), reduction)


def gaussian_kernel_1d(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian, shape (size,), float64. The 2-D window is its outer product."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(sr: torch.Tensor, hr: torch.Tensor, *, y_channel: bool = False, shave: int = 0,
         data_range: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), 11x11 Gaussian window (sigma 1.5).

    Local means, variances and covariance are Gaussian-weighted over "valid" windows;
    SSIM = mean over pixels and channels of
    ((2 mu_x mu_y + C1)(2 sigma_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),
    C1 = (0.01 L)^2, C2 = (0.03 L)^2. Same convention as ``skimage.metrics.
    structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
    sr, hr: (N, C, H, W) in [0, 1] with H, W >= 11 after shaving. Computed in float32
    (agrees with scikit-image's float64 to ~1e-6), returned as float64.
    """
    sr, hr = _prepare(sr, hr, y_channel, shave)
    sr, hr = sr.float(), hr.float()  # float64 convolutions are ~10x slower on CPUs
    if min(sr.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {tuple(sr.shape[-2:])}")
    channels = sr.shape[1]
    g = gaussian_kernel_1d().to(sr.device, torch.float32)
    g_rows, g_cols = g.view(1, 1, 11, 1).expand(channels, 1, 11, 1), g.view(1, 1, 1, 11).expand(
        channels, 1, 1, 11)

    def blur(z: torch.Tensor) -> torch.Tensor:  # separable: two 1-D passes, 'valid' borders
        return F.conv2d(F.conv2d(z, g_rows, groups=channels), g_cols, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = blur(sr), blur(hr)
    var_x = blur(sr * sr) - mu_x**2
    var_y = blur(hr * hr) - mu_y**2
    cov = blur(sr * hr) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return _reduce(ssim_map.flatten(1).double().mean(dim=1), reduction)
