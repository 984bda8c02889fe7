import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from srlab.data import embedded_images
from srlab.degradation import bicubic_down, bicubic_up, mod_crop
from srlab.metrics import psnr, rgb_to_y, ssim


def _pair(seed: int = 0, size: int = 48):
    gen = torch.Generator().manual_seed(seed)
    hr = torch.rand(2, 3, size, size, generator=gen)
    sr = (hr + 0.05 * torch.randn(hr.shape, generator=gen)).clamp(0, 1)
    return sr, hr


def _np(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).double().numpy()


def test_psnr_matches_skimage_per_image():
    sr, hr = _pair()
    ours = psnr(sr, hr, reduction="none")
    for i in range(2):
        ref = peak_signal_noise_ratio(_np(hr[i]), _np(sr[i]), data_range=1.0)
        assert abs(ours[i].item() - ref) < 1e-3
    assert abs(psnr(sr, hr).item() - ours.mean().item()) < 1e-9


def test_ssim_matches_skimage_on_a_photo():
    hr = mod_crop(embedded_images()["astronaut"], 4)[..., :256, :256]
    sr = bicubic_up(bicubic_down(hr, 4), 4)
    ref = structural_similarity(_np(hr[0]), _np(sr[0]), channel_axis=2, data_range=1.0,
                                gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert abs(ssim(sr, hr).item() - ref) < 1e-3
    assert abs(ssim(sr, hr).item() - ref) < 1e-5  # float32 vs float64: far tighter in practice


def test_y_channel_metrics_match_skimage_on_luma():
    sr, hr = _pair(1)
    y_sr, y_hr = rgb_to_y(sr), rgb_to_y(hr)
    ref_p = peak_signal_noise_ratio(y_hr[0, 0].double().numpy()[4:-4, 4:-4],
                                    y_sr[0, 0].double().numpy()[4:-4, 4:-4], data_range=1.0)
    assert abs(psnr(sr[:1], hr[:1], y_channel=True, shave=4).item() - ref_p) < 1e-3
    ref_s = structural_similarity(y_hr[0, 0].double().numpy(), y_sr[0, 0].double().numpy(),
                                  data_range=1.0, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False)
    assert abs(ssim(sr[:1], hr[:1], y_channel=True).item() - ref_s) < 1e-3


def test_rgb_to_y_bt601_values():
    white, black = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    assert torch.allclose(rgb_to_y(white), torch.full((1, 1, 2, 2), 235 / 255), atol=1e-4)
    assert torch.allclose(rgb_to_y(black), torch.full((1, 1, 2, 2), 16 / 255))
    red = torch.zeros(1, 3, 1, 1)
    red[:, 0] = 1
    assert abs(rgb_to_y(red).item() - (16 + 65.481) / 255) < 1e-6


def test_identical_images():
    _, hr = _pair()
    assert torch.isinf(psnr(hr, hr))
    assert abs(ssim(hr, hr).item() - 1) < 1e-6


def test_metrics_reject_bad_input():
    sr, hr = _pair()
    with pytest.raises(ValueError, match="same shape"):
        psnr(sr, hr[..., :40])
    with pytest.raises(ValueError, match="4-D"):
        ssim(sr[0], hr[0])
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide by 255"):
        psnr(sr * 255, hr * 255)
    with pytest.raises(ValueError, match="11x11"):
        ssim(sr[..., :8, :8], hr[..., :8, :8])
    with pytest.raises(ValueError, match="shave"):
        psnr(sr, hr, shave=24)
    with pytest.raises(ValueError, match="RGB"):
        psnr(sr[:, :1], hr[:, :1], y_channel=True)
    with pytest.raises(TypeError, match="float"):
        psnr((sr * 255).to(torch.uint8), (hr * 255).to(torch.uint8))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_metrics_reject_nan_and_inf(bad):
    sr, hr = _pair()
    sr[1, 0, 5, 5] = bad
    for fn in (psnr, ssim):
        with pytest.raises(ValueError, match="sr: expected finite values.*NaN or infinite"):
            fn(sr, hr)
        with pytest.raises(ValueError, match="hr: expected finite values"):
            fn(hr, sr, y_channel=True)
    with pytest.raises(ValueError, match="x: expected finite values"):
        rgb_to_y(sr)


# -- high-frequency share, HF ratio, diversity, Fréchet distance -------------------------------

def _hf_share_numpy(x: np.ndarray, cutoff: float) -> float:
    """An independent reference: the frequency of every FFT bin computed bin by bin."""
    n, c, h, w = x.shape
    high = total = 0.0
    for img in x.reshape(n * c, h, w):
        power = np.abs(np.fft.fft2(img - img.mean())) ** 2
        for i in range(h):
            for j in range(w):
                fy = (i if i < (h + 1) // 2 else i - h) / h
                fx = (j if j < (w + 1) // 2 else j - w) / w
                total += power[i, j]
                high += power[i, j] if max(abs(fy), abs(fx)) >= cutoff else 0.0
    return high / total


def test_high_frequency_share():
    from srlab.metrics import high_frequency_share

    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checker = ((yy + xx) % 2).double().expand(1, 3, 32, 32)  # f = (0.5, 0.5): all high
    assert float(high_frequency_share(checker)) == pytest.approx(1.0)
    slow = (0.5 + 0.4 * torch.cos(2 * torch.pi * xx / 8)).double().expand(2, 1, 32, 32)
    assert float(high_frequency_share(slow)) == pytest.approx(0.0, abs=1e-12)  # f = 1/8
    x = torch.rand(3, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    for cutoff in (0.1, 0.25, 0.4):
        assert float(high_frequency_share(x, cutoff)) == pytest.approx(
            _hf_share_numpy(x.double().numpy(), cutoff), rel=1e-10)
    # white noise spreads its energy evenly over the 32 x 32 - 1 bins (the mean is removed);
    # 15 x 15 of them (|k| <= 7 on both axes, f = k / 32 < 1/4) lie inside the LR square
    noise = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert float(high_frequency_share(noise)) == pytest.approx((1024 - 225) / 1023, abs=0.01)
    with pytest.raises(ValueError, match="no spectral energy"):
        high_frequency_share(torch.full((1, 3, 8, 8), 0.5))
    with pytest.raises(ValueError, match="cutoff must be in"):
        high_frequency_share(x, 0.6)


def test_hf_ratio_of_bicubic_is_below_one():
    from srlab.metrics import hf_ratio

    hr = mod_crop(embedded_images()["astronaut"][..., :128, :128], 2)
    smooth = bicubic_up(bicubic_down(hr, 2), 2).clamp(0, 1)
    assert float(hf_ratio(hr, hr)) == pytest.approx(1.0)
    # a photo holds little energy up there, and bicubic x2 keeps only part of it
    assert 0 < float(hf_ratio(smooth, hr)) < 0.9
    noise = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    blurred = bicubic_up(bicubic_down(noise, 2), 2).clamp(0, 1)
    assert float(hf_ratio(blurred, noise)) < 0.5  # where all detail is fine, most of it goes
    with pytest.raises(ValueError, match="same shape"):
        hf_ratio(smooth[..., :64], hr)


def test_diversity():
    from srlab.metrics import diversity

    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 4, 3, 8, 8, generator=gen)
    assert float(diversity(torch.stack([a, a, a]))) == 0.0
    expected = ((a - b).abs() / 2 ** 0.5).double().mean()  # std of two values, K - 1 = 1
    assert float(diversity(torch.stack([a, b]))) == pytest.approx(float(expected))
    for bad in (a, torch.stack([a])):
        with pytest.raises(ValueError, match=r"\(K, N, C, H, W\) tensor with K >= 2"):
            diversity(bad)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        diversity(torch.stack([a, b + 1]))


def test_frechet_distance_against_scipy():
    from scipy import linalg

    from srlab.metrics import frechet_distance

    gen = torch.Generator().manual_seed(0)
    fa = torch.randn(200, 6, generator=gen, dtype=torch.float64)
    fb = torch.randn(150, 6, generator=gen, dtype=torch.float64) @ torch.rand(
        6, 6, generator=gen, dtype=torch.float64) + 0.3
    a, b = fa.numpy(), fb.numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b).real
    reference = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root)
    assert float(frechet_distance(fa, fb)) == pytest.approx(reference, rel=1e-8)
    assert float(frechet_distance(fb, fa)) == pytest.approx(reference, rel=1e-8)  # symmetric
    assert float(frechet_distance(fa, fa)) == pytest.approx(0.0, abs=1e-9)
    shift = torch.tensor([1.0, 2.0, 0, 0, 0, 0], dtype=torch.float64)
    assert float(frechet_distance(fa, fa + shift)) == pytest.approx(5.0)  # |shift|^2


@pytest.mark.parametrize("a, b, match", [
    (torch.randn(1, 4), torch.randn(5, 4), r"features_a: expected an \(N, D\) tensor with N >= 2"),
    (torch.randn(5, 4), torch.randn(5, 4, 1), r"features_b: expected an \(N, D\)"),
    (torch.randn(5, 4), torch.randn(5, 3), "the same dimension D, got 4 and 3"),
    (torch.full((5, 4), float("nan")), torch.randn(5, 4), "features_a holds NaN or Inf"),
])
def test_frechet_distance_bad_input(a, b, match):
    from srlab.metrics import frechet_distance

    with pytest.raises(ValueError, match=match):
        frechet_distance(a, b)
