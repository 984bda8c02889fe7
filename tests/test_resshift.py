"""Residual shifting (srlab.diffusion.resshift) and its TinyUNet model: the schedule against the
paper's numbers, the forward process, the posterior and SinSR's ODE step against the marginals
they must keep, and the sampler with a perfect x0-predictor."""

import math

import pytest
import torch

from srlab.diffusion.resshift import (
    shift_ode_coefficients,
    shift_posterior,
    shift_q_sample,
    shift_sample,
    shift_schedule,
)
from srlab.evaluate import evaluate_table
from srlab.models import ResShiftSR, build


def test_schedule_endpoints_and_the_4_step_variant():
    s = shift_schedule(T=15, kappa=2.0, power=0.3, min_noise=0.04)
    assert s.T == 15 and s.kappa == 2.0
    assert math.sqrt(float(s.eta[0])) == pytest.approx(0.02)  # min(0.04 / 2, 0.04)
    assert math.sqrt(float(s.eta[-1])) == pytest.approx(0.99)
    assert bool((s.eta[1:] > s.eta[:-1]).all())
    four = shift_schedule(T=4, kappa=2.0, power=0.3, min_noise=0.2)
    assert four.eta.tolist() == pytest.approx([0.01, 0.27, 0.58, 0.98], abs=0.006)
    assert float(s.eta_at(torch.tensor([0]))) == 0.0  # eta_0: the data
    with pytest.raises(ValueError, match="sqrt_eta_end"):
        shift_schedule(T=4, min_noise=1.5, kappa=1.0)


def test_forward_process_is_the_marginal_of_eq_2():
    s = shift_schedule(T=4, min_noise=0.2)
    x0, y = torch.full((20000, 1), 0.3), torch.full((20000, 1), -0.5)
    t = torch.full((20000,), 3)
    x = shift_q_sample(x0, y, t, torch.randn(20000, 1, generator=torch.Generator().manual_seed(0)),
                       s)
    eta = float(s.eta[2])
    assert float(x.mean()) == pytest.approx(0.3 + eta * (-0.8), abs=0.03)
    assert float(x.std()) == pytest.approx(2.0 * math.sqrt(eta), rel=0.02)
    with pytest.raises(ValueError, match="t must be in 1..T=4"):
        shift_q_sample(x0[:2], y[:2], torch.tensor([0, 1]), torch.zeros(2, 1), s)


@pytest.mark.parametrize("t", [2, 3, 4])
def test_posterior_and_ode_step_keep_the_marginal_at_t_minus_1(t):
    s = shift_schedule(T=4, min_noise=0.2)
    gen = torch.Generator().manual_seed(1)
    n, x0, y = 40000, torch.full((40000, 1), 0.3), torch.full((40000, 1), -0.5)
    noise = torch.randn(n, 1, generator=gen)
    x_t = shift_q_sample(x0, y, torch.full((n,), t), noise, s)
    mean, var = shift_posterior(x_t, x0, t, s)
    x_prev = mean + math.sqrt(var) * torch.randn(n, 1, generator=gen)
    eta_prev = float(s.eta[t - 2])
    assert float(x_prev.mean()) == pytest.approx(0.3 + eta_prev * -0.8, abs=0.03)
    assert float(x_prev.std()) == pytest.approx(2.0 * math.sqrt(eta_prev), rel=0.03)
    # SinSR's deterministic step: the same noise, one step along (exactly)
    k, m, j = shift_ode_coefficients(t, s)
    expected = shift_q_sample(x0, y, torch.full((n,), t - 1), noise, s)
    assert torch.allclose(k * x0 + m * x_t + j * y, expected, atol=1e-5)


@pytest.mark.parametrize("deterministic", [False, True])
def test_a_perfect_x0_predictor_recovers_x0(deterministic):
    s = shift_schedule(T=5, min_noise=0.1)
    x0 = torch.rand(2, 3, 4, 4) * 2 - 1
    y = x0 + 0.2 * torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    out, traj = shift_sample(lambda x_t, y_, t: x0, y, s, torch.Generator().manual_seed(3),
                             deterministic=deterministic, return_trajectory=True)
    assert torch.allclose(out, x0) and traj["t"] == [5, 4, 3, 2, 1] and len(traj["x"]) == 6


