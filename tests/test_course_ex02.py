"""Exercises of notebook 02: each check on the stub, on a typical wrong answer, on the answer."""

import torch

from srlab.course import exercise


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: your code here")


def msrb_forward(block, x, residual=True, order=True):
    relu = torch.nn.functional.relu
    s1, p1 = relu(block.conv_3_1(x)), relu(block.conv_5_1(x))
    stage1 = torch.cat([s1, p1] if order else [p1, s1], dim=1)
    s2, p2 = relu(block.conv_3_2(stage1)), relu(block.conv_5_2(stage1))
    out = block.confusion(torch.cat([s2, p2], dim=1))
    return out + x if residual else out


def tail_params(scale, n_feats, n_blocks, fused=1):
    def conv(k, d, m):
        return k * k * d * m + m

    n = n_feats
    up = conv(3, n, 9 * n) if scale == 3 else (scale.bit_length() - 1) * conv(3, n, 4 * n)
    return conv(1, (n_blocks + fused) * n, n) + conv(3, n, n) + up + conv(3, n, 3)


def receptive_field(kernel_sizes):
    return 1 + sum(k - 1 for k in kernel_sizes)


def pixel_shuffle(x, r, order=(0, 1, 4, 2, 5, 3)):
    n, c_r2, h, w = x.shape
    c = c_r2 // (r * r)
    return x.reshape(n, c, r, r, h, w).permute(*order).reshape(n, c, h * r, w * r)


def verdict(ex_id, answer, strict=False):
    return exercise(ex_id).check(answer, quiet=True, seed=1234, strict=strict)


def assert_cases(ex_id, wrong, hint, right):
    assert verdict(ex_id, stub).status == "not attempted"
    assert verdict(ex_id, None).status == "not attempted"
    result = verdict(ex_id, wrong)
    assert result.status == "wrong" and hint in result.message, result.message
    for strict in (False, True):
        result = verdict(ex_id, right, strict)
        assert result.status == "correct", result.message


def test_msrb_forward():
    assert_cases("02.1", lambda b, x: msrb_forward(b, x, residual=False), "is not added back",
                 msrb_forward)
    order = verdict("02.1", lambda b, x: msrb_forward(b, x, order=False))
    assert order.status == "wrong" and "wrong order" in order.message
    cheat = verdict("02.1", lambda b, x: b(x))
    assert cheat.status == "wrong" and "called the block itself" in cheat.message


def test_tail_params():
    assert_cases("02.2", lambda s, n, b: tail_params(s, n, b, fused=0), "n_blocks + 1",
                 tail_params)


def test_receptive_field():
    assert_cases("02.3", lambda ks: sum(ks), "does not add their sizes", receptive_field)
    assert verdict("02.3", lambda ks: 7).status == "wrong"


def test_pixel_shuffle():
    assert_cases("02.4", lambda x, r: pixel_shuffle(x, r, (0, 1, 4, 3, 5, 2)), "swapped",
                 pixel_shuffle)
    builtin = verdict("02.4", torch.nn.functional.pixel_shuffle)
    assert builtin.status == "wrong" and "reshape" in builtin.message
    module = verdict("02.4", lambda x, r: torch.nn.PixelShuffle(r)(x))
    assert module.status == "wrong" and "reshape" in module.message
    assert torch.nn.functional.pixel_shuffle is torch.pixel_shuffle  # restored after the check
