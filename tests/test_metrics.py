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
