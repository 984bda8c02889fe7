"""Exercises of notebook 03: each check on the stub, on a typical wrong answer, on the answer."""

import copy

from torch import nn

from srlab.course import exercise
from srlab.layers import DepthwiseSeparableConv2d


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: your code here")


def make_separable(model, inplace=False, min_k=2):
    def replaceable(m):
        if type(m) is not nn.Conv2d:
            return False
        k = m.kernel_size[0]
        return (m.kernel_size == (k, k) and k >= min_k and k % 2 == 1 and m.groups == 1
                and m.stride == (1, 1) and m.dilation == (1, 1) and m.padding == (k // 2, k // 2))

    def swap(m):
        if replaceable(m):
            return DepthwiseSeparableConv2d(m.in_channels, m.out_channels, m.kernel_size[0],
                                            bias=m.bias is not None)
        for name, child in m.named_children():
            setattr(m, name, swap(child))
        return m

    return swap(model if inplace else copy.deepcopy(model))


def separable_params(d, n, k, bias=True):
    return k * k * d + d * n + (d + n if bias else 0)


def smsrb_share(n):
    def std(k, d, m):
        return k * k * d * m + m

    def sep(k, d, m):
        return k * k * d + d + d * m + m

    layers = [(3, n, n), (5, n, n), (3, 2 * n, 2 * n), (5, 2 * n, 2 * n)]
    msrb = sum(std(*layer) for layer in layers) + std(1, 4 * n, n)
    smsrb = sum(sep(*layer) for layer in layers) + std(1, 4 * n, n)
    return smsrb / msrb


def tail_macs(scale, n_feats, n_blocks, h, w, grow=True):
    n, px = n_feats, h * w
    macs = (n_blocks + 1) * n * n * px + 9 * n * n * px
    if scale == 3:
        macs += 9 * n * 9 * n * px
    else:
        for _ in range(scale.bit_length() - 1):
            macs += 9 * n * 4 * n * px
            px *= 4 if grow else 1
    return macs + 9 * n * 3 * px * (9 if grow and scale == 3 else 1)


def verdict(ex_id, answer, strict=False):
    return exercise(ex_id).check(answer, quiet=True, seed=4321, strict=strict)


def assert_cases(ex_id, wrong, hint, right):
    assert verdict(ex_id, stub).status == "not attempted"
    assert verdict(ex_id, None).status == "not attempted"
    result = verdict(ex_id, wrong)
    assert result.status == "wrong" and hint in result.message, result.message
    for strict in (False, True):
        result = verdict(ex_id, right, strict)
        assert result.status == "correct", result.message


def test_make_separable():
    assert_cases("03.1", lambda m: make_separable(m, inplace=True), "copy.deepcopy",
                 make_separable)
    one = verdict("03.1", lambda m: make_separable(m, min_k=1))
    assert one.status == "wrong" and "1x1 conv was replaced" in one.message, one.message


def test_separable_params():
    assert_cases("03.2", lambda d, n, k, bias=True: k * k * d + d * n + (n if bias else 0),
                 "depthwise conv has a bias too", separable_params)


def test_smsrb_share():
    assert_cases("03.3", lambda n: 1 / smsrb_share(n), "MSRB/SMSRB", smsrb_share)


def test_tail_macs():
    assert_cases("03.4", lambda *a: tail_macs(*a, grow=False), "runs on more pixels", tail_macs)


def test_ratio_k1():
    assert verdict("03.5", None).status == "not attempted"
    result = verdict("03.5", 1 / 64 + 1 / 9)
    assert result.status == "wrong" and "that is k = 3" in result.message
    for strict in (False, True):
        assert verdict("03.5", 1 / 64 + 1, strict).status == "correct"
