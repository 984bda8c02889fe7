"""Image quality metrics used in SR papers: PSNR and SSIM, on RGB or on the Y channel; and
what PSNR does not see: the share of fine detail (``hf_ratio``), the spread between samples of
a generative model (``diversity``) and the distance between feature distributions
(``frechet_distance``).

Torch-native and batched, so they run on the GPU inside training loops. Checked against
``skimage.metrics``, numpy's FFT and scipy's matrix square root in ``tests/test_metrics.py``.

Taught in notebooks 00 (PSNR, SSIM) and 05 (the others).
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


# -- beyond PSNR: fine detail, diversity, distributions (notebook 05) -------------------------

HF_CUTOFF = 0.25  # cycles per pixel: what a x2 downsampled image cannot hold (Nyquist 0.5 / 2)


def high_frequency_share(x: torch.Tensor, cutoff: float = HF_CUTOFF) -> torch.Tensor:
    """Share of an image batch's spectral energy in the band a 1/``2 cutoff``-resolution
    image cannot hold: frequencies with max(|f_y|, |f_x|) >= ``cutoff`` cycles per pixel.

    x: (N, C, H, W) in [0, 1]. Per image and channel the mean is removed and the power
    spectrum |FFT2|^2 taken, with frequencies from ``fftfreq`` (-0.5 to 0.5 along each axis).
    An image sampled at half the resolution holds |f_y|, |f_x| < 0.25 of these cycles, a
    square in the frequency plane, so with the default cutoff the band is everything outside
    that square: the detail a x2 SR model must invent (a radial band |f| >= 0.25 would count
    diagonal frequencies the LR image does hold). Returns a float64 scalar, the energy of the
    whole batch in the band over its energy at all frequencies (pooled over the batch:
    images with more texture weigh more). The FFT treats an image as periodic, so compare
    SR and HR images of the same size.
    """
    high, total = high_frequency_energy(x, cutoff)
    if total <= 0:
        raise ValueError("x has no spectral energy (every image is constant): the share of "
                         "high frequencies is undefined")
    return high / total


def high_frequency_energy(x: torch.Tensor, cutoff: float = HF_CUTOFF
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """(energy in the band of ``high_frequency_share``, energy at all frequencies) of the batch
    x (N, C, H, W) in [0, 1], mean removed per image and channel; float64 scalars. Sums over
    images of different sizes pool a whole test set (``srlab.evaluate`` does)."""
    check_image(x, "x")
    if not 0 < cutoff <= 0.5:
        raise ValueError(f"cutoff must be in (0, 0.5] cycles/pixel, got {cutoff}")
    x = x.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2).sum(dim=(0, 1))  # (H, W), pooled over the batch
    fy = torch.fft.fftfreq(x.shape[-2], dtype=torch.float64, device=x.device).abs()
    fx = torch.fft.fftfreq(x.shape[-1], dtype=torch.float64, device=x.device).abs()
    return power[torch.maximum(fy[:, None], fx[None, :]) >= cutoff].sum(), power.sum()


def hf_ratio(sr: torch.Tensor, hr: torch.Tensor, cutoff: float = HF_CUTOFF) -> torch.Tensor:
    """``high_frequency_share(sr) / high_frequency_share(hr)``: 1.0 = as much fine detail as
    the real images, below 1 = smoother (bicubic), above 1 = more (noise, artefacts).
    sr, hr: (N, C, H, W) in [0, 1], the same shape. Float64 scalar."""
    check_image(sr, "sr")
    check_image(hr, "hr")
    check_same_shape(sr, hr)
    return high_frequency_share(sr, cutoff) / high_frequency_share(hr, cutoff)


def diversity(samples: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel standard deviation across K samples of the same inputs (K seeds).

    samples: (K, N, C, H, W) in [0, 1], K >= 2 (sample k of image n is ``samples[k, n]``).
    The standard deviation over K is the unbiased one (divides by K - 1). 0 = every seed
    gives the same image (a regression model); float64 scalar.
    """
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5 or samples.shape[0] < 2:
        shape = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples)
        raise ValueError(f"samples: expected a (K, N, C, H, W) tensor with K >= 2 samples, "
                         f"got {shape}")
    check_image(samples.flatten(0, 1), "samples")
    return samples.double().std(dim=0, correction=1).mean()


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
    """Fréchet distance between Gaussians fitted to two feature sets (as FID does).

    features: (N_a, D) and (N_b, D), N >= 2. d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2
    (S_a S_b)^(1/2)) with unbiased covariances; the trace of the matrix square root is
    computed as sum sqrt(eig(S_a^(1/2) S_b S_a^(1/2))), a symmetric form, in float64.
    Returns a float64 scalar >= 0 (0 for identical feature sets). Which network gives the
    features decides the metric's name (FID: Inception-v3; FD-CIFAR: srlab's CIFAR-10
    classifier); values from different networks are not comparable.
    """
    for name, f in (("features_a", features_a), ("features_b", features_b)):
        if not isinstance(f, torch.Tensor) or f.ndim != 2 or f.shape[0] < 2:
            shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f)
            raise ValueError(f"{name}: expected an (N, D) tensor with N >= 2, got {shape}")
        if not torch.isfinite(f).all():
            raise ValueError(f"{name} holds NaN or Inf values")
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"features_a and features_b need the same dimension D, got "
                         f"{features_a.shape[1]} and {features_b.shape[1]}")
    a, b = features_a.double(), features_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    root_a = _psd_sqrt(cov_a)
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    d2 = (mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * middle
    return d2.clamp(min=0)


def _psd_sqrt(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues clamped at 0)."""
    values, vectors = torch.linalg.eigh((m + m.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T
