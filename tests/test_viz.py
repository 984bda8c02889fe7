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


def test_show_receptive_fields_draws_one_centred_square_per_field():
    from srlab.viz import show_receptive_fields

    lr = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(0))
    fig = show_receptive_fields(lr, (2, 15), {"one 3x3 conv": 3, "two 5x5 convs": 9}, patch=11)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    boxed = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(boxed) == 1 and (boxed[0].get_width(), boxed[0].get_height()) == (11, 11)
    assert boxed[0].get_xy() == (9.5, -0.5)  # clipped to the top of the image
    squares = [p for p in fig.axes[1].patches if isinstance(p, Rectangle)]
    assert [(s.get_width(), s.get_xy()) for s in squares] == [(3, (13.5, 0.5)), (9, (10.5, -2.5))]
    labels = fig.axes[1].get_legend_handles_labels()[1]
    assert labels[:2] == ["3x3: one 3x3 conv", "9x9: two 5x5 convs"]
    plt.close(fig)
    with pytest.raises(ValueError, match="outside"):
        show_receptive_fields(lr, (40, 0), {"a": 3})
    with pytest.raises(ValueError, match="odd positive"):
        show_receptive_fields(lr, (5, 5), {"a": 4})


def test_draw_memory_layouts_orders_the_values_as_pytorchs_strides():
    from srlab.viz import draw_memory_layouts

    fig = draw_memory_layouts(channels=2, height=3, width=4, centre=(0, 0))
    ax = fig.axes[0]
    values = [t for t in ax.texts if t.get_text().isdigit() and t.get_fontsize() == 10]
    strips = {}
    for t in values:  # the two strips are the two lowest rows of value cells
        x, y = t.get_position()
        strips.setdefault(round(y, 2), []).append((x, int(t.get_text())))
    nhwc_y, nchw_y = sorted(strips)[:2]
    order = {y: [v for _, v in sorted(strips[y])] for y in (nchw_y, nhwc_y)}
    t = torch.arange(24).view(1, 2, 3, 4)
    assert order[nchw_y] == list(range(24))
    assert order[nhwc_y] == t.contiguous(memory_format=torch.channels_last).as_strided(
        (24,), (1,)).tolist()
    # the 3x3 window at (0, 0), clipped to 2x2, is marked in the plane and in both strips
    red = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_linewidth() == 2.5]
    assert len(red) == 3 * 4
    nhwc_red = sorted(round(p.get_x() - 4.06) for p in red if abs(p.get_y() - 0.46) < 1e-6)
    assert nhwc_red == [0, 2, 8, 10]  # y * 8 + x * 2: channels_last's strides (., 1, 8, 2)
    dots = [p for p in ax.patches if type(p).__name__ == "Circle"]
    assert len(dots) == 3 * 2  # the pointwise read: both channels, in the plane and the strips
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0].startswith("read by one 3x3 depthwise window at pixel (0, 0)")
    plt.close(fig)
    with pytest.raises(ValueError, match="outside"):
        draw_memory_layouts(centre=(3, 0))
    with pytest.raises(ValueError, match="at most 48 values"):
        draw_memory_layouts(channels=4, height=4, width=4)
    with pytest.raises(ValueError, match="channels must be an integer"):
        draw_memory_layouts(channels=0)


def test_stacked_barh_and_params_vs_psnr():
    from srlab.viz import params_vs_psnr, stacked_barh

    fig = stacked_barh({"MSRN": {"blocks": 6.0, "tail": 1.0}, "SMSRN": {"blocks": 0.5,
                                                                          "tail": 1.0}},
                       "MACs", "title")
    ax = fig.axes[0]
    bars = [(p.get_x(), p.get_width()) for p in ax.patches]
    assert bars == [(0, 6.0), (0, 0.5), (6.0, 1.0), (0.5, 1.0)]  # tail stacked after blocks
    assert ax.get_legend_handles_labels()[1] == ["blocks", "tail"] and ax.get_title() == "title"
    with pytest.raises(ValueError, match="no bars"):
        stacked_barh({}, "x")
    published = {"IMDN": (715e3, 32.21), "SMSRN (SMSRN paper)": (888_929, 31.73)}
    ours = {"MSRN": (6_078_019, 30.5), "SMSRN": (888_929, 30.0)}
    one = params_vs_psnr(published, ours, "Set5", n_images=5)
    assert len(one.axes) == 1 and one.axes[0].get_title() == "x4 SR on Set5: parameters vs PSNR"
    assert "MSRN here (30.50 dB)" in [t.get_text() for t in one.axes[0].texts]
    two = params_vs_psnr(published, ours, "embedded", n_images=1)
    assert len(two.axes) == 2
    assert two.axes[1].get_title().startswith("measured here: x4 SR on the embedded photos")
    assert "1 image)" in two.axes[1].get_legend_handles_labels()[1][0]
    assert all("here" not in t.get_text() for t in two.axes[0].texts)  # published panel only


