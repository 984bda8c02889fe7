"""srlab.train.fit: the one training loop: losses, evaluation, checkpoints, resume, Ctrl-C,
the time estimate, and bad arguments."""

import time
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from srlab import checkpoint, train
from srlab.data import PatchSampler
from srlab.degradation import bicubic_down, quantize
from srlab.models import MSRN, SMSRN
from srlab.train import fit, format_seconds, load_checkpoint

CKPT_KEYS = {"kind", "config", "model", "optimizer", "step", "history", "rng"}


def tiny(scale=2, separable=False):
    torch.manual_seed(0)
    return MSRN(scale=scale, n_feats=4, n_blocks=1, separable=separable)


def photos(n=3, size=24):
    """Smooth random test images (1, 3, size, size + 4): upsampled 6x7 noise, 8-bit."""
    gen = torch.Generator().manual_seed(1)
    return [quantize(F.interpolate(torch.rand(1, 3, 6, 7, generator=gen), (size, size + 4),
                                   mode="bilinear", align_corners=False)) for _ in range(n)]


@pytest.fixture(scope="module")
def sampler():
    return PatchSampler(photos(), 2, 6, device="cpu")


def test_fit_learns_on_a_fixed_batch(sampler):
    lr, hr = sampler(4, torch.Generator().manual_seed(0))
    model = tiny()
    history = fit(model, lambda b, g: (lr, hr), steps=25, batch_size=4, lr=1e-2,
                  device="cpu", progress=False, log_every=5)
    assert set(history) == {"step", "loss", "eval_step", "eval", "eval_name", "seconds"}
    assert history["step"] == list(range(5, 26, 5))
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert history["seconds"] > 0 and history["eval"] == [] and history["eval_name"] == "eval"
    assert not model.training  # fit leaves the model in eval mode


def test_fit_with_dataset_eval_fn_and_custom_loss():
    hrs = torch.cat(photos(4, 12))[..., :12, :12]
    pairs = list(zip(bicubic_down(hrs, 2), hrs, strict=True))
    calls, evals = [], []

    def loss_fn(model, lr, hr):
        calls.append(lr.shape)
        assert model.training
        return F.mse_loss(model(lr), hr)

    def eval_fn(model):
        assert not model.training and not torch.is_grad_enabled()
        evals.append(1)
        return 20.0 + len(evals)

    history = fit(tiny(), pairs, steps=5, batch_size=2, loss=loss_fn, eval_fn=eval_fn,
                  eval_name="toy PSNR", eval_every=2, device="cpu", progress=False, log_every=2)
    assert calls == [(2, 3, 6, 6)] * 5
    assert history["eval_step"] == [2, 4, 5] and history["eval"] == [21.0, 22.0, 23.0]
    assert history["eval_name"] == "toy PSNR" and history["step"] == [2, 4, 5]


@pytest.mark.parametrize("loss, expected", [
    ("l1", lambda m, lr, hr: F.l1_loss(m(lr), hr)),
    ("l2", lambda m, lr, hr: F.mse_loss(m(lr), hr)),
    ("model", lambda m, lr, hr: m.loss(lr, hr)),
])
def test_named_losses(loss, expected, sampler):
    lr, hr = sampler(2, torch.Generator().manual_seed(0))
    model = tiny()
    model.loss = lambda a, b: (model(a) - b).abs().max()  # a "model" loss that is neither
    with torch.no_grad():
        first = float(expected(model.train(), lr, hr))
    history = fit(model, lambda b, g: (lr, hr), steps=1, batch_size=2, loss=loss, lr=1e-9,
                  device="cpu", progress=False, log_every=1)
    assert history["loss"] == [pytest.approx(first, rel=1e-5)]


