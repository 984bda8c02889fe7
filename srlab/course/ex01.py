"""Checks for the exercises of notebook 01 (solutions/01_depthwise_separable_cost.ipynb)."""

from __future__ import annotations

import math
import statistics
import time

import torch
from torch import nn

from srlab.cost import count_macs, count_params, separable_cost, separable_ratio
from srlab.course.registry import Wrong, register
from srlab.layers import DepthwiseSeparableConv2d

LESSON = "notebooks/01_depthwise_separable_cost.ipynb"


def _int(rng: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high, (), generator=rng))


def _exact(got: object, expected: int, what: str) -> None:
    """Raise ``Wrong`` unless ``got`` is a whole number equal to ``expected``."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        raise Wrong(f"{what}: expected a number, got {type(got).__name__}")
    if got != expected:
        raise Wrong(f"{what}: expected {expected:,}, got {got:,}")


@register(
    "01.1", "MACs per pixel of a depthwise-separable convolution",
    lesson=f"{LESSON}, section 2 (The cost equations), equation (4)",
    hints=["A separable conv is a depthwise conv (equation (2)) followed by a pointwise conv "
           "(equation (3)): add their costs.",
           "Depthwise: k^2 MACs for each of the D channels; pointwise: a D-long dot product for "
           "each of the N outputs.",
           "Return d * (k * k + n), an integer count (not a ratio)."],
    solution="""def separable_macs(k, d, n):
    return d * (k * k + n)""",
)
def check_separable_macs(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(3, 64, 128), (_int(rng, 1, 5) * 2 + 1, _int(rng, 1, 300), _int(rng, 1, 300))]
    if strict:
        cases += [(1, 1, 1), (7, 1024, 3), (5, 3, 2048)]
    for k, d, n in cases:
        expected = separable_cost(k, d, n)
        got = answer(k, d, n)
        what = f"k={k}, D={d}, N={n}"
        if isinstance(got, float) and got < 1 and not expected < 1:
            raise Wrong(f"{what}: you returned {got:.4g}, a ratio; return the MAC count per pixel, "
                        "D (k^2 + N)")
        for wrong, msg in ((d * n, "only the pointwise term D N: add the depthwise cost k^2 D"),
                           (k * k * d, "only the depthwise term k^2 D: add the pointwise cost D N"),
                           (k * k * d * n, "the standard conv's cost k^2 D N (equation (1))"),
                           (k * k + n, "the cost for one input channel: multiply by D"),
                           (k * k * d * d + d * n, "a depthwise cost of k^2 D^2: the depthwise "
                            "conv has one k x k filter per channel, k^2 D MACs")):
            if wrong != expected and got == wrong:
                raise Wrong(f"{what}: you returned {got:,}, {msg}")
        _exact(got, expected, what)
    shown = "; ".join(f"({k}, {d}, {n})" for k, d, n in cases)
    return f"equals srlab.cost.separable_cost(k, D, N) exactly for (k, D, N) = {shown}."


@register(
    "01.2", "The cost ratio of separable to standard convolution",
    lesson=f"{LESSON}, section 2 (The cost equations), equation (5)",
    hints=["Divide equation (4), D (k^2 + N), by equation (1), k^2 D N, and simplify: D cancels.",
           "(k^2 + N) / (k^2 N) splits into two fractions, one for each part of the layer.",
           "Return 1 / n + 1 / k**2."],
    solution="""def ratio(k, n):
    return 1 / n + 1 / k**2""",
)
def check_ratio(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(3, 128), (5, 128), (_int(rng, 1, 5) * 2 + 1, _int(rng, 2, 600))]
    if strict:
        cases += [(1, 1), (1, 64), (9, 4096)]
    for k, n in cases:
        expected = separable_ratio(k, n)
        got = answer(k, n)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        what = f"k={k}, N={n}"
        if not isinstance(got, (int, float)):
            raise Wrong(f"{what}: expected a number, got {type(got).__name__}")
        for wrong, msg in ((1 / k**2, "the 1/N term (the pointwise conv's share) is missing"),
                           (1 / n, "the 1/k^2 term (the depthwise conv's share) is missing"),
                           (1 / n + 1 / k, "use 1/k^2: a k x k kernel has k^2 weights"),
                           (1 / expected, "this is standard / separable, the inverse ratio"),
                           (1 / (n * k**2), "1/(N k^2) is the product; the ratio is the sum "
                            "1/N + 1/k^2")):
            if not math.isclose(wrong, expected, rel_tol=1e-9) and math.isclose(
                    got, wrong, rel_tol=1e-9):
                raise Wrong(f"{what}: you returned {got:.6g}; {msg}")
        if not math.isclose(got, expected, rel_tol=1e-9):
            raise Wrong(f"{what}: expected {expected:.6g}, got {got:.6g}")
    shown = "; ".join(f"({k}, {n})" for k, n in cases)
    return (f"equals srlab.cost.separable_ratio(k, N) to relative 1e-9 for (k, N) = {shown} "
            f"(0.1189 and 0.0478 for N = 128, k = 3 and 5, as in the paper).")


def _random_conv(rng: torch.Generator, strict: bool, first: bool = False) -> nn.Conv2d:
    """A random layer; the ``first`` one has groups > 1, stride > 1 and padding > 0."""
    groups = [2, 4][_int(rng, 0, 2)] if first else [1, 2, 4][_int(rng, 0, 3)]
    in_ch, out_ch = groups * _int(rng, 1, 5), groups * _int(rng, 1, 5)
    if strict:
        k = (_int(rng, 1, 4) * 2 - 1, _int(rng, 1, 4) * 2 - 1)
        return nn.Conv2d(in_ch, out_ch, k, stride=(_int(rng, 1, 4), _int(rng, 1, 4)),
                         padding=(_int(rng, 0, 3), _int(rng, 0, 3)), dilation=_int(rng, 1, 3),
                         groups=groups, bias=bool(_int(rng, 0, 2)))
    if first:
        k = _int(rng, 2, 4) * 2 - 1
        return nn.Conv2d(in_ch, out_ch, k, stride=_int(rng, 2, 4), padding=_int(rng, 1, k // 2 + 1),
                         groups=groups)
    k = _int(rng, 1, 4) * 2 - 1
    return nn.Conv2d(in_ch, out_ch, k, stride=_int(rng, 1, 4), padding=_int(rng, 0, k // 2 + 1),
                     groups=groups)


def _conv_variants(conv: nn.Conv2d, shape: tuple[int, ...]) -> list[tuple[int, str]]:
    """MAC counts of typical wrong formulas, with the hint for each."""
    n, _, h, w = shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (conv.kernel_size, conv.stride, conv.padding,
                                              conv.dilation)

    def macs(stride=True, padding=True, groups=True, batch=True, ceil=False):
        sh_, sw_ = (sh, sw) if stride else (1, 1)
        ph_, pw_ = (ph, pw) if padding else (0, 0)
        rnd = math.ceil if ceil else math.floor
        oh = rnd((h + 2 * ph_ - dh * (kh - 1) - 1) / sh_) + 1
        ow = rnd((w + 2 * pw_ - dw * (kw - 1) - 1) / sw_) + 1
        per_out = conv.in_channels // (conv.groups if groups else 1) * kh * kw
        return (n if batch else 1) * oh * ow * conv.out_channels * per_out

    return [(macs(groups=False), "you ignored groups: each output channel only sees "
             "in_channels / groups input channels"),
            (macs(stride=False), "you ignored the stride: the output is about stride times smaller "
             "along each axis"),
            (macs(padding=False), "you ignored the padding: it adds 2 * padding to H and W "
             "before the kernel slides"),
            (macs(batch=False), "you counted one image: multiply by the batch size N"),
            (macs(ceil=True), "the output size rounds down: floor((H + 2p - k) / s) + 1"),
            (n * h * w * conv.out_channels * conv.in_channels // conv.groups * kh * kw,
             "you used the input size H x W as the output size: compute the output size from "
             "kernel, stride and padding")]


@register(
    "01.3", "MACs of any nn.Conv2d layer",
    lesson=f"{LESSON}, section 3 (Measured, not just derived: the output-size formula)",
    hints=["MACs = (number of output values) x (MACs per output value). An output value of a conv "
           "with `groups` sees in_channels / groups channels through a kh x kw kernel.",
           "Output height: floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1, the same "
           "for the width; read conv.kernel_size, conv.stride, conv.padding, conv.dilation (pairs) "
           "and conv.groups.",
           "Return N * out_h * out_w * conv.out_channels * (conv.in_channels // conv.groups) "
           "* kh * kw (the bias is not counted, as in srlab.cost.count_macs)."],
    solution="""def conv_macs(conv, input_shape):
    n, _, h, w = input_shape
    (kh, kw), (sh, sw) = conv.kernel_size, conv.stride
    (ph, pw), (dh, dw) = conv.padding, conv.dilation
    out_h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return n * out_h * out_w * conv.out_channels * (conv.in_channels // conv.groups) * kh * kw""",
)
def check_conv_macs(answer, rng: torch.Generator, strict: bool) -> str:
    layers = 6 if strict else 4
    described = []
    for i in range(layers):
        conv = _random_conv(rng, strict and i >= 2, first=i == 0)
        shape = (_int(rng, 1, 4), conv.in_channels, _int(rng, 9, 24), _int(rng, 9, 24))
        expected = count_macs(conv, shape)
        got = answer(conv, shape)
        what = (f"Conv2d({conv.in_channels}, {conv.out_channels}, kernel_size={conv.kernel_size}, "
                f"stride={conv.stride}, padding={conv.padding}, dilation={conv.dilation}, "
                f"groups={conv.groups}) on input {shape}")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if got != expected:
            for wrong, msg in _conv_variants(conv, shape):
                if wrong != expected and got == wrong:
                    raise Wrong(f"{what}: you returned {got:,}; {msg}")
        _exact(got, expected, what)
        described.append(f"groups={conv.groups}, stride={conv.stride}")
    extra = " (incl. non-square kernels, dilation, no bias)" if strict else ""
    return (f"equals srlab.cost.count_macs (PyTorch's FlopCounterMode / 2) exactly on {layers} "
            f"random layers{extra}: {'; '.join(described)}.")


