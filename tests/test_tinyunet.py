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
