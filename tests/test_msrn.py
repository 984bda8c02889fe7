"""MSRN / SMSRN: exact parameter counts (SMSRN paper, Table 1), shapes, structure, dtypes,
bad input, and ``srlab.models.build``."""

import pytest
import torch
from torch import nn

from srlab.cost import count_params
from srlab.layers import DepthwiseSeparableConv2d
from srlab.models import MODELS, MSRB, MSRN, SMSRN, TinyUNetSR, build
from srlab.models.msrn import parameter_table, receptive_field


def test_parameter_counts_match_the_paper():
    assert count_params(MSRN(scale=4)) == 6_078_019
    assert count_params(SMSRN(scale=4)) == 888_929
    assert count_params(MSRN(scale=2)) == 5_930_307
    assert round(100 * 888_929 / 6_078_019, 2) == 14.63


def test_mean_shift_is_frozen():
    model = MSRN(scale=4)
    # the official code's MeanShift trains its 2 x 12 numbers; here they are frozen
    assert count_params(model, trainable_only=False) == 6_078_019 + 24
    for shift in (model.sub_mean, model.add_mean):
        assert not shift.weight.requires_grad and not shift.bias.requires_grad


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("cls", [MSRN, SMSRN])
def test_output_shape_and_range(cls, scale):
    torch.manual_seed(0)
    model = cls(scale=scale).eval()
    with torch.no_grad():
        sr = model(torch.rand(2, 3, 8, 6))
    assert sr.shape == (2, 3, 8 * scale, 6 * scale)
    assert sr.dtype == torch.float32
    assert 0 <= float(sr.min()) and float(sr.max()) <= 1


def test_smsrn_structure():
    model = SMSRN(scale=4)
    assert isinstance(model.head, DepthwiseSeparableConv2d)
    block = model.body[0]
    for name in ("conv_3_1", "conv_5_1", "conv_3_2", "conv_5_2"):
        conv = getattr(block, name)
        assert isinstance(conv, DepthwiseSeparableConv2d)
        assert conv.depthwise.bias is not None and conv.pointwise.bias is not None
    assert isinstance(block.confusion, nn.Conv2d) and block.confusion.kernel_size == (1, 1)
    assert not any(isinstance(m, DepthwiseSeparableConv2d) for m in model.tail.modules())
    assert model.body[0].conv_5_2.depthwise.kernel_size == (5, 5)
    assert model.body[0].conv_5_2.depthwise.groups == 128


def test_msrb_keeps_shape_and_is_residual():
    block = MSRB(n_feats=8)
    nn.init.zeros_(block.confusion.weight)
    nn.init.zeros_(block.confusion.bias)
    x = torch.randn(1, 8, 7, 5)
    assert torch.equal(block(x), x)  # with a zero 1x1 fusion only the skip is left


def test_build_round_trip_ignores_training_settings():
    model = build("smsrn", {"scale": 2, "n_blocks": 1, "n_feats": 8, "separable": True,
                            "train": {"lr": 1e-4}})
    assert type(model) is SMSRN and model.scale == 2 and len(model.body) == 1
    again = build(model.kind, model.config)
    assert type(again) is SMSRN and again.config == model.config
    assert {k: v.shape for k, v in again.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}
    separable = MSRN(scale=2, n_feats=8, n_blocks=1, separable=True)
    assert separable.config["separable"] is True and "separable" not in model.config
    rebuilt = MSRN.from_config({**separable.config, "train": {}})
    assert isinstance(rebuilt.head, DepthwiseSeparableConv2d)


def test_build_every_kind():
    assert set(MODELS) == {"msrn", "smsrn", "tinyunet", "resshift", "resdiff", "cifar_classifier"}
    assert type(build("msrn", {"scale": 3, "n_blocks": 1})) is MSRN
    assert type(build("msrn")) is MSRN and build("msrn").scale == 4
    tiny = build("tinyunet", {"mode": "regression"})
    assert type(tiny) is TinyUNetSR and not tiny.is_diffusion
    for kind, cls in MODELS.items():
        assert cls.kind == kind
    with pytest.raises(ValueError, match=r"unknown model kind 'edsr'; expected one of "
                                         r"\('msrn', 'smsrn', 'tinyunet', 'resshift', "
                                         r"'resdiff', 'cifar_classifier'\)"):
        build("edsr", {})


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-6), (torch.float16, 2e-3)])
def test_float64_and_float16_input_computes_in_float32(dtype, tol):
    torch.manual_seed(0)
    model = MSRN(scale=2, n_feats=8, n_blocks=1).eval()
    x = torch.rand(1, 3, 6, 5).to(dtype)
    with torch.no_grad():
        sr = model(x)
        ref = model(x.float())
    assert sr.dtype == dtype and sr.shape == (1, 3, 12, 10)
    torch.testing.assert_close(sr.float(), ref, atol=tol, rtol=0)
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_input_is_refused(bad):
    model = SMSRN(scale=2, n_feats=8, n_blocks=1).eval()
    x = torch.rand(1, 3, 8, 8)
    x[0, 0, 3, 3] = bad
    with pytest.raises(ValueError, match="lr: expected finite values.*NaN or infinite"):
        model(x)


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.rand(1, 1, 8, 8), "3 channels"),
        (torch.rand(3, 8, 8), "4-D"),
        (torch.randint(0, 255, (1, 3, 8, 8)), "float"),
        (torch.rand(1, 3, 8, 8) * 255, r"\[0, 1\]"),
        ([[0.5]], "torch.Tensor"),
        (torch.rand(1, 3, 0, 8), "non-empty"),
    ],
)
def test_bad_input(x, match):
    model = SMSRN(scale=2, n_blocks=1).eval()
    with pytest.raises((ValueError, TypeError), match=match):
        model(x)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="scale"):
        MSRN(scale=5)
    with pytest.raises(ValueError, match="scale"):
        MSRN(scale=1)
    with pytest.raises(ValueError, match="n_colors"):
        MSRN(n_colors=1)
    with pytest.raises(ValueError, match="n_blocks and n_feats must be >= 1"):
        MSRN(n_blocks=0)


