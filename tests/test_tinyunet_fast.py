"""FastSampler: the same samples as TinyUNetSR.upscale (same seed, to 1e-5), the same errors,
and weights that stay in step with the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from srlab import pretrained
from srlab.degradation import bicubic_up
from srlab.diffusion import ddim_sample, make_schedule
from srlab.models import FastSampler, TinyUNetSR, tinyunet_fast
from srlab.models.tinyunet_fast import bicubic_matrix, ddim_plan

TOL = 1e-5
FORMS = [(fmt, jit) for fmt in ("contiguous", "channels_last")
         for jit in ("off", "freeze", "onednn")]


def randomised(model: TinyUNetSR, seed: int = 0) -> TinyUNetSR:
    """A model whose outputs depend on x_t, the noise level and the seed (dec2 starts at 0)."""
    torch.manual_seed(seed)
    for p in model.net.parameters():
        nn.init.normal_(p, std=0.1)
    return model.eval()


def lr_batch(n: int, seed: int = 0, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


@pytest.fixture(scope="module")
def shipped():
    return {s: pretrained.load(f"tinyunet_diffusion_{s}") for s in ("linear", "cosine")}


# ------------------------------------------------------------------- same output as upscale
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_shipped_weights_match_upscale(shipped, schedule, steps):
    model = shipped[schedule]
    fast = FastSampler(model, steps)
    for n, seed in ((1, 1), (1, 12345), (3, 7)):
        lr = lr_batch(n, seed)
        ref = model.upscale(lr, steps=steps, seed=seed)
        sr = fast(lr, seed=seed)
        assert sr.shape == ref.shape == (n, 3, 32, 32) and sr.dtype == ref.dtype
        assert sr.is_contiguous()
        assert max_diff(sr, ref) <= TOL, (n, seed)
    # the seed matters (x_T), so agreeing is not trivial
    assert max_diff(fast(lr, seed=7), fast(lr, seed=8)) > 1e-3


@pytest.mark.parametrize("memory_format,jit", FORMS)
def test_every_form_of_the_network_matches(shipped, memory_format, jit):
    model = shipped["cosine"]
    fast = FastSampler(model, 5, memory_format=memory_format, jit=jit)
    for n, seed in ((1, 3), (4, 5)):
        lr = lr_batch(n, seed)
        assert max_diff(fast(lr, seed=seed), model.upscale(lr, steps=5, seed=seed)) <= TOL


@pytest.mark.parametrize("prediction", ["x0", "eps", "v"])
@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_other_predictions_and_eta_match_upscale(prediction, eta):
    model = randomised(TinyUNetSR(prediction=prediction, schedule="linear", T=200))
    lr = lr_batch(2, 1, size=8)
    for steps in (1, 3):
        ref = model.upscale(lr, steps=steps, seed=11, eta=eta)
        fast = FastSampler(model, steps, eta=eta)
        # x0 = (x_t - s eps) / a magnifies float rounding (of any conv algorithm) by s / a
        tol = TOL * max(p.s / p.a for p in fast.plan) if prediction == "eps" else TOL
        assert max_diff(fast(lr, seed=11), ref) <= tol
        assert max_diff(fast(lr, seed=11), model.upscale(lr, steps=steps, seed=12, eta=eta)) > tol


@pytest.mark.parametrize("spacing", ["linspace", "leading"])
def test_other_spacings_and_zero_terminal_snr_match(spacing):
    model = randomised(TinyUNetSR(prediction="v", spacing=spacing, zero_terminal_snr=True, T=100))
    lr = lr_batch(1, 2)
    ref = model.upscale(lr, steps=4, seed=3)
    assert max_diff(FastSampler(model, 4)(lr, seed=3), ref) <= TOL


def test_not_residual_and_large_images_match_upscale():
    """from_x0 without a residual, and an LR side over BICUBIC_MATRIX_MAX (bicubic_up)."""
    model = randomised(TinyUNetSR(residual=False, residual_scale=0.5), seed=3)
    lr = torch.rand(1, 3, tinyunet_fast.BICUBIC_MATRIX_MAX + 2, 8,
                    generator=torch.Generator().manual_seed(5))
    fast = FastSampler(model, 2)
    assert max_diff(fast(lr, seed=4), model.upscale(lr, steps=2, seed=4)) <= TOL
    assert fast._runs[((1, 7, 132, 16), "cpu")].up_h is None



@pytest.mark.parametrize("width, options", [((38, 76), {"upsample": "pixel_shuffle"}),
                                            ((48, 92), {"first_stride": 1}),
                                            ((96, 192), {"separable": True,
                                                         "upsample": "pixel_shuffle",
                                                         "activation": "silu"})])
def test_network_variants_match_upscale(width, options):
    """The ablation's TinyUNet variants sample alike on the fast path."""
    model = randomised(TinyUNetSR(schedule="linear", width=width, net=options), seed=6)
    lr = lr_batch(2, seed=7)
    for form in (FORMS[0], FORMS[1], FORMS[3]):  # eager, frozen, channels_last
        fast = FastSampler(model, 5, memory_format=form[0], jit=form[1])
        assert max_diff(fast(lr, seed=8), model.upscale(lr, steps=5, seed=8)) <= TOL