@register(
    "01.4", "Parameters of a depthwise-separable layer",
    lesson=f"{LESSON}, section 3 (Measured, not just derived: parameters and biases)",
    hints=["Count the weights and the biases of each part: the depthwise conv (D filters of "
           "k x k, one bias per channel) and the pointwise conv (N filters of 1 x 1 x D, one "
           "bias per output).",
           "Weights: k^2 D + D N. Biases: D (depthwise) + N (pointwise), only when bias=True.",
           "Return d * k * k + d * n + (d + n if bias else 0)."],
    solution="""def separable_params(d, n, k, bias=True):
    weights = d * k * k + d * n
    return weights + (d + n if bias else 0)""",
)
def check_separable_params(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(64, 128, 3, True), (_int(rng, 1, 200), _int(rng, 1, 200), _int(rng, 0, 4) * 2 + 1,
                                  True)]
    if strict:
        cases += [(_int(rng, 1, 200), _int(rng, 1, 200), 5, False), (1, 1, 1, True)]
    for d, n, k, bias in cases:
        expected = count_params(DepthwiseSeparableConv2d(d, n, k, bias=bias))
        got = answer(d, n, k, bias) if not bias else answer(d, n, k)
        what = f"D={d}, N={n}, k={k}, bias={bias}"
        weights = d * k * k + d * n
        for wrong, msg in ((weights, "you forgot the biases: D for the depthwise part and N for "
                            "the pointwise part"),
                           (weights + n, "you counted only the pointwise bias: the depthwise conv "
                            "has D biases too"),
                           (weights + d, "you counted only the depthwise bias: the pointwise conv "
                            "has N biases too"),
                           (k * k * d * n + n, "that is the standard conv's count k^2 D N + N"),
                           (k * k * d * d + d * n + d + n, "the depthwise conv has one k x k "
                            "filter per channel (groups=D): k^2 D weights, not k^2 D^2"),
                           (weights + (d + n) * 2, "each conv has one bias per OUTPUT channel")):
            if wrong != expected and got == wrong:
                raise Wrong(f"{what}: you returned {got:,}; {msg}")
        _exact(got, expected, what)
    shown = "; ".join(f"(D={d}, N={n}, k={k}{'' if b else ', no bias'})" for d, n, k, b in cases)
    return (f"equals the parameter count of srlab.layers.DepthwiseSeparableConv2d for {shown}.")


