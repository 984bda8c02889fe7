"""The training loop (fit), the patch sampler, evaluation and the msrn/smsrn CLI handlers."""

import argparse

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from srlab.data import bicubic_down, quantize
from srlab.metrics import psnr
from srlab.models import MSRN, SMSRN
from srlab.train import (
    PatchSampler,
    bicubic,
    cli_eval,
    cli_train,
    evaluate,
    fit,
    forward_tiled,
    load_checkpoint,
)


def tiny(scale=2, separable=False):
    torch.manual_seed(0)
    return MSRN(scale=scale, n_feats=4, n_blocks=1, separable=separable)


def photos(n=3, size=24):
    """Smooth random test images (1, 3, size, size + 4): upsampled 6x7 noise, 8-bit."""
    gen = torch.Generator().manual_seed(1)
    return [quantize(F.interpolate(torch.rand(1, 3, 6, 7, generator=gen), (size, size + 4),
                                   mode="bilinear", align_corners=False)) for _ in range(n)]


def test_patch_sampler_shapes_range_and_seed():
    sampler = PatchSampler(photos(), scale=2, patch_size=6, device="cpu")
    lr, hr = sampler(5, torch.Generator().manual_seed(0))
    assert lr.shape == (5, 3, 6, 6) and hr.shape == (5, 3, 12, 12)
    assert 0 <= float(hr.min()) and float(hr.max()) <= 1
    assert torch.equal(lr, bicubic_down(hr, 2))
    lr2, hr2 = sampler(5, torch.Generator().manual_seed(0))
    assert torch.equal(hr, hr2)  # same generator state, same batch


def test_patch_sampler_rejects_small_images():
    with pytest.raises(ValueError, match="smaller than the HR patch"):
        PatchSampler(photos(size=8), scale=4, patch_size=4, device="cpu")


def test_fit_learns_on_a_fixed_batch():
    lr, hr = PatchSampler(photos(), 2, 6, device="cpu")(4, torch.Generator().manual_seed(0))
    history = fit(tiny(), lambda b, g: (lr, hr), steps=25, batch_size=4, lr=1e-2,
                  device="cpu", progress=False, log_every=5)
    assert history["step"] == list(range(5, 26, 5))
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert history["seconds"] > 0


def test_fit_with_dataset_eval_and_custom_loss():
    hrs = torch.cat(photos(4, 12))[..., :12, :12]
    pairs = list(zip(bicubic_down(hrs, 2), hrs, strict=True))
    calls = []

    def loss_fn(model, lr, hr):
        calls.append(lr.shape)
        return F.mse_loss(model(lr), hr)

    history = fit(tiny(), pairs, steps=4, batch_size=2, loss=loss_fn, eval_data=pairs[:2],
                  eval_every=2, device="cpu", progress=False, log_every=2)
    assert calls == [(2, 3, 6, 6)] * 4
    assert history["eval_step"] == [2, 4]
    assert all(5 < p < 60 for p in history["eval_psnr"])


def test_resume_gives_the_same_weights_as_one_run(tmp_path):
    sampler = PatchSampler(photos(), 2, 6, device="cpu")
    kw = dict(batch_size=2, lr=1e-3, device="cpu", progress=False, log_every=1)
    full = tiny()
    fit(full, sampler, steps=4, **kw)
    ckpt = tmp_path / "run.ckpt"
    part = tiny()
    fit(part, sampler, steps=2, ckpt_path=ckpt, **kw)
    resumed = tiny()
    history = fit(resumed, sampler, steps=4, ckpt_path=ckpt, **kw)
    assert history["step"] == [1, 2, 3, 4]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    saved = load_checkpoint(ckpt)
    assert saved["step"] == 4 and saved["kind"] == "msrn"
    keys = {"kind", "config", "model", "optimizer", "scaler", "step", "history", "rng"}
    assert keys <= set(saved)


