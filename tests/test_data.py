"""srlab.data: image files and folders, embedded photos, benchmark sets, CIFAR-10 sources.

The downloaders (DIV2K, the benchmark archive) are tested in test_download.py, PatchSampler in
test_batches.py.
"""

import hashlib
import http.server
import io
import os
import pickle
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srlab import checkpoint, data
from srlab.data import (
    EmbeddedPatches,
    ImageFolderSR,
    benchmark_set,
    benchmark_sources,
    cifar10_hr,
    embedded_images,
    list_images,
    load_cifar10_sr,
    load_image,
    spread,
    to_tensor,
)
from srlab.data import benchmarks as benchmarks_module
from srlab.data import cifar10 as cifar10_module
from srlab.data.cifar10 import PairsFromHR
from srlab.degradation import bicubic_down, bicubic_up
from srlab.metrics import psnr

REAL_CIFAR10_DIR = os.environ.get("SRLAB_CIFAR10_DIR")  # read before the fixture hides it


@pytest.fixture(autouse=True)
def isolated_data(monkeypatch, tmp_path):
    """Every test reads and caches data under its own folder, never ~/.cache/srlab, and sees
    no CIFAR-10 copy unless it makes one (CI sets SRLAB_CIFAR10_DIR)."""
    monkeypatch.setenv("SRLAB_DATA", str(tmp_path / "srlab-data"))
    monkeypatch.delenv("SRLAB_CIFAR10_DIR", raising=False)


def _save(path: Path, arr: np.ndarray) -> None:
    Image.fromarray(arr).save(path)


def _random_uint8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ---------------------------------------------------------------- image files and folders
def test_load_image_and_to_tensor(tmp_path):
    arr = _random_uint8((5, 7, 3))
    _save(tmp_path / "a.png", arr)
    img = load_image(tmp_path / "a.png")
    assert img.shape == (1, 3, 5, 7) and img.dtype == torch.float32
    assert np.array_equal((img[0].permute(1, 2, 0) * 255).round().byte().numpy(), arr)
    _save(tmp_path / "grey.png", arr[..., 0])
    grey = load_image(tmp_path / "grey.png")
    assert grey.shape == (1, 3, 5, 7) and torch.equal(grey[0, 0], grey[0, 2])
    Image.fromarray(np.dstack([arr, arr[..., :1]])).save(tmp_path / "rgba.png")
    assert torch.equal(load_image(tmp_path / "rgba.png"), img)  # alpha dropped
    floats = to_tensor(arr.astype(np.float64) / 255)
    assert floats.dtype == torch.float32 and torch.allclose(floats, img)
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="cannot read .*broken.png as an image"):
        load_image(tmp_path / "broken.png")


