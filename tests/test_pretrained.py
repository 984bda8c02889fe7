"""Shipped weights: sha256 verification, fp16 -> fp32 rebuild, wrong-architecture errors."""

import shutil

import pytest
import torch

from srlab import pretrained
from srlab.models import MSRN, SMSRN
from srlab.train import load_for_eval


@pytest.mark.parametrize("name, cls", [("msrn_x4", MSRN), ("smsrn_x4", SMSRN)])
def test_shipped_weights_load_in_eval_mode_on_cpu(name, cls):
    assert name in pretrained.available()
    model = pretrained.load(name)
    assert type(model) is cls and not model.training and model.scale == 4
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    with torch.no_grad():
        sr = model(torch.full((1, 3, 8, 8), 0.5))
    assert sr.shape == (1, 3, 32, 32)
    # a trained network maps a flat grey image to (nearly) the same grey
    assert (sr - 0.5).abs().mean() < 0.05


def test_save_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    model = SMSRN(scale=2, n_feats=8, n_blocks=1).eval()
    path = tmp_path / "tiny.pt"
    digest = pretrained.save_weights(model, "smsrn", model.config, path)
    assert digest == pretrained.sha256_of(path)
    raw = torch.load(path, weights_only=True)
    assert raw["kind"] == "smsrn" and raw["model"]["head.depthwise.weight"].dtype == torch.float16
    loaded = pretrained.load_file(path)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=2e-3, rtol=0)


def test_corrupt_or_missing_file_is_named(tmp_path, monkeypatch):
    shutil.copy(pretrained.WEIGHTS_DIR / "smsrn_x4.pt", tmp_path / "smsrn_x4.pt")
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    data = (tmp_path / "smsrn_x4.pt").read_bytes()
    (tmp_path / "smsrn_x4.pt").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(RuntimeError, match="smsrn_x4.pt is corrupt"):
        pretrained.load("smsrn_x4")
    (tmp_path / "smsrn_x4.pt").unlink()
    with pytest.raises(FileNotFoundError, match="smsrn_x4.pt"):
        pretrained.load("smsrn_x4")
    with pytest.raises(ValueError, match="unknown weights 'edsr_x4'"):
        pretrained.load("edsr_x4")


def test_unreadable_file_is_named(tmp_path):
    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="junk.pt"):
        pretrained.load_file(bad)


def test_weights_of_another_architecture_or_scale(tmp_path):
    model = MSRN(scale=2, n_feats=8, n_blocks=1)
    path = tmp_path / "x2.pt"
    pretrained.save_weights(model, "msrn", model.config, path)
    with pytest.raises(ValueError, match="msrn network, not smsrn"):
        load_for_eval("smsrn", 2, str(path))
    with pytest.raises(ValueError, match="x2, not x4"):
        load_for_eval("msrn", 4, str(path))
    # a state dict that does not fit the recorded config
    pretrained.save_weights(model, "smsrn", model.config, path)
    with pytest.raises(ValueError, match="do not fit smsrn"):
        pretrained.load_file(path)
