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
    border_band,
    cubic_kernel,
    make_pairs,
    mod_crop,
    noise_at_psnr,
    quantize,
    symmetric_index,
    symmetric_pad,
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


# -- border handling: MATLAB's symmetric padding vs torch's renormalised kernel ----------------


def _matlab_cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return ((1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
            + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _matlab_matrix(in_len: int, out_len: int) -> np.ndarray:
    """(out_len, in_len) weights of MATLAB's imresize along one axis, ported from its
    ``contributions``: antialiased kernel when shrinking, indices mirrored with
    aux = [1:L, L:-1:1], weights normalised to sum to 1."""
    scale = out_len / in_len
    width = 4.0
    if scale < 1:
        kernel, width = (lambda t: scale * _matlab_cubic(scale * t)), width / scale
    else:
        kernel = _matlab_cubic
    x = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(x - width / 2)
    ind = left[:, None] + np.arange(int(np.ceil(width)) + 2)[None, :]
    weights = kernel(x[:, None] - ind)
    weights /= weights.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(1, in_len + 1), np.arange(in_len, 0, -1)])
    ind = aux[np.mod(ind - 1, len(aux)).astype(int)] - 1
    matrix = np.zeros((out_len, in_len))
    for o in range(out_len):
        np.add.at(matrix[o], ind[o], weights[o])
    return matrix


