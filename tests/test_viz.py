"""srlab.viz: figures for the notebooks, with the metrics of srlab.metrics in their titles."""

import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from srlab.degradation import bicubic_down, bicubic_up, quantize
from srlab.metrics import psnr, ssim
from srlab.viz import compare, draw_conv_diagram, show_images, to_numpy_image


@pytest.fixture(autouse=True)
def headless_figures():
    plt.switch_backend("Agg")  # no window, whatever the machine's default backend
    yield
    plt.close("all")


def _image(size=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, size // 4, size // 4, generator=gen)
    return quantize(torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear"))


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def test_to_numpy_image():
    x = torch.rand(1, 3, 5, 7)
    arr = to_numpy_image(x)
    assert arr.shape == (5, 7, 3) and arr.dtype == np.float32
    assert np.array_equal(arr, x[0].permute(1, 2, 0).numpy())
    assert to_numpy_image(x[0]).shape == (5, 7, 3)
    clipped = to_numpy_image(torch.full((3, 2, 2), 1.5, dtype=torch.float64))
    assert clipped.max() == 1.0 and clipped.dtype == np.float32
    with pytest.raises(ValueError, match="expected one image, got a batch of 2"):
        to_numpy_image(torch.rand(2, 3, 5, 7))
    with pytest.raises(ValueError, match=r"expected a \(3, H, W\) or \(1, 3, H, W\) image, got "
                                         r"shape \(5, 7\)"):
        to_numpy_image(torch.rand(5, 7))


def test_show_images_from_a_dict_and_a_list():
    images = {"a": _image(), "b": _image(seed=1), "c": _image(16, seed=2)}
    fig = show_images(images)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 and _titles(fig) == ["a", "b", "c"]
    shown = fig.axes[1].images[0].get_array()
    assert np.array_equal(np.asarray(shown), to_numpy_image(images["b"]))
    grid = show_images(list(images.values()), titles=["x", "y", "z"], ncols=2)
    assert len(grid.axes) == 4  # 2 x 2 grid, the spare axis blank
    assert _titles(grid) == ["x", "y", "z", ""] and not grid.axes[3].images
    assert _titles(show_images(list(images.values()))) == ["", "", ""]


@pytest.mark.parametrize("zoom", [None, (4, 8, 12, 12)])
def test_compare_titles_carry_the_metrics(zoom):
    hr = _image(64)
    lr = bicubic_down(hr, 4)
    outputs = {"bicubic": bicubic_up(lr, 4), "noisy": (hr + 0.03).clamp(0, 1)}
    fig = compare(lr, outputs, hr, zoom=zoom)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4 * (2 if zoom else 1)  # LR, two outputs, HR (and the zoom row)
    titles = _titles(fig)
    assert titles[0] == "LR 16x16 (x4)" and titles[3] == "HR (ground truth)"
    for title, (name, out) in zip(titles[1:3], outputs.items(), strict=True):
        m = re.fullmatch(rf"{name}\n(\d+\.\d\d) dB / (\d\.\d{{4}}) \(Y, shave 4\)", title)
        assert m, title
        assert float(m.group(1)) == pytest.approx(
            psnr(out, hr, y_channel=True, shave=4).item(), abs=0.005)
        assert float(m.group(2)) == pytest.approx(
            ssim(out, hr, y_channel=True, shave=4).item(), abs=5e-5)
    boxes = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(boxes) == (1 if zoom else 0)
    if zoom:
        crop = np.asarray(fig.axes[5].images[0].get_array())
        assert crop.shape == (12, 12, 3)
        assert np.array_equal(crop, to_numpy_image(outputs["bicubic"][..., 4:16, 8:20]))


def test_compare_on_rgb_without_shave_and_on_tiny_images():
    hr = _image(32)
    lr = bicubic_down(hr, 2)
    out = bicubic_up(lr, 2)
    title = _titles(compare(lr, {"b": out}, hr, y_channel=False, shave=0))[1]
    assert title == f"b\n{psnr(out, hr).item():.2f} dB / {ssim(out, hr).item():.4f} (RGB, shave 0)"
    # too small for an 11x11 SSIM window after the shave: PSNR only, SSIM shown as nan
    small_hr = _image(16)
    small_lr = bicubic_down(small_hr, 4)
    title = _titles(compare(small_lr, {"b": bicubic_up(small_lr, 4)}, small_hr))[1]
    value = psnr(bicubic_up(small_lr, 4), small_hr, y_channel=True, shave=4).item()
    assert title == f"b\n{value:.2f} dB / nan (Y, shave 4)"
    assert math.isnan(float(title.split(" / ")[1].split()[0]))


def test_draw_conv_diagram():
    fig = draw_conv_diagram(d=5, n=2, k=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    titles = _titles(fig)
    assert titles[0].startswith("(a) standard") and titles[1].startswith("(b) depthwise")
    assert titles[2].startswith("(c) pointwise")
    # input slabs: D per panel; output slabs: N, D, N
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes]
    assert all("input\nD=5" in t for t in texts)
    assert "output\n2 channels" in texts[0] and "output\n5 channels" in texts[1]
    assert "2 filter(s)\n3x3x5" in texts[0] and "5 filter(s)\n3x3x1" in texts[1]
    assert "2 filter(s)\n1x1x5" in texts[2]
