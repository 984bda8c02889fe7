"""TinyUNet: structure, parameter budget, shapes, output range and bad input."""

import pytest
import torch
from torch import nn

from srlab.cost import count_params
from srlab.models import TinyUNet


def test_structure_is_the_papers_two_convs_two_transposed_convs():
    net = TinyUNet()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    tconvs = [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == 2 and len(tconvs) == 2
    assert [c.stride for c in convs] == [(2, 2), (2, 2)]


def test_parameter_counts_within_the_papers_budget():
    diffusion = TinyUNet(in_channels=7)  # x_t, bicubic image, noise level
    regression = TinyUNet(in_channels=3)  # bicubic image only
    assert count_params(diffusion) == 125_379
    assert count_params(regression) == 122_307
    assert count_params(diffusion) <= 150_000


def test_shapes_and_output_range():
    torch.manual_seed(0)
    net = TinyUNet(in_channels=7, out_range=(-4.0, 4.0))
    nn.init.normal_(net.dec2.weight, std=0.1)  # the zero init would make the output constant
    x = torch.randn(2, 7, 32, 32)
    y = net(x)
    assert y.shape == (2, 3, 32, 32)
    assert y.min() > -4 and y.max() < 4 and y.std() > 0.01
    assert net(torch.randn(1, 7, 48, 64)).shape == (1, 3, 48, 64)  # fully convolutional


def test_fresh_network_outputs_the_middle_of_its_range():
    net = TinyUNet(in_channels=3, out_range=(-1.0, 1.0))
    assert torch.equal(net(torch.rand(1, 3, 32, 32)), torch.zeros(1, 3, 32, 32))


def test_layer_shapes_lists_every_stage():
    rows = TinyUNet().layer_shapes(torch.zeros(1, 7, 32, 32))
    shapes = [shape for _, shape, _ in rows]
    assert shapes == [(1, 7, 32, 32), (1, 48, 16, 16), (1, 96, 8, 8), (1, 48, 16, 16),
                      (1, 96, 16, 16), (1, 3, 32, 32)]
    assert sum(n for _, _, n in rows) == count_params(TinyUNet())


@pytest.mark.parametrize("x, error, match", [
    (torch.zeros(1, 3, 32, 32), ValueError, "7 channels"),
    (torch.zeros(7, 32, 32), ValueError, "4-D tensor"),
    (torch.zeros(1, 7, 30, 32), ValueError, "multiples of 4"),
    (torch.zeros(1, 7, 32, 32, dtype=torch.uint8), TypeError, "float tensor"),
])
def test_bad_input_is_a_clear_error(x, error, match):
    with pytest.raises(error, match=match):
        TinyUNet(in_channels=7)(x)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="lo < hi"):
        TinyUNet(out_range=(1.0, -1.0))
    with pytest.raises(ValueError, match=">= 1"):
        TinyUNet(width=(0, 8))


VARIANTS = [
    ({"first_stride": 1}, (48, 92), 2, ["conv k3 s1", "conv k4 s2", "convT k4 s2", "convT k3 s1"]),
    ({"separable": True}, (128, 320), 4,
     ["conv k4 s2", "depthwise conv k3 s2 + conv k1 s1", "conv k1 s1 + depthwise convT k4 s2",
      "convT k4 s2"]),
    ({"upsample": "pixel_shuffle"}, (38, 76), 4,
     ["conv k4 s2", "conv k3 s2", "conv k3 s1 + pixel shuffle", "conv k3 s1 + pixel shuffle"]),
    ({"activation": "silu"}, (48, 96), 4, ["conv k4 s2", "conv k3 s2", "convT k4 s2",
                                           "convT k4 s2"]),
]


@pytest.mark.parametrize("options, width, multiple, layers", VARIANTS)
def test_variants_keep_the_shape_and_start_at_the_middle(options, width, multiple, layers):
    net = TinyUNet(7, 3, width, (-2.0, 2.0), **options)
    assert count_params(net) <= 150_000
    assert net.config == {"in_channels": 7, "out_channels": 3, "width": list(width),
                          "out_range": [-2.0, 2.0], **options}
    x = torch.rand(2, 7, 4 * multiple, 6 * multiple)
    out = net(x)
    assert out.shape == (2, 3, 4 * multiple, 6 * multiple)
    assert torch.equal(out, torch.zeros_like(out))  # zero last layer: the middle of the range
    described = [name.split(" ", 1)[1].rsplit(" + ", 1)[0] for name, _, _ in net.layer_shapes(x)
                 if name.startswith(("enc", "dec"))]
    assert described == layers
    # the default network's layers, names and weights are the paper's, unchanged
    assert [k for k in TinyUNet().state_dict()] == ["enc1.weight", "enc1.bias", "enc2.weight",
                                                    "enc2.bias", "dec1.weight", "dec1.bias",
                                                    "dec2.weight", "dec2.bias"]


def test_variant_options_are_checked():
    with pytest.raises(ValueError, match="first_stride"):
        TinyUNet(first_stride=3)
    with pytest.raises(ValueError, match="upsample"):
        TinyUNet(upsample="nearest")
    with pytest.raises(ValueError, match="activation"):
        TinyUNet(activation="tanh")
    with pytest.raises(ValueError, match="multiples of 2"):
        TinyUNet(first_stride=1)(torch.rand(1, 7, 6, 7))


def test_a_variant_round_trips_through_its_config(tmp_path):
    from srlab import pretrained
    from srlab.models import TinyUNetSR

    torch.manual_seed(0)
    model = TinyUNetSR(mode="regression", width=(38, 76), net={"upsample": "pixel_shuffle"})
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    assert model.config["net"] == {"upsample": "pixel_shuffle"}
    pretrained.save_weights(model, tmp_path / "v.pt")
    again = pretrained.load(tmp_path / "v.pt")
    lr = torch.rand(2, 3, 8, 8)
    assert torch.allclose(again.upscale(lr), model.half().float().upscale(lr), atol=1e-6)
    assert "net" not in TinyUNetSR(mode="regression").config  # the paper's: no variant key
