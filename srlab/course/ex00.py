"""Checks for the exercises of notebook 00 (solutions/00_setup_and_metrics.ipynb)."""

from __future__ import annotations

import math

import torch

from srlab.course.registry import Wrong, close, register
from srlab.metrics import gaussian_kernel_1d, psnr, rgb_to_y


@register(
    "00.1", "PSNR by hand, per image of a batch",
    lesson="notebooks/00_setup_and_metrics.ipynb, section 2 (PSNR by hand)",
    hints=["PSNR = 10 log10(1 / MSE) for images in [0, 1]; take the MSE of each image over its "
           "channels and pixels, not over the whole batch.",
           "(sr - hr).pow(2).flatten(1).mean(dim=1) gives one MSE per image.",
           "Return 10 * torch.log10(1.0 / mse) with mse of shape (N,)."],
    solution="""def psnr_by_hand(sr, hr):
    mse = (sr - hr).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(1.0 / mse)""",
)
def check_psnr_by_hand(answer, rng: torch.Generator, strict: bool) -> str:
    n = int(torch.randint(2, 6, (), generator=rng))
    h, w = (int(v) for v in torch.randint(8, 40, (2,), generator=rng))
    hr = torch.rand(n, 3, h, w, generator=rng)
    sr = (hr + 0.05 * torch.randn(hr.shape, generator=rng)).clamp(0, 1)
    got = answer(sr, hr)
    if isinstance(got, torch.Tensor) and got.ndim == 0:
        raise Wrong("you returned one number for the whole batch: return one PSNR per image, "
                    f"shape ({n},)")
    if isinstance(got, torch.Tensor) and float(got.mean()) < 0:
        raise Wrong("negative PSNR: use 10 log10(MAX^2 / MSE) with MAX = 1 for [0, 1] images")
    close(got, psnr(sr, hr, reduction="none").to(torch.float32), "PSNR per image", atol=1e-3)
    checked = f"{n} random pairs of {h}x{w} images"
    if strict:
        hr64 = torch.rand(2, 1, 11, 13, generator=rng, dtype=torch.float64)
        close(answer(hr64 * 0.9, hr64), psnr(hr64 * 0.9, hr64, reduction="none"),
              "PSNR on float64 single-channel images", atol=1e-6)
        checked += ", and float64 single-channel images"
    return f"matches srlab.metrics.psnr on {checked} (to 1e-3 dB)."


def _rgb_batch(rng: torch.Generator, strict: bool) -> torch.Tensor:
    n = int(torch.randint(1, 4, (), generator=rng))
    h, w = (int(v) for v in torch.randint(5, 30, (2,), generator=rng))
    return torch.rand(n, 3, h, w, generator=rng, dtype=torch.float64 if strict else torch.float32)


@register(
    "00.2", "RGB to Y (BT.601 luma) by hand",
    lesson="notebooks/00_setup_and_metrics.ipynb, section 4 (Why the Y channel)",
    hints=["Y is a weighted sum of R, G and B plus an offset, on the 0-255 scale: "
           "Y = 16 + 65.481 R + 128.553 G + 24.966 B with R, G, B in [0, 1]. Divide it all by 255 "
           "to stay in [0, 1].",
           "Keep the channel axis: x[:, 0:1] is R with shape (N, 1, H, W); x[:, 0] would drop it.",
           "Return (16 + 65.481 * x[:, 0:1] + 128.553 * x[:, 1:2] + 24.966 * x[:, 2:3]) / 255."],
    solution="""def rgb_to_y_by_hand(x):
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0""",
)
def check_rgb_to_y(answer, rng: torch.Generator, strict: bool) -> str:
    x = _rgb_batch(rng, strict)
    expected = rgb_to_y(x)
    got = answer(x)
    if isinstance(got, torch.Tensor) and got.shape == expected.shape[:1] + expected.shape[2:]:
        raise Wrong(f"shape {tuple(got.shape)}: keep the channel axis, the Y image is (N, 1, H, W) "
                    "(slice x[:, 0:1] instead of indexing x[:, 0])")
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        diff = (got.double() - expected.double())
        if torch.allclose(diff, torch.full_like(diff, -16 / 255), atol=1e-4):
            raise Wrong("your Y is 16/255 too low everywhere: you forgot the offset 16 (on the "
                        "0-255 scale) of BT.601 studio-swing luma")
        if float(got.mean()) > 2:
            raise Wrong("your Y is on the 0-255 scale: divide by 255 so it stays in [0, 1] like "
                        "the images")
        full_range = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).double()
        if torch.allclose(got.double(), full_range, atol=1e-3) or torch.allclose(
                got.double(), full_range + 16 / 255, atol=1e-3):
            raise Wrong("you used weights that sum to 1 (0.299, 0.587, 0.114: full-range luma); SR "
                        "papers use studio-swing BT.601, weights 65.481, 128.553, 24.966 out of "
                        "255 plus 16/255, so Y spans [16/255, 235/255]")
    close(got, expected, "Y channel", atol=1e-5 if not strict else 1e-10, rtol=1e-5)
    checked = f"a random batch {tuple(x.shape)}"
    if strict:
        corners = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
        corners = corners.view(2, 3, 1, 1)
        close(answer(corners), rgb_to_y(corners), "Y of black and white", atol=1e-10)
        checked += " in float64 (to 1e-10), and black -> 16/255, white -> 235/255"
    return f"matches srlab.metrics.rgb_to_y on {checked}."