@pytest.mark.parametrize("cls", [MSRN, SMSRN])
def test_memory_formats_give_the_same_image_in_the_default_layout(cls):
    torch.manual_seed(0)
    model = cls(scale=2, n_feats=8, n_blocks=2).eval()
    x = torch.rand(2, 3, 12, 10)
    outputs = {}
    with torch.no_grad():
        for fmt in ("contiguous", "channels_last", "auto"):
            model.memory_format = fmt
            outputs[fmt] = model(x)
            assert outputs[fmt].is_contiguous()  # NCHW out, whatever ran inside
        model.train()
        assert model(x).is_contiguous()  # training output too (raw, not clamped)
    assert torch.allclose(outputs["channels_last"], outputs["contiguous"], atol=1e-5)
    assert torch.equal(outputs["auto"], outputs["channels_last"])  # auto = NHWC on the CPU
    # the weights keep their layout: the state dict is the same in every mode
    assert all(t.is_contiguous() for t in model.state_dict().values())


def test_auto_memory_format_rule():
    from srlab.config import memory_format_on

    assert memory_format_on("auto", torch.device("cpu")) == torch.channels_last
    assert memory_format_on("auto", torch.device("meta")) == torch.contiguous_format
    assert memory_format_on("contiguous", torch.device("cpu")) == torch.contiguous_format
    with pytest.raises(ValueError, match="unknown memory_format 'nhwc'"):
        SMSRN(scale=4, memory_format="nhwc")
    with pytest.raises(ValueError, match="unknown memory_format 'nhwc'"):
        memory_format_on("nhwc", torch.device("cpu"))


def test_forward_is_reconstruct_of_features():
    torch.manual_seed(0)
    model = SMSRN(scale=2, n_feats=8, n_blocks=3).eval()
    x = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        feats = model.features(x)
        assert feats.shape == (1, 8 * 4, 9, 7)  # head + 3 blocks, concatenated
        assert torch.allclose(model(x), model.reconstruct(feats).clamp(0, 1), atol=1e-6)


@pytest.mark.parametrize("kernels", [[3], [3, 3], [5, 5], [3, 5], [1, 3, 5, 3]])
def test_receptive_field_of_a_conv_stack_is_one_plus_the_sum_of_k_minus_one(kernels):
    torch.manual_seed(0)
    stack = nn.Sequential(*(nn.Conv2d(2, 2, k, padding=k // 2) for k in kernels))
    width, mask = receptive_field(stack, 2, size=17)
    assert width == 1 + sum(k - 1 for k in kernels)
    assert mask.shape == (17, 17) and mask.dtype == torch.bool
    assert int(mask.sum()) == width * width  # a full square window


def test_receptive_field_of_an_msrb_is_the_5x5_path():
    torch.manual_seed(0)
    block = MSRB(n_feats=4)
    assert receptive_field(block, 4)[0] == 9
    with torch.no_grad():  # measured even inside no_grad, and the block is left untouched
        assert receptive_field(block, 4, seed=3)[0] == 9
    assert all(p.grad is None for p in block.parameters())


def test_receptive_field_bad_input():
    conv = nn.Conv2d(1, 1, 5, padding=2)
    with pytest.raises(ValueError, match="reaches the border"):
        receptive_field(nn.Sequential(conv, conv), 1, size=7)
    with pytest.raises(ValueError, match="odd integer"):
        receptive_field(conv, 1, size=20)
    with pytest.raises(ValueError, match="channels must be"):
        receptive_field(conv, 0)
    with pytest.raises(ValueError, match="same-size feature map"):
        receptive_field(nn.Conv2d(1, 1, 3), 1)


@pytest.mark.parametrize("model, counts", [
    (MSRN(scale=4), [1_792, 5_705_216, 73_856, 295_424, 1_731, 6_078_019]),
    (SMSRN(scale=4), [286, 517_632, 73_856, 295_424, 1_731, 888_929]),
    (MSRN(scale=3, n_feats=8, n_blocks=2), [224, 22_384, 784, 5_256, 219, 28_867]),
], ids=["msrn_x4", "smsrn_x4", "msrn_x3_small"])
def test_parameter_table_adds_up_part_by_part(model, counts):
    rows = parameter_table(model)
    assert [r["part"] for r in rows] == ["head", "body", "fusion", "upsampler", "reconstruction",
                                         "total"]
    assert [r["params"] for r in rows] == counts and counts[-1] == count_params(model)
    assert sum(r["share"] for r in rows[:-1]) == pytest.approx(1.0) and rows[-1]["share"] == 1.0
    # one conv worked by hand: the head is k^2 D N + N = 9 * 3 * 64 + 64 for MSRN x4
    if counts[0] == 1_792:
        assert rows[0]["layers"] == "3x3 3->64" and 9 * 3 * 64 + 64 == 1_792
        assert rows[3]["layers"] == "2 x (3x3 64->256, shuffle 2)"
    with pytest.raises(TypeError, match="expects an MSRN or SMSRN"):
        parameter_table(nn.Conv2d(1, 1, 3))
