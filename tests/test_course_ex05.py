"""The checks of notebook 05's exercises: stub -> not attempted, typical mistake -> its hint,
reference answer -> correct (also strict). Uses the shipped TinyUNet weights (no training),
which diffuse the scaled residual x0 = s (hr - up), s = model.config["residual_scale"]."""

import pytest
import torch

from srlab.course import exercise
from srlab.degradation import bicubic_up, quantize
from srlab.diffusion import ddim_timesteps, q_sample
from srlab.metrics import psnr


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: your code here")


# -- reference answers (as in solutions/05_tinyunet_diffusion_sr.ipynb) -------------------------

def denoiser_input(x_t, up, t, schedule):
    n, _, h, w = x_t.shape
    sigma = schedule.sqrt_one_minus_alpha_bar[t].to(x_t.dtype).view(n, 1, 1, 1)
    return torch.cat([x_t, up, sigma.expand(n, 1, h, w)], dim=1)


def x0_loss(model, lr, hr, t, noise, scaled=True):
    up = bicubic_up(lr, 2)
    x0 = (model.config["residual_scale"] if scaled else 1.0) * (hr - up)
    x_t = q_sample(x0, t, noise, model.schedule())
    return torch.mean((model.denoise(x_t, t, up) - x0) ** 2)


def my_upscale(model, lr, steps, seed, spacing="trailing", clip=True, rng=None, scaled=True,
               divide=True):
    s = model.config["residual_scale"] if scaled else 1.0
    sched = model.schedule()
    up = bicubic_up(lr, 2)
    x = torch.randn(up.shape, generator=rng or torch.Generator().manual_seed(seed))
    ts = ddim_timesteps(sched.T, steps, spacing)
    with torch.no_grad():
        for i, t in enumerate(ts):
            ab = float(sched.alpha_bar[t])
            ab_next = float(sched.alpha_bar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            x0_hat = model.denoise(x, torch.full((len(x),), t), up)
            x0_hat = x0_hat.clamp(-s, s) if clip else x0_hat
            eps_hat = (x - ab**0.5 * x0_hat) / (1 - ab) ** 0.5
            x = ab_next**0.5 * x0_hat + (1 - ab_next) ** 0.5 * eps_hat
    return (up + (x / s if divide else x)).clamp(0, 1)


def psnr_vs_steps(model, lr, hr, steps_list, rounding=True):
    table = {}
    for s in steps_list:
        sr = model.upscale(lr, steps=s, seed=0)
        table[s] = float(psnr(quantize(sr) if rounding else sr, hr))
    return table


# -- typical mistakes -----------------------------------------------------------------------------

def input_with_variance(x_t, up, t, schedule):
    n, _, h, w = x_t.shape
    var = (1 - schedule.alpha_bar[t]).to(x_t.dtype).view(n, 1, 1, 1)
    return torch.cat([x_t, up, var.expand(n, 1, h, w)], dim=1)


def input_swapped(x_t, up, t, schedule):
    n, _, h, w = x_t.shape
    sigma = schedule.sqrt_one_minus_alpha_bar[t].to(x_t.dtype).view(n, 1, 1, 1)
    return torch.cat([up, x_t, sigma.expand(n, 1, h, w)], dim=1)


def loss_eps_target(model, lr, hr, t, noise):
    up = bicubic_up(lr, 2)
    x_t = q_sample(model.config["residual_scale"] * (hr - up), t, noise, model.schedule())
    return torch.mean((model.denoise(x_t, t, up) - noise) ** 2)


def loss_on_hr(model, lr, hr, t, noise):
    up = bicubic_up(lr, 2)
    x_t = q_sample(hr, t, noise, model.schedule())
    return torch.mean((model.denoise(x_t, t, up) - hr) ** 2)


def loss_unscaled(model, lr, hr, t, noise):
    return x0_loss(model, lr, hr, t, noise, scaled=False)


def upscale_unscaled(model, lr, steps, seed):
    return my_upscale(model, lr, steps, seed, scaled=False)


def upscale_not_divided_by_s(model, lr, steps, seed):
    return my_upscale(model, lr, steps, seed, divide=False)


def upscale_leading(model, lr, steps, seed):
    return my_upscale(model, lr, steps, seed, spacing="leading")


def upscale_residual_only(model, lr, steps, seed):
    return my_upscale(model, lr, steps, seed) - bicubic_up(lr, 2)


def upscale_global_rng(model, lr, steps, seed):
    return my_upscale(model, lr, steps, seed, rng=torch.default_generator)


def table_unrounded(model, lr, hr, steps_list):
    return psnr_vs_steps(model, lr, hr, steps_list, rounding=False)


REFERENCE = {"05.1": denoiser_input, "05.2": x0_loss, "05.3": my_upscale, "05.4": psnr_vs_steps}

MISTAKES = [
    ("05.1", input_with_variance, "take its square root"),
    ("05.1", input_swapped, "channel order"),
    ("05.2", loss_eps_target, "your target is the noise"),
    ("05.2", loss_on_hr, "diffuse the residual"),
    ("05.2", loss_unscaled, "you diffused the residual unscaled"),
    ("05.3", upscale_unscaled, "the sampler of an unscaled residual"),
    ("05.3", upscale_not_divided_by_s, "divide it by s"),
    ("05.3", upscale_leading, "trailing spacing"),
    ("05.3", upscale_residual_only, "you returned the residual"),
    ("05.3", upscale_global_rng, "torch.Generator().manual_seed(seed)"),
    ("05.4", table_unrounded, "8 bits"),
]


@pytest.mark.parametrize("ex_id", sorted(REFERENCE))
def test_stub_is_not_attempted(ex_id):
    assert exercise(ex_id).check(stub, quiet=True, seed=0).status == "not attempted"
    assert exercise(ex_id).check(None, quiet=True, seed=0).status == "not attempted"


@pytest.mark.parametrize("ex_id", sorted(REFERENCE))
@pytest.mark.parametrize("seed", [0, 1])
def test_reference_is_correct(ex_id, seed):
    result = exercise(ex_id).check(REFERENCE[ex_id], quiet=True, seed=seed)
    assert result.status == "correct", result.message
    strict = exercise(ex_id).check(REFERENCE[ex_id], strict=True, quiet=True, seed=seed)
    assert strict.status == "correct", strict.message


@pytest.mark.parametrize("ex_id, answer, hint", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_typical_mistake_gets_its_hint(ex_id, answer, hint):
    result = exercise(ex_id).check(answer, quiet=True, seed=0)
    assert result.status == "wrong", result
    assert hint in result.message, result.message


def test_denoiser_input_check_never_takes_the_right_answer_for_a_mistake():
    # seed 6 draws a cosine t so close to T that sqrt(1 - alpha_bar) and 1 - alpha_bar agree to
    # the tolerance: the mistake detector once called the reference "the noise variance"
    for seed in range(30):
        result = exercise("05.1").check(denoiser_input, strict=True, quiet=True, seed=seed)
        assert result.status == "correct", (seed, result.message)