def test_plot_cubic_kernels_shows_both_kernels_and_the_stretched_taps():
    from srlab.degradation import cubic_kernel
    from srlab.viz import plot_cubic_kernels

    fig = plot_cubic_kernels(scale=4)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()[:2]] == ["a = -0.5", "a = -0.75"]
    taps = right.get_lines()[1]  # the dots: 4s HR pixels around one LR pixel centre
    x, y = np.asarray(taps.get_xdata()), np.asarray(taps.get_ydata())
    assert len(x) == 16 and np.allclose(y, cubic_kernel(torch.from_numpy(x) / 4).numpy() / 4)
    assert taps.get_label().endswith("(sum 1.000)") and right.get_title() == (
        "a = -0.5, for x4 downsampling")
    assert len(plot_cubic_kernels(scale=2).axes[1].get_lines()[1].get_xdata()) == 8
    with pytest.raises(ValueError, match="scale"):
        plot_cubic_kernels(scale=0)


def test_show_map_with_and_without_the_image_it_covers():
    from srlab.viz import show_map

    values = torch.rand(1, 1, 20, 30, generator=torch.Generator().manual_seed(0))
    fig = show_map(values, title="local SSIM", label="SSIM", vmin=0, vmax=1)
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # the map and its colour bar
    assert fig.axes[0].get_title() == "local SSIM" and fig.axes[1].get_ylabel() == "SSIM"
    assert np.array_equal(np.asarray(fig.axes[0].images[0].get_array()), values[0, 0].numpy())
    image = _image(40)[..., :30, :40]  # 30 x 40: the map is 10 pixels smaller, like SSIM's
    fig = show_map(values[0], image=image)
    assert len(fig.axes) == 3
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert np.array_equal(shown, to_numpy_image(image[..., 5:25, 5:35]))
    with pytest.raises(ValueError, match="smaller than the map"):
        show_map(values, image=image[..., :10, :10])
    with pytest.raises(ValueError, match=r"expected \(H, W\)"):
        show_map(torch.rand(2, 5, 5))


def test_compare_can_name_the_metrics_and_gives_the_lr_size_as_h_x_w():
    hr = _image(32)[..., :, :24]  # 32 x 24: not square, so H x W and W x H differ
    lr = bicubic_down(hr, 4)
    out = bicubic_up(lr, 4)
    titles = _titles(compare(lr, {"b": out}, hr, metric_names=True))
    assert titles[0] == "LR 8x6 (x4)"
    p = psnr(out, hr, y_channel=True, shave=4).item()
    s = ssim(out, hr, y_channel=True, shave=4).item()
    assert titles[1] == f"b\nPSNR-Y {p:.2f} dB, SSIM-Y {s:.4f}, shave 4"
    rgb = _titles(compare(lr, {"b": out}, hr, y_channel=False, shave=0, metric_names=True))[1]
    assert rgb == f"b\nPSNR {psnr(out, hr).item():.2f} dB, SSIM {ssim(out, hr).item():.4f}, shave 0"
    assert _titles(compare(lr, {"b": out}, hr))[1] == f"b\n{p:.2f} dB / {s:.4f} (Y, shave 4)"


def test_show_corner_crops_the_map_and_draws_one_frame_edge_per_line():
    from srlab.viz import show_corner

    values = torch.rand(1, 1, 40, 50)
    fig = show_corner(values, 32, lines={"shave": 4, "band": 14}, title="t", label="levels")
    ax = fig.axes[0]
    assert np.array_equal(np.asarray(ax.images[0].get_array()), values[0, 0, :32, :32].numpy())
    drawn = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
             for line in ax.get_lines()}
    assert drawn["shave"] == ([3.5, 3.5, 31.5], [31.5, 3.5, 3.5])
    assert drawn["band"] == ([13.5, 13.5, 31.5], [31.5, 13.5, 13.5])
    assert ax.get_title() == "t" and fig.axes[1].get_ylabel() == "levels"
    assert len(show_corner(values[0, 0], 8).axes[0].get_lines()) == 0
    with pytest.raises(ValueError, match="size must be an integer from 1 to 40"):
        show_corner(values, 41)
    with pytest.raises(ValueError, match="line widths"):
        show_corner(values, 32, lines={"too wide": 32})
    with pytest.raises(ValueError, match="expected"):
        show_corner(torch.rand(2, 5, 5))


