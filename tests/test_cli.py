"""The command line (``python -m srlab``): demo, info, train, eval, bench, and bad input that
ends in one line on stderr and exit code 2, before any data is read."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srlab.cli.evaluate
import srlab.cli.train
from srlab import bench, checkpoint, pretrained
from srlab.cli import build_parser, main
from srlab.data import EmbeddedPatches
from srlab.models import TinyUNetSR

ROOT = Path(__file__).resolve().parents[1]
REAL_BENCHMARKS = os.environ.get("SRLAB_BENCHMARKS")  # read before the fixture below hides it


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Own data and output folders; no benchmark sets or CIFAR-10 copy unless a test makes
    them; torch's thread count restored (``--threads`` changes it)."""
    monkeypatch.setenv("SRLAB_DATA", str(tmp_path / "srlab-data"))
    monkeypatch.setenv("SRLAB_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "no-benchmarks"))
    monkeypatch.delenv("SRLAB_CIFAR10_DIR", raising=False)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_data_read(monkeypatch):
    """Reading any training data (or starting to train) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("data was read")

    monkeypatch.setattr(srlab.cli.train, "cifar10_hr", refuse)
    monkeypatch.setattr(srlab.cli.train.PatchSampler, "from_folders", refuse)
    monkeypatch.setattr(srlab.cli.train, "fit", refuse)


def _exit_code_and_stderr(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


def _write_images(folder: Path, n: int, size: int, seed: int = 0) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.BICUBIC).save(folder / f"img{i}.png")


# ---------------------------------------------------------------- demo and info
def test_demo_writes_figure_offline(tmp_path, capsys):
    assert main(["demo", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "offline: yes" in out and "mean x4" in out and "measured 0.1189" in out
    assert "smsrn_x4" in out and "888,929 params" in out
    # the diffusion part: regression vs two seeds of the diffusion row, and the comparison table
    assert (tmp_path / "demo_diffusion.png").stat().st_size > 10_000
    table = out[out.index("the few-step comparison"):].splitlines()
    for label in ("bicubic", "regression", "SR3-style residual DDIM linear, s=1/std",
                  "ResShift T=15", "SinSR-style student", "ResDiff-style"):
        assert any(line.startswith(label + " ") for line in table), label


def test_info_reports_mode_device_data_and_benchmarks(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("SRLAB_FAST")
    monkeypatch.setenv("SRLAB_FULL", "1")
    monkeypatch.setenv("SRLAB_DEVICE", "cpu")
    bench_dir = tmp_path / "bench"
    for name in ("Set14", "Set5", "Other"):
        (bench_dir / name).mkdir(parents=True)
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(bench_dir))
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"torch {torch.__version__} | device cpu")
    assert lines[1].startswith("mode: full (SRLAB_FULL=1) | offline: yes (SRLAB_OFFLINE=1)")
    assert lines[2] == f"data root: {tmp_path / 'srlab-data'}"
    assert lines[3] == "benchmark sets found: Set5, Set14"

    monkeypatch.setenv("SRLAB_FAST", "1")
    monkeypatch.delenv("SRLAB_FULL")
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "empty"))
    main(["info"])
    out = capsys.readouterr().out
    assert "mode: fast (SRLAB_FAST=1)" in out
    assert "benchmark sets found: none (see README: Data)" in out
    monkeypatch.setenv("SRLAB_FULL", "1")  # both modes: one line, no traceback
    code, err = _exit_code_and_stderr(["info"], capsys)
    assert code == 2 and err == "error: SRLAB_FAST and SRLAB_FULL are both set: choose one mode\n"


# ---------------------------------------------------------------- the parser
@pytest.mark.parametrize("argv, match", [
    (["train", "resnet"], "invalid choice: 'resnet'"),
    ([], "the following arguments are required: command"),
    (["eval", "msrn", "--scale", "1"], "argument --scale: must be an integer >= 2, got 1"),
    (["bench", "gan"], "invalid choice: 'gan'"),
    (["bench", "diffusion-sr", "--train", "sr4"], "invalid choice: 'sr4'"),
    (["bench", "sr", "--threads", "0"], "argument --threads: must be an integer >= 1"),
    (["eval", "msrn", "--tile", "x"], "argument --tile: expected an integer, got 'x'"),
])
def test_parser_rejects_bad_options(argv, match, capsys):
    code, err = _exit_code_and_stderr(argv, capsys)
    assert code == 2 and match in err and "Traceback" not in err


def test_parser_defaults():
    args = build_parser().parse_args(["train", "tinyunet"])
    assert (args.mode, args.schedule, args.prediction, args.timesteps) == (
        "diffusion", "cosine", "x0", None)  # None: the model's own T (TinyUNet 1000)
    assert args.resume and args.steps is None and args.seed == 0
    args = build_parser().parse_args(["eval", "smsrn", "--weights", "a.pt", "b.pt"])
    assert args.weights == ["a.pt", "b.pt"] and args.n_steps == [1, 2, 3, 4, 5]
    assert build_parser().parse_args(["bench", "sr"]).threads == 2


# ---------------------------------------------------------------- bad input: one line, exit 2
def _foreign_files(tmp_path: Path) -> list[Path]:
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/bin/false\n")
    noise = tmp_path / "random.pt"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    return [text, noise]


@pytest.mark.parametrize("model", ["msrn", "tinyunet"])
def test_eval_with_a_foreign_weights_file(model, tmp_path, capsys):
    for path in _foreign_files(tmp_path):
        code, err = _exit_code_and_stderr(["eval", model, "--weights", str(path)], capsys)
        assert code == 2
        assert err.startswith(f"error: not a srlab weights file: {path}")
        assert err.count("\n") == 1 and err.endswith("\n")
        assert "Traceback" not in err and "weights_only" not in err


def test_eval_with_a_missing_or_unknown_weights(tmp_path, capsys):
    code, err = _exit_code_and_stderr(["eval", "msrn", "--weights", str(tmp_path / "x.pt")],
                                      capsys)
    assert code == 2 and err == f"error: weights file {tmp_path / 'x.pt'} does not exist\n"
    code, err = _exit_code_and_stderr(["eval", "msrn", "--weights", "edsr_x4"], capsys)
    assert code == 2 and err.startswith("error: unknown weights 'edsr_x4'")


def test_foreign_weights_file_through_python_m_srlab(tmp_path):
    path = _foreign_files(tmp_path)[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "srlab", "eval", "msrn", "--weights", str(path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: not a srlab weights file: {path}")
    assert proc.stderr.count("\n") == 1  # one line: no traceback, no torch warning
    assert "Traceback" not in proc.stderr and "weights_only" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("argv, match", [
    (["train", "tinyunet", "--steps", "-5"], "argument --steps: must be an integer >= 1, got -5"),
    (["train", "tinyunet", "--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
    (["train", "tinyunet", "--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
    (["train", "tinyunet", "--lr", "-1"], "argument --lr: must be a number > 0, got -1.0"),
    (["train", "tinyunet", "--lr", "nan"], "argument --lr: must be a number > 0"),
    (["train", "tinyunet", "--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
    (["train", "msrn", "--patch-size", "0", "--data", "."], "argument --patch-size"),
    (["train", "msrn"], "error: train msrn: --data DIR [DIR ...] is required"),
    (["train", "smsrn", "--steps", "2"], "error: train smsrn: --data DIR [DIR ...] is required"),
    (["train", "msrn", "--data", "/nonexistent"], "error: --data /nonexistent is not a folder"),
    (["train", "tinyunet", "--data", "/nonexistent"], "error: --data /nonexistent is not a folder"),
    (["train", "tinyunet", "--scale", "4"], "error: TinyUNet is an x2 model"),
    (["eval", "tinyunet", "--scale", "4"], "error: TinyUNet is an x2 model"),
])
def test_bad_options_fail_before_any_data_is_read(argv, match, capsys, no_data_read):
    code, err = _exit_code_and_stderr(argv, capsys)
    assert code == 2 and match in err
    assert "Traceback" not in err and "data was read" not in err
    assert err.strip().splitlines()[-1].startswith(("error:", "python -m srlab"))


def test_the_no_data_read_guard_works(tmp_path, capsys, no_data_read):
    """The guard above does catch a run that reads data."""
    _write_images(tmp_path / "train", 1, 32)
    with pytest.raises(AssertionError, match="data was read"):
        main(["train", "msrn", "--data", str(tmp_path / "train"), "--steps", "1"])
    with pytest.raises(AssertionError, match="data was read"):
        main(["train", "tinyunet", "--steps", "1"])


# ---------------------------------------------------------------- train and eval, end to end
def test_train_then_eval_smsrn(tmp_path, monkeypatch, capsys):
    _write_images(tmp_path / "train", 2, 40)
    _write_images(tmp_path / "bench" / "Set5", 1, 48, seed=1)
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "bench"))
    out = tmp_path / "run" / "smsrn.ckpt"
    assert main(["train", "smsrn", "--data", str(tmp_path / "train"), "--steps", "2",
                 "--batch-size", "1", "--patch-size", "4", "--out", str(out), "--device", "cpu",
                 "--threads", "2"]) == 0
    printed = capsys.readouterr().out
    assert "train smsrn x4 (888,929 parameters): 2 images from 2 images in" in printed
    assert "done: 2 steps" in printed and "Set5 PSNR-Y" in printed
    weights = tmp_path / "run" / "smsrn.pt"
    summary = json.loads((tmp_path / "run" / "smsrn.json").read_text())
    assert summary["steps"] == 2 and summary["weights"] == str(weights)
    assert summary["config"]["train"]["patch_size"] == 4 and summary["config"]["scale"] == 4
    assert summary["history"]["eval_name"] == "Set5 PSNR-Y"
    assert len(summary["history"]["eval"]) == 2
    assert summary["sha256"] == checkpoint.sha256_of(weights)
    assert pretrained.load(weights, kind="smsrn", scale=4).config["n_feats"] == 64

    assert main(["eval", "smsrn", "--weights", str(weights)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3].split() == ["set", "model", "images", "PSNR-Y", "SSIM-Y"]
    assert lines[-2].split()[:3] == ["Set5", "bicubic", "1"]
    assert lines[-1].split()[:3] == ["Set5", "smsrn", "1"]
    code, err = _exit_code_and_stderr(["eval", "msrn", "--weights", str(weights)], capsys)
    assert code == 2 and "hold a smsrn network, not msrn" in err
    code, err = _exit_code_and_stderr(["eval", "smsrn", "--scale", "2", "--weights",
                                       str(weights)], capsys)
    assert code == 2 and "are for x4, not x2" in err
    # resuming: the finished checkpoint is picked up, no step is repeated
    main(["train", "smsrn", "--data", str(tmp_path / "train"), "--steps", "2", "--batch-size",
          "1", "--patch-size", "4", "--out", str(out), "--device", "cpu"])
    assert "resuming smsrn" in capsys.readouterr().out


def test_eval_names_every_set_found_b100_urban100_and_bsd68_apart(tmp_path, monkeypatch, capsys):
    """Every evaluation set present gets its own rows under its own name (B100 is not BSD68;
    Manga109, which cannot be downloaded, when put there by hand); Sun80 (the shipped models'
    training data) is not evaluated."""
    bench_dir = tmp_path / "bench"
    for k, (name, n) in enumerate([("Urban100", 3), ("BSD68", 2), ("B100", 2), ("Set5", 1),
                                   ("Manga109", 1), ("Sun80", 1)]):
        _write_images(bench_dir / name, n, 32, seed=k)
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(bench_dir))
    assert main(["eval", "smsrn", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split()[:3] for line in lines[lines.index(next(
        line for line in lines if line.startswith("set "))) + 1:]]
    assert rows == [[s, m, n] for s, n in [("Set5", "1"), ("B100", "2"), ("BSD68", "2"),
                                           ("Urban100", "2"), ("Manga109", "1")]
                    for m in ("bicubic", "smsrn_x4")]
    assert main(["eval", "smsrn", "--sets", "Urban100", "--limit", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split()[:3] == ["Urban100", "smsrn_x4", "1"]


@pytest.mark.skipif(not (REAL_BENCHMARKS and (Path(REAL_BENCHMARKS) / "Set5").is_dir()),
                    reason="SRLAB_BENCHMARKS with Set5 is not set")
def test_eval_shipped_smsrn_on_real_set5(monkeypatch, capsys):
    monkeypatch.setenv("SRLAB_BENCHMARKS", REAL_BENCHMARKS)
    assert main(["eval", "smsrn", "--sets", "Set5", "--limit", "2", "--tile", "64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "smsrn_x4: Y channel, shave 4, 8-bit outputs, first 2 images per set"
    rows = [line.split() for line in lines[-2:]]
    assert [r[:3] for r in rows] == [["Set5", "bicubic", "2"], ["Set5", "smsrn_x4", "2"]]
    assert float(rows[1][3]) > float(rows[0][3]) + 0.5  # PSNR-Y beats bicubic


def _small_cifar(split, limit=None, *, verbose=True):
    ds = EmbeddedPatches(n=16 if split == "train" else 8, seed=0 if split == "train" else 1)
    return (ds.hr * 255).round().to(torch.uint8), f"small {split}"


def test_train_then_eval_tinyunet(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(srlab.cli.train, "cifar10_hr", _small_cifar)
    monkeypatch.setattr(srlab.cli.evaluate, "cifar10_hr", _small_cifar)
    out = tmp_path / "t.ckpt"
    assert main(["train", "tinyunet", "--steps", "2", "--batch-size", "4", "--timesteps", "50",
                 "--schedule", "linear", "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "train tinyunet x2 (125,379 parameters): 16 images from small train" in printed
    assert "test PSNR (CIFAR-10, 1000 images, RGB)" in printed
    model = pretrained.load(tmp_path / "t.pt", kind="tinyunet")
    assert model.config["schedule"] == {"name": "linear", "T": 50, "zero_terminal_snr": False}
    assert not model.training and model.tag == "tinyunet_diffusion_linear"

    assert main(["eval", "tinyunet", "--weights", str(tmp_path / "t.pt"), "--n-steps", "1", "2",
                 "--limit", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "small test (8 images)" in lines[0]
    assert [line.split()[:2] for line in lines[-3:]] == [["bicubic", "0"], ["t", "1"], ["t", "2"]]


def test_train_uses_the_default_output_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(srlab.cli.train, "cifar10_hr", _small_cifar)
    main(["train", "tinyunet", "--mode", "regression", "--steps", "1", "--batch-size", "2",
          "--device", "cpu"])
    folder = tmp_path / "outputs" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == [
        "tinyunet_regression_x2.ckpt", "tinyunet_regression_x2.json", "tinyunet_regression_x2.pt"]


# ---------------------------------------------------------------- bench dispatch
def test_bench_calls_the_library_with_the_options(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "bench_sr", lambda *a: calls.append(("sr", *a)))
    monkeypatch.setattr(bench, "bench_tinyunet", lambda *a: calls.append(("tinyunet", *a)))
    assert main(["bench", "sr", "--sets", "Set5", "Set14", "--limit", "3", "--seed", "4",
                 "--threads", "1"]) == 0
    assert torch.get_num_threads() == 1
    assert main(["bench", "tinyunet", "--device", "cuda"]) == 0
    assert calls == [("sr", None, ["Set5", "Set14"], 3, 4), ("tinyunet", "cuda", None, 0)]
    assert torch.get_num_threads() == 2  # bench's default thread count



def test_train_tinyunet_measures_the_residual_scale(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(srlab.cli.train, "cifar10_hr", _small_cifar)
    out = tmp_path / "scaled.ckpt"
    assert main(["train", "tinyunet", "--steps", "1", "--batch-size", "4", "--timesteps", "50",
                 "--residual-scale", "auto", "--out", str(out), "--device", "cpu"]) == 0
    std = TinyUNetSR.residual_std(_small_cifar("train")[0])
    assert f"residual std on the training images {std:.4f}: residual_scale {1 / std:.3f}" in (
        capsys.readouterr().out)
    model = pretrained.load(tmp_path / "scaled.pt", kind="tinyunet")
    assert model.config["residual_scale"] == pytest.approx(1 / std)
    assert model.x0_bound == pytest.approx(1 / std)
    # or given as a number
    assert main(["train", "tinyunet", "--steps", "1", "--batch-size", "4", "--timesteps", "50",
                 "--residual-scale", "2.5", "--out", str(tmp_path / "fixed.ckpt"),
                 "--device", "cpu"]) == 0
    assert pretrained.load(tmp_path / "fixed.pt", kind="tinyunet").config["residual_scale"] == 2.5


def test_train_the_fd_cifar_classifier(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SRLAB_CIFAR10_DIR", raising=False)
    for split in ("train", "test"):
        for c, cls in enumerate(("cat", "dog")):
            _write_images(tmp_path / "cifar" / split / cls, 3, 32, seed=10 * c)
    out = tmp_path / "clf.ckpt"
    assert main(["train", "cifar_classifier", "--data", str(tmp_path / "cifar"), "--steps", "2",
                 "--batch-size", "4", "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "train cifar_classifier (79,858 parameters): 6 images from CIFAR-10" in printed
    assert "test accuracy (CIFAR-10, 1000 images, %)" in printed
    # --data was SRLAB_CIFAR10_DIR only while the data loaded: later code (a notebook kernel
    # started by this process) must not inherit a folder of 6 test images
    assert "SRLAB_CIFAR10_DIR" not in os.environ
    model = pretrained.load(tmp_path / "clf.pt", kind="cifar_classifier")
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    code, err = _exit_code_and_stderr(["train", "cifar_classifier", "--scale", "4"], capsys)
    assert code == 2 and "takes no --scale" in err