def test_checkpoint_holds_kind_and_the_models_config(tmp_path, sampler):
    ckpt = tmp_path / "run.ckpt"
    model = tiny(separable=True)
    fit(model, sampler, steps=2, batch_size=1, ckpt_path=ckpt, device="cpu", progress=False)
    saved = checkpoint.load(ckpt)
    assert set(saved) == CKPT_KEYS and "scaler" not in saved
    assert saved["kind"] == "msrn" and saved["config"] == model.config and saved["step"] == 2
    smsrn = SMSRN(scale=2, n_feats=4, n_blocks=1)
    fit(smsrn, sampler, steps=1, batch_size=1, ckpt_path=tmp_path / "s.ckpt", device="cpu",
        progress=False, config={"mine": 1})
    assert checkpoint.load(tmp_path / "s.ckpt")["kind"] == "smsrn"
    assert load_checkpoint(tmp_path / "s.ckpt", "smsrn", {"mine": 1})["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt", "s.ckpt"]  # no temp files


def test_resume_gives_the_same_weights_as_one_run(tmp_path, sampler):
    kw = dict(batch_size=2, lr=1e-3, device="cpu", progress=False, log_every=1)
    full = tiny()
    one_run = fit(full, sampler, steps=4, **kw)
    ckpt = tmp_path / "run.ckpt"
    part = tiny()
    fit(part, sampler, steps=2, ckpt_path=ckpt, **kw)
    resumed = tiny()
    history = fit(resumed, sampler, steps=4, ckpt_path=ckpt, **kw)
    assert history["step"] == [1, 2, 3, 4]
    assert history["loss"] == pytest.approx(one_run["loss"], rel=1e-5)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    saved = load_checkpoint(ckpt, "msrn", resumed.config)
    assert saved["step"] == 4 and set(saved) == CKPT_KEYS
    # resume=False starts from scratch and overwrites
    fresh = fit(tiny(), sampler, steps=1, ckpt_path=ckpt, resume=False, **kw)
    assert fresh["step"] == [1] and checkpoint.load(ckpt)["step"] == 1


def test_resume_with_another_architecture_is_refused(tmp_path, sampler):
    ckpt = tmp_path / "run.ckpt"
    fit(tiny(), sampler, steps=1, batch_size=1, ckpt_path=ckpt, device="cpu", progress=False)
    other = SMSRN(scale=2, n_feats=4, n_blocks=1)
    with pytest.raises(ValueError, match="kind='msrn'.*kind='smsrn'"):
        fit(other, sampler, steps=2, batch_size=1, ckpt_path=ckpt, device="cpu", progress=False)
    with pytest.raises(ValueError, match="config"):
        fit(tiny(scale=4), PatchSampler(photos(), 4, 4, device="cpu"), steps=2, batch_size=1,
            ckpt_path=ckpt, device="cpu", progress=False)
    with pytest.raises(ValueError, match="this run is kind='smsrn'"):
        load_checkpoint(ckpt, "smsrn", tiny().config)
    (tmp_path / "weights.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a srlab weights file"):
        fit(tiny(), sampler, steps=1, batch_size=1, ckpt_path=tmp_path / "weights.pt",
            device="cpu", progress=False)


def test_keyboard_interrupt_saves_a_checkpoint_at_the_interrupted_step(tmp_path, sampler,
                                                                       capsys):
    ckpt = tmp_path / "run.ckpt"
    steps_done = []

    def loss_fn(model, lr, hr):
        if len(steps_done) == 3:
            raise KeyboardInterrupt
        steps_done.append(1)
        return F.l1_loss(model(lr), hr)

    model = tiny()
    history = fit(model, sampler, steps=10, batch_size=1, loss=loss_fn, ckpt_path=ckpt,
                  ckpt_every=100, device="cpu", progress=False, log_every=1)
    assert history["step"] == [1, 2, 3]
    saved = load_checkpoint(ckpt, "msrn", model.config)
    assert saved["step"] == 3 and saved["history"]["step"] == [1, 2, 3]
    for k, v in model.state_dict().items():
        assert torch.equal(saved["model"][k], v)
    assert f"interrupted at step 3; checkpoint of step 3 saved in {ckpt}" in capsys.readouterr().out
    # the run goes on from there
    resumed = fit(tiny(), sampler, steps=5, batch_size=1, ckpt_path=ckpt, device="cpu",
                  progress=False, log_every=1)
    assert resumed["step"] == [1, 2, 3, 4, 5]


