"""Checks for the exercises of notebook 02 (solutions/02_msrn.ipynb)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srlab.course.registry import Wrong, close, register
from srlab.models import MSRB, MSRN

LESSON = "notebooks/02_msrn.ipynb"


def _randint(low: int, high: int, rng: torch.Generator) -> int:
    """A random int in [low, high)."""
    return int(torch.randint(low, high, (), generator=rng))


# ---------------------------------------------------------------------------------------------
# 02.1 one MSRB by hand


def _msrb_variants(block: MSRB, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The reference MSRB output and the outputs of typical mistakes."""
    relu = F.relu
    c31, c51, c32, c52, fuse = (block.conv_3_1, block.conv_5_1, block.conv_3_2, block.conv_5_2,
                                block.confusion)
    s1, p1 = relu(c31(x)), relu(c51(x))
    st1 = torch.cat([s1, p1], dim=1)
    s2, p2 = relu(c32(st1)), relu(c52(st1))
    st2 = torch.cat([s2, p2], dim=1)
    swapped1 = torch.cat([p1, s1], dim=1)
    return {
        "reference": fuse(st2) + x,
        "no residual": fuse(st2),
        "order": fuse(torch.cat([relu(c32(swapped1)), relu(c52(swapped1))], dim=1)) + x,
        "order2": fuse(torch.cat([p2, s2], dim=1)) + x,
        "no exchange": fuse(torch.cat([relu(c32(torch.cat([s1, s1], 1))),
                                       relu(c52(torch.cat([p1, p1], 1)))], dim=1)) + x,
        "no relu": fuse(torch.cat([c32(torch.cat([c31(x), c51(x)], 1)),
                                   c52(torch.cat([c31(x), c51(x)], 1))], dim=1)) + x,
    }


def _no_forward(*args: object, **kwargs: object) -> torch.Tensor:
    raise Wrong("you called the block itself (block(x) or block.forward): compute the steps "
                "with its layers block.conv_3_1, ..., block.confusion instead")


@register(
    "02.1", "One multi-scale residual block by hand",
    lesson=f"{LESSON}, section 2 (An MSRB, step by step)",
    hints=["Stage 1 runs conv_3_1 and conv_5_1 on x, each followed by ReLU; stage 2 runs "
           "conv_3_2 and conv_5_2 on the concatenation of both stage-1 outputs.",
           "Concatenate along the channel dimension (dim=1), always 3x3 path first, 5x5 second: "
           "the second-stage convs and the 1x1 confusion were built for that order.",
           "return block.confusion(torch.cat([s2, p2], dim=1)) + x: the block input is added "
           "back at the end (the residual)."],
    solution="""def msrb_forward(block, x):
    relu = torch.nn.functional.relu
    s1, p1 = relu(block.conv_3_1(x)), relu(block.conv_5_1(x))
    stage1 = torch.cat([s1, p1], dim=1)
    s2, p2 = relu(block.conv_3_2(stage1)), relu(block.conv_5_2(stage1))
    return block.confusion(torch.cat([s2, p2], dim=1)) + x""",
)
def check_msrb_forward(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(_randint(2, 9, rng), _randint(5, 14, rng), _randint(5, 14, rng),
              _randint(1, 3, rng))]
    if strict:
        cases += [(1, 3, 7, 1), (16, 9, 4, 2)]
    for n, h, w, batch in cases:
        torch.manual_seed(_randint(0, 2**31 - 1, rng))
        block = MSRB(n_feats=n)
        with torch.no_grad():  # larger biases make a missing ReLU visible
            for p in block.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=rng))
        x = torch.randn(batch, n, h, w, generator=rng)
        with torch.no_grad():
            variants = _msrb_variants(block, x)
            block.forward = _no_forward  # the answer must use the layers, not the block
            got = answer(block, x.clone())
        if not isinstance(got, torch.Tensor):
            raise Wrong(f"expected a torch.Tensor, got {type(got).__name__}")
        if got.shape != x.shape:
            raise Wrong(f"for n_feats={n} the block output must have the input's shape "
                        f"{tuple(x.shape)}, got {tuple(got.shape)}: did you fuse [S2, P2] "
                        "(4 * n_feats channels) with block.confusion?")
        got = got.detach()
        ok = torch.allclose(got, variants["reference"], atol=1e-5, rtol=1e-4)
        if not ok:
            tell = {
                "no residual": "the block input x is not added back: the block ends with "
                               "confusion([S2, P2]) + x (the residual connection)",
                "order": "the stage-1 concatenation is in the wrong order: it is [S1 (3x3), "
                         "P1 (5x5)], 3x3 path first",
                "order2": "the stage-2 concatenation is in the wrong order: it is [S2 (3x3), "
                          "P2 (5x5)], 3x3 path first",
                "no exchange": "the paths do not exchange features: both second-stage convs "
                               "take the concatenation [S1, P1]",
                "no relu": "a ReLU is missing: every 3x3/5x5 conv of the block is followed "
                           "by a ReLU (the 1x1 confusion is not)",
            }
            for key, text in tell.items():
                if torch.allclose(got, variants[key], atol=1e-5, rtol=1e-4):
                    raise Wrong(text)
            close(got, variants["reference"], f"MSRB output (n_feats={n}, {h}x{w})")
    n, h, w, batch = cases[0]
    extra = ", n_feats=1, and a 16-feature block on a batch of 2" if strict else ""
    return (f"matches srlab.models.MSRB on a random block with n_feats={n} and a {batch}x{n}x"
            f"{h}x{w} input{extra} (to 1e-5).")


