"""srlab.pretrained: shipped weights (sha256 checked), any weights file -> a ready network,
float64/float16 input into every shipped model, wrong kinds and scales."""

import os
import shutil
from pathlib import Path

import pytest
import torch

from srlab import checkpoint, compare, pretrained
from srlab.data import benchmark_set, embedded_images
from srlab.degradation import bicubic, make_pairs
from srlab.evaluate import evaluate
from srlab.models import MSRN, SMSRN, TinyUNetSR
from srlab.train import fit

SHIPPED_SR = ("msrn_x4", "smsrn_x4", *pretrained.TINYUNET_NAMES)  # images in, images out
SHIPPED_ROWS = tuple(f"cmp_{row}" for row in compare.ROWS)  # notebook 06's comparison rows
SHIPPED = (*SHIPPED_SR, "cifar10_classifier", *SHIPPED_ROWS)


@pytest.fixture(scope="module")
def shipped():
    return {name: pretrained.load(name) for name in SHIPPED}


def test_every_shipped_file_is_present_and_intact():
    assert set(pretrained.SHA256) == set(SHIPPED)
    assert pretrained.available() == sorted(SHIPPED)
    for name, digest in pretrained.SHA256.items():
        path = pretrained.shipped_path(name)
        assert path == pretrained.WEIGHTS_DIR / f"{name}.pt"
        assert checkpoint.sha256_of(path) == digest


@pytest.mark.parametrize("name, cls", [("msrn_x4", MSRN), ("smsrn_x4", SMSRN)])
def test_shipped_sr_weights_load_in_eval_mode_on_cpu(name, cls, shipped):
    model = shipped[name]
    assert type(model) is cls and not model.training and model.scale == 4
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    with torch.no_grad():
        sr = model(torch.full((1, 3, 8, 8), 0.5))
    assert sr.shape == (1, 3, 32, 32)
    # a trained network maps a flat grey image to (nearly) the same grey
    assert (sr - 0.5).abs().mean() < 0.05


def test_shipped_comparison_rows_are_the_recipes_networks(shipped):
    lr = embedded_images()["astronaut"][..., 100:132, 200:232]  # a 32x32 LR patch
    for row in compare.ROWS:
        model = shipped[f"cmp_{row}"]
        fresh = (compare.sinsr_student(compare.fresh_row("resshift_t4", 1.0)) if
                 row == "sinsr_student" else compare.fresh_row(row, 1.0))
        assert type(model) is type(fresh) and not model.training, row
        assert list(model.state_dict()) == list(fresh.state_dict()), row
        sr = model.upscale(lr, seed=0)
        assert sr.shape == (1, 3, 64, 64) and 0 <= sr.min() and sr.max() <= 1, row
    # the SR3 rows that scale the residual share the 1/std measured on the training split
    assert shipped["cmp_sr3_linear"].config["residual_scale"] == pytest.approx(
        shipped["cmp_sr3_cosine"].config["residual_scale"]) == pytest.approx(18.59, abs=0.01)
    crop = {"astronaut": embedded_images()["astronaut"][..., 100:164, 200:264]}
    assert (evaluate(shipped["cmp_regression"], crop, 2)["psnr_y"]
            > evaluate(bicubic(2), crop, 2)["psnr_y"] + 0.3)


def test_shipped_sr_weights_beat_bicubic(shipped):
    crop = {"chelsea": embedded_images()["chelsea"][..., 100:164, 180:244]}  # the cat's face
    baseline = evaluate(bicubic(4), crop, 4)["psnr_y"]
    for name in ("msrn_x4", "smsrn_x4"):
        assert evaluate(shipped[name], crop, 4)["psnr_y"] > baseline + 0.5, name


def _has_set5() -> bool:
    root = os.environ.get("SRLAB_BENCHMARKS")
    return bool(root) and (Path(root) / "Set5").is_dir()


@pytest.mark.skipif(not _has_set5(), reason="SRLAB_BENCHMARKS with Set5 is not set")
def test_shipped_sr_weights_beat_bicubic_on_set5(shipped):
    set5 = benchmark_set("Set5", 4)
    baseline = evaluate(bicubic(4), set5, 4)
    assert baseline["psnr_y"] == pytest.approx(28.42, abs=0.05)  # the published value
    for name in ("msrn_x4", "smsrn_x4"):
        res = evaluate(shipped[name], set5, 4)
        assert res["n"] == 5 and res["psnr_y"] > baseline["psnr_y"] + 1.0, name
        assert res["ssim_y"] > baseline["ssim_y"], name


@pytest.mark.parametrize("name", SHIPPED_SR)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 0.0), (torch.float16, 2e-3)])
def test_float64_and_float16_images_into_every_shipped_model(name, dtype, tol, shipped):
    model = shipped[name]
    size = 16 if name.startswith("tinyunet") else 12
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)).to(dtype)
    with torch.no_grad():
        sr = model(x)
        ref = model(x.float())
    assert sr.dtype == dtype and sr.shape == ref.shape == (2, 3, size * model.scale,
                                                           size * model.scale)
    torch.testing.assert_close(sr.float(), ref, atol=tol, rtol=0)
    # and the float32 result of the float64 image is the float32 image's result
    if dtype == torch.float64:
        torch.testing.assert_close(sr, ref.double())