def test_ckpt_every_keeps_a_checkpoint_when_the_run_dies(tmp_path, sampler):
    """A crash that fit cannot catch (a killed kernel) loses at most ``ckpt_every`` steps."""
    ckpt = tmp_path / "run.ckpt"
    calls = []

    def dying_loss(model, lr, hr):
        if len(calls) == 7:
            raise RuntimeError("kernel died")
        calls.append(1)
        return F.l1_loss(model(lr), hr)

    with pytest.raises(RuntimeError, match="kernel died"):
        fit(tiny(), sampler, steps=8, batch_size=1, loss=dying_loss, ckpt_path=ckpt,
            ckpt_every=8 // 4, device="cpu", progress=False, log_every=1)
    assert load_checkpoint(ckpt, "msrn", tiny().config)["step"] == 6  # the last multiple of 2
    resumed = fit(tiny(), sampler, steps=8, batch_size=1, ckpt_path=ckpt, ckpt_every=2,
                  device="cpu", progress=False, log_every=1)
    assert resumed["step"] == list(range(1, 9))


def test_keyboard_interrupt_without_checkpoint(sampler, capsys):
    def loss_fn(model, lr, hr):
        raise KeyboardInterrupt

    history = fit(tiny(), sampler, steps=3, batch_size=1, loss=loss_fn, device="cpu",
                  progress=False)
    assert history["step"] == []
    assert capsys.readouterr().out.strip() == "interrupted at step 0"


def test_learning_rate_milestones_halve_the_rate(tmp_path, sampler):
    ckpt = tmp_path / "run.ckpt"
    fit(tiny(), sampler, steps=5, batch_size=1, lr=0.008, lr_milestones=[2, 4], ckpt_path=ckpt,
        device="cpu", progress=False)
    assert checkpoint.load(ckpt)["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.002)


def test_time_estimate_is_printed_for_long_runs_only(monkeypatch, sampler):
    printed = []
    monkeypatch.setattr(train.tqdm, "write", lambda text, *a, **k: printed.append(text))
    clock = [0.0]
    monkeypatch.setattr(train, "time", SimpleNamespace(perf_counter=lambda: clock[0]))

    def ten_second_l1(model, lr, hr):  # every step appears to take 10 s
        clock[0] += 10.0
        return F.l1_loss(model(lr), hr)

    kw = dict(batch_size=1, loss=ten_second_l1, device="cpu", log_every=100)
    history = fit(tiny(), sampler, steps=20, **kw)
    assert printed == ["fit: 20 steps planned, 10000 ms per step measured on cpu: about "
                       "2.3 min more. Interrupting keeps a checkpoint only with ckpt_path"]
    assert history["seconds"] == pytest.approx(200.0)

    printed.clear()
    fit(tiny(), sampler, steps=20, progress=False, **{**kw, "log_every": 1})
    assert printed == []  # progress=False: silent
    fit(tiny(), sampler, steps=11, **kw)
    assert printed == []  # 10 s x 5 steps left: shorter than ETA_PRINT_ABOVE_S
    monkeypatch.setattr(train, "ETA_PRINT_ABOVE_S", 1e9)
    fit(tiny(), sampler, steps=20, **kw)
    assert printed == []


def test_time_estimate_with_a_slow_loss(monkeypatch, sampler, tmp_path):
    printed = []
    monkeypatch.setattr(train.tqdm, "write", lambda text, *a, **k: printed.append(text))
    monkeypatch.setattr(train, "ETA_AFTER", 2)
    monkeypatch.setattr(train, "ETA_PRINT_ABOVE_S", 0.05)

    def slow_l1(model, lr, hr):
        time.sleep(0.02)
        return F.l1_loss(model(lr), hr)

    ckpt = tmp_path / "run.ckpt"
    fit(tiny(), sampler, steps=8, batch_size=1, loss=slow_l1, device="cpu", ckpt_path=ckpt,
        log_every=100)
    assert len(printed) == 1 and "8 steps planned" in printed[0]
    assert f"Interrupting keeps a checkpoint in {ckpt}" in printed[0]


def test_nan_loss_stops_with_a_clear_error(sampler):
    def nan_loss(model, lr, hr):
        return F.l1_loss(model(lr), hr) * float("nan")

    with pytest.raises(FloatingPointError, match="loss became nan at step 2"):
        fit(tiny(), sampler, steps=5, batch_size=1, loss=nan_loss, device="cpu",
            progress=False, log_every=2)


@pytest.mark.parametrize("kwargs, match", [
    ({"loss": "huber"}, "loss must be 'l1', 'l2', 'model' or a callable"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"steps": -1}, "steps must be an integer >= 0"),
    ({"steps": 2.5}, "steps must be an integer"),
    ({"lr": 0}, "lr must be a number > 0"),
    ({"lr": -1e-3}, "lr must be a number > 0"),
])
def test_fit_bad_arguments(kwargs, match, sampler):
    args = {"steps": 1, "batch_size": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        fit(tiny(), sampler, device="cpu", progress=False, **args)
    with pytest.raises(ValueError, match="empty dataset"):
        fit(tiny(), [], steps=1, batch_size=1, device="cpu", progress=False)


def test_zero_steps_trains_nothing(sampler):
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    history = fit(model, sampler, steps=0, batch_size=1, device="cpu", progress=False)
    assert history["step"] == [] and history["loss"] == []
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_format_seconds():
    assert format_seconds(42.4) == "42 s"
    assert format_seconds(89) == "89 s"
    assert format_seconds(210) == "3.5 min"
    assert format_seconds(2.1 * 3600) == "2.1 h"


# -- torchrun: two gloo processes on the CPU train as one process with the same global batch --

REL_WEIGHTS_TOL = 1e-2  # |w_torchrun - w_one| / |w_one - w_init|; measured 2.7e-4 (20 steps)
LOSS_RTOL = 1e-5  # the logged mean losses (float32 sums in another order)


def _train_cli(tmp_path, out, *extra, processes=1):
    """``python -m srlab train smsrn`` on 3 small photos, in 1 process or under torchrun."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    data = tmp_path / "photos"
    if not data.exists():
        data.mkdir()
        for i, img in enumerate(photos(3, 40)):
            Image.fromarray((img[0].permute(1, 2, 0) * 255).round().byte().numpy()).save(
                data / f"{i}.png")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "SRLAB_BENCHMARKS": str(tmp_path / "none"),
           "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "srlab"] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={processes}", "-m", "srlab"]
    cmd = launcher + ["train", "smsrn", "--data", str(data), "--steps", "20", "--batch-size",
                      "4", "--patch-size", "8", "--lr", "1e-3", "--seed", "0", "--device", "cpu",
                      "--eval-every", "10", "--out", str(tmp_path / out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, checkpoint.load(tmp_path / out, required=CKPT_KEYS)


def _relative_distance(a, b, origin):
    num = sum(float((a[k] - b[k]).pow(2).sum()) for k in a) ** 0.5
    return num / sum(float((a[k] - origin[k]).pow(2).sum()) for k in a) ** 0.5


@pytest.mark.skipif(not torch.distributed.is_available() or
                    not torch.distributed.is_gloo_available(), reason="no gloo backend")
def test_torchrun_trains_like_one_process_and_resumes(tmp_path):
    out_one, one = _train_cli(tmp_path, "one.ckpt")
    out_two, two = _train_cli(tmp_path, "two.ckpt", processes=2)
    # rank 0 alone prints the plan and the result; every line says "2 processes"
    assert out_two.count("done: 20 steps") == 1 and out_two.count("train smsrn x4") == 1
    assert "2 processes of 2 images" in out_two
    assert two["step"] == one["step"] == 20
    # fit's default log_every for a 20-step run: every 2 steps (about 8 points a curve)
    assert two["history"]["step"] == one["history"]["step"] == list(range(2, 21, 2))
    assert two["history"]["loss"] == pytest.approx(one["history"]["loss"], rel=LOSS_RTOL)
    torch.manual_seed(0)
    init = SMSRN(scale=4).state_dict()  # what the command built from --seed 0
    assert _relative_distance(two["model"], one["model"], init) < REL_WEIGHTS_TOL
    assert len(two["rng"]["by_rank"]) == 2  # both ranks' noise streams, for a resume

    # split in two parts under torchrun: stop at step 10, then the same command continues
    out_part, part = _train_cli(tmp_path, "parts.ckpt", "--until", "10", processes=2)
    assert part["step"] == 10 and "stopped at step 10 of 20" in out_part
    out_rest, rest = _train_cli(tmp_path, "parts.ckpt", processes=2)
    assert "resuming smsrn" in out_rest and rest["step"] == 20
    assert rest["history"]["loss"] == pytest.approx(two["history"]["loss"], rel=LOSS_RTOL)
    assert _relative_distance(rest["model"], two["model"], init) < REL_WEIGHTS_TOL


def test_global_batch_must_split_over_the_processes(monkeypatch, sampler):
    monkeypatch.setattr(train, "rank_and_world", lambda: (0, 3))
    with pytest.raises(ValueError, match="batch_size 4 is the global batch: it must be a "
                                         "multiple of the 3 processes"):
        fit(tiny(), sampler, steps=1, batch_size=4, progress=False)


def test_run_name_keeps_the_checkpoint_in_the_outputs_folder(tmp_path, monkeypatch, sampler):
    """A notebook cell trains with run_name: running it again loads the finished run."""
    monkeypatch.setenv("SRLAB_OUTPUTS", str(tmp_path))
    kw = dict(steps=4, batch_size=2, lr=1e-3, device="cpu", progress=False, run_name="demo")
    model = tiny()
    first = fit(model, sampler, **kw)
    ckpt = tmp_path / "demo_4x2.ckpt"
    assert train.run_checkpoint("demo", 4, 2) == ckpt
    assert load_checkpoint(ckpt, "msrn", model.config)["step"] == 4
    again = tiny()
    second = fit(again, sampler, **kw)  # nothing left to train: the saved run is loaded
    assert second["step"] == first["step"] and second["loss"] == first["loss"]
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    fit(tiny(), sampler, **{**kw, "steps": 2})  # another length: its own checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo_2x2.ckpt", "demo_4x2.ckpt"]


@pytest.mark.parametrize("name", ["", "a/b", "c:\\d", 3])
def test_run_name_bad(name, tmp_path, sampler):
    with pytest.raises(ValueError, match="run_name must be a non-empty name"):
        fit(tiny(), sampler, steps=1, batch_size=1, device="cpu", progress=False, run_name=name)
    with pytest.raises(ValueError, match="give ckpt_path or run_name, not both"):
        fit(tiny(), sampler, steps=1, batch_size=1, device="cpu", progress=False,
            run_name="x", ckpt_path=tmp_path / "x.ckpt")


def test_default_log_and_checkpoint_intervals(tmp_path, monkeypatch, sampler):
    """By default a short run still logs about 8 points and checkpoints every quarter."""
    saved = []
    monkeypatch.setattr(train.checkpoint, "save", lambda obj, path: saved.append(obj["step"]))
    kw = dict(batch_size=1, device="cpu", progress=False, ckpt_path=tmp_path / "run.ckpt")
    assert fit(tiny(), sampler, steps=8, **kw)["step"] == list(range(1, 9))
    assert saved == [2, 4, 6, 8]
    saved.clear()
    assert fit(tiny(), sampler, steps=40, **kw)["step"] == list(range(5, 41, 5))
    assert saved == [10, 20, 30, 40]
    with pytest.raises(ValueError, match="log_every must be an integer >= 1"):
        fit(tiny(), sampler, steps=1, log_every=0, **kw)