def test_shipped_scaled_residual_rows_match_upscale():
    """x0 = residual x 18.59 (notebook 06's SR3 rows): the fast path still agrees."""
    lr = lr_batch(4, seed=9)
    for name in ("cmp_sr3_linear", "cmp_sr3_cosine"):
        model = pretrained.load(name)
        assert model.config["residual_scale"] > 10
        for form in (FORMS[0], FORMS[3]):
            fast = FastSampler(model, 5, memory_format=form[0], jit=form[1])
            assert max_diff(fast(lr, seed=2), model.upscale(lr, steps=5, seed=2)) <= TOL


def test_bicubic_matrix_is_bicubic_up():
    for h, w in ((16, 16), (6, 10), (2, 4)):
        lr = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h))
        up = (bicubic_matrix(h) @ lr @ bicubic_matrix(w).T).clamp(0, 1)
        assert up.shape == (2, 3, 2 * h, 2 * w)
        assert max_diff(up, bicubic_up(lr, 2)) <= 1e-6
    assert bicubic_matrix(4).shape == (8, 4)
    assert torch.allclose(bicubic_matrix(8).sum(1), torch.ones(16))  # a constant stays


def test_repeated_calls_reuse_the_buffers_without_leaking(shipped):
    model = shipped["linear"]
    fast = FastSampler(model, 4)
    a, b = lr_batch(1, 1), lr_batch(2, 2)
    first = fast(a, seed=1)
    fast(b, seed=2)
    again = fast(a, seed=1)
    assert torch.equal(first, again) and first.data_ptr() != again.data_ptr()
    assert len(fast._runs) == 2


def test_the_network_form_and_its_fallback(shipped, monkeypatch):
    model = shipped["cosine"]
    fast = FastSampler(model, 2)
    assert fast.form == "not built yet"
    lr = lr_batch(1, 8)
    ref = model.upscale(lr, steps=2, seed=1)
    assert max_diff(fast(lr, seed=1), ref) <= TOL
    assert fast.form.endswith(", channels_last") and fast.jit_on(torch.device("cpu")) == "onednn"
    x = torch.rand(1, 7, 32, 32, generator=torch.Generator().manual_seed(0))
    net = fast.network((1, 7, 32, 32))
    with torch.no_grad():
        assert max_diff(net(x.contiguous(memory_format=torch.channels_last)), model.net(x)) <= TOL
    tried = []

    def failing(net, example, onednn):  # TorchScript missing or wrong on some machine
        tried.append(onednn)

    monkeypatch.setattr(tinyunet_fast, "_compile", failing)
    fallback = FastSampler(model, 2, memory_format="contiguous")
    assert max_diff(fallback(lr, seed=1), ref) <= TOL
    assert tried == [True, False] and fallback.form == "eager (TorchScript failed here), NCHW"
    eager = FastSampler(model, 2, jit="off")
    eager(lr)
    assert eager.form == "eager, channels_last" and tried == [True, False]
    # a GPU gets the network as it is (device type other than cpu)
    assert fast.jit_on(torch.device("meta")) == "off"
    assert fast.memory_format_on(torch.device("meta")) == torch.contiguous_format