def test_list_images(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.webp"):
        Image.fromarray(_random_uint8((4, 4, 3))).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.webp"]
    with pytest.raises(FileNotFoundError, match="missing does not exist"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images .* found in"):
        list_images(tmp_path / "empty")


def test_image_folder_whole_image_pairs(tmp_path):
    _save(tmp_path / "a.png", _random_uint8((30, 41, 3)))
    _save(tmp_path / "b.png", _random_uint8((20, 20), seed=1))  # greyscale file
    (tmp_path / "notes.txt").write_text("not an image, ignored by suffix")
    ds = ImageFolderSR(tmp_path, scale=2)
    assert ds.names == ["a", "b"] and len(ds) == 2 and "2 images" in ds.source
    lr, hr = ds[0]
    assert hr.shape == (3, 30, 40) and lr.shape == (3, 15, 20)  # mod-cropped 41 -> 40
    assert torch.equal(hr, load_image(tmp_path / "a.png")[0, :, :, :40])
    assert torch.equal(lr, bicubic_down(hr[None], 2)[0])
    lr_g, hr_g = ds[1]
    assert hr_g.shape == (3, 20, 20) and torch.equal(hr_g[0], hr_g[1])
    assert ImageFolderSR(tmp_path, scale=3)[0][1].shape == (3, 30, 39)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderSR(tmp_path / "missing", 2)
    with pytest.raises(ValueError, match="no images"):
        ImageFolderSR(tmp_path, 2)
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    ds = ImageFolderSR(tmp_path, 2)  # listing works; reading names the file
    with pytest.raises(ValueError, match="broken.png"):
        ds[0]
    with pytest.raises(ValueError, match="scale"):
        ImageFolderSR(tmp_path, 1)


# ---------------------------------------------------------------- embedded photos
def test_embedded_images_and_patches():
    images = embedded_images()
    assert list(images) == ["astronaut", "coffee", "chelsea", "rocket", "motorcycle",
                            "hubble_deep_field"]
    for img in images.values():
        assert img.ndim == 4 and img.shape[1] == 3 and 0 <= img.min() and img.max() <= 1
    assert images["astronaut"].shape == (1, 3, 512, 512)
    ds = EmbeddedPatches(size=32, n=16, seed=0)
    assert len(ds) == 16 and "16 random 32x32 crops" in ds.source
    lr, hr = ds[3]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)
    assert torch.equal(lr, bicubic_down(hr[None], 2)[0])
    assert torch.equal(EmbeddedPatches(size=32, n=16, seed=0).hr, ds.hr)
    assert not torch.equal(EmbeddedPatches(size=32, n=16, seed=1).hr, ds.hr)
    assert EmbeddedPatches(size=24, n=2, scale=3)[0][0].shape == (3, 8, 8)
    with pytest.raises(ValueError, match="patch size 30 must be divisible by scale 4"):
        EmbeddedPatches(size=30, n=2, scale=4)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        EmbeddedPatches(n=0)


# ---------------------------------------------------------------- CIFAR-10
def test_spread():
    assert spread(10, 20) == list(range(10))
    assert spread(10, 10) == list(range(10))
    assert spread(10, 3) == [0, 3, 6]
    assert spread(10_000, 4) == [0, 2500, 5000, 7500]


def test_pairs_from_hr_accepts_labels_and_pil_images():
    hr = torch.rand(3, 8, 8)
    pil = Image.fromarray(_random_uint8((8, 8, 3)))
    ds = PairsFromHR([(hr, 0), pil], 2, source="test")
    lr0, hr0 = ds[0]
    assert torch.equal(hr0, hr) and lr0.shape == (3, 4, 4)
    lr1, hr1 = ds[1]
    assert hr1.shape == (3, 8, 8) and torch.equal(lr1, bicubic_down(hr1[None], 2)[0])


def test_cifar10_offline_falls_back_with_a_message(capsys):
    ds = load_cifar10_sr("test")
    out = capsys.readouterr().out
    assert "embedded" in out and "SRLAB_OFFLINE=1" in out and "SRLAB_CIFAR10_DIR not set" in out
    assert isinstance(ds, EmbeddedPatches) and len(ds) == 1000 and ds[0][1].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="split"):
        load_cifar10_sr("validation")


def _cifar_copy(root: Path, n_per_class: int = 3, suffix: str = ".png") -> Path:
    for split in ("train", "test"):
        for c, cls in enumerate(("cat", "dog")):
            (root / split / cls).mkdir(parents=True)
            for i in range(n_per_class):
                arr = _random_uint8((32, 32, 3), seed=100 * c + i + (50 if split == "test" else 0))
                Image.fromarray(arr).save(root / split / cls / f"{i:04d}{suffix}")
    return root


def test_cifar10_image_folder_copy(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SRLAB_CIFAR10_DIR", str(_cifar_copy(tmp_path / "copy", suffix=".jpg")))
    ds = load_cifar10_sr("test")
    assert "JPEG q75 copy" in ds.source and "JPEG q75 copy" in capsys.readouterr().out
    assert len(ds) == 6
    lr, hr = ds[1]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)
    monkeypatch.setenv("SRLAB_CIFAR10_DIR", str(tmp_path / "nowhere"))
    assert isinstance(load_cifar10_sr("test"), EmbeddedPatches)
    assert "has no 'test' folder" in capsys.readouterr().out