def test_corrupt_or_missing_shipped_file_is_named(tmp_path, monkeypatch):
    shutil.copy(pretrained.WEIGHTS_DIR / "smsrn_x4.pt", tmp_path / "smsrn_x4.pt")
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    assert pretrained.load("smsrn_x4").kind == "smsrn"  # the intact copy loads
    data = (tmp_path / "smsrn_x4.pt").read_bytes()
    (tmp_path / "smsrn_x4.pt").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match="smsrn_x4.pt is corrupt .*reinstall"):
        pretrained.load("smsrn_x4")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    (tmp_path / "smsrn_x4.pt").write_bytes(bytes(flipped))  # one bit altered
    with pytest.raises(ValueError, match="smsrn_x4.pt is corrupt"):
        pretrained.shipped_path("smsrn_x4")
    (tmp_path / "smsrn_x4.pt").unlink()
    with pytest.raises(FileNotFoundError, match="smsrn_x4.pt is missing"):
        pretrained.load("smsrn_x4")
    assert pretrained.available() == []
    with pytest.raises(ValueError, match="unknown weights 'edsr_x4'.*msrn_x4"):
        pretrained.load("edsr_x4")


@pytest.mark.parametrize("content", [b"not a checkpoint", b"root:x:0:0:root:/root:/bin/bash\n"])
def test_a_foreign_file_is_named(tmp_path, content):
    bad = tmp_path / "junk.pt"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="not a srlab weights file: .*junk.pt"):
        pretrained.load(bad)
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        pretrained.load(tmp_path / "missing.pt")


def test_save_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    model = SMSRN(scale=2, n_feats=8, n_blocks=1).eval()
    path = tmp_path / "tiny.pt"
    digest = pretrained.save_weights(model, path)
    assert digest == checkpoint.sha256_of(path)
    raw = checkpoint.load(path)
    assert set(raw) == {"kind", "config", "model"}
    assert raw["kind"] == "smsrn" and raw["config"] == model.config
    assert raw["model"]["head.depthwise.weight"].dtype == torch.float16
    loaded = pretrained.load(path)
    assert type(loaded) is SMSRN and not loaded.training
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=2e-3, rtol=0)
    tiny_unet = TinyUNetSR(mode="regression", width=(8, 16))
    pretrained.save_weights(tiny_unet, tmp_path / "t.pt")
    assert pretrained.load(tmp_path / "t.pt").config == tiny_unet.config


def test_a_training_checkpoint_loads_as_weights(tmp_path):
    lr, hr = make_pairs(torch.rand(2, 3, 16, 16), 2)
    model = MSRN(scale=2, n_feats=4, n_blocks=1)
    fit(model, lambda b, g: (lr, hr), steps=1, batch_size=2, ckpt_path=tmp_path / "run.ckpt",
        device="cpu", progress=False, config={**model.config, "train": {"lr": 1e-4}})
    loaded = pretrained.load(tmp_path / "run.ckpt", kind="msrn", scale=2)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_weights_of_another_kind_or_scale(tmp_path):
    model = MSRN(scale=2, n_feats=8, n_blocks=1)
    path = tmp_path / "x2.pt"
    pretrained.save_weights(model, path)
    with pytest.raises(ValueError, match="hold a msrn network, not smsrn"):
        pretrained.load(path, kind="smsrn")
    with pytest.raises(ValueError, match="are for x2, not x4"):
        pretrained.load(path, scale=4)
    with pytest.raises(ValueError, match="hold a smsrn network, not msrn"):
        pretrained.load("smsrn_x4", kind="msrn")
    with pytest.raises(ValueError, match="hold a tinyunet network, not msrn"):
        pretrained.load("tinyunet_regression", kind="msrn")
    assert pretrained.load(path, kind="msrn", scale=2).scale == 2


def test_weights_that_do_not_fit_their_config(tmp_path):
    model = MSRN(scale=2, n_feats=8, n_blocks=1)
    state = {k: v.half() for k, v in model.state_dict().items()}
    checkpoint.save({"kind": "smsrn", "config": model.config, "model": state}, tmp_path / "a.pt")
    with pytest.raises(ValueError, match="a.pt: the weights do not fit a smsrn network"):
        pretrained.load(tmp_path / "a.pt")
    checkpoint.save({"kind": "msrn", "config": {**model.config, "n_blocks": 2}, "model": state},
                    tmp_path / "b.pt")
    with pytest.raises(ValueError, match="do not fit a msrn network"):
        pretrained.load(tmp_path / "b.pt")
    checkpoint.save({"kind": "edsr", "config": {}, "model": state}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="c.pt: cannot build .*unknown model kind 'edsr'"):
        pretrained.load(tmp_path / "c.pt")
    checkpoint.save({"kind": "msrn", "config": {"scale": 5}, "model": state}, tmp_path / "d.pt")
    with pytest.raises(ValueError, match="cannot build .*scale"):
        pretrained.load(tmp_path / "d.pt")