def test_non_square_float64_input_keeps_its_dtype(shipped):
    model = shipped["linear"]
    lr = torch.rand(2, 3, 12, 20, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    sr = FastSampler(model, 3)(lr, seed=9)
    ref = model.upscale(lr, steps=3, seed=9)
    assert sr.dtype == ref.dtype == torch.float64 and sr.shape == (2, 3, 24, 40)
    assert max_diff(sr, ref) <= TOL


def test_default_steps_and_sampler_seeds_follow_the_model(shipped):
    model = shipped["cosine"]
    fast = FastSampler(model)
    assert fast.steps == model.config["default_steps"] and fast.scale == model.scale == 2
    lr = lr_batch(1, 0)
    ours, theirs = fast.sampler(seed=5), model.sampler(seed=5)
    for _ in range(3):  # call k draws from seed + k
        assert max_diff(ours(lr), theirs(lr)) <= TOL
    assert ours.scale == 2


def test_the_plan_is_the_ddim_update():
    """A_t x + B_t x0 is the update of ddim_sample: one step from a given x_T, by hand."""
    sched = make_schedule("cosine", 1000)
    x, x0 = torch.randn(2, 3, 4, 4, dtype=torch.float64), torch.rand(2, 3, 4, 4) * 2 - 1
    plan = ddim_plan(sched, 2)
    assert [s.t for s in plan] == [999, 499] and plan[-1].A == 0 and plan[-1].B == 1
    model = lambda x_t, t, cond: x0.to(x_t.dtype)  # noqa: E731 (a fixed x0 prediction)
    traj = ddim_sample(model, x.shape, None, sched, 2, prediction="x0", x_T=x,
                       dtype=torch.float64, return_trajectory=True)[1]
    step = plan[0]
    assert torch.allclose(traj["x"][1], step.A * x + step.B * x0.double(), atol=1e-12)


# ------------------------------------------------------------------------ the same errors
def error_of(fn) -> tuple[type, str]:
    with pytest.raises((TypeError, ValueError)) as info:
        fn()
    return info.type, str(info.value)


@pytest.mark.parametrize("bad", [
    "not a tensor", torch.rand(3, 16, 16), torch.rand(1, 1, 16, 16), torch.rand(1, 3, 15, 16),
    torch.rand(1, 3, 16, 16) * 255, torch.full((1, 3, 16, 16), float("nan")),
    torch.zeros(1, 3, 16, 16, dtype=torch.uint8)])
def test_bad_input_gives_upscales_error(shipped, bad):
    model = shipped["cosine"]
    expected = error_of(lambda: model.upscale(bad, steps=5))
    assert error_of(lambda: FastSampler(model, 5)(bad)) == expected


@pytest.mark.parametrize("steps", [0, 1001, 2.0, True, "5"])
def test_bad_steps_give_upscales_error(shipped, steps):
    model = shipped["linear"]
    expected = error_of(lambda: model.upscale(lr_batch(1), steps=steps))
    assert error_of(lambda: FastSampler(model, steps)) == expected
    assert "steps must be an integer in [1, T=1000]" in expected[1]


@pytest.mark.parametrize("eta", [-0.1, 1.5, "0", None])
def test_bad_eta_gives_the_samplers_error(shipped, eta):
    model = shipped["linear"]
    expected = error_of(lambda: model.upscale(lr_batch(1), steps=2, eta=eta))
    assert error_of(lambda: FastSampler(model, 2, eta=eta)) == expected


def test_eps_prediction_through_zero_terminal_snr_gives_the_cores_error():
    model = randomised(TinyUNetSR(prediction="eps", zero_terminal_snr=True, T=100))
    expected = error_of(lambda: model.upscale(lr_batch(1), steps=2))
    assert "alpha_bar = 0" in expected[1]
    assert error_of(lambda: FastSampler(model, 2)) == expected


def test_regression_and_other_models_are_refused():
    with pytest.raises(ValueError, match="regression model .* call model.upscale"):
        FastSampler(TinyUNetSR(mode="regression"))
    with pytest.raises(TypeError, match="expected a diffusion TinyUNetSR, got Linear"):
        FastSampler(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unknown memory_format 'nhwc'"):
        FastSampler(TinyUNetSR(), memory_format="nhwc")
    with pytest.raises(ValueError, match="unknown jit 'script'"):
        FastSampler(TinyUNetSR(), jit="script")


# -------------------------------------------------- the model is untouched and followed
@pytest.mark.parametrize("jit", ["off", "onednn"])
def test_weights_changed_after_the_first_call_are_followed(jit):
    model = randomised(TinyUNetSR(schedule="cosine"), seed=1)
    fast = FastSampler(model, 3, memory_format="channels_last", jit=jit)
    lr = lr_batch(1, 6)
    before = fast(lr, seed=2)
    with torch.no_grad():  # as an optimiser step does: in place
        model.net.enc1.weight.mul_(1.5)
    after = fast(lr, seed=2)
    assert max_diff(before, after) > 1e-4
    assert max_diff(after, model.upscale(lr, steps=3, seed=2)) <= TOL
    model.load_state_dict(randomised(TinyUNetSR(schedule="cosine"), seed=2).state_dict())
    assert max_diff(fast(lr, seed=2), model.upscale(lr, steps=3, seed=2)) <= TOL
    # the sampler works on a copy: the model's weights keep their layout
    assert all(p.is_contiguous() for p in model.net.parameters())


@pytest.mark.parametrize("prediction", ["x0", "eps"])
def test_a_scaled_residual_matches_upscale(prediction):
    # residual_scale 1/std: x0 in [-c, c], the x0-prediction mapped there, the clip at c
    model = randomised(TinyUNetSR(prediction=prediction, residual_scale=12.5, T=100), seed=4)
    assert model.x0_bound == 12.5
    if prediction == "x0":
        assert tuple(model.net.config["out_range"]) == (-12.5, 12.5)
    lr = lr_batch(2, 6)
    ref = model.upscale(lr, steps=3, seed=5)
    fast = FastSampler(model, 3)
    tol = TOL * max(p.s / p.a for p in fast.plan) if prediction == "eps" else TOL
    assert max_diff(fast(lr, seed=5), ref) <= tol * 12.5  # x0 / 12.5: same image precision