def test_resshift_model_trains_samples_and_reports_one_row():
    torch.manual_seed(0)
    model = ResShiftSR(T=4, min_noise=0.2)
    lr, hr = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 16, 16)
    loss = model.loss(lr, hr)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss) and model.net.dec2.weight.grad is not None
    model.eval()
    sr = model.upscale(lr, seed=0)
    assert sr.shape == (4, 3, 16, 16) and 0 <= float(sr.min()) and float(sr.max()) <= 1
    assert torch.equal(sr, model.upscale(lr, seed=0))
    with pytest.raises(ValueError, match=r"exactly 4 steps \(T=4\)"):
        model.upscale(lr, steps=2)
    again = build("resshift", model.config)
    assert again.config == model.config and again.tag == "resshift_T4"
    rows = evaluate_table({"rs": model}, (lr, hr), 2, timing=False, progress=False,
                          fd_cifar=False)
    assert [(r["name"], r["steps"]) for r in rows] == [("bicubic", 0), ("rs", 4)]


def test_sinsr_student_starts_as_the_teacher_and_learns_the_ode_in_one_step():
    from srlab.models.resshift_sr import sinsr_loss, sinsr_student

    torch.manual_seed(0)
    teacher = ResShiftSR(T=4, min_noise=0.2).eval()
    student = sinsr_student(teacher)
    assert student.config["one_step"] and student.step_counts == (1,)
    assert student.tag == "resshift_T4_student"
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(),
                                                 teacher.state_dict().values(), strict=True))
    lr, hr = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 16, 16)
    sr = student.upscale(lr, seed=1)
    assert sr.shape == (3, 3, 16, 16) and torch.equal(sr, student.upscale(lr, seed=1))
    with pytest.raises(ValueError, match="exactly 1 step "):
        student.upscale(lr, steps=4)
    loss_fn = sinsr_loss(teacher)
    student.train()
    first = loss_fn(student, lr, hr)
    first.backward()
    assert torch.isfinite(first) and student.net.dec2.weight.grad is not None
    assert all(p.grad is None for p in teacher.parameters())  # the teacher is never trained
    assert all(p.requires_grad for p in teacher.parameters())  # and still counts its params
    # a few steps on one fixed batch lower the loss (same noise: fixed seed each call)
    opt = torch.optim.Adam(student.parameters(), 1e-3)
    losses = []
    for _ in range(15):
        torch.manual_seed(5)
        loss = loss_fn(student, lr, hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_resdiff_two_stages_and_its_row():
    from srlab.compare import Method
    from srlab.cost import count_macs
    from srlab.models import ResDiffSR
    from srlab.models.resdiff_sr import split_frequencies

    x = torch.rand(2, 3, 16, 16)
    high, low = split_frequencies(x)
    assert torch.allclose(high + low, x) and float(low.std()) < float(x.std())
    const = torch.full((1, 3, 8, 8), 0.4)
    assert torch.allclose(split_frequencies(const)[1], const)  # a blur keeps a flat image

    torch.manual_seed(0)
    model = ResDiffSR(T=100)
    lr, hr = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 16, 16)
    stage1 = model.cnn_loss(lr, hr)
    stage1.backward()
    assert model.cnn.dec2.weight.grad is not None and model.net.dec2.weight.grad is None
    model.zero_grad()
    model.cnn.requires_grad_(False)
    model.config["residual_scale"] = 1 / model.residual_std(lr, hr)
    stage2 = model.loss(lr, hr)
    stage2.backward()
    assert model.net.dec2.weight.grad is not None and model.cnn.dec2.weight.grad is None
    model.eval()
    torch.nn.init.normal_(model.net.dec2.weight, std=0.1)  # a fresh last layer is zero
    sr = model.upscale(lr, steps=3, seed=0)
    assert sr.shape == (4, 3, 16, 16) and torch.equal(sr, model.upscale(lr, steps=3, seed=0))
    assert not torch.equal(sr, model.upscale(lr, steps=3, seed=1))
    m = Method.from_model("resdiff", model, steps=3)
    assert m.params == sum(p.numel() for p in model.parameters())  # the frozen CNN counts
    assert m.macs == count_macs(model.cnn, (1, 3, 32, 32)) + 3 * count_macs(model.net,
                                                                            (1, 13, 32, 32))
    assert type(build("resdiff", model.config)) is ResDiffSR