class _Workload:
    """A stand-in for a layer: sleeps a known time, so a timer's result can be predicted."""

    def __init__(self, warmup_ms: float, timed_ms: list[float]) -> None:
        self.schedule = timed_ms
        self.warmup_ms = warmup_ms
        self.calls = 0
        self.grad_seen: list[bool] = []
        self.warmup = 0
        self.slept_ms: list[float] = []  # how long each timed call really took (a busy machine
        # oversleeps), so the check can predict the median the timer should see

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_seen.append(torch.is_grad_enabled())
        i = self.calls - self.warmup
        self.calls += 1
        start = time.perf_counter()
        time.sleep((self.warmup_ms if i < 0 else self.schedule[i % len(self.schedule)]) / 1000)
        if i >= 0:
            self.slept_ms.append((time.perf_counter() - start) * 1000)
        return x


@register(
    "01.5", "A latency timer: warm-up, repeats, median",
    lesson=f"{LESSON}, section 5 (Timing both layers)",
    hints=["Call fn(x) `warmup` times without timing, then `repeats` times, timing each call "
           "alone with time.perf_counter(); return the median in milliseconds.",
           "Run everything inside `with torch.no_grad():`; statistics.median(times) is robust to "
           "the occasional slow call, the mean is not.",
           "times.append((time.perf_counter() - start) * 1000) after each timed call; on a GPU "
           "also call srlab.cost.synchronize(x.device) (torch.cuda.synchronize() or "
           "torch.mps.synchronize()) before reading the clock."],
    solution="""def median_latency(fn, x, warmup=3, repeats=10):
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            cost.synchronize(x.device)  # a GPU (CUDA, MPS) queues work: wait for it
            start = time.perf_counter()
            fn(x)
            cost.synchronize(x.device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)""",
)
def check_median_latency(answer, rng: torch.Generator, strict: bool) -> str:
    warmup, repeats = _int(rng, 2, 4), 7
    fast, slow = 4.0, 25.0
    schedule = [fast] * 4 + [slow] * 3  # median fast, mean ~ 2.5x fast
    order = torch.randperm(repeats, generator=rng).tolist()
    work = _Workload(slow, [schedule[i] for i in order])
    work.warmup = warmup
    x = torch.zeros(1)
    got = answer(work, x, warmup, repeats)
    what = f"warmup={warmup}, repeats={repeats}, a stub layer of {fast:g} ms (3 calls of {slow:g})"
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if hasattr(got, "median_ms"):
        got = got.median_ms
    if not isinstance(got, (int, float)):
        raise Wrong(f"{what}: return the median time in milliseconds as a float, got "
                    f"{type(got).__name__}")
    if work.calls != warmup + repeats:
        raise Wrong(f"{what}: your timer called the layer {work.calls} times, expected warmup + "
                    f"repeats = {warmup + repeats}")
    if any(work.grad_seen):
        raise Wrong(f"{what}: the layer ran with autograd on: time it inside torch.no_grad() "
                    "(inference does not build a graph)")
    if got < 0.1 * fast:
        raise Wrong(f"{what}: you returned {got:.4g}; return milliseconds, not seconds (x 1000)")
    # the true median and mean of what the stub took; a mean or a total lies above the midpoint
    upper = (statistics.median(work.slept_ms) + statistics.fmean(work.slept_ms)) / 2
    if got > upper:
        raise Wrong(f"{what}: you returned {got:.1f} ms, the stub takes {fast:g} ms on most calls: "
                    "report the median of the timed calls (not the mean, not the total), and "
                    "leave the slow warm-up calls out")
    if got < 0.9 * fast:
        raise Wrong(f"{what}: you returned {got:.2f} ms but every timed call takes at least "
                    f"{fast:g} ms: time each call from just before to just after fn(x)")
    checked = f"{what}: median {got:.2f} ms"
    if strict:  # no warm-up, a single timed call
        single = _Workload(fast, [fast])
        got1 = answer(single, x, 0, 1)
        got1 = getattr(got1, "median_ms", got1)
        # one sleep can overshoot a lot on a busy machine (no median to absorb it), so the
        # bound above only catches wrong units (microseconds)
        if single.calls != 1 or not 0.9 * fast <= float(got1) <= 50 * fast:
            raise Wrong(f"warmup=0, repeats=1: expected one call of about {fast:g} ms, got "
                        f"{single.calls} calls and {float(got1):.3g} ms")
        checked += "; warmup=0, repeats=1 gave one call"
    return (f"{checked}; the layer ran {warmup + repeats} times under no_grad and the slow calls "
            f"did not move the median (accepted {0.9 * fast:g}-{upper:.1f} ms).")
