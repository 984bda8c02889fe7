"""Tests for srlab.diffusion: schedules, forward process and loss, DDPM and DDIM sampling."""

from __future__ import annotations

import math

import pytest
import torch

from srlab.diffusion import (
    PREDICTIONS,
    SPACINGS,
    NoiseSchedule,
    cosine_schedule,
    ddim_sample,
    ddim_timesteps,
    ddpm_sample,
    diffusion_loss,
    linear_schedule,
    make_schedule,
    predict_x0_eps,
    prediction_target,
    q_sample,
    rescale_zero_terminal_snr,
)


# ---------------------------------------------------------------- schedules: reference values
def test_linear_schedule_reference_values():
    betas = linear_schedule(1000)
    assert betas.shape == (1000,) and betas.dtype == torch.float64
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    alpha_bar = torch.cumprod(1 - betas, 0)
    # alpha_bar_T of the DDPM linear schedule, as tabulated by Lin et al. 2024 (4.04e-5).
    assert alpha_bar[-1].item() == pytest.approx(4.04e-5, rel=2e-3)
    # Scaled by 1000/T: T=250 has betas 4x larger, and a similar end point.
    assert linear_schedule(250)[-1].item() == pytest.approx(0.08)


def test_linear_schedule_small_T_is_capped():
    betas = linear_schedule(10)
    assert betas.max().item() == pytest.approx(0.999)
    NoiseSchedule(betas)  # valid


def test_cosine_schedule_reference_values():
    betas = cosine_schedule(1000)
    s = NoiseSchedule(betas, name="cosine")
    assert torch.all(s.alpha_bar[1:] < s.alpha_bar[:-1]), "alpha_bar must decrease"
    assert s.alpha_bar[0].item() > 0.9999
    assert betas.max().item() == pytest.approx(0.999)  # the cap is reached at the end
    assert torch.all(betas <= 0.999)
    # closed form at the midpoint: f(t)/f(0) with t = 500 (index 499 is after 500 steps)
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert s.alpha_bar[499].item() == pytest.approx(f(0.5) / f(0.0), rel=1e-9)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_zero_terminal_snr_rescale(name):
    base = linear_schedule(1000) if name == "linear" else cosine_schedule(1000)
    betas = rescale_zero_terminal_snr(base)
    assert betas[-1].item() == 1.0
    s, s0 = NoiseSchedule(betas, name=name), NoiseSchedule(base, name=name)
    assert s.alpha_bar[-1].item() == 0.0 and s.zero_terminal_snr and not s0.zero_terminal_snr
    assert s.alpha_bar[0].item() == pytest.approx(s0.alpha_bar[0].item(), rel=1e-12)
    assert torch.all(s.alpha_bar[1:] < s.alpha_bar[:-1])
    assert s.snr(999).item() == 0.0 and math.isinf(s.log_snr(999).item())
    assert make_schedule(name, 1000, zero_terminal_snr=True).as_dict() == {
        "name": name, "T": 1000, "zero_terminal_snr": True,
    }


def test_schedule_quantities_and_snr():
    s = make_schedule("linear", 100)
    assert s.T == 100
    torch.testing.assert_close(s.alphas, 1 - s.betas)
    torch.testing.assert_close(s.sqrt_alpha_bar**2 + s.sqrt_one_minus_alpha_bar**2,
                               torch.ones(100, dtype=torch.float64))
    assert s.alpha_bar_prev[0].item() == 1.0
    torch.testing.assert_close(s.alpha_bar_prev[1:], s.alpha_bar[:-1])
    t = torch.tensor([0, 50, 99])
    torch.testing.assert_close(s.snr(t), s.alpha_bar[t] / (1 - s.alpha_bar[t]))
    assert torch.all(s.snr(torch.arange(100)).diff() < 0)