def test_cifar10_hr_fallback_is_not_cached(tmp_path):
    hr, source = cifar10_hr("test", limit=8, verbose=False)
    assert hr.shape == (8, 3, 32, 32) and hr.dtype == torch.uint8
    assert source.startswith("embedded")
    expected = EmbeddedPatches(n=1000, seed=1).hr[spread(1000, 8)]
    assert torch.equal(hr, (expected * 255).round().to(torch.uint8))
    assert not (tmp_path / "srlab-data" / "cache").exists()


def test_cifar10_hr_is_cached_atomically_and_reused(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLAB_CIFAR10_DIR", str(_cifar_copy(tmp_path / "copy")))
    hr, source = cifar10_hr("test", verbose=False)
    assert hr.shape == (6, 3, 32, 32) and hr.dtype == torch.uint8
    assert source == f"CIFAR-10 image folder {tmp_path / 'copy' / 'test'}"
    first = load_image(tmp_path / "copy/test/cat/0000.png")
    assert torch.equal(hr[0], (first[0] * 255).round().byte())
    cache = tmp_path / "srlab-data" / "cache"
    assert os.listdir(cache) == ["cifar10_test_hr_uint8.pt"]  # no temporary file left
    saved = checkpoint.load(cache / "cifar10_test_hr_uint8.pt", required=frozenset({"hr"}))
    assert torch.equal(saved["hr"], hr) and saved["source"] == source

    def no_reading(*args, **kwargs):
        raise AssertionError("the images were read again")

    with monkeypatch.context() as m:
        m.setattr(cifar10_module, "DataLoader", no_reading)
        again, _ = cifar10_hr("test", verbose=False)
        assert torch.equal(again, hr)
        two, _ = cifar10_hr("test", limit=2, verbose=False)  # spread over the classes
        assert torch.equal(two, hr[[0, 3]])
    # an unreadable cache is rebuilt
    (cache / "cifar10_test_hr_uint8.pt").write_bytes(b"garbage")
    assert torch.equal(cifar10_hr("test", verbose=False)[0], hr)
    assert checkpoint.load(cache / "cifar10_test_hr_uint8.pt", required=frozenset({"hr"}))
    # a cache of another source is not used
    checkpoint.save({"hr": torch.zeros(6, 3, 32, 32, dtype=torch.uint8), "source": "other"},
                    cache / "cifar10_test_hr_uint8.pt")
    assert torch.equal(cifar10_hr("test", verbose=False)[0], hr)


@pytest.mark.skipif(not REAL_CIFAR10_DIR, reason="SRLAB_CIFAR10_DIR is not set")
def test_real_cifar10_copy(monkeypatch):
    monkeypatch.setenv("SRLAB_CIFAR10_DIR", REAL_CIFAR10_DIR)
    ds = load_cifar10_sr("test", verbose=False)
    assert ds.source.startswith("CIFAR-10") and len(ds) == 10_000
    classes = {ds.hr_images.paths[i].parent.name for i in spread(len(ds), 10)}
    assert len(classes) == 10  # a spread subset sees every class
    lr, hr = ds[spread(len(ds), 10)[3]]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32) and 0 <= hr.min() <= hr.max() <= 1


def _fake_cifar_tarball() -> tuple[bytes, dict[str, str]]:
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


def test_cifar10_download_from_local_server(monkeypatch, tmp_path):
    from torchvision.datasets import CIFAR10

    archive, md5s = _fake_cifar_tarball()
    served = tmp_path / "served"
    served.mkdir()
    (served / "cifar-10-python.tar.gz").write_bytes(archive)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        port = server.server_address[1]
        monkeypatch.setattr(CIFAR10, "url", f"http://127.0.0.1:{port}/cifar-10-python.tar.gz")
        monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(archive).hexdigest())
        monkeypatch.setattr(CIFAR10, "train_list", [[n, md5s[n]] for n in md5s if "data_" in n])
        monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5s["test_batch"]]])
        monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5s["batches.meta"]})
        monkeypatch.delenv("SRLAB_OFFLINE")
        ds = load_cifar10_sr("train", verbose=False)
        assert ds.source.startswith("CIFAR-10 official") and len(ds) == 20
        lr, hr = ds[0]
        assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)
        expected = torch.from_numpy(_random_uint8((4, 3072), seed=0)[0].reshape(3, 32, 32))
        assert torch.equal((hr * 255).round().byte(), expected)
        monkeypatch.setenv("SRLAB_OFFLINE", "1")  # now on disk: used without any network
        hr_test, source = cifar10_hr("test", verbose=False)
        assert source.startswith("CIFAR-10 official (test, 4 images)")
        assert hr_test.shape == (4, 3, 32, 32)
    finally:
        server.shutdown()
        server.server_close()