def _matlab_imresize(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Float (N, C, H, W) resized the way MATLAB's imresize does it, in float64 numpy."""
    a = img.double().numpy()
    rows, cols = _matlab_matrix(a.shape[-2], size[0]), _matlab_matrix(a.shape[-1], size[1])
    return torch.from_numpy(np.einsum("oh,nchw,pw->ncop", rows, a, cols)).float()


@pytest.mark.parametrize("scale, size", [(2, (12, 10)), (3, (15, 21)), (4, (24, 16)),
                                         (4, (4, 8))])
def test_symmetric_border_is_matlabs_imresize_everywhere(scale, size):
    hr = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(scale))
    h, w = size
    ref_down = _matlab_imresize(hr, (h // scale, w // scale)).clamp(0, 1)
    ours = bicubic_down(hr, scale, quantize=False, border="symmetric")
    assert ours.shape == ref_down.shape
    assert torch.allclose(ours, ref_down, atol=1e-5)
    lr = torch.rand(1, 3, h // scale, w // scale, generator=torch.Generator().manual_seed(9))
    ref_up = _matlab_imresize(lr, (h, w)).clamp(0, 1)
    assert torch.allclose(bicubic_up(lr, scale, border="symmetric"), ref_up, atol=1e-5)
    # the default agrees with MATLAB only where the kernel stays inside the image
    renorm = bicubic_down(hr, scale, quantize=False)
    if min(h, w) // scale > 4:
        assert torch.allclose(renorm[..., 2:-2, 2:-2], ref_down[..., 2:-2, 2:-2], atol=1e-5)
    assert (renorm - ref_down).abs().amax() > 1e-3


def test_symmetric_padding_equals_numpys_and_works_below_the_pad_size():
    gen = torch.Generator().manual_seed(0)
    for h, w, pad in [(5, 7, 2), (3, 4, 8), (1, 2, 5)]:  # pad larger than the image too
        x = torch.rand(2, 3, h, w, generator=gen)
        ref = np.pad(x.numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="symmetric")
        assert torch.equal(symmetric_pad(x, pad), torch.from_numpy(ref))
    assert symmetric_index(3, 4).tolist() == [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]
    # bicubic_down(symmetric) = np.pad(symmetric) by 2*scale, then the same interpolation
    for h, w, scale in [(16, 12, 4), (4, 4, 4), (6, 2, 2)]:
        hr = torch.rand(1, 3, h, w, generator=gen)
        padded = torch.from_numpy(np.pad(hr.numpy(), ((0, 0), (0, 0), (2 * scale,) * 2,
                                                      (2 * scale,) * 2), mode="symmetric"))
        ref = torch.nn.functional.interpolate(padded, size=(h // scale + 4, w // scale + 4),
                                              mode="bicubic", antialias=True,
                                              align_corners=False)[..., 2:-2, 2:-2]
        ours = bicubic_down(hr, scale, border="symmetric")
        assert ours.shape == (1, 3, h // scale, w // scale)
        assert torch.equal(ours, quantize(ref))


def test_symmetric_and_renormalise_differ_only_at_the_border():
    hr = mod_crop(embedded_images()["coffee"], 4)
    sym = bicubic_down(hr, 4, quantize=False, border="symmetric")
    renorm = bicubic_down(hr, 4, quantize=False)
    assert torch.equal(renorm, bicubic_down(hr, 4, quantize=False, border="renormalise"))
    inner = (..., slice(2, -2), slice(2, -2))
    assert torch.allclose(sym[inner], renorm[inner], atol=1e-5)
    frame = torch.ones_like(sym, dtype=torch.bool)
    frame[inner] = False
    assert (sym - renorm)[frame].abs().max() > 1 / 255
    lr = quantize(renorm)
    up_sym, up_renorm = bicubic_up(lr, 4, border="symmetric"), bicubic_up(lr, 4)
    assert torch.allclose(up_sym[..., 8:-8, 8:-8], up_renorm[..., 8:-8, 8:-8], atol=1e-5)
    assert (up_sym - up_renorm).abs().max() > 1 / 255


def test_bad_border_is_a_clear_error():
    for fn in (bicubic_down, bicubic_up):
        with pytest.raises(ValueError, match="border must be one of .*'symmetric'.*'reflect'"):
            fn(torch.rand(1, 3, 8, 8), 2, border="reflect")


# -- the kernel, the border band and equal-PSNR noise (notebook 00's figures) -------------------


def test_cubic_kernel_is_keys_and_what_bicubic_up_uses():
    # notebook 00's worked example: a sample 1.25 pixels into a row of four
    w = cubic_kernel(torch.tensor([1.25, 0.25, 0.75, 1.75]))
    assert w.dtype == torch.float64
    assert w.tolist() == pytest.approx([-0.0703125, 0.8671875, 0.2265625, -0.0234375])
    row = torch.tensor([0.2, 0.4, 1.0, 0.6]).view(1, 1, 1, 4)
    assert bicubic_up(row, 2)[0, 0, 0, 3].item() == pytest.approx(0.5453125, abs=1e-6)
    # interpolating: 1 at 0, 0 at the other integers; partition of unity at any offset
    for a in (-0.5, -0.75):
        assert cubic_kernel(torch.tensor([0.0, 1.0, -1.0, 2.0, -2.0, 2.5]), a).tolist() == [
            1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        offsets = torch.rand(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        taps = offsets[:, None] - torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=torch.float64)
        assert torch.allclose(cubic_kernel(taps, a).sum(dim=1), torch.ones(50, dtype=torch.float64))
    assert cubic_kernel(0.5).item() == pytest.approx(0.5625)  # plain floats work too
    assert cubic_kernel(torch.tensor([-0.3, 0.3], dtype=torch.float64)).tolist() == [
        cubic_kernel(0.3).item()] * 2  # symmetric
    with pytest.raises(TypeError, match="a must be a number"):
        cubic_kernel(0.5, a="-0.5")


def test_cubic_kernel_with_a_minus_075_is_torchs_plain_bicubic():
    row = torch.rand(1, 1, 1, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    up = torch.nn.functional.interpolate(row, size=(1, 18), mode="bicubic", align_corners=False)
    j = 9  # output sample 9 sits at input position (9 + 0.5) / 2 - 0.5 = 4.25
    taps = torch.tensor([3, 4, 5, 6])
    assert (cubic_kernel(4.25 - taps.double(), -0.75) * row[0, 0, 0, taps]).sum().item() == \
        pytest.approx(up[0, 0, 0, j].item(), abs=1e-9)


def test_border_band_measures_how_far_in_two_images_differ():
    a = torch.rand(2, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    assert border_band(a, a.clone()) == 0
    for ring in range(5):  # change one pixel `ring` pixels in from the left edge
        b = a.clone()
        b[1, 2, 6, ring] += 0.1
        assert border_band(a, b) == ring + 1
    b = a.clone()
    b[0, 0, 11, 5] += 1e-4  # on the bottom edge, below a tolerance
    assert border_band(a, b) == 1 and border_band(a, b, atol=1e-3) == 0
    # the two border rules of bicubic_down differ in the outer 2 LR pixels; upsampling x4 widens
    # that to 3.5 * 4 = 14 HR pixels (HR pixel k reaches LR pixel 1 while (k + 0.5) / 4 - 0.5 < 3)
    hr = mod_crop(embedded_images()["coffee"], 4)
    lr_sym, lr = bicubic_down(hr, 4, border="symmetric"), bicubic_down(hr, 4)
    assert border_band(lr_sym, lr) == 2
    assert border_band(bicubic_up(lr_sym, 4, quantize=True), bicubic_up(lr, 4, quantize=True)) == 14
    with pytest.raises(ValueError, match="same shape"):
        border_band(a, a[..., :5])
    with pytest.raises(ValueError, match="4-D"):
        border_band(a[0], a[0])


def test_noise_at_psnr_hits_the_target_and_is_seeded():
    hr = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(2))
    for kwargs in ({}, {"y_channel": True, "shave": 4}):
        noisy = noise_at_psnr(hr, 25.0, **kwargs)
        assert noisy.shape == hr.shape and noisy.min() >= 0 and noisy.max() <= 1
        assert psnr(noisy, hr, **kwargs).item() == pytest.approx(25.0, abs=1e-3)
    assert torch.equal(noise_at_psnr(hr, 30.0, seed=3), noise_at_psnr(hr, 30.0, seed=3))
    assert not torch.equal(noise_at_psnr(hr, 30.0, seed=3), noise_at_psnr(hr, 30.0, seed=4))
    with pytest.raises(ValueError, match="out of reach"):
        noise_at_psnr(hr, 1.0)
    with pytest.raises(ValueError, match="out of reach"):
        noise_at_psnr(hr, float("inf"))
