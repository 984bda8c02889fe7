"""Checks for the exercises of notebook 03 (solutions/03_smsrn.ipynb)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from srlab.cost import count_macs, count_params
from srlab.course.registry import Wrong, close, register
from srlab.layers import DepthwiseSeparableConv2d
from srlab.models import MSRB, MSRN

LESSON = "notebooks/03_smsrn.ipynb"


def _randint(low: int, high: int, rng: torch.Generator) -> int:
    """A random int in [low, high)."""
    return int(torch.randint(low, high, (), generator=rng))


# ---------------------------------------------------------------------------------------------
# 03.1 make any network separable


def _replaceable(m: nn.Module) -> bool:
    """A standard k x k conv (k > 1) that DepthwiseSeparableConv2d can replace exactly."""
    if type(m) is not nn.Conv2d:
        return False
    k = m.kernel_size
    return (k[0] == k[1] and k[0] > 1 and k[0] % 2 == 1 and m.groups == 1
            and m.stride == (1, 1) and m.dilation == (1, 1) and m.padding == (k[0] // 2,) * 2
            and m.padding_mode == "zeros")


def _separable_copy(model: nn.Module) -> nn.Module:
    """Reference: a copy with every replaceable conv swapped for a separable one."""

    def swap(m: nn.Module) -> nn.Module:
        if _replaceable(m):
            return DepthwiseSeparableConv2d(m.in_channels, m.out_channels, m.kernel_size[0],
                                            bias=m.bias is not None)
        for name, child in m.named_children():
            setattr(m, name, swap(child))
        return m

    return swap(copy.deepcopy(model))


def _random_stack(rng: torch.Generator, strict: bool) -> tuple[nn.Module, int]:
    """A random nested conv stack (and its input channels) with 1x1 convs that must stay."""
    c = _randint(2, 6, rng)
    layers: list[nn.Module] = []
    ch = c
    for i in range(_randint(3, 6, rng)):
        out = _randint(2, 7, rng)
        k = (1, 3, 5)[_randint(0, 3, rng)] if i else 3
        layers += [nn.Conv2d(ch, out, k, padding=k // 2, bias=bool(_randint(0, 2, rng))),
                   nn.ReLU()]
        ch = out
    inner = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, ch, 1))
    layers += [inner]
    if strict:  # convs a separable one cannot replace: stride 2, grouped, 'valid' padding
        layers += [nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1),
                   nn.Conv2d(2 * ch, 2 * ch, 3, padding=1, groups=2),
                   nn.Conv2d(2 * ch, ch, 3, padding=0),
                   DepthwiseSeparableConv2d(ch, ch, 5)]
    return nn.Sequential(*layers), c


def _compare(got: nn.Module, expected: nn.Module, what: str, x: torch.Tensor) -> None:
    """Same structure, same parameter shapes, same function once the weights are shared."""
    exp_mods = dict(expected.named_modules())
    got_mods = dict(got.named_modules())
    for name, exp in exp_mods.items():
        mod = got_mods.get(name)
        where = f"{what}, module '{name or '(the whole model)'}'"
        if isinstance(exp, nn.Conv2d) and isinstance(mod, DepthwiseSeparableConv2d):
            if exp.kernel_size == (1, 1):
                raise Wrong(f"{where}: a 1x1 conv was replaced; only k x k convs with k > 1 "
                            "are, a 1x1 conv has nothing to separate")
            raise Wrong(f"{where}: {exp} must stay as it is (DepthwiseSeparableConv2d only "
                        "replaces stride-1, groups=1, 'same'-padded convs)")
        if isinstance(exp, DepthwiseSeparableConv2d) and type(mod) is nn.Conv2d:
            raise Wrong(f"{where}: this {mod.kernel_size[0]}x{mod.kernel_size[1]} conv was not "
                        "replaced; go through all children recursively (and the model itself "
                        "may be a conv)")
        if mod is None or type(mod) is not type(exp):
            found = "nothing" if mod is None else type(mod).__name__
            raise Wrong(f"{where}: expected {type(exp).__name__}, found {found}")
    if set(got_mods) != set(exp_mods):
        raise Wrong(f"{what}: modules {sorted(set(got_mods) - set(exp_mods))} should not exist")
    got_p = dict(got.named_parameters())
    for name, p in expected.named_parameters():
        if name not in got_p:
            hint = " (keep the bias when the conv had one)" if name.endswith("bias") else ""
            raise Wrong(f"{what}: parameter '{name}' is missing{hint}")
        if got_p[name].shape != p.shape:
            raise Wrong(f"{what}: parameter '{name}' has shape {tuple(got_p[name].shape)}, "
                        f"expected {tuple(p.shape)}")
    extra = sorted(set(got_p) - {name for name, _ in expected.named_parameters()})
    if extra:
        raise Wrong(f"{what}: extra parameters {extra} (drop the bias when the conv had none)")
    got.load_state_dict(expected.state_dict())
    with torch.no_grad():
        close(got.eval()(x), expected.eval()(x), f"{what}: output with shared weights")


@register(
    "03.1", "Make any network depthwise-separable",
    lesson=f"{LESSON}, sections 1 and 2 (the swap; SMSRB and SMSRN, part by part)",
    hints=["Work on copy.deepcopy(model), so the original stays as it is; a function that "
           "returns the replacement of one module and calls itself on every child "
           "(named_children, setattr) handles any nesting, and the model itself being a conv.",
           "Replace only type(m) is nn.Conv2d with a square odd kernel k > 1, groups == 1, "
           "stride (1, 1), dilation (1, 1) and padding (k // 2, k // 2); 1x1 convs stay.",
           "The replacement is DepthwiseSeparableConv2d(m.in_channels, m.out_channels, "
           "m.kernel_size[0], bias=m.bias is not None)."],
    solution="""def make_separable(model):
    def replaceable(m):
        if type(m) is not nn.Conv2d:
            return False
        k = m.kernel_size[0]
        return (m.kernel_size == (k, k) and k > 1 and k % 2 == 1 and m.groups == 1
                and m.stride == (1, 1) and m.dilation == (1, 1) and m.padding == (k // 2, k // 2))

    def swap(m):
        if replaceable(m):
            return DepthwiseSeparableConv2d(m.in_channels, m.out_channels, m.kernel_size[0],
                                            bias=m.bias is not None)
        for name, child in m.named_children():
            setattr(m, name, swap(child))
        return m

    return swap(copy.deepcopy(model))""",
    points=2,
)
def check_make_separable(answer, rng: torch.Generator, strict: bool) -> str:
    torch.manual_seed(_randint(0, 2**31 - 1, rng))
    stacks = [_random_stack(rng, False)] + ([_random_stack(rng, True)] if strict else [])
    for i, (stack, c) in enumerate(stacks):
        before = {k: v.clone() for k, v in stack.state_dict().items()}
        n_before = count_params(stack)
        got = answer(stack)
        what = f"random conv stack {i + 1}"
        if got is stack or count_params(stack) != n_before or any(
                not torch.equal(v, before[k]) for k, v in stack.state_dict().items()):
            raise Wrong(f"{what}: the original model was changed; return a modified copy "
                        "(copy.deepcopy) and leave the argument as it is")
        if not isinstance(got, nn.Module):
            raise Wrong(f"{what}: expected an nn.Module, got {type(got).__name__}")
        size = _randint(5, 10, rng)
        _compare(got, _separable_copy(stack), what, torch.randn(2, c, size, size, generator=rng))
    # MSRN -> SMSRN: head and body separable, the tail stays standard
    n, blocks = _randint(2, 9, rng), _randint(1, 3, rng)
    configs = [(4, n, blocks)] + ([(4, 64, 8), (3, 5, 1)] if strict else [])
    for scale, n, blocks in configs:
        model = MSRN(scale, n, blocks)
        model.head = answer(model.head)
        model.body = answer(model.body)
        torch.manual_seed(_randint(0, 2**31 - 1, rng))
        reference = MSRN(scale, n, blocks, separable=True)  # SMSRN(scale, n, blocks)
        what = f"MSRN({scale}, {n}, {blocks}) with make_separable applied to head and body"
        if count_params(model) != count_params(reference):
            raise Wrong(f"{what}: {count_params(model):,} parameters, SMSRN has "
                        f"{count_params(reference):,}")
        _compare(model, reference, what, torch.rand(1, 3, 8, 8, generator=rng))
    shown = ", ".join(f"MSRN({s}, {n}, {b})" for s, n, b in configs)
    extra = (" (incl. stride-2, grouped, 'valid' and already separable convs, which stay)"
             if strict else "")
    return (f"on {len(stacks)} random nested conv stack(s){extra} the structure, parameter "
            f"shapes and outputs match srlab's reference, the original is untouched; "
            f"{shown} with separable head and body load SMSRN's weights and give its outputs "
            "(to 1e-5).")


# ---------------------------------------------------------------------------------------------
# 03.2 parameters of one separable conv


@register(
    "03.2", "Parameters of a depthwise-separable conv",
    lesson=f"{LESSON}, section 1 (the swap: what share of MSRN survives)",
    hints=["Depthwise: D filters of k x k (one per input channel) and D biases; pointwise: a 1x1 "
           "conv D -> N, D N weights and N biases.",
           "Both parts carry a bias when bias=True, none when bias=False.",
           "return k * k * d + d * n + (d + n if bias else 0)"],
    solution="""def separable_params(d, n, k, bias=True):
    return k * k * d + d * n + (d + n if bias else 0)""",
)
def check_separable_params(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(_randint(1, 200, rng), _randint(1, 200, rng), (3, 5, 7)[_randint(0, 3, rng)], b)
             for b in (True, False)]
    if strict:
        cases += [(1, 1, 1, True), (128, 128, 5, True), (64, 3, 3, False)]
    for d, n, k, bias in cases:
        expected = count_params(DepthwiseSeparableConv2d(d, n, k, bias=bias))
        got = answer(d, n, k, bias=bias)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if got != expected:
            what = (f"separable_params({d}, {n}, {k}, bias={bias}) = {got!r}, "
                    f"expected {expected:,}")
            if bias and got == k * k * d + d * n + n:
                raise Wrong(f"{what}: the depthwise conv has a bias too (d of them)")
            if bias and got == k * k * d + d * n:
                raise Wrong(f"{what}: the biases are missing (d depthwise + n pointwise)")
            if not bias and got == k * k * d + d * n + d + n:
                raise Wrong(f"{what}: with bias=False neither part has a bias")
            if got in (k * k * d * n + n * int(bias), k * k * d * n):
                raise Wrong(f"{what}: that is the standard conv; the separable one has k^2 D "
                            "depthwise and D N pointwise weights")
            raise Wrong(what)
    shown = ", ".join(f"(D={d}, N={n}, k={k}, bias={b})" for d, n, k, b in cases)
    return f"equals count_params(DepthwiseSeparableConv2d(...)) exactly for {shown}."


# ---------------------------------------------------------------------------------------------
# 03.3 the SMSRB/MSRB parameter share


@register(
    "03.3", "The SMSRB/MSRB parameter share as a function of n_feats",
    lesson=f"{LESSON}, section 2 (SMSRB and SMSRN, part by part)",
    hints=["Count each layer of the block for n features: conv_3_1 and conv_5_1 are n -> n, "
           "conv_3_2 and conv_5_2 are 2n -> 2n, the confusion 1x1 is 4n -> n and stays standard. "
           "Every part has a bias.",
           "Standard k x k D -> N: k^2 D N + N. Separable: k^2 D + D (depthwise) + D N + N "
           "(pointwise). The MSRB totals 174 n^2 + 7 n.",
           "The SMSRB totals 14 n^2 + 115 n; return (14 n + 115) / (174 n + 7)."],
    solution="""def smsrb_share(n):
    def std(k, d, m):
        return k * k * d * m + m

    def sep(k, d, m):
        return k * k * d + d + d * m + m

    layers = [(3, n, n), (5, n, n), (3, 2 * n, 2 * n), (5, 2 * n, 2 * n)]
    msrb = sum(std(*layer) for layer in layers) + std(1, 4 * n, n)
    smsrb = sum(sep(*layer) for layer in layers) + std(1, 4 * n, n)
    return smsrb / msrb""",
)
def check_smsrb_share(answer, rng: torch.Generator, strict: bool) -> str:
    ns = [_randint(1, 100, rng) for _ in range(3)]
    if strict:
        ns += [1, 64, 200]
    for n in ns:
        expected = count_params(MSRB(n, separable=True)) / count_params(MSRB(n))
        got = answer(n)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if not isinstance(got, (int, float)):
            raise Wrong(f"smsrb_share({n}): expected a number, got {type(got).__name__}")
        if abs(got - expected) > 1e-9 * max(1.0, abs(expected)):
            what = f"smsrb_share({n}) = {got:.6g}, expected {expected:.6g}"
            if abs(got - 1 / expected) < 1e-6 * (1 / expected):
                raise Wrong(f"{what}: that is MSRB/SMSRB; the share is SMSRB / MSRB (< 1)")
            if abs(got - 14 / 174) < 1e-6:
                raise Wrong(f"{what}: the biases are missing (or you took the limit for large "
                            "n); every conv part has one bias per output channel")
            eq5 = (1 / n + 1 / 9, 1 / n + 1 / 25, 1 / (2 * n) + 1 / 9, 1 / (2 * n) + 1 / 25)
            if any(abs(got - r) < 1e-9 for r in eq5):
                raise Wrong(f"{what}: equation (5) gives one conv's ratio; the block mixes "
                            "3x3 and 5x5 convs of different widths and a 1x1 that stays, so "
                            "count every layer's parameters")
            raise Wrong(what)
    shown = ", ".join(str(n) for n in ns)
    return (f"equals count_params(MSRB(n, separable=True)) / count_params(MSRB(n)) for n_feats "
            f"= {shown} (to 1e-9 relative).")


# ---------------------------------------------------------------------------------------------
# 03.4 MACs of the unchanged tail


def _tail_macs(scale: int, n: int, blocks: int, h: int, w: int, grow: bool = True) -> int:
    """Reference formula; ``grow=False`` is the mistake of counting everything at LR size."""
    px = h * w
    macs = (blocks + 1) * n * n * px + 9 * n * n * px
    if scale == 3:
        macs += 9 * n * 9 * n * px
    else:
        for i in range(scale.bit_length() - 1):
            macs += 9 * n * 4 * n * px * (4**i if grow else 1)
    return macs + 9 * n * 3 * px * (scale * scale if grow else 1)


@register(
    "03.4", "MACs of the tail, which SMSRN leaves standard",
    lesson=f"{LESSON}, section 3 (where the MACs go: a hand count)",
    hints=["A k x k conv D -> N costs k^2 D N MACs per output pixel (biases and PixelShuffle "
           "are not counted). Go through the tail: 1x1 fusion ((b + 1) n -> n) and 3x3 n -> n at "
           "h x w, then the upsampler, then the 3x3 n -> 3 reconstruction.",
           "Every PixelShuffle(r) multiplies the number of pixels by r^2: the second x2 round of "
           "a x4 upsampler runs on (2h) x (2w), the reconstruction on (scale h) x (scale w).",
           "x4: (b + 1) n^2 hw + 9 n^2 hw + 36 n^2 hw + 36 n^2 (4 hw) + 27 n (16 hw)."],
    solution="""def tail_macs(scale, n_feats, n_blocks, h, w):
    n, px = n_feats, h * w
    macs = (n_blocks + 1) * n * n * px + 9 * n * n * px  # fusion 1x1, then 3x3
    if scale == 3:
        macs += 9 * n * 9 * n * px
    else:
        for _ in range(scale.bit_length() - 1):  # one conv(n -> 4n) + PixelShuffle(2) per round
            macs += 9 * n * 4 * n * px
            px *= 4
    return macs + 9 * n * 3 * (scale * h) * (scale * w)""",
)
def check_tail_macs(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(s, _randint(1, 17, rng), _randint(1, 5, rng), _randint(2, 9, rng),
              _randint(2, 9, rng)) for s in (2, 3, 4)]
    if strict:
        cases += [(8, 2, 1, 3, 2), (4, 64, 8, 16, 16)]
    for scale, n, blocks, h, w in cases:
        tail = MSRN(scale, n, blocks).tail
        expected = count_macs(tail, (1, (blocks + 1) * n, h, w))
        got = answer(scale, n, blocks, h, w)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if got != expected:
            what = f"tail_macs({scale}, {n}, {blocks}, {h}, {w}) = {got!r}, measured {expected:,}"
            if scale != 3 and got == _tail_macs(scale, n, blocks, h, w, grow=False):
                raise Wrong(f"{what}: every conv after a PixelShuffle runs on more pixels; "
                            "count each conv at the resolution it sees")
            raise Wrong(what)
    shown = ", ".join(f"x{s} n={n} b={b} {h}x{w}" for s, n, b, h, w in cases)
    return (f"equals srlab.cost.count_macs(MSRN(...).tail, ...) exactly for {shown}.")


# ---------------------------------------------------------------------------------------------
# 03.5 equation (5) at k = 1

K1_N = 64  # the output channels named in the exercise


@register(
    "03.5", "Equation (5) for a 1x1 conv",
    lesson=f"{LESSON}, section 1 (the swap, equation (5))",
    hints=["Put k = 1 into 1/N + 1/k^2 with the N given in the exercise.",
           "1/k^2 is 1 for k = 1: the 'depthwise' part is a per-channel scaling that costs D "
           "MACs, and the pointwise part is the whole original conv again.",
           f"ratio_k1 = 1 / {K1_N} + 1"],
    solution=f"""ratio_k1 = 1 / {K1_N} + 1  # = {1 / K1_N + 1}: more than the standard conv

A 1x1 conv has no spatial extent to factor out: its "separable" version is the same D -> N
1x1 conv (D N MACs) plus a per-channel scaling (D MACs), so it costs 1 + 1/N times as much.
That is why SMSRN keeps the 1x1 confusion and fusion convs standard.""",
)
def check_ratio_k1(answer, rng: torch.Generator, strict: bool) -> str:
    if isinstance(answer, torch.Tensor):
        answer = answer.item()
    if not isinstance(answer, (int, float)):
        raise Wrong(f"expected a number, got {type(answer).__name__}")
    expected = 1 / K1_N + 1
    if abs(answer - expected) > 1e-6:
        what = f"ratio_k1 = {answer:.6g}"
        if abs(answer - (1 / K1_N + 1 / 9)) < 1e-4:
            raise Wrong(f"{what}: that is k = 3; here the kernel is 1x1, so 1/k^2 = 1")
        if abs(answer - 1 / K1_N) < 1e-4 or abs(answer - 1) < 1e-4:
            raise Wrong(f"{what}: equation (5) has two terms, 1/N and 1/k^2; add both")
        if abs(answer - 1 / expected) < 1e-4:
            raise Wrong(f"{what}: the ratio is separable / standard, which is > 1 here")
        raise Wrong(what)
    return f"ratio_k1 = 1/{K1_N} + 1/1^2 = {expected:.6f} (to 1e-6): a 1x1 conv gains nothing."