def test_schedule_round_trip_and_mismatch():
    s = make_schedule("cosine", 200, zero_terminal_snr=True)
    again = make_schedule(**s.as_dict())
    torch.testing.assert_close(again.betas, s.betas)
    s.check_matches(again.as_dict())
    with pytest.raises(ValueError, match="schedule mismatch.*name"):
        s.check_matches(make_schedule("linear", 200, True).as_dict())
    with pytest.raises(ValueError, match="T: checkpoint has 1000"):
        s.check_matches({"name": "cosine", "T": 1000, "zero_terminal_snr": True})
    assert "cosine" in s.describe() and "zero terminal SNR" in s.describe()


def test_schedule_to_device_is_a_copy_on_that_device():
    s = make_schedule("linear", 50)
    moved = s.to("meta")  # a real move without a GPU: tensors without storage
    assert moved is not s and moved.device.type == "meta" and moved.T == 50
    assert moved.name == "linear" and moved.alpha_bar.dtype == torch.float64
    assert all(getattr(moved, k).device.type == "meta" for k in ("betas", "alphas", "alpha_bar",
               "alpha_bar_prev", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar"))
    assert s.device.type == "cpu" and s.alpha_bar.device.type == "cpu"  # the original stays


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_schedule_to_cuda_keeps_values():
    s = make_schedule("cosine", 50)
    moved = s.to("cuda")
    assert moved.device.type == "cuda"
    torch.testing.assert_close(moved.alpha_bar.cpu(), s.alpha_bar)


# ---------------------------------------------------------------- forward process and loss
def test_q_sample_matches_closed_form_moments():
    s = make_schedule("cosine", 1000)
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x0 = torch.full((n, 1), 0.7)
    for t in (0, 300, 700, 999):
        noise = torch.randn(n, 1, generator=g)
        xt = q_sample(x0, t, noise, s)
        ab = s.alpha_bar[t].item()
        # 5 standard errors of the sample mean / variance
        se = math.sqrt((1 - ab) / n)
        assert xt.mean().item() == pytest.approx(math.sqrt(ab) * 0.7, abs=5 * se)
        assert xt.var().item() == pytest.approx(1 - ab, abs=5 * (1 - ab) * math.sqrt(2 / n) + 1e-7)


def test_q_sample_per_sample_timesteps_and_shapes():
    s = make_schedule("linear", 1000)
    x0 = torch.rand(3, 3, 4, 4) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 500, 999])
    xt = q_sample(x0, t, noise, s)
    for i in range(3):
        a, b = s.sqrt_alpha_bar[t[i]].float(), s.sqrt_one_minus_alpha_bar[t[i]].float()
        torch.testing.assert_close(xt[i], a * x0[i] + b * noise[i])
    assert q_sample(x0.double(), t, noise.double(), s).dtype == torch.float64


def _oracle(x0: torch.Tensor, s: NoiseSchedule, prediction: str):
    """A denoiser that knows x0: returns the exact eps / x0 / v for any x_t."""
    def model(x_t, t, cond):
        a = s.sqrt_alpha_bar[t].to(x_t.dtype).view(-1, *[1] * (x_t.ndim - 1))
        b = s.sqrt_one_minus_alpha_bar[t].to(x_t.dtype).view(-1, *[1] * (x_t.ndim - 1))
        eps = (x_t - a * x0) / b
        return {"eps": eps, "x0": x0.expand_as(x_t), "v": a * eps - b * x0}[prediction]
    return model


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_diffusion_loss_is_zero_for_the_oracle_and_positive_otherwise(prediction):
    s = make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(8, 2, generator=g) * 2 - 1
    t = torch.randint(0, 1000, (8,), generator=g)
    noise = torch.randn(8, 2, generator=g)
    target = prediction_target(x0, noise, t, s, prediction)
    exact = lambda x_t, tt, cond: target  # noqa: E731
    assert diffusion_loss(exact, x0, None, s, prediction, t=t, noise=noise).item() < 1e-12
    wrong = lambda x_t, tt, cond: target + 0.5  # noqa: E731
    loss = diffusion_loss(wrong, x0, None, s, prediction, t=t, noise=noise).item()
    assert loss == pytest.approx(0.25, rel=1e-5)