@register(
    "00.3", "SSIM's Gaussian window",
    lesson="notebooks/00_setup_and_metrics.ipynb, section 3 (SSIM by hand)",
    hints=["Sample exp(-t^2 / (2 sigma^2)) at the distances t of the pixels from the centre, "
           "build the 2-D window as the outer product of the 1-D one, and divide by the sum.",
           "The centre of a window of `size` pixels is at (size - 1) / 2 (a half-integer for even "
           "sizes): t = torch.arange(size) - (size - 1) / 2.",
           "g = torch.exp(-t**2 / (2 * sigma**2)); g = g / g.sum(); "
           "return g[:, None] * g[None, :]."],
    solution="""def gaussian_window(size=11, sigma=1.5):
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t**2 / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]""",
)
def check_gaussian_window(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(11, 1.5), (int(7 + 2 * torch.randint(0, 3, (), generator=rng)),
                         float(1 + torch.rand((), generator=rng)))]
    if strict:
        cases += [(8, 1.2), (1, 0.7), (15, 3.0)]
    for size, sigma in cases:
        g = gaussian_kernel_1d(size, sigma)
        expected = g[:, None] * g[None, :]
        got = answer(size, sigma)
        what = f"window size={size}, sigma={sigma:.3f}"
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            if abs(float(got.double().sum()) - 1) > 1e-4:
                raise Wrong(f"{what}: the weights sum to {float(got.double().sum()):.4g}; "
                            "normalise the window so it sums to 1 (a weighted mean)")
            t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
            for wrong_g, msg in (
                    (torch.exp(-t**2 / (2 * sigma)), "divide t^2 by 2 sigma^2, not by 2 sigma"),
                    (torch.exp(-t**2 / sigma**2), "the exponent is -t^2 / (2 sigma^2): the 2 "
                     "is missing"),
                    (torch.exp(-(torch.arange(size, dtype=torch.float64) - size // 2) ** 2
                               / (2 * sigma**2)), "for an even size the centre is at "
                     "(size - 1) / 2, between two pixels, not at size // 2")):
                wrong = (wrong_g / wrong_g.sum())[:, None] * (wrong_g / wrong_g.sum())[None, :]
                if not torch.allclose(wrong, expected, atol=1e-9) and torch.allclose(
                        got.double(), wrong, atol=1e-7):
                    raise Wrong(f"{what}: {msg}")
        close(got, expected.to(got.dtype) if isinstance(got, torch.Tensor) else expected, what,
              atol=1e-7, rtol=1e-5)
    sizes = ", ".join(f"{s}x{s} (sigma {sg:.3g})" for s, sg in cases)
    return (f"matches the outer product of srlab.metrics.gaussian_kernel_1d for windows {sizes}, "
            "to 1e-7.")


@register(
    "00.4", "PSNR on the Y channel with a border shave",
    lesson="notebooks/00_setup_and_metrics.ipynb, section 4 (Y channel and shave)",
    hints=["Crop `shave` pixels from every side of both images, convert both to Y, then take the "
           "PSNR of each image as in 00.1.",
           "Crop with x[..., shave:h - shave, shave:w - shave]: x[..., shave:-shave] is empty "
           "when shave is 0.",
           "Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255; PSNR = 10 log10(1 / MSE) per image, "
           "with the MSE over the cropped Y pixels."],
    solution="""def psnr_y(sr, hr, shave):
    h, w = sr.shape[-2:]
    sr = sr[..., shave:h - shave, shave:w - shave]
    hr = hr[..., shave:h - shave, shave:w - shave]
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=sr.dtype).view(1, 3, 1, 1)
    y_sr = 16 / 255 + (sr * weights).sum(dim=1) / 255
    y_hr = 16 / 255 + (hr * weights).sum(dim=1) / 255
    mse = (y_sr - y_hr).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(1.0 / mse)""",
)
def check_psnr_y(answer, rng: torch.Generator, strict: bool) -> str:
    n = int(torch.randint(2, 5, (), generator=rng))
    h, w = (int(v) for v in torch.randint(16, 40, (2,), generator=rng))
    shave = int(torch.randint(1, 5, (), generator=rng))
    hr = torch.rand(n, 3, h, w, generator=rng, dtype=torch.float64)
    sr = (hr + 0.03 * torch.randn(hr.shape, generator=rng, dtype=torch.float64)).clamp(0, 1)
    # a bad border, as interpolation leaves it: the shave must matter
    frame = torch.ones(h, w, dtype=torch.bool)
    frame[shave:h - shave, shave:w - shave] = False
    sr[..., frame] = (sr[..., frame] + 0.2).clamp(0, 1)
    cases = [(sr, hr, shave)]
    if strict:
        cases += [(sr, hr, 0), (sr[:1, :, :11, :], hr[:1, :, :11, :], 5)]
    for a, b, s in cases:
        expected = psnr(a, b, y_channel=True, shave=s, reduction="none")
        got = answer(a.clone(), b.clone(), s)
        what = f"PSNR-Y of {a.shape[0]} images {a.shape[-2]}x{a.shape[-1]}, shave={s}"
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            got64 = got.double()
            if not got64.isfinite().all() or got64.isnan().any():
                raise Wrong(f"{what}: got {got64.tolist()}; with shave=0, x[..., 0:-0] is empty "
                            "(the MSE of nothing is nan): crop with x[..., s:h - s, s:w - s]")
            for alt, msg in (
                    (psnr(a, b, y_channel=True, reduction="none"),
                     "you did not shave the border (or shaved too little)"),
                    (psnr(a[..., s:, s:], b[..., s:, s:], y_channel=True, reduction="none"),
                     "you shaved only the top and left borders: drop `shave` pixels on all four "
                     "sides"),
                    (psnr(a, b, shave=s, reduction="none"),
                     "this is the PSNR on RGB: convert both images to Y first")):
                if not torch.allclose(alt, expected, atol=1e-3) and torch.allclose(
                        got64, alt, atol=1e-3):
                    raise Wrong(f"{what}: {msg}")
            offset = float((got64 - expected).mean())
            if abs(abs(offset) - 20 * math.log10(255)) < 0.5:
                raise Wrong(f"{what}: your PSNR is {offset:+.1f} dB off, i.e. 20 log10(255): "
                            "you mixed the 0-255 and 0-1 scales (keep Y in [0, 1] and use "
                            "MAX = 1, or Y in 0-255 with MAX = 255)")
        close(got, expected.to(got.dtype) if isinstance(got, torch.Tensor) else expected, what,
              atol=1e-3)
    checked = f"{n} random {h}x{w} pairs with a damaged border, shave={shave}"
    if strict:
        checked += "; shave=0; a shave leaving a single row"
    return f"matches srlab.metrics.psnr(..., y_channel=True, shave=...) on {checked} (to 1e-3 dB)."
