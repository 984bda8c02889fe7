"""srlab.degradation: MATLAB-style bicubic down/up, 8-bit quantisation, mod-crop, the baseline."""

import numpy as np
import pytest
import torch
from PIL import Image

from srlab.data import embedded_images
from srlab.degradation import (
    bicubic,
    bicubic_down,
    bicubic_up,
    make_pairs,
    mod_crop,
    quantize,
)
from srlab.metrics import psnr


def test_bicubic_down_matches_pil_inside_the_image():
    hr = mod_crop(embedded_images()["coffee"], 4)
    ours = bicubic_down(hr, 4, quantize=False)
    pil = Image.fromarray((hr[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    ref = pil.resize((hr.shape[-1] // 4, hr.shape[-2] // 4), Image.BICUBIC)
    ref = torch.from_numpy(np.array(ref)).permute(2, 0, 1)[None].float() / 255
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))
    diff = (ours[inner] - ref[inner]).abs()
    # PIL rounds to 8 bits after each 1-D pass, so single pixels differ by a few levels
    assert diff.max() < 4 / 255 and diff.mean() < 0.5 / 255
    assert psnr(quantize(ours), ref) > 45


def test_bicubic_shapes_quantisation_and_upsampling():
    hr = torch.rand(2, 3, 24, 36, generator=torch.Generator().manual_seed(0))
    lr = bicubic_down(hr, 3)
    assert lr.shape == (2, 3, 8, 12)
    assert torch.equal(lr, quantize(lr))
    assert not torch.equal(bicubic_down(hr, 3, quantize=False), lr)
    up = bicubic_up(lr, 3)
    assert up.shape == hr.shape and up.min() >= 0 and up.max() <= 1
    assert not torch.equal(up, quantize(up))
    assert torch.equal(bicubic_up(lr, 3, quantize=True), quantize(up))
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert torch.allclose(bicubic_up(flat, 2), torch.full((1, 3, 16, 16), 0.5), atol=1e-6)
    assert torch.allclose(bicubic_down(torch.full((1, 3, 8, 8), 0.5), 2, quantize=False),
                          torch.full((1, 3, 4, 4), 0.5), atol=1e-6)


def test_quantize_rounds_to_256_levels_and_clamps():
    x = torch.tensor([-0.2, 0.0, 0.6 / 255, 0.4 / 255, 0.3, 1.0, 1.3]).view(1, 1, 1, -1)
    q = quantize(x)
    assert torch.equal(q * 255, (q * 255).round())
    assert (q.flatten()[:4] * 255).round().tolist() == [0.0, 0.0, 1.0, 0.0]
    assert q.flatten()[-2:].tolist() == [1.0, 1.0]
    assert q.flatten()[4].item() == pytest.approx(round(0.3 * 255) / 255)


def test_mod_crop():
    img = torch.rand(1, 3, 9, 14)
    cropped = mod_crop(img, 4)
    assert cropped.shape == (1, 3, 8, 12) and torch.equal(cropped, img[..., :8, :12])
    assert mod_crop(torch.rand(3, 10, 7), 2).shape == (3, 10, 6)  # any leading dims
    with pytest.raises(ValueError, match="3x3 is smaller than the scale 4"):
        mod_crop(torch.rand(1, 3, 3, 3), 4)


@pytest.mark.parametrize("scale", [0, 1, 2.5, "4", -2, None])
def test_bad_scales(scale):
    with pytest.raises(ValueError, match="scale"):
        bicubic_down(torch.rand(1, 3, 8, 8), scale)
    with pytest.raises(ValueError, match="scale"):
        bicubic_up(torch.rand(1, 3, 8, 8), scale)
    with pytest.raises(ValueError, match="scale"):
        bicubic(scale)


def test_bad_images_for_bicubic():
    with pytest.raises(ValueError, match="4-D"):
        bicubic_down(torch.rand(3, 8, 8), 2)
    with pytest.raises(ValueError, match=r"hr: expected values in \[0, 1\]"):
        bicubic_down(torch.rand(1, 3, 8, 8) * 255, 2)
    with pytest.raises(ValueError, match="9x8 is not divisible by scale 2.*mod_crop"):
        bicubic_down(torch.rand(1, 3, 9, 8), 2)
    with pytest.raises(ValueError, match="lr: expected finite values.*NaN"):
        bicubic_up(torch.full((1, 3, 4, 4), float("nan")), 2)


def test_bicubic_baseline_is_a_model():
    up = bicubic(4)
    assert up.scale == 4 and up.name == "bicubic"
    lr = torch.rand(2, 3, 5, 6)
    assert torch.equal(up(lr), bicubic_up(lr, 4))
    assert up(lr).shape == (2, 3, 20, 24)


def test_make_pairs_mod_crops_and_degrades():
    hr = torch.rand(2, 3, 33, 30, generator=torch.Generator().manual_seed(1))
    lr, hr_cropped = make_pairs(hr, 4)
    assert hr_cropped.shape == (2, 3, 32, 28) and lr.shape == (2, 3, 8, 7)
    assert torch.equal(hr_cropped, hr[..., :32, :28])
    assert torch.equal(lr, bicubic_down(hr[..., :32, :28], 4))
    with pytest.raises(ValueError, match="3 channels"):
        make_pairs(torch.rand(2, 1, 32, 32), 2)
    with pytest.raises(ValueError, match="smaller than the scale"):
        make_pairs(torch.rand(1, 3, 1, 8), 2)
