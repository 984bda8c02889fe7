"""TinyUNetSR: few-step diffusion (and regression) x2 SR: sampling, seeds, dtypes, training,
checkpoints and the shipped weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from srlab import checkpoint, pretrained
from srlab.data import EmbeddedPatches, PatchSampler
from srlab.degradation import bicubic, bicubic_down, bicubic_up
from srlab.diffusion import make_schedule
from srlab.evaluate import evaluate
from srlab.metrics import hf_ratio
from srlab.models import TinyUNetSR, build
from srlab.train import fit


def randomised(model: TinyUNetSR, seed: int = 0) -> TinyUNetSR:
    """A model whose last layer is not zero, so that outputs depend on x_t and the seed."""
    torch.manual_seed(seed)
    nn.init.normal_(model.net.dec2.weight, std=0.05)
    return model.eval()


@pytest.fixture(scope="module")
def pairs():
    """64 CIFAR-sized (lr, hr) pairs cut from the embedded photos."""
    ds = EmbeddedPatches(n=64, seed=3)
    return ds.lr, ds.hr


@pytest.fixture(scope="module")
def sampler(pairs):
    hr_uint8 = (pairs[1] * 255).round().to(torch.uint8)
    return PatchSampler(hr_uint8, 2, None, device="cpu", augment="flip")


@pytest.fixture
def lr():
    return torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- upscale: shapes and seeds
@pytest.mark.parametrize("mode", ["regression", "diffusion"])
def test_upscale_shapes_and_range(mode, lr):
    model = randomised(TinyUNetSR(mode=mode))
    for steps in (1, 3, 5):
        sr = model.upscale(lr, steps=steps)
        assert sr.shape == (2, 3, 32, 32) and sr.dtype == torch.float32
        assert 0 <= sr.min() and sr.max() <= 1
    assert torch.equal(model(lr), model.upscale(lr, steps=5, seed=0))
    assert model.scale == 2 and model.kind == "tinyunet"


def test_diffusion_sampling_repeats_with_a_seed(lr):
    model = randomised(TinyUNetSR(mode="diffusion", schedule="cosine"))
    a, b = model.upscale(lr, steps=5, seed=7), model.upscale(lr, steps=5, seed=7)
    c = model.upscale(lr, steps=5, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, model.upscale(lr, steps=4, seed=7))


def test_sampler_uses_seed_plus_k_on_call_k(lr):
    model = randomised(TinyUNetSR(mode="diffusion"))
    upscale = model.sampler(steps=3, seed=5)
    assert upscale.scale == 2
    calls = [upscale(lr) for _ in range(3)]
    for k, sr in enumerate(calls):
        assert torch.equal(sr, model.upscale(lr, steps=3, seed=5 + k))
    assert not torch.equal(calls[0], calls[1])
    default = model.sampler()  # default_steps, seed 0
    assert torch.equal(default(lr), model.upscale(lr))


def test_regression_ignores_steps_and_seed(lr):
    model = randomised(TinyUNetSR(mode="regression"))
    assert torch.equal(model.upscale(lr, steps=1, seed=0), model.upscale(lr, steps=5, seed=3))
    upscale = model.sampler(seed=1)
    assert torch.equal(upscale(lr), upscale(lr))


def test_fresh_model_returns_the_bicubic_image(lr):
    for mode in ("regression", "diffusion"):
        sr = TinyUNetSR(mode=mode).eval().upscale(lr)
        assert torch.allclose(sr, bicubic_up(lr, 2), atol=1e-6)


def test_trajectory_has_one_image_per_step(lr):
    model = randomised(TinyUNetSR(mode="diffusion", schedule="linear"))
    sr, traj = model.upscale(lr, steps=4, return_trajectory=True)
    assert traj["t"] == [999, 749, 499, 249]
    assert len(traj["sr"]) == 4 and torch.equal(traj["sr"][-1], sr)
    reg_sr, reg_traj = randomised(TinyUNetSR(mode="regression")).upscale(
        lr, return_trajectory=True)
    assert reg_traj["t"] == [] and torch.equal(reg_traj["sr"][0], reg_sr)


def test_training_visits_only_the_sampler_timesteps():
    model = TinyUNetSR(mode="diffusion", schedule="linear", T=1000)
    assert model.sampler_timesteps() == [199, 249, 332, 399, 499, 599, 666, 749, 799, 999]


def test_tag_describe_and_config_round_trip():
    cosine = TinyUNetSR(schedule="cosine", zero_terminal_snr=True, prediction="v")
    assert cosine.tag == "tinyunet_diffusion_cosine"
    assert cosine.describe() == ("diffusion, cosine schedule, T=1000, zero terminal SNR, "
                                 "v-prediction, trailing spacing")
    regression = TinyUNetSR(mode="regression")
    assert regression.tag == "tinyunet_regression" and "regression" in regression.describe()
    assert "schedule" not in regression.config
    for model in (cosine, regression, TinyUNetSR(schedule="linear", T=50, width=(8, 16))):
        again = build("tinyunet", {**model.config, "train": {"lr": 1}})
        assert again.config == model.config
    with pytest.raises(ValueError, match="no noise schedule"):
        regression.schedule()


# ---------------------------------------------------------------- dtypes and bad input
@pytest.mark.parametrize("mode", ["regression", "diffusion"])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 0.0), (torch.float16, 1e-3)])
def test_float64_and_float16_input(mode, dtype, tol, lr):
    model = randomised(TinyUNetSR(mode=mode))
    x = lr.to(dtype)
    sr = model.upscale(x, steps=2, seed=3)
    assert sr.dtype == dtype
    ref = model.upscale(x.float(), steps=2, seed=3)
    torch.testing.assert_close(sr.float(), ref, atol=tol, rtol=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_input_is_refused(bad, lr):
    lr[1, 2, 5, 5] = bad
    for mode in ("regression", "diffusion"):
        with pytest.raises(ValueError, match="lr: expected finite values.*NaN"):
            TinyUNetSR(mode=mode).eval().upscale(lr)


def test_lr_of_another_size(lr):
    model = randomised(TinyUNetSR(mode="diffusion"))
    assert model.upscale(torch.rand(1, 3, 24, 20)).shape == (1, 3, 48, 40)  # fully convolutional
    with pytest.raises(ValueError, match="even LR height and width.*mod_crop"):
        model.upscale(torch.rand(1, 3, 15, 16))
    with pytest.raises(ValueError, match="3 channels"):
        model.upscale(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="values in"):
        model.upscale(lr * 255)
    with pytest.raises(ValueError, match="4-D"):
        model.upscale(lr[0])


@pytest.mark.parametrize("steps", [0, -1, 1001, 2.5, True])
def test_steps_outside_1_to_T(steps, lr):
    model = TinyUNetSR(mode="diffusion", T=1000).eval()
    with pytest.raises(ValueError, match="steps must be an integer in"):
        model.upscale(lr, steps=steps)


def test_sampler_schedule_must_be_the_trained_one(lr):
    cosine = TinyUNetSR(mode="diffusion", schedule="cosine").eval()
    with pytest.raises(ValueError, match="schedule mismatch"):
        cosine.upscale(lr, schedule=make_schedule("linear", 1000))
    with pytest.raises(ValueError, match="schedule mismatch"):
        cosine.upscale(lr, schedule=make_schedule("cosine", 500))
    cosine.upscale(lr, schedule=make_schedule("cosine", 1000))  # the right one is accepted
    with pytest.raises(ValueError, match="regression model"):
        TinyUNetSR(mode="regression").check_schedule(make_schedule("cosine", 1000))


def test_weights_that_do_not_fit_the_config_are_refused():
    cosine = TinyUNetSR(mode="diffusion", schedule="cosine")
    state = cosine.state_dict()
    for config in (TinyUNetSR(mode="regression").config,  # 3 input channels, not 7
                   TinyUNetSR(width=(8, 16)).config):
        with pytest.raises(ValueError, match="do not fit a tinyunet network"):
            pretrained.from_checkpoint({"kind": "tinyunet", "config": config, "model": state})
    with pytest.raises(ValueError, match="do not fit a msrn network"):
        pretrained.from_checkpoint({"kind": "msrn", "config": {}, "model": state})
    with pytest.raises(ValueError, match="cannot build .*unknown schedule 'sigmoid'"):
        pretrained.from_checkpoint({"kind": "tinyunet", "model": state,
                                    "config": {"schedule": {"name": "sigmoid"}}})


def test_loss_needs_x2_pairs():
    model = TinyUNetSR()
    lr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
    assert torch.isfinite(model.loss(lr, hr))
    with pytest.raises(ValueError, match="x2 the size of lr"):
        model.loss(lr, torch.rand(2, 3, 31, 31))
    with pytest.raises(ValueError, match="same batch size"):
        model.loss(lr, torch.rand(3, 3, 32, 32))


def test_bad_model_options():
    for kwargs, match in [({"mode": "gan"}, "mode"), ({"schedule": "sigmoid"}, "schedule"),
                          ({"prediction": "score"}, "prediction"), ({"T": 0}, "T must"),
                          ({"spacing": "random"}, "spacing"), ({"loss": "l3"}, "loss"),
                          ({"train_timesteps": "some"}, "train_timesteps"),
                          ({"default_steps": 0}, "default_steps"),
                          ({"T": 4, "default_steps": 5}, "default_steps"),
                          ({"residual_scale": 0}, "residual_scale")]:
        with pytest.raises(ValueError, match=match):
            TinyUNetSR(**kwargs)


# ---------------------------------------------------------------- training and checkpoints
def test_sampler_batches_flip_lr_and_hr_together(sampler):
    lr, hr = sampler(16, torch.Generator().manual_seed(0))
    assert lr.shape == (16, 3, 16, 16) and hr.shape == (16, 3, 32, 32)
    assert torch.equal(bicubic_down(hr, 2), lr)


@pytest.mark.parametrize("mode, schedule", [("regression", "cosine"), ("diffusion", "linear")])
def test_a_few_training_steps_and_checkpoint_round_trip(mode, schedule, sampler, tmp_path):
    model = TinyUNetSR(mode=mode, schedule=schedule)
    ckpt_path = tmp_path / "m.ckpt"
    history = fit(model, sampler, steps=4, batch_size=8, lr=1e-3, progress=False, loss="model",
                  ckpt_path=ckpt_path, device="cpu", log_every=2)
    assert history["step"] == [2, 4] and all(0 < v < 10 for v in history["loss"])
    ckpt = checkpoint.load(ckpt_path)
    assert ckpt["kind"] == "tinyunet" and ckpt["config"] == model.config and ckpt["step"] == 4
    if mode == "diffusion":
        assert ckpt["config"]["schedule"] == {"name": schedule, "T": 1000,
                                              "zero_terminal_snr": False}
        assert ckpt["config"]["prediction"] == "x0"
    rebuilt = pretrained.from_checkpoint(ckpt)
    assert isinstance(rebuilt, TinyUNetSR) and not rebuilt.training
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(rebuilt.upscale(x, seed=1), model.eval().upscale(x, seed=1))
    assert not torch.equal(model.upscale(x, seed=1), bicubic_up(x, 2))  # it did train
    # resuming the checkpoint with another sampler configuration is refused
    other = TinyUNetSR(mode="diffusion", schedule="cosine", T=50)
    with pytest.raises(ValueError, match="config"):
        fit(other, sampler, steps=5, batch_size=8, progress=False, ckpt_path=ckpt_path,
            device="cpu", loss="model")


def test_diffusion_loss_variants_are_finite_and_differentiable(pairs):
    lr, hr = pairs[0][:8], pairs[1][:8]
    for kwargs in ({"prediction": "eps"}, {"prediction": "v"}, {"loss": "l1"},
                   {"train_timesteps": "all"}, {"zero_terminal_snr": True, "prediction": "v"},
                   {"residual": False}):
        model = randomised(TinyUNetSR(mode="diffusion", **kwargs)).train()
        loss = model.loss(lr, hr)
        assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
        loss.backward()
        assert model.net.enc1.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- shipped weights
@pytest.mark.parametrize("name", pretrained.TINYUNET_NAMES)
def test_shipped_weights_load_beat_bicubic_and_sample(name, pairs):
    path = pretrained.WEIGHTS_DIR / f"{name}.pt"
    assert path.stat().st_size < 1_000_000
    model = pretrained.load(name, kind="tinyunet", scale=2)
    assert isinstance(model, TinyUNetSR) and not model.training and model.tag == name
    lr, hr = pairs[0][:32], pairs[1][:32]
    baseline = evaluate(bicubic(2), (lr, hr), 2)["psnr_rgb"]
    if not model.is_diffusion:
        assert evaluate(model, (lr, hr), 2)["psnr_rgb"] > baseline + 0.5
        return
    # the diffused residual is on the noise's scale (x0 = residual / its std): a real sampler.
    # Its first step, from pure noise, predicts about the mean residual (PSNR well above
    # bicubic); the later steps commit to a sample with more fine detail.
    assert model.config["residual_scale"] == pytest.approx(18.59, abs=0.05)
    one, five = model.sampler(steps=1, seed=0), model.sampler(steps=5, seed=0)
    assert evaluate(one, (lr, hr), 2)["psnr_rgb"] > baseline + 0.5
    assert float(hf_ratio(five(lr), hr)) > float(hf_ratio(one(lr), hr)) + 0.05
    assert not torch.equal(model.upscale(lr, steps=5, seed=0), model.upscale(lr, steps=5, seed=1))


def test_residual_scale_round_trip_and_the_measured_std():
    torch.manual_seed(0)
    hr = torch.rand(4, 3, 32, 32)
    up = torch.rand(4, 3, 32, 32)
    model = TinyUNetSR(residual_scale=8.0)
    x0 = model.to_x0(hr, up)
    assert float(x0.abs().max()) <= model.x0_bound == 8.0
    assert torch.allclose(model.from_x0(x0, up), hr, atol=1e-6)
    # the std the scale should undo: of hr - bicubic_up(bicubic_down(hr)), uint8 or float
    from srlab.degradation import bicubic_down, bicubic_up

    hr8 = (hr * 255).round().to(torch.uint8)
    hr_q = hr8.float() / 255
    expected = float((hr_q - bicubic_up(bicubic_down(hr_q, 2), 2)).double().std())
    assert TinyUNetSR.residual_std(hr8) == pytest.approx(expected)
    assert TinyUNetSR.residual_std(hr_q) == pytest.approx(expected)
    # a smooth image has a small residual; random pixels a large one
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(2, 3, 32, 32)
    assert TinyUNetSR.residual_std(smooth) < 0.01 < TinyUNetSR.residual_std(hr_q)


def test_the_sampler_clips_x0_to_the_scaled_range(lr):
    from srlab.diffusion.ddpm import x0_bound

    assert x0_bound(True) == 1.0 and x0_bound(2.5) == 2.5
    for bad in (-1, "yes", float("nan")):
        with pytest.raises(ValueError, match="clip_x0 must be True, False or a bound c > 0"):
            x0_bound(bad)
    model = TinyUNetSR(prediction="eps", residual_scale=4.0, T=50).eval()
    torch.manual_seed(1)
    for p in model.net.parameters():
        torch.nn.init.normal_(p, std=0.5)
    _, traj = model.upscale(lr, steps=3, seed=0, return_trajectory=True)
    biggest = max(float(x.abs().max()) for x in traj["x0_hat"])
    assert 1.0 < biggest <= 4.0  # clipped at the scaled bound, not at 1
