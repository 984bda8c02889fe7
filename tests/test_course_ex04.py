"""The checks of notebook 04's exercises: stub -> not attempted, typical mistake -> its hint,
reference answer -> correct (also strict)."""

import math

import pytest
import torch

from srlab.course import exercise


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: your code here")


# -- reference answers (as in solutions/04_ddpm_ddim_theory.ipynb) ------------------------------

def q_sample_by_hand(x0, t, noise, alpha_bar):
    ab = alpha_bar[t].view(-1, *[1] * (x0.ndim - 1)).to(x0.dtype)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def posterior(x_t, x0, t, schedule):
    ab, ab_prev = float(schedule.alpha_bar[t]), float(schedule.alpha_bar_prev[t])
    beta, alpha = float(schedule.betas[t]), float(schedule.alphas[t])
    mean = (ab_prev**0.5 * beta / (1 - ab)) * x0 + (alpha**0.5 * (1 - ab_prev) / (1 - ab)) * x_t
    return mean, beta * (1 - ab_prev) / (1 - ab)


def ddim_step(x_t, x0_hat, eps_hat, ab_t, ab_next, eta, z):
    sigma = eta * ((1 - ab_next) / (1 - ab_t) * (1 - ab_t / ab_next)) ** 0.5
    return ab_next**0.5 * x0_hat + (1 - ab_next - sigma**2) ** 0.5 * eps_hat + sigma * z


def trailing(T, n):
    return [round(T - i * T / n) - 1 for i in range(n)]


def cosine_alpha_bar(T, s=0.008):
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    ab = f / f[0]
    betas = (1 - ab[1:] / ab[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0)


# -- typical mistakes -----------------------------------------------------------------------------

def q_sample_no_sqrt_signal(x0, t, noise, alpha_bar):
    ab = alpha_bar[t].view(-1, *[1] * (x0.ndim - 1)).to(x0.dtype)
    return ab * x0 + (1 - ab).sqrt() * noise


def q_sample_no_sqrt_noise(x0, t, noise, alpha_bar):
    ab = alpha_bar[t].view(-1, *[1] * (x0.ndim - 1)).to(x0.dtype)
    return ab.sqrt() * x0 + (1 - ab) * noise


def posterior_beta_variance(x_t, x0, t, schedule):
    return posterior(x_t, x0, t, schedule)[0], float(schedule.betas[t])


def posterior_wraps_at_zero(x_t, x0, t, schedule):
    ab, ab_prev = float(schedule.alpha_bar[t]), float(schedule.alpha_bar[t - 1])
    beta, alpha = float(schedule.betas[t]), float(schedule.alphas[t])
    mean = (ab_prev**0.5 * beta / (1 - ab)) * x0 + (alpha**0.5 * (1 - ab_prev) / (1 - ab)) * x_t
    return mean, beta * (1 - ab_prev) / (1 - ab)


def ddim_step_no_sqrt(x_t, x0_hat, eps_hat, ab_t, ab_next, eta, z):
    sigma = eta * ((1 - ab_next) / (1 - ab_t) * (1 - ab_t / ab_next)) ** 0.5
    return ab_next**0.5 * x0_hat + (1 - ab_next - sigma**2) * eps_hat + sigma * z


def ddim_step_keeps_full_direction(x_t, x0_hat, eps_hat, ab_t, ab_next, eta, z):
    sigma = eta * ((1 - ab_next) / (1 - ab_t) * (1 - ab_t / ab_next)) ** 0.5
    return ab_next**0.5 * x0_hat + (1 - ab_next) ** 0.5 * eps_hat + sigma * z


def trailing_integer_jump(T, n):
    return [T - 1 - i * (T // n) for i in range(n)]


def trailing_off_by_one(T, n):
    return [round(T - i * T / n) for i in range(n)]


def cosine_unclipped(T, s=0.008):
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (f / f[0])[1:]


def cosine_from_zero(T, s=0.008):
    steps = torch.arange(T, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return f / f[0]


REFERENCE = {"04.1": q_sample_by_hand, "04.2": posterior, "04.3": ddim_step,
             "04.4": trailing, "04.5": cosine_alpha_bar}

MISTAKES = [
    ("04.1", q_sample_no_sqrt_signal, "must be sqrt(alpha_bar_t)"),
    ("04.1", q_sample_no_sqrt_noise, "sqrt(1 - alpha_bar_t)"),
    ("04.2", posterior_beta_variance, "beta_tilde"),
    ("04.2", posterior_wraps_at_zero, "alpha_bar_prev"),
    ("04.3", ddim_step_no_sqrt, "square root sqrt(1 - ab_next - sigma^2)"),
    ("04.3", ddim_step_keeps_full_direction, "not sqrt(1 - ab_next)"),
    ("04.4", trailing_integer_jump, "T // n"),
    ("04.4", trailing_off_by_one, "off by one"),
    ("04.5", cosine_unclipped, "0.999"),
    ("04.5", cosine_from_zero, "t + 1"),
]


@pytest.mark.parametrize("ex_id", sorted(REFERENCE))
def test_stub_is_not_attempted(ex_id):
    assert exercise(ex_id).check(stub, quiet=True, seed=0).status == "not attempted"
    assert exercise(ex_id).check(None, quiet=True, seed=0).status == "not attempted"


@pytest.mark.parametrize("ex_id", sorted(REFERENCE))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_is_correct(ex_id, seed):
    result = exercise(ex_id).check(REFERENCE[ex_id], quiet=True, seed=seed)
    assert result.status == "correct", result.message
    strict = exercise(ex_id).check(REFERENCE[ex_id], strict=True, quiet=True, seed=seed)
    assert strict.status == "correct", strict.message


@pytest.mark.parametrize("ex_id, answer, hint", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_typical_mistake_gets_its_hint(ex_id, answer, hint):
    for seed in (0, 1):
        result = exercise(ex_id).check(answer, quiet=True, seed=seed)
        assert result.status == "wrong", result
        assert hint in result.message, result.message


def test_hard_coded_trailing_fails():
    def hard_coded(T, n):
        return [999, 749, 499, 249]

    assert exercise("04.4").check(hard_coded, quiet=True, seed=0).status == "wrong"
