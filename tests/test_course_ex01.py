"""Exercises 01.1-01.5: the stub is not attempted, typical mistakes get their hint, the solution
passes (also the hidden strict checks)."""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from srlab import cost
from srlab.course import exercise

IDS = ("01.1", "01.2", "01.3", "01.4", "01.5")


def reference(ex_id: str):
    """The function defined by the exercise's solution text."""
    given = {"torch": torch, "time": time, "statistics": statistics, "cost": cost}
    namespace = dict(given)
    exec(exercise(ex_id).solution_text, namespace)
    return next(v for k, v in namespace.items() if k not in given
                and callable(v) and not k.startswith("__"))


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: your code here")


def verdict(ex_id: str, answer, strict: bool = False, seed: int = 0):
    return exercise(ex_id).check(answer, quiet=True, seed=seed, strict=strict)


@pytest.mark.parametrize("ex_id", IDS)
def test_untouched_stub_is_not_attempted(ex_id):
    assert verdict(ex_id, stub).status == "not attempted"
    assert verdict(ex_id, None).status == "not attempted"


@pytest.mark.parametrize("ex_id", IDS)
def test_reference_solution_is_correct(ex_id):
    answer = reference(ex_id)
    seeds = [0] if ex_id == "01.5" else [0, 1, 2]  # 01.5 sleeps ~0.5 s per check
    for seed in seeds:
        assert verdict(ex_id, answer, seed=seed).passed, verdict(ex_id, answer, seed=seed)
        assert verdict(ex_id, answer, strict=True, seed=seed).passed


@pytest.mark.parametrize("answer, hint", [
    (lambda k, d, n: 1 / n + 1 / k**2, "a ratio"),
    (lambda k, d, n: d * n, "add the depthwise cost"),
    (lambda k, d, n: k * k * d, "add the pointwise cost"),
    (lambda k, d, n: k * k * d * n, "standard conv"),
])
def test_separable_macs_mistakes(answer, hint):
    result = verdict("01.1", answer)
    assert result.status == "wrong" and hint in result.message, result


@pytest.mark.parametrize("answer, hint", [
    (lambda k, n: 1 / k**2, "1/N term"),
    (lambda k, n: 1 / n, "1/k^2 term"),
    (lambda k, n: 1 / n + 1 / k, "use 1/k^2"),
    (lambda k, n: 1 / (1 / n + 1 / k**2), "inverse"),
])
def test_ratio_mistakes(answer, hint):
    result = verdict("01.2", answer)
    assert result.status == "wrong" and hint in result.message, result


def conv_macs(groups=True, stride=True, padding=True, batch=True):
    def macs(conv, shape):
        n, _, h, w = shape
        (kh, kw), (sh, sw) = conv.kernel_size, conv.stride if stride else (1, 1)
        (ph, pw), (dh, dw) = conv.padding if padding else (0, 0), conv.dilation
        out_h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        out_w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        per_out = conv.in_channels // (conv.groups if groups else 1) * kh * kw
        return (n if batch else 1) * out_h * out_w * conv.out_channels * per_out
    return macs


@pytest.mark.parametrize("answer, hint", [
    (conv_macs(groups=False), "ignored groups"),
    (conv_macs(stride=False), "ignored the stride"),
    (conv_macs(padding=False), "ignored the padding"),
    (conv_macs(batch=False), "batch size"),
])
def test_conv_macs_mistakes(answer, hint):
    for seed in range(3):  # the first random layer has groups > 1, stride > 1, padding > 0
        result = verdict("01.3", answer, seed=seed)
        assert result.status == "wrong" and hint in result.message, result


@pytest.mark.parametrize("answer, hint", [
    (lambda d, n, k, bias=True: d * k * k + d * n, "forgot the biases"),
    (lambda d, n, k, bias=True: d * k * k + d * n + n, "only the pointwise bias"),
    (lambda d, n, k, bias=True: k * k * d * n + n, "standard conv"),
    (lambda d, n, k, bias=True: k * k * d * d + d * n + d + n, "groups=D"),
])
def test_separable_params_mistakes(answer, hint):
    result = verdict("01.4", answer)
    assert result.status == "wrong" and hint in result.message, result


def test_separable_params_bias_false_is_checked_strictly():
    result = verdict("01.4", lambda d, n, k, bias=True: d * k * k + d * n + d + n, strict=True)
    assert result.status == "wrong"


def timer(median=True, skip_warmup=True, no_grad=True, unit=1000):
    def run(fn, x, warmup=3, repeats=10):
        times = []
        with torch.set_grad_enabled(not no_grad):
            for i in range(warmup + repeats):
                start = time.perf_counter()
                fn(x)
                if i >= warmup or not skip_warmup:
                    times.append((time.perf_counter() - start) * unit)
        return statistics.median(times) if median else statistics.mean(times)
    return run


@pytest.mark.parametrize("answer, hint", [
    (timer(median=False), "not the mean"),
    (timer(unit=1), "milliseconds"),
    (timer(no_grad=False), "no_grad"),
    (lambda fn, x, warmup=3, repeats=10: timer()(fn, x, 0, repeats), "called the layer"),
])
def test_median_latency_mistakes(answer, hint):
    result = verdict("01.5", answer)
    assert result.status == "wrong" and hint in result.message, result