def test_diffusion_loss_gradients_and_generator():
    s = make_schedule("cosine", 100)
    net = torch.nn.Linear(2, 2)
    model = lambda x_t, t, cond: net(x_t)  # noqa: E731
    x0 = torch.randn(16, 2)
    l1 = diffusion_loss(model, x0, None, s, "v", generator=torch.Generator().manual_seed(3))
    l2 = diffusion_loss(model, x0, None, s, "v", generator=torch.Generator().manual_seed(3))
    assert l1.item() == l2.item()
    l1.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_predict_x0_eps_inverts_the_targets(prediction):
    s = make_schedule("cosine", 1000)
    x0, noise = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    t = torch.tensor([0, 1, 400, 900, 999])
    xt = q_sample(x0, t, noise, s)
    x0_hat, eps_hat = predict_x0_eps(s, xt, t, prediction_target(x0, noise, t, s, prediction),
                                     prediction)
    torch.testing.assert_close(x0_hat, x0)
    torch.testing.assert_close(eps_hat, noise)


# ---------------------------------------------------------------- DDIM
def test_ddim_timesteps_conventions():
    assert ddim_timesteps(1000, 4, "linspace") == [999, 666, 333, 0]
    assert ddim_timesteps(1000, 4, "leading") == [750, 500, 250, 0]
    assert ddim_timesteps(1000, 4, "trailing") == [999, 749, 499, 249]
    for spacing in SPACINGS:
        assert ddim_timesteps(50, 50, spacing) == list(range(49, -1, -1))
        for n in (1, 3, 7, 20):
            steps = ddim_timesteps(50, n, spacing)
            assert len(steps) == n and all(0 <= t < 50 for t in steps)


def test_trailing_ties_round_like_the_formula():
    # 13 * 1717 / 26 = 858.5 exactly, but 13 * (1717 / 26) is a hair below it
    assert ddim_timesteps(1717, 26, "trailing")[13] == round(1717 - 13 * 1717 / 26) - 1 == 857
    for T in range(2, 400):
        for n in (2, 4, 6, 8, 10, 16, 26):
            if n <= T:
                assert ddim_timesteps(T, n, "trailing") == [round(T - i * T / n) - 1
                                                            for i in range(n)], (T, n)


@pytest.mark.parametrize("zero_snr", [False, True])
@pytest.mark.parametrize("name", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddim_oracle_reconstructs_x0(name, prediction, zero_snr):
    s = make_schedule(name, 1000, zero_terminal_snr=zero_snr)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 3, 8, 8, generator=g, dtype=torch.float64) * 2 - 1
    model = _oracle(x0, s, prediction)
    for spacing in SPACINGS:
        for n_steps in range(1, 6):
            starts_at_end = ddim_timesteps(1000, n_steps, spacing)[0] == 999
            if zero_snr and prediction == "eps" and starts_at_end:
                continue  # impossible by construction; the clear error is tested below
            out = ddim_sample(model, x0.shape, None, s, n_steps, eta=0.0, spacing=spacing,
                              prediction=prediction, generator=g, dtype=torch.float64)
            err = (out - x0).abs().max().item()
            assert err < 1e-5, (spacing, n_steps, err)


def test_ddim_zero_snr_with_eps_is_a_clear_error_and_v_has_no_nan():
    s = make_schedule("linear", 100, zero_terminal_snr=True)
    model = lambda x, t, c: torch.zeros_like(x)  # noqa: E731
    with pytest.raises(ValueError, match="alpha_bar = 0.*prediction='v'"):
        ddim_sample(model, (4, 2), None, s, 3, prediction="eps")
    with pytest.raises(ValueError, match="alpha_bar = 0"):
        ddpm_sample(model, (4, 2), None, s, prediction="eps")
    for prediction in ("v", "x0"):
        out = ddim_sample(model, (4, 2), None, s, 3, prediction=prediction, eta=1.0)
        assert torch.isfinite(out).all()
    # leading spacing never visits t = T-1, so eps-prediction works there
    assert torch.isfinite(ddim_sample(model, (4, 2), None, s, 3, spacing="leading")).all()


