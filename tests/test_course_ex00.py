"""Exercises 00.1-00.4: the stub is not attempted, typical mistakes get their hint, the solution
passes (also the hidden strict checks)."""

from __future__ import annotations

import pytest
import torch

from srlab.course import exercise

IDS = ("00.1", "00.2", "00.3", "00.4")


def reference(ex_id: str):
    """The function defined by the exercise's solution text."""
    namespace = {"torch": torch}
    exec(exercise(ex_id).solution_text, namespace)
    return next(v for k, v in namespace.items() if k != "torch" and callable(v)
                and not k.startswith("__"))


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: your code here")


def verdict(ex_id: str, answer, strict: bool = False, seed: int = 0):
    return exercise(ex_id).check(answer, quiet=True, seed=seed, strict=strict)


@pytest.mark.parametrize("ex_id", IDS)
def test_untouched_stub_is_not_attempted(ex_id):
    assert verdict(ex_id, stub).status == "not attempted"
    assert verdict(ex_id, None).status == "not attempted"


@pytest.mark.parametrize("ex_id", IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_solution_is_correct(ex_id, seed):
    answer = reference(ex_id)
    assert verdict(ex_id, answer, seed=seed).passed, verdict(ex_id, answer, seed=seed)
    assert verdict(ex_id, answer, strict=True, seed=seed).passed


def y(x):
    return (16.0 + 65.481 * x[:, 0:1] + 128.553 * x[:, 1:2] + 24.966 * x[:, 2:3]) / 255.0


def psnr_per_image(a, b, peak=1.0):
    return 10 * torch.log10(peak**2 / (a - b).pow(2).flatten(1).mean(dim=1))


@pytest.mark.parametrize("answer, hint", [
    (lambda sr, hr: 10 * torch.log10(1 / (sr - hr).pow(2).mean()), "one number for the whole"),
    (lambda sr, hr: 10 * torch.log10((sr - hr).pow(2).flatten(1).mean(1)), "negative PSNR"),
])
def test_psnr_by_hand_mistakes(answer, hint):
    result = verdict("00.1", answer)
    assert result.status == "wrong" and hint in result.message


@pytest.mark.parametrize("answer, hint", [
    (lambda x: y(x) - 16 / 255, "forgot the offset 16"),
    (lambda x: y(x) * 255, "0-255 scale"),
    (lambda x: 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3], "sum to 1"),
    (lambda x: y(x)[:, 0], "keep the channel axis"),
    (lambda x: y(x) * 1.01, "largest difference"),
])
def test_rgb_to_y_mistakes(answer, hint):
    result = verdict("00.2", answer)
    assert result.status == "wrong" and hint in result.message, result


def window(g):
    g = g / g.sum()
    return g[:, None] * g[None, :]


def centred(size):
    return torch.arange(size, dtype=torch.float64) - (size - 1) / 2


@pytest.mark.parametrize("answer, hint, strict", [
    (lambda size, sigma: (lambda g: g[:, None] * g[None, :])(
        torch.exp(-centred(size) ** 2 / (2 * sigma**2))), "normalise", False),
    (lambda size, sigma: window(torch.exp(-centred(size) ** 2 / (2 * sigma))), "2 sigma^2", False),
    (lambda size, sigma: window(torch.exp(-centred(size) ** 2 / sigma**2)), "the 2", False),
    (lambda size, sigma: window(torch.exp(
        -(torch.arange(size, dtype=torch.float64) - size // 2) ** 2 / (2 * sigma**2))),
     "(size - 1) / 2", True),
])
def test_gaussian_window_mistakes(answer, hint, strict):
    result = verdict("00.3", answer, strict=strict)
    assert result.status == "wrong" and hint in result.message, result


def cropped(sr, hr, shave):
    h, w = sr.shape[-2:]
    return (sr[..., shave:h - shave, shave:w - shave], hr[..., shave:h - shave, shave:w - shave])


@pytest.mark.parametrize("answer, hint, strict", [
    (lambda sr, hr, s: psnr_per_image(y(sr), y(hr)), "did not shave", False),
    (lambda sr, hr, s: psnr_per_image(y(sr[..., s:, s:]), y(hr[..., s:, s:])), "top and left",
     False),
    (lambda sr, hr, s: psnr_per_image(*cropped(sr, hr, s)), "RGB", False),
    (lambda sr, hr, s: psnr_per_image(*(y(v) for v in cropped(sr, hr, s)), peak=255.0),
     "20 log10(255)", False),
    (lambda sr, hr, s: psnr_per_image(*(y(v) * 255 for v in cropped(sr, hr, s))),
     "20 log10(255)", False),
    (lambda sr, hr, s: psnr_per_image(y(sr[..., s:-s, s:-s]), y(hr[..., s:-s, s:-s])), "0:-0",
     True),
])
def test_psnr_y_mistakes(answer, hint, strict):
    result = verdict("00.4", answer, strict=strict)
    assert result.status == "wrong" and hint in result.message, result
