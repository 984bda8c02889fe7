import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srlab import data
from srlab.data import (
    EmbeddedPatches,
    ImageFolderSR,
    benchmark_set,
    bicubic_down,
    bicubic_up,
    embedded_images,
    load_cifar10_sr,
    mod_crop,
    quantize,
)
from srlab.metrics import psnr

SHARED_BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared/data/sr-benchmarks"


def _save(path: Path, arr: np.ndarray) -> None:
    Image.fromarray(arr).save(path)


def _random_uint8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_bicubic_down_matches_pil_inside_the_image():
    hr = mod_crop(embedded_images()["coffee"], 4)
    ours = bicubic_down(hr, 4, quantize=False)
    pil = Image.fromarray((hr[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    ref = pil.resize((hr.shape[-1] // 4, hr.shape[-2] // 4), Image.BICUBIC)
    ref = torch.from_numpy(np.array(ref)).permute(2, 0, 1)[None].float() / 255
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))
    diff = (ours[inner] - ref[inner]).abs()
    # PIL rounds to 8 bits after each 1-D pass, so single pixels differ by a few levels
    assert diff.max() < 4 / 255 and diff.mean() < 0.5 / 255
    assert psnr(quantize(ours), ref) > 45


def test_bicubic_shapes_quantisation_and_upsampling():
    hr = torch.rand(2, 3, 24, 36)
    lr = bicubic_down(hr, 3)
    assert lr.shape == (2, 3, 8, 12)
    assert torch.equal(lr, quantize(lr))
    assert not torch.equal(bicubic_down(hr, 3, quantize=False), lr)
    up = bicubic_up(lr, 3)
    assert up.shape == hr.shape and up.min() >= 0 and up.max() <= 1
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert torch.allclose(bicubic_up(flat, 2), torch.full((1, 3, 16, 16), 0.5), atol=1e-6)


@pytest.mark.parametrize("scale", [0, 1, 2.5, "4", -2])
def test_bad_scales(scale):
    with pytest.raises(ValueError, match="scale"):
        bicubic_down(torch.rand(1, 3, 8, 8), scale)


def test_bad_images_for_bicubic():
    with pytest.raises(ValueError, match="4-D"):
        bicubic_down(torch.rand(3, 8, 8), 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bicubic_down(torch.rand(1, 3, 8, 8) * 255, 2)
    with pytest.raises(ValueError, match="mod_crop"):
        bicubic_down(torch.rand(1, 3, 9, 8), 2)
    assert mod_crop(torch.rand(1, 3, 9, 14), 4).shape == (1, 3, 8, 12)
    with pytest.raises(ValueError, match="smaller than the scale"):
        mod_crop(torch.rand(1, 3, 3, 3), 4)


def test_image_folder_pairs_greyscale_and_patches(tmp_path):
    _save(tmp_path / "a.png", _random_uint8((30, 41, 3)))
    _save(tmp_path / "b.png", _random_uint8((20, 20), seed=1))  # greyscale file
    (tmp_path / "notes.txt").write_text("not an image, ignored by suffix")
    whole = ImageFolderSR(tmp_path, scale=2)
    assert whole.names == ["a", "b"]
    lr, hr = whole[0]
    assert hr.shape == (3, 30, 40) and lr.shape == (3, 15, 20)
    lr_g, hr_g = whole[1]
    assert hr_g.shape == (3, 20, 20) and torch.equal(hr_g[0], hr_g[1])
    patches = ImageFolderSR(tmp_path, scale=2, patch_size=6, augment=True, seed=3)
    lr, hr = patches[0]
    assert lr.shape == (3, 6, 6) and hr.shape == (3, 12, 12)
    again = ImageFolderSR(tmp_path, scale=2, patch_size=6, augment=True, seed=3)
    assert torch.equal(again[0][1], hr)  # reproducible for a seed


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderSR(tmp_path / "missing", 2)
    with pytest.raises(ValueError, match="no images"):
        ImageFolderSR(tmp_path, 2)
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="broken.png"):
        ImageFolderSR(tmp_path, 2)[0]
    small = tmp_path / "small"
    small.mkdir()
    _save(small / "s.png", _random_uint8((10, 10, 3)))
    with pytest.raises(ValueError, match="does not fit"):
        ImageFolderSR(small, 2, patch_size=8)[0]


def test_embedded_images_and_patches():
    images = embedded_images()
    assert len(images) >= 5
    for img in images.values():
        assert img.ndim == 4 and img.shape[1] == 3 and 0 <= img.min() and img.max() <= 1
    ds = EmbeddedPatches(size=32, n=16, seed=0)
    lr, hr = ds[3]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)
    assert torch.equal(EmbeddedPatches(size=32, n=16, seed=0).hr, ds.hr)
    assert not torch.equal(EmbeddedPatches(size=32, n=16, seed=1).hr, ds.hr)


def test_cifar10_offline_falls_back_with_a_message(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SRLAB_DATA", str(tmp_path))
    monkeypatch.delenv("SRLAB_CIFAR10_DIR", raising=False)
    ds = load_cifar10_sr("test")
    out = capsys.readouterr().out
    assert "embedded" in out and "SRLAB_OFFLINE=1" in out
    assert isinstance(ds, EmbeddedPatches) and ds[0][1].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="split"):
        load_cifar10_sr("validation")


def test_cifar10_image_folder_copy(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SRLAB_DATA", str(tmp_path / "cache"))
    for cls in ("cat", "dog"):
        (tmp_path / "copy" / "test" / cls).mkdir(parents=True)
        Image.fromarray(_random_uint8((32, 32, 3))).save(tmp_path / "copy/test" / cls / "0001.jpg")
    monkeypatch.setenv("SRLAB_CIFAR10_DIR", str(tmp_path / "copy"))
    ds = load_cifar10_sr("test")
    assert "JPEG q75 copy" in ds.source and "JPEG q75 copy" in capsys.readouterr().out
    lr, hr = ds[1]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)


def _fake_cifar_tarball(tmp_path: Path) -> tuple[bytes, dict[str, str]]:
    """A tiny archive in the official CIFAR-10 python layout, and each member's md5."""
    members, md5s = {}, {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        batch = {"data": _random_uint8((4, 3072), seed=i), "labels": [0, 1, 2, 3]}
        members[name] = pickle.dumps(batch)
    members["batches.meta"] = pickle.dumps({"label_names": [f"c{i}" for i in range(10)]})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
            md5s[name] = hashlib.md5(payload).hexdigest()
    return buf.getvalue(), md5s


def test_cifar10_download_from_local_server(monkeypatch, tmp_path, capsys):
    from torchvision.datasets import CIFAR10

    archive, md5s = _fake_cifar_tarball(tmp_path)
    served = tmp_path / "served"
    served.mkdir()
    (served / "cifar-10-python.tar.gz").write_bytes(archive)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        monkeypatch.setattr(CIFAR10, "url", f"http://127.0.0.1:{port}/cifar-10-python.tar.gz")
        monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(archive).hexdigest())
        monkeypatch.setattr(CIFAR10, "train_list", [[n, md5s[n]] for n in md5s if "data_" in n])
        monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5s["test_batch"]]])
        monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5s["batches.meta"]})
        monkeypatch.setenv("SRLAB_DATA", str(tmp_path / "cache"))
        monkeypatch.delenv("SRLAB_OFFLINE")
        ds = load_cifar10_sr("train")
        assert ds.source.startswith("CIFAR-10 official") and len(ds) == 20
        lr, hr = ds[0]
        assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)
        monkeypatch.setenv("SRLAB_OFFLINE", "1")  # now cached: used without any network
        assert load_cifar10_sr("test").source.startswith("CIFAR-10 official")
    finally:
        server.shutdown()
        server.server_close()


def test_missing_benchmark_lists_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path))
    monkeypatch.setenv("SRLAB_DATA", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=r"Set5.*looked in.*SRLAB_BENCHMARKS"):
        benchmark_set("Set5", 4)
    assert data.available_benchmarks() == []


def _set5_dir() -> Path | None:
    for root in (os.environ.get("SRLAB_BENCHMARKS"), SHARED_BENCHMARKS):
        if root and (Path(root) / "Set5").is_dir():
            return Path(root)
    return None


@pytest.mark.skipif(_set5_dir() is None, reason="Set5 HR images not present on this machine")
def test_set5_bicubic_x4_matches_published(monkeypatch):
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(_set5_dir()))
    values = []
    for lr, hr in benchmark_set("Set5", 4):
        sr = bicubic_up(lr[None], 4, quantize=True)
        values.append(psnr(sr, hr[None], y_channel=True, shave=4).item())
    assert len(values) == 5
    assert abs(sum(values) / 5 - 28.42) < 0.05  # published bicubic x4 Set5 (Y, shave 4)