def _gaussian_denoiser(s: NoiseSchedule, mu: float, sd: float, prediction: str):
    """The exact E[eps | x_t] (and matching x0 / v) for data ~ N(mu, sd^2) in 1-D."""
    def model(x_t, t, cond):
        a = s.sqrt_alpha_bar[t].to(x_t.dtype).view(-1, 1)
        b = s.sqrt_one_minus_alpha_bar[t].to(x_t.dtype).view(-1, 1)
        var = a**2 * sd**2 + b**2
        eps = b * (x_t - a * mu) / var
        x0 = mu + a * sd**2 * (x_t - a * mu) / var
        return {"eps": eps, "x0": x0, "v": a * eps - b * x0}[prediction]
    return model


def _ddpm_output_moments(s: NoiseSchedule, mu: float, sd: float) -> tuple[float, float]:
    """Exact mean and variance of DDPM's output for the Gaussian denoiser above.

    The denoiser is affine in x_t, so every x_t stays Gaussian: a scalar recursion on
    (mean, var) through the posterior mean and the fixed variance beta_tilde (DDPM eq. 6-7).
    """
    mean, var = 0.0, 1.0
    for t in range(s.T - 1, -1, -1):
        ab, ab_prev = s.alpha_bar[t].item(), s.alpha_bar_prev[t].item()
        beta, alpha = s.betas[t].item(), s.alphas[t].item()
        k = math.sqrt(ab) * sd**2 / (ab * sd**2 + 1 - ab)  # x0_hat = mu + k (x_t - sqrt(ab) mu)
        c1, c2 = beta * math.sqrt(ab_prev) / (1 - ab), (1 - ab_prev) * math.sqrt(alpha) / (1 - ab)
        mean = c1 * (mu + k * (mean - math.sqrt(ab) * mu)) + c2 * mean
        var = (c1 * k + c2) ** 2 * var + (beta * (1 - ab_prev) / (1 - ab) if t > 0 else 0.0)
    return mean, var


