"""Few-step diffusion SR with TinyUNet: sampling, training, checkpoints, shipped weights."""

from __future__ import annotations

import argparse

import pytest
import torch
from torch import nn

from srlab import pretrained
from srlab.data import EmbeddedPatches, bicubic_down
from srlab.diffusion import make_schedule
from srlab.diffusion.sr import (
    SHIPPED,
    PairBank,
    TinyUNetSR,
    evaluate_pairs,
    evaluate_table,
    format_table,
    load_weights,
    model_from_checkpoint,
    pairs_from_hr,
)
from srlab.train import fit


def randomised(model: TinyUNetSR, seed: int = 0) -> TinyUNetSR:
    """A model whose last layer is not zero, so that outputs depend on x_t and the seed."""
    torch.manual_seed(seed)
    nn.init.normal_(model.net.dec2.weight, std=0.05)
    return model.eval()


@pytest.fixture(scope="module")
def patches():
    ds = EmbeddedPatches(n=64, seed=3)
    return PairBank.from_dataset(ds, progress=False)


@pytest.fixture
def lr():
    return torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- upscale: shapes and seeds
@pytest.mark.parametrize("mode", ["regression", "diffusion"])
def test_upscale_shapes_and_range(mode, lr):
    model = randomised(TinyUNetSR(mode=mode))
    for steps in (1, 3, 5):
        sr = model.upscale(lr, steps=steps)
        assert sr.shape == (2, 3, 32, 32)
        assert 0 <= sr.min() and sr.max() <= 1
    assert model(lr).shape == (2, 3, 32, 32)