# ---------------------------------------------------------------------------------------------
# 02.2 the tail's parameter count


def _tail_params(scale: int, n: int, blocks: int, bias: bool = True, head: bool = True,
                 one_shuffle: bool = False) -> int:
    """Reference formula, with switches for typical mistakes."""
    b = int(bias)

    def conv(k: int, d: int, m: int) -> int:
        return k * k * d * m + b * m

    rounds = {2: 1, 4: 2, 8: 3}
    if scale == 3:
        up = conv(3, n, 9 * n)
    elif one_shuffle:
        up = conv(3, n, scale * scale * n)
    else:
        up = rounds[scale] * conv(3, n, 4 * n)
    return conv(1, (blocks + int(head)) * n, n) + conv(3, n, n) + up + conv(3, n, 3)


@register(
    "02.2", "The tail's parameters as a formula",
    lesson=f"{LESSON}, section 3 (MSRN assembled: where the parameters are)",
    hints=["The tail is: 1x1 conv (n_blocks + 1) * n -> n (fusion of M1..Mn and the head), "
           "3x3 conv n -> n, the upsampler, 3x3 conv n -> 3. A k x k conv D -> N has "
           "k^2 D N weights and N biases.",
           "The upsampler for x2 is one 3x3 conv n -> 4n (then PixelShuffle(2), no parameters); "
           "x4 is two such rounds; x3 is one 3x3 conv n -> 9n with PixelShuffle(3).",
           "Sum conv(1, (b + 1) n, n) + conv(3, n, n) + upsampler + conv(3, n, 3) with "
           "conv(k, d, m) = k*k*d*m + m."],
    solution="""def tail_params(scale, n_feats, n_blocks):
    def conv(k, d, m):
        return k * k * d * m + m

    n = n_feats
    if scale == 3:
        up = conv(3, n, 9 * n)
    else:  # 2, 4, 8: one round of conv(n -> 4n) + PixelShuffle(2) per factor 2
        up = (scale.bit_length() - 1) * conv(3, n, 4 * n)
    return conv(1, (n_blocks + 1) * n, n) + conv(3, n, n) + up + conv(3, n, 3)""",
)
def check_tail_params(answer, rng: torch.Generator, strict: bool) -> str:
    configs = [(scale, _randint(1, 25, rng), _randint(1, 7, rng)) for scale in (2, 3, 4)]
    if strict:
        configs += [(8, _randint(1, 9, rng), 1), (4, 64, 8), (3, 1, 1)]
    for scale, n, blocks in configs:
        expected = sum(p.numel() for p in MSRN(scale, n, blocks).tail.parameters())
        got = answer(scale, n, blocks)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if not isinstance(got, (int, float)) or got != expected:
            what = f"tail_params({scale}, {n}, {blocks}) = {got!r}, expected {expected:,}"
            if got == _tail_params(scale, n, blocks, bias=False):
                raise Wrong(f"{what}: the biases are missing (one per output channel)")
            if got == _tail_params(scale, n, blocks, head=False):
                raise Wrong(f"{what}: the fusion 1x1 conv takes n_blocks + 1 feature maps "
                            "(M1..Mn and the head output), not n_blocks")
            if scale in (4, 8) and got == _tail_params(scale, n, blocks, one_shuffle=True):
                raise Wrong(f"{what}: x{scale} is done in rounds of conv(n -> 4n) + "
                            "PixelShuffle(2), not by one conv(n -> scale^2 n)")
            raise Wrong(what)
    listed = ", ".join(f"({s}, {n}, {b})" for s, n, b in configs)
    return (f"equals srlab.cost.count_params(MSRN(scale, n_feats, n_blocks).tail) exactly for "
            f"{listed}.")


# ---------------------------------------------------------------------------------------------
# 02.3 the receptive field of a conv stack