def test_show_field_masks_draws_a_pixel_grid_and_ticks_from_the_centre():
    from srlab.viz import show_field_masks

    mask = torch.zeros(21, 21, dtype=torch.bool)
    mask[8:13, 8:13] = True
    fig = show_field_masks({"3x3 then 3x3: sees 5 x 5": mask, "b": mask.float()})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert _titles(fig) == ["3x3 then 3x3: sees 5 x 5", "b"]
    ax = fig.axes[0]
    assert len(ax.lines) == 2 * 22  # one grid line per pixel edge, both ways
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-10", "-5", "0", "5", "10"]
    assert list(ax.get_xticks()) == [0, 5, 10, 15, 20]
    centre = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(centre) == 1 and centre[0].get_xy() == (9.5, 9.5)
    assert np.array_equal(ax.images[0].get_array(), mask.float().numpy())
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        show_field_masks({"a": mask[None]})
    with pytest.raises(ValueError, match="no masks"):
        show_field_masks({})


def test_draw_msrb_shows_both_paths_the_exchange_and_the_channel_counts():
    from srlab.viz import draw_msrb

    fig = draw_msrb(n_feats=8)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sum("3x3 conv" in t for t in texts) == 2 and sum("5x5 conv" in t for t in texts) == 2
    assert "1x1 conv" in texts and "+" in texts
    # channels on the arrows: n out of x and stage 1, 2n out of the first concat and stage 2,
    # 4n into the 1x1 conv, n after it
    assert sorted(t for t in texts if t.isdigit()) == sorted(["8"] * 6 + ["16"] * 4 + ["32"])
    assert "n = 8" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="n_feats"):
        draw_msrb(0)


def test_plot_loss_draws_the_history_on_a_log_axis_with_plain_tick_labels():
    from srlab.viz import plot_loss

    history = {"step": [10, 20, 30], "loss": [0.19, 0.09, 0.05]}
    fig = plot_loss(history, title="t")
    ax = fig.axes[0]
    assert list(ax.lines[0].get_xdata()) == [10, 20, 30]
    assert list(ax.lines[0].get_ydata()) == [0.19, 0.09, 0.05]
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    assert ax.yaxis.get_major_formatter()(0.05, 0) == "0.05"
    assert ax.get_ylabel().endswith("(log scale)")
    assert plot_loss(history, log=False).axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="history needs"):
        plot_loss({"step": [], "loss": []})
    with pytest.raises(ValueError, match="history needs"):
        plot_loss({"step": [1], "loss": [0.1, 0.2]})


def test_draw_sr_network_colours_the_swapped_layers_and_gives_each_its_resolution():
    from srlab.viz import draw_sr_network

    fig = draw_sr_network(separable=True)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "8 SMSRBs\n3x3, 5x5 convs\nseparable" in texts
    assert texts.count("LR") == 5 and "2x side" in texts and "4x side (HR)" in texts
    colours = [p.get_facecolor() for p in fig.axes[0].patches if p.get_width() > 0]
    from matplotlib.colors import to_rgba

    orange = to_rgba("#fdd0a2")
    assert colours.count(orange) == 2  # head and blocks
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels[0] == "made depthwise-separable in SMSRN"
    plt.close(fig)
    msrn = draw_sr_network(separable=False)
    assert "8 MSRBs\n3x3, 5x5 convs" in [t.get_text() for t in msrn.axes[0].texts]
    plt.close(msrn)
    with pytest.raises(ValueError, match="scale must be"):
        draw_sr_network(scale=8)


def test_stacked_barh_marks_the_totals_and_params_vs_psnr_draws_bicubic_as_a_line():
    from srlab.viz import params_vs_psnr, stacked_barh

    fig = stacked_barh({"a": {"f": 3e6, "t": 1e6}}, "MACs", totals={"a": 3.5e6})
    ax = fig.axes[0]
    assert ax.collections[0].get_offsets().tolist() == [[3.5e6, 0.0]]
    assert "total, timed on its own" in ax.get_legend_handles_labels()[1]
    assert "e6" not in ax.xaxis.get_offset_text().get_text()
    plt.close(fig)
    fig = params_vs_psnr({"bicubic": (0, 28.42), "IMDN": (715e3, 32.21)},
                         {"SMSRN": (888_929, 30.0)}, "Set5", n_images=5)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "bicubic (no parameters): 28.42 dB" in [t.get_text() for t in ax.texts]
    dots = [y for c in ax.collections for _, y in c.get_offsets().tolist()]
    assert 28.42 not in dots and 32.21 in dots  # bicubic is a line, not a network's dot
    plt.close(fig)