def test_diffusion_sampling_repeats_with_a_seed(lr):
    model = randomised(TinyUNetSR(mode="diffusion", schedule="cosine"))
    a, b = model.upscale(lr, steps=5, seed=7), model.upscale(lr, steps=5, seed=7)
    c = model.upscale(lr, steps=5, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_regression_ignores_steps_and_seed(lr):
    model = randomised(TinyUNetSR(mode="regression"))
    assert torch.equal(model.upscale(lr, steps=1, seed=0), model.upscale(lr, steps=5, seed=3))


def test_fresh_model_returns_the_bicubic_image(lr):
    from srlab.data import bicubic_up

    for mode in ("regression", "diffusion"):
        sr = TinyUNetSR(mode=mode).eval().upscale(lr)
        assert torch.allclose(sr, bicubic_up(lr, 2), atol=1e-6)


def test_trajectory_has_one_image_per_step(lr):
    model = randomised(TinyUNetSR(mode="diffusion", schedule="linear"))
    sr, traj = model.upscale(lr, steps=4, return_trajectory=True)
    assert traj["t"] == [999, 749, 499, 249]
    assert len(traj["sr"]) == 4 and torch.equal(traj["sr"][-1], sr)


def test_training_visits_only_the_sampler_timesteps():
    model = TinyUNetSR(mode="diffusion", schedule="linear", T=1000)
    assert model.sampler_timesteps() == [199, 249, 332, 399, 499, 599, 666, 749, 799, 999]


# ---------------------------------------------------------------- bad input
def test_lr_of_another_size(lr):
    model = randomised(TinyUNetSR(mode="diffusion"))
    assert model.upscale(torch.rand(1, 3, 24, 20)).shape == (1, 3, 48, 40)  # fully convolutional
    with pytest.raises(ValueError, match="even LR height and width"):
        model.upscale(torch.rand(1, 3, 15, 16))
    with pytest.raises(ValueError, match="3 channels"):
        model.upscale(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="values in"):
        model.upscale(lr * 255)


@pytest.mark.parametrize("steps", [0, -1, 1001, 2.5, True])
def test_steps_outside_1_to_T(steps, lr):
    model = TinyUNetSR(mode="diffusion", T=1000).eval()
    with pytest.raises(ValueError, match="steps must be an integer in"):
        model.upscale(lr, steps=steps)


def test_weights_of_another_schedule_or_T_are_refused(lr):
    cosine = TinyUNetSR(mode="diffusion", schedule="cosine")
    ckpt = {"kind": "tinyunet", "config": cosine.config, "model": cosine.state_dict()}
    for other in (TinyUNetSR(mode="diffusion", schedule="linear"),
                  TinyUNetSR(mode="diffusion", schedule="cosine", T=100),
                  TinyUNetSR(mode="diffusion", schedule="cosine", prediction="v"),
                  TinyUNetSR(mode="regression")):
        with pytest.raises(ValueError, match="another sampler"):
            load_weights(other, ckpt)
    # a sampler schedule that is not the trained one
    with pytest.raises(ValueError, match="schedule mismatch"):
        cosine.eval().upscale(lr, schedule=make_schedule("linear", 1000))
    with pytest.raises(ValueError, match="schedule mismatch"):
        cosine.upscale(lr, schedule=make_schedule("cosine", 500))
    cosine.upscale(lr, schedule=make_schedule("cosine", 1000))  # the right one is accepted
    with pytest.raises(ValueError, match="TinyUNet checkpoint"):
        model_from_checkpoint({"kind": "msrn", "config": {}, "model": {}})


def test_hr_batch_not_divisible_by_the_scale():
    with pytest.raises(ValueError, match="not divisible by the scale 2"):
        pairs_from_hr(torch.rand(2, 3, 31, 32))
    lr, hr = pairs_from_hr(torch.rand(2, 3, 32, 32))
    assert lr.shape == (2, 3, 16, 16)
    model = TinyUNetSR()
    with pytest.raises(ValueError, match="x2 the size of lr"):
        model.loss(lr, torch.rand(2, 3, 31, 31))


def test_bad_model_options():
    for kwargs, match in [({"mode": "gan"}, "mode"), ({"schedule": "sigmoid"}, "schedule"),
                          ({"prediction": "score"}, "prediction"), ({"T": 0}, "T must"),
                          ({"spacing": "random"}, "spacing"), ({"loss": "l3"}, "loss")]:
        with pytest.raises(ValueError, match=match):
            TinyUNetSR(**kwargs)


# ---------------------------------------------------------------- data, training, checkpoints
def test_pair_bank_batches_flip_lr_and_hr_together(patches):
    lr, hr = patches(16, torch.Generator().manual_seed(0))
    assert lr.shape == (16, 3, 16, 16) and hr.shape == (16, 3, 32, 32)
    # flipped or not, every LR is still the bicubic-down of its HR (to 8-bit rounding)
    assert (bicubic_down(hr, 2) - lr).abs().max() <= 1.5 / 255


@pytest.mark.parametrize("mode, schedule", [("regression", "cosine"), ("diffusion", "linear")])
def test_a_few_training_steps_and_checkpoint_round_trip(mode, schedule, patches, tmp_path):
    model = TinyUNetSR(mode=mode, schedule=schedule)
    ckpt_path = tmp_path / "m.ckpt"
    history = fit(model, patches, steps=4, batch_size=8, lr=1e-3, progress=False,
                  loss=lambda m, a, b: m.loss(a, b), ckpt_path=ckpt_path, kind="tinyunet",
                  config=model.config, device="cpu", log_every=2)
    assert len(history["loss"]) == 2 and all(v == v for v in history["loss"])
    ckpt = torch.load(ckpt_path, weights_only=True)
    if mode == "diffusion":
        assert ckpt["config"]["schedule"] == {"name": schedule, "T": 1000,
                                              "zero_terminal_snr": False}
        assert ckpt["config"]["prediction"] == "x0"
    rebuilt = model_from_checkpoint(ckpt)
    assert not rebuilt.training
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(rebuilt.upscale(x, seed=1), model.eval().upscale(x, seed=1))
    # resuming the checkpoint with another sampler configuration is refused
    other = TinyUNetSR(mode="diffusion", schedule="cosine", T=50)
    with pytest.raises(ValueError, match="config"):
        fit(other, patches, steps=5, batch_size=8, progress=False, ckpt_path=ckpt_path,
            kind="tinyunet", config=other.config, device="cpu",
            loss=lambda m, a, b: m.loss(a, b))


def test_diffusion_loss_variants_are_finite(patches):
    lr, hr = patches.tensors(0, 8)
    for kwargs in ({"prediction": "eps"}, {"prediction": "v"}, {"loss": "l1"},
                   {"train_timesteps": "all"}, {"zero_terminal_snr": True, "prediction": "v"}):
        loss = TinyUNetSR(mode="diffusion", **kwargs).loss(lr, hr)
        assert loss.ndim == 0 and torch.isfinite(loss)


def test_cli_train_writes_weights_that_load(tmp_path, monkeypatch):
    import srlab.data
    from srlab.diffusion.sr import cli_train

    small = {"train": EmbeddedPatches(n=64, seed=0), "test": EmbeddedPatches(n=16, seed=1)}
    monkeypatch.setattr(srlab.data, "load_cifar10_sr", lambda split, scale=2: small[split])
    monkeypatch.setenv("SRLAB_DATA", str(tmp_path / "data"))
    args = argparse.Namespace(
        model="tinyunet", scale=2, data=None, steps=2, batch_size=4, lr=1e-3,
        out=str(tmp_path / "t.ckpt"), seed=0, resume=True, eval_every=None, device="cpu",
        mode="diffusion", schedule="linear", prediction=None, timesteps=50, limit=None,
        progress=False)
    summary = cli_train(args)
    assert summary["steps"] == 2
    model = pretrained.load_file(summary["weights"])
    assert model.config["schedule"]["T"] == 50 and not model.training


def test_evaluation_table(patches):
    lr, hr = patches.tensors(0, 16)
    model = randomised(TinyUNetSR(mode="diffusion"))
    rows = evaluate_table({"d": model}, lr, hr, n_steps=(1, 2), timing=False, progress=False)
    assert [(r["name"], r["steps"]) for r in rows] == [("bicubic", 0), ("d", 1), ("d", 2)]
    bicubic = evaluate_pairs(lambda x, steps, seed: sr_bicubic(x), lr, hr)
    assert rows[0]["psnr"] == pytest.approx(bicubic["psnr"])
    assert "PSNR" in format_table(rows)


# ---------------------------------------------------------------- shipped weights
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_and_beat_bicubic(name, patches):
    path = pretrained.WEIGHTS_DIR / f"{name}.pt"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    model = pretrained.load(name)
    assert isinstance(model, TinyUNetSR) and not model.training
    assert path.stat().st_size < 1_000_000
    lr, hr = patches.tensors(0, 32)
    sr = model.upscale(lr, steps=5, seed=0)
    assert sr.shape == (32, 3, 32, 32)
    ours = evaluate_pairs(model.upscale, lr, hr)["psnr"]
    bicubic = evaluate_pairs(lambda x, steps, seed: sr_bicubic(x), lr, hr)["psnr"]
    assert ours > bicubic + 0.5


def sr_bicubic(x):
    from srlab.data import bicubic_up

    return bicubic_up(x, 2)