def _measured_field(kernels: list[int]) -> int:
    """Width of the input window the centre output pixel of a 1-channel conv stack sees."""
    size = 1 + sum(k - 1 for k in kernels) + 6
    layers = [nn.Conv2d(1, 1, k, padding=k // 2, bias=False) for k in kernels]
    for layer in layers:
        nn.init.constant_(layer.weight, 1.0)  # positive weights: no accidental cancellation
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    nn.Sequential(*layers)(x)[0, 0, size // 2, size // 2].backward()
    rows = x.grad[0, 0].abs().sum(dim=1).nonzero()
    return int(rows.max() - rows.min() + 1)


@register(
    "02.3", "The receptive field of a stack of convolutions",
    lesson=f"{LESSON}, section 1 (receptive fields: what one output pixel sees)",
    hints=["One k x k conv (stride 1) lets an output pixel see k x k input pixels; each further "
           "conv widens that window by k - 1 (it adds (k - 1) / 2 on each side).",
           "A 1x1 conv does not widen anything; no convs at all see 1 pixel.",
           "return 1 + sum(k - 1 for k in kernel_sizes)"],
    solution="""def receptive_field(kernel_sizes):
    return 1 + sum(k - 1 for k in kernel_sizes)""",
)
def check_receptive_field(answer, rng: torch.Generator, strict: bool) -> str:
    lists = [[int(2 * v + 3) for v in torch.randint(0, 3, (_randint(2, 6, rng),), generator=rng)]
             for _ in range(3)]
    if strict:
        lists += [[], [1, 1], [3, 1, 7], [5] * 8, [int(2 * v + 1) for v in
                  torch.randint(0, 4, (12,), generator=rng)]]
    for kernels in lists:
        expected = _measured_field(kernels)
        got = answer(list(kernels))
        if got != expected:
            what = f"receptive_field({kernels}) = {got!r}, measured {expected}"
            if kernels and got == sum(kernels):
                raise Wrong(f"{what}: stacking convs does not add their sizes; each conv adds "
                            "k - 1 to the window, and you start from 1 pixel")
            if kernels and got == sum(k - 1 for k in kernels):
                raise Wrong(f"{what}: start from the 1 pixel an output sees with no conv: "
                            "1 + sum(k - 1)")
            if kernels and got == max(kernels):
                raise Wrong(f"{what}: the field grows with every conv in the stack, not just "
                            "with the largest kernel")
            raise Wrong(what)
    shown = "; ".join(str(k) for k in lists[:3])
    extra = ", and the empty stack, 1x1 convs and longer stacks" if strict else ""
    return (f"matches the gradient footprint measured on stride-1 conv stacks {shown}{extra} "
            "(exactly).")


# ---------------------------------------------------------------------------------------------
# 02.4 pixel shuffle by hand


def _no_builtin(*args: object, **kwargs: object) -> torch.Tensor:
    raise Wrong("you used torch's pixel_shuffle / nn.PixelShuffle: write it with reshape "
                "(view) and permute")


@register(
    "02.4", "The sub-pixel shuffle by hand",
    lesson=f"{LESSON}, section 3 (MSRN assembled: the upsampler's pixel shuffle)",
    hints=["Channel c * r^2 + i * r + j of the input becomes channel c at output pixel "
           "(h * r + i, w * r + j): split the channels into (C, r, r), then interleave.",
           "x.reshape(N, C, r, r, H, W), then permute so the axes are (N, C, H, r, W, r), then "
           "reshape to (N, C, H * r, W * r).",
           "x.reshape(n, c, r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, h * r, w * r)"],
    solution="""def pixel_shuffle(x, r):
    n, c_r2, h, w = x.shape
    c = c_r2 // (r * r)
    x = x.reshape(n, c, r, r, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c, h * r, w * r)""",
)
def check_pixel_shuffle(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(_randint(1, 3, rng), _randint(1, 5, rng), r, _randint(2, 7, rng),
              _randint(2, 7, rng)) for r in (2, 3)]
    if strict:
        cases += [(1, 1, 4, 1, 5), (3, 2, 1, 3, 2), (2, 3, 2, 5, 1)]
    builtins = (F.pixel_shuffle, torch.pixel_shuffle)
    if answer in builtins or isinstance(answer, nn.PixelShuffle):
        _no_builtin()
    for n, c, r, h, w in cases:
        x = torch.randn(n, c * r * r, h, w, generator=rng)
        expected = F.pixel_shuffle(x, r)
        F.pixel_shuffle = torch.pixel_shuffle = _no_builtin
        try:
            got = answer(x.clone(), r)
        finally:
            F.pixel_shuffle, torch.pixel_shuffle = builtins
        what = f"pixel_shuffle of a {tuple(x.shape)} input with r={r}"
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            t = x.reshape(n, c, r, r, h, w)
            swapped = t.permute(0, 1, 4, 3, 5, 2).reshape(expected.shape)
            if r > 1 and torch.equal(got, swapped):
                raise Wrong(f"{what}: rows and columns of each r x r cell are swapped: the "
                            "first r of (C, r, r) is the row offset i, goes next to H")
            outer = x.reshape(n, r, r, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(
                expected.shape)
            if r > 1 and c > 1 and torch.equal(got, outer):
                raise Wrong(f"{what}: the channel split is wrong: channel c * r^2 + i * r + j "
                            "goes to output channel c, so reshape to (N, C, r, r, H, W)")
        close(got, expected, what, atol=0, rtol=0)
    shown = ", ".join(f"{n}x{c * r * r}x{h}x{w} (r={r})" for n, c, r, h, w in cases)
    return f"equals torch.nn.functional.pixel_shuffle exactly on {shown}."