def test_cifar10_unreachable_host_is_a_reason_not_an_error(monkeypatch, capsys):
    monkeypatch.delenv("SRLAB_OFFLINE")
    monkeypatch.setattr(cifar10_module, "_url_reachable", lambda url, timeout=3.0: False)
    ds = load_cifar10_sr("test")
    assert isinstance(ds, EmbeddedPatches)
    assert "download host unreachable" in capsys.readouterr().out


# ---------------------------------------------------------------- benchmark sets
def test_missing_benchmark_lists_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"Set5.*looked in.*SRLAB_BENCHMARKS"):
        benchmark_set("Set5", 4)
    assert data.available_benchmarks() == []


def test_benchmark_sources_found_sets_or_embedded_photos(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "bench"))
    sources = benchmark_sources(4, crop=64)
    assert list(sources) == ["embedded"]
    assert "no benchmark set found" in capsys.readouterr().out
    photos = sources["embedded"]
    assert list(photos) == list(embedded_images())
    assert all(img.shape == (1, 3, 64, 64) for img in photos.values())
    astronaut = embedded_images()["astronaut"]
    assert torch.equal(photos["astronaut"], astronaut[..., 224:288, 224:288])  # centre crop
    assert benchmark_sources(4, verbose=False)["embedded"]["coffee"].shape == (1, 3, 400, 600)
    # sets found in $SRLAB_BENCHMARKS and data_root()/benchmarks; Sun80 is not an eval set
    for root, name in ((tmp_path / "bench", "Set14"), (tmp_path / "srlab-data/benchmarks", "Set5"),
                       (tmp_path / "bench", "Sun80")):
        (root / name).mkdir(parents=True)
        _save(root / name / "x.png", _random_uint8((16, 16, 3)))
    assert data.available_benchmarks() == ["Set5", "Set14", "Sun80"]
    found = benchmark_sources(2)
    assert list(found) == ["Set5", "Set14"]
    assert isinstance(found["Set5"], ImageFolderSR) and found["Set5"].scale == 2
    assert list(benchmark_sources(2, ["Sun80"])) == ["Sun80"]
    with pytest.raises(FileNotFoundError, match="B100"):
        benchmark_sources(2, ["B100"])


def test_b100_bsd68_and_urban100_are_evaluated_under_their_own_names(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "bench"))
    for k, name in enumerate(["Urban100", "BSD68", "B100", "Sun80"]):
        (tmp_path / "bench" / name).mkdir(parents=True)
        _save(tmp_path / "bench" / name / f"{name}.png", _random_uint8((16, 16, 3), seed=k))
    found = benchmark_sources(4)
    assert list(found) == ["B100", "BSD68", "Urban100"]  # every eval set present, Sun80 not
    assert [ds.names for ds in found.values()] == [["B100"], ["BSD68"], ["Urban100"]]


def _fake_download(calls):
    """A stand-in for download_benchmarks: records the call, puts one image per set where
    benchmark_set looks (data_root()/benchmarks/<name>)."""
    def download(names):
        calls.append(list(names))
        for name in names:
            folder = benchmarks_module.data_root() / "benchmarks" / name
            folder.mkdir(parents=True)
            _save(folder / "a.png", _random_uint8((16, 16, 3)))
    return download