@pytest.fixture
def one_thread():
    """Small element-wise ops run faster (and far more steadily on a busy CPU) on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddim_eta1_all_steps_matches_ddpm_in_distribution(prediction, one_thread):
    s = make_schedule("linear", 100)
    mu, sd, n = 0.3, 0.5, 20_000
    model = _gaussian_denoiser(s, mu, sd, prediction)
    kw = dict(prediction=prediction, clip_x0=False, dtype=torch.float64)
    ddpm = ddpm_sample(model, (n, 1), None, s, torch.Generator().manual_seed(1), **kw)
    ddim = ddim_sample(model, (n, 1), None, s, 100, eta=1.0,
                       generator=torch.Generator().manual_seed(2), **kw)
    # With T = 100 the fixed posterior variance makes the output a little narrower than the
    # data (sd 0.5); the exact output moments come from a scalar recursion.
    mean, var = _ddpm_output_moments(s, mu, sd)
    assert abs(math.sqrt(var) - sd) > 0.01  # the recursion does see the discretisation error
    se_mean, se_var = math.sqrt(var / n), var * math.sqrt(2 / n)
    for x in (ddpm, ddim):  # independent seeds, 5 standard errors
        assert x.mean().item() == pytest.approx(mean, abs=5 * se_mean)
        assert x.var().item() == pytest.approx(var, abs=5 * se_var)
    assert ddpm.mean().item() == pytest.approx(ddim.mean().item(), abs=5 * math.sqrt(2) * se_mean)
    assert ddpm.var().item() == pytest.approx(ddim.var().item(), abs=5 * math.sqrt(2) * se_var)


def test_ddim_eta1_all_steps_is_ddpm_sample_for_sample():
    s = make_schedule("cosine", 50)
    model = _gaussian_denoiser(s, 0.0, 0.4, "eps")
    kw = dict(clip_x0=False, dtype=torch.float64)
    a = ddpm_sample(model, (64, 1), None, s, torch.Generator().manual_seed(5), **kw)
    b = ddim_sample(model, (64, 1), None, s, 50, eta=1.0,
                    generator=torch.Generator().manual_seed(5), **kw)
    torch.testing.assert_close(a, b)


def test_generator_makes_sampling_reproducible():
    s = make_schedule("cosine", 100)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    model = lambda x, t, c: net(torch.cat([x, t[:, None].float() / 100], 1))  # noqa: E731

    def run(seed, **kw):
        g = torch.Generator().manual_seed(seed)
        return ddim_sample(model, (32, 2), None, s, 5, generator=g, **kw)

    torch.testing.assert_close(run(0, eta=0.5), run(0, eta=0.5), rtol=0, atol=0)
    assert not torch.equal(run(0, eta=0.5), run(1, eta=0.5))
    a = ddpm_sample(model, (8, 2), None, s, torch.Generator().manual_seed(7))
    b = ddpm_sample(model, (8, 2), None, s, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_ddim_trajectory_and_cond():
    s = make_schedule("linear", 1000)
    cond = torch.full((2, 1), 0.25)
    model = lambda x, t, c: (x - c) * 0  # noqa: E731  uses cond
    x0, traj = ddim_sample(model, (2, 1), cond, s, 4, prediction="x0", return_trajectory=True,
                           generator=torch.Generator().manual_seed(0))
    assert traj["t"] == [999, 749, 499, 249]
    assert len(traj["x"]) == 5 and len(traj["x0_hat"]) == 4
    assert torch.equal(traj["x"][-1], x0)
    x_T = torch.randn(2, 1, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(traj["x"][0], x_T)
    assert torch.equal(ddim_sample(model, (2, 1), cond, s, 4, prediction="x0", x_T=x_T), x0)


def test_clip_x0_clamps_predictions():
    s = make_schedule("linear", 1000)
    model = lambda x, t, c: torch.full_like(x, 3.0)  # noqa: E731  x0 prediction far outside [-1, 1]
    assert ddim_sample(model, (4, 2), None, s, 3, prediction="x0").abs().max().item() <= 1.0
    out = ddim_sample(model, (4, 2), None, s, 3, prediction="x0", clip_x0=False)
    torch.testing.assert_close(out, torch.full((4, 2), 3.0))


# ---------------------------------------------------------------- bad input
def _zero_model(x, t, c):
    return torch.zeros_like(x)


@pytest.mark.parametrize("n_steps", [0, -1, 1001, 2.5])
def test_bad_n_steps(n_steps):
    with pytest.raises(ValueError, match="n_steps"):
        ddim_timesteps(1000, n_steps)
    with pytest.raises(ValueError, match="n_steps"):
        ddim_sample(_zero_model, (2, 2), None, make_schedule("linear", 1000), n_steps)


def test_bad_spacing():
    with pytest.raises(ValueError, match="unknown spacing 'middle'"):
        ddim_timesteps(1000, 4, "middle")
    with pytest.raises(ValueError, match="unknown spacing"):
        ddim_sample(_zero_model, (2, 2), None, make_schedule("linear", 100), 4, spacing="middle")


def test_bad_prediction():
    s = make_schedule("linear", 100)
    with pytest.raises(ValueError, match="unknown prediction type 'noise'"):
        ddim_sample(_zero_model, (2, 2), None, s, 4, prediction="noise")
    with pytest.raises(ValueError, match="unknown prediction type"):
        ddpm_sample(_zero_model, (2, 2), None, s, prediction="noise")
    with pytest.raises(ValueError, match="unknown prediction type"):
        diffusion_loss(_zero_model, torch.zeros(2, 2), None, s, prediction="noise")


def test_bad_eta():
    with pytest.raises(ValueError, match="eta"):
        ddim_sample(_zero_model, (2, 2), None, make_schedule("linear", 100), 4, eta=1.5)


@pytest.mark.parametrize("t", [-1, 100, torch.tensor([0, 100])])
def test_t_out_of_range(t):
    s = make_schedule("linear", 100)
    with pytest.raises(ValueError, match=r"timesteps must be in \[0, 99\]"):
        q_sample(torch.zeros(2, 2), t, None, s)
    with pytest.raises(ValueError, match=r"\[0, 99\]"):
        diffusion_loss(_zero_model, torch.zeros(2, 2), None, s, t=t if torch.is_tensor(t) else
                       torch.full((2,), t))
    with pytest.raises(ValueError, match=r"\[0, 99\]"):
        s.snr(t)


def test_t_wrong_type_or_shape():
    s = make_schedule("linear", 100)
    with pytest.raises(TypeError, match="integer timesteps"):
        q_sample(torch.zeros(2, 2), torch.tensor([0.5, 1.0]), None, s)
    with pytest.raises(ValueError, match=r"expected shape \(2,\)"):
        q_sample(torch.zeros(2, 2), torch.tensor([1, 2, 3]), None, s)
    with pytest.raises(ValueError, match="noise: expected the shape of x0"):
        q_sample(torch.zeros(2, 2), 3, torch.zeros(2, 3), s)
    with pytest.raises(TypeError, match="expected a NoiseSchedule"):
        q_sample(torch.zeros(2, 2), 3, None, "linear")


@pytest.mark.parametrize(
    "betas, match",
    [
        (torch.tensor([0.1, -0.2, 0.3]), r"betas must be > 0, got beta\[1\]"),
        (torch.tensor([0.1, 0.0, 0.3]), r"betas must be > 0"),
        (torch.tensor([0.1, 1.0, 0.3]), r"betas must be < 1 .*beta\[1\] = 1"),
        (torch.tensor([0.1, 0.2, 1.5]), r"betas must be < 1 .*beta\[2\] = 1.5"),
        (torch.tensor([0.1, float("nan")]), "NaN"),
        (torch.ones(2, 3) * 0.1, "1-D"),
        (torch.tensor([]), "non-empty"),
    ],
)
def test_bad_betas(betas, match):
    with pytest.raises(ValueError, match=match):
        NoiseSchedule(betas)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'"):
        make_schedule("quadratic", 100)
    for T in (0, -5, 10.0):
        with pytest.raises(ValueError, match="T"):
            make_schedule("linear", T)
    with pytest.raises(ValueError, match="at least 2"):
        rescale_zero_terminal_snr(torch.tensor([0.5]))
    # a final beta of exactly 1 is the zero-terminal-SNR case and is allowed
    assert NoiseSchedule(torch.tensor([0.1, 0.5, 1.0])).zero_terminal_snr


def test_model_output_shape_mismatch():
    s = make_schedule("linear", 100)
    bad = lambda x, t, c: x[:, :1]  # noqa: E731
    with pytest.raises(ValueError, match=r"model output: expected the shape of x_t \(4, 2\)"):
        ddim_sample(bad, (4, 2), None, s, 3)
    with pytest.raises(ValueError, match="model output"):
        ddpm_sample(bad, (4, 2), None, s)
    with pytest.raises(ValueError, match="model output"):
        diffusion_loss(bad, torch.zeros(4, 2), None, s)
    with pytest.raises(ValueError, match="x_T: expected shape"):
        ddim_sample(_zero_model, (4, 2), None, s, 3, x_T=torch.zeros(4, 3))