def test_resume_with_another_architecture_is_refused(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    sampler = PatchSampler(photos(), 2, 6, device="cpu")
    fit(tiny(), sampler, steps=1, batch_size=1, ckpt_path=ckpt, device="cpu", progress=False)
    other = SMSRN(scale=2, n_feats=4, n_blocks=1)
    with pytest.raises(ValueError, match="kind='msrn'.*kind='smsrn'"):
        fit(other, sampler, steps=2, batch_size=1, ckpt_path=ckpt, device="cpu", progress=False)
    with pytest.raises(ValueError, match="config"):
        fit(tiny(scale=4), PatchSampler(photos(), 4, 4, device="cpu"), steps=2, batch_size=1,
            ckpt_path=ckpt, device="cpu", progress=False)


def test_keyboard_interrupt_keeps_the_last_checkpoint(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    sampler = PatchSampler(photos(), 2, 6, device="cpu")
    steps_done = []

    def loss_fn(model, lr, hr):
        if len(steps_done) == 3:
            raise KeyboardInterrupt
        steps_done.append(1)
        return F.l1_loss(model(lr), hr)

    history = fit(tiny(), sampler, steps=10, batch_size=1, loss=loss_fn, ckpt_path=ckpt,
                  ckpt_every=2, device="cpu", progress=False, log_every=1)
    assert history["step"] == [1, 2, 3]
    assert load_checkpoint(ckpt)["step"] == 2


def test_fit_bad_arguments():
    sampler = PatchSampler(photos(), 2, 6, device="cpu")
    with pytest.raises(ValueError, match="loss must be"):
        fit(tiny(), sampler, steps=1, batch_size=1, loss="huber", device="cpu", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit(tiny(), sampler, steps=1, batch_size=0, device="cpu", progress=False)


def test_evaluate_bicubic_matches_direct_metrics():
    images = {"a": photos(1, 30)[0], "b": photos(1, 33)[0]}
    res = evaluate(bicubic(2), images, 2)
    hr = images["b"][..., :32, :36]  # mod-crop of 33x37
    expected = psnr(quantize(bicubic(2)(bicubic_down(hr, 2))), hr, y_channel=True, shave=2)
    assert res["names"] == ["a", "b"]
    assert res["psnr"][1] == pytest.approx(float(expected))
    assert res["mean_psnr"] == pytest.approx(sum(res["psnr"]) / 2)
    assert 0 < res["mean_ssim"] <= 1 and res["shave"] == 2


def test_tiled_forward_matches_whole_image():
    def nearest(x):
        return F.interpolate(x, scale_factor=2, mode="nearest")

    lr = torch.rand(1, 3, 21, 17)
    torch.testing.assert_close(forward_tiled(nearest, lr, 2, tile=8, overlap=2), nearest(lr))
    model = tiny().eval()
    with torch.no_grad():
        res_tiled = evaluate(model, photos(1, 40), 2, tile=12)
        res_whole = evaluate(model, photos(1, 40), 2)
    assert res_tiled["mean_psnr"] == pytest.approx(res_whole["mean_psnr"], abs=0.5)


def test_evaluate_bad_input():
    with pytest.raises(ValueError, match="x2 network.*x4"):
        evaluate(tiny(scale=2), photos(1, 32), 4)
    with pytest.raises(ValueError, match="smaller than the scale"):
        evaluate(bicubic(4), [torch.rand(1, 3, 3, 3)], 4)
    hrs = torch.cat(photos(2, 16))[..., :16, :16]
    x3_pairs = list(zip(F.avg_pool2d(hrs, 4), hrs, strict=True))  # x4 pairs
    with pytest.raises(ValueError, match="not x2"):
        evaluate(bicubic(2), x3_pairs, 2)


def _write_folder(folder, n, size):
    folder.mkdir(parents=True)
    for i, img in enumerate(photos(n, size)):
        arr = (img[0].permute(1, 2, 0) * 255).round().byte().numpy()
        Image.fromarray(arr).save(folder / f"img{i}.png")


def test_cli_train_then_eval(tmp_path, monkeypatch, capsys):
    _write_folder(tmp_path / "train", 2, 40)
    _write_folder(tmp_path / "bench" / "Set5", 1, 48)
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "bench"))
    args = argparse.Namespace(
        model="smsrn", scale=4, data=str(tmp_path / "train"), steps=2, batch_size=1,
        patch_size=4, lr=None, out=str(tmp_path / "smsrn.ckpt"), seed=0, resume=True,
        eval_every=None, device="cpu", weights=None, sets=None, threads=None, limit=None)
    summary = cli_train(args)
    assert summary["steps"] == 2 and (tmp_path / "smsrn.pt").is_file()
    assert (tmp_path / "smsrn.json").is_file()
    args.weights = str(tmp_path / "smsrn.pt")
    results = cli_eval(args)
    assert list(results) == ["Set5"]
    assert "Set5" in capsys.readouterr().out
    args.model = "msrn"
    with pytest.raises(ValueError, match="smsrn network, not msrn"):
        cli_eval(args)
    args.model, args.scale = "smsrn", 2
    with pytest.raises(ValueError, match="x4, not x2"):
        cli_eval(args)