def test_benchmarks_for_notebook_outside_colab_only_says_how(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "bench"))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("SRLAB_OFFLINE", raising=False)
    calls = []
    monkeypatch.setattr(benchmarks_module, "download_benchmarks", _fake_download(calls))
    (tmp_path / "bench" / "Set5").mkdir(parents=True)
    _save(tmp_path / "bench" / "Set5" / "a.png", _random_uint8((16, 16, 3)))
    assert data.benchmarks_for_notebook() == ["Set5"]
    assert capsys.readouterr().out.splitlines() == [
        "[srlab.data] benchmark sets found: Set5; to get Set14, B100, Urban100 (about 250 MB in "
        "one archive) run srlab.data.download_benchmarks(['Set14', 'B100', 'Urban100'])"]
    assert data.benchmarks_for_notebook(["Set5"]) == ["Set5"]
    assert capsys.readouterr().out == "[srlab.data] benchmark sets found: Set5\n"
    assert calls == []  # nothing downloaded outside Colab


def test_benchmarks_for_notebook_in_colab_downloads_the_missing_sets(monkeypatch, tmp_path,
                                                                     capsys):
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "bench"))
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.delenv("SRLAB_OFFLINE", raising=False)
    calls = []
    monkeypatch.setattr(benchmarks_module, "download_benchmarks", _fake_download(calls))
    (tmp_path / "bench" / "Set5").mkdir(parents=True)
    _save(tmp_path / "bench" / "Set5" / "a.png", _random_uint8((16, 16, 3)))
    assert data.benchmarks_for_notebook(["Set5", "B100"]) == ["Set5", "B100"]
    assert calls == [["B100"]]  # only the missing set
    assert capsys.readouterr().out == "[srlab.data] benchmark sets found: Set5, B100\n"
    # offline in Colab: no download, one line saying how
    monkeypatch.setenv("SRLAB_OFFLINE", "1")
    assert data.benchmarks_for_notebook(["Set5", "Urban100"]) == ["Set5"]
    assert "after unsetting SRLAB_OFFLINE" in capsys.readouterr().out and len(calls) == 1
    # a failed download is reported, and the notebook goes on with what it has
    monkeypatch.delenv("SRLAB_OFFLINE")

    def fail(names):
        raise RuntimeError("download of x failed: HTTP 503")

    monkeypatch.setattr(benchmarks_module, "download_benchmarks", fail)
    assert data.benchmarks_for_notebook(["Set5", "Urban100"]) == ["Set5"]
    assert "benchmark download failed (download of x failed: HTTP 503)" in capsys.readouterr().out


def _set5_dir() -> Path | None:
    root = os.environ.get("SRLAB_BENCHMARKS")
    return Path(root) if root and (Path(root) / "Set5").is_dir() else None


@pytest.mark.skipif(_set5_dir() is None, reason="SRLAB_BENCHMARKS with Set5 is not set")
def test_set5_bicubic_x4_matches_published():
    ds = benchmark_set("Set5", 4)
    assert ds.names == ["baby", "bird", "butterfly", "head", "woman"]
    values = []
    for lr, hr in ds:
        sr = bicubic_up(lr[None], 4, quantize=True)
        values.append(psnr(sr, hr[None], y_channel=True, shave=4).item())
    assert abs(sum(values) / 5 - 28.42) < 0.05  # published bicubic x4 Set5 (Y, shave 4)


def test_cifar10_labels_follow_the_images(monkeypatch, tmp_path):
    from srlab.data import cifar10_labels

    monkeypatch.setenv("SRLAB_CIFAR10_DIR", str(_cifar_copy(tmp_path / "copy", n_per_class=4)))
    hr, _ = cifar10_hr("train", cache=False, verbose=False)
    labels, classes = cifar10_labels("train")
    assert classes == ["cat", "dog"] and labels.tolist() == [0] * 4 + [1] * 4
    for i in (0, 5):  # image i is the file of its class folder, in the same order
        cls, k = classes[labels[i]], i % 4
        arr = np.asarray(Image.open(tmp_path / "copy" / "train" / cls / f"{k:04d}.png"))
        assert np.array_equal(hr[i].permute(1, 2, 0).numpy(), arr)
    spread_labels, _ = cifar10_labels("train", limit=2)  # spread like cifar10_hr(limit=2)
    assert spread_labels.tolist() == [0, 1]
    monkeypatch.delenv("SRLAB_CIFAR10_DIR")
    with pytest.raises(ValueError, match="has no class labels"):
        cifar10_labels("test")  # the embedded-photo fallback
