"""srlab.bench: the benchmarks print what they measured; the targets' verdicts are right."""

import functools
import re

import pytest
import torch
from PIL import Image

from srlab import bench, evaluate
from srlab.models import MSRN, SMSRN


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLAB_DATA", str(tmp_path / "srlab-data"))
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "no-benchmarks"))
    monkeypatch.delenv("SRLAB_CIFAR10_DIR", raising=False)


def _row(name, steps, psnr, ms=1.0):
    return {"name": name, "steps": steps, "psnr_rgb": psnr, "ms": ms}


def test_tinyunet_targets_met_and_missed():
    rows = [_row("bicubic", 0, 30.0, 0.1), _row("tinyunet_regression", 1, 33.0, 0.5),
            _row("tinyunet_diffusion_linear", 3, 32.8), _row("tinyunet_diffusion_linear", 5, 33.0,
                                                             3.0),
            _row("tinyunet_diffusion_cosine", 3, 31.5), _row("tinyunet_diffusion_cosine", 5, 32.0,
                                                             4.0)]
    lines = bench._tinyunet_targets(rows)
    verdicts = [(line[:7].strip(), re.split(r"\s{2,}", line[8:].strip())) for line in lines]
    assert verdicts == [
        ("linear", ["5-step PSNR >= bicubic + 2.5 dB", "met"]),
        ("linear", ["5-step PSNR within 0.2 dB of regression", "met"]),
        ("linear", ["3 steps within 0.3 dB of 5", "met"]),
        ("linear", ["5-step sampler <= 3.4 ms/image (CPU, batch 1)", "met"]),
        ("cosine", ["5-step PSNR >= bicubic + 2.5 dB", "MISSED by 0.50"]),
        ("cosine", ["5-step PSNR within 0.2 dB of regression", "MISSED by 0.80"]),
        ("cosine", ["3 steps within 0.3 dB of 5", "MISSED by 0.20"]),
        ("cosine", ["5-step sampler <= 3.4 ms/image (CPU, batch 1)", "MISSED by 0.60"]),
    ]
    starts = {re.search(r"(met|MISSED by \d+\.\d\d)$", line).start() for line in lines}
    assert len(starts) == 1  # the verdicts line up


def test_tinyunet_targets_with_missing_rows():
    rows = [_row("bicubic", 0, 30.0), _row("tinyunet_diffusion_cosine", 5, 32.5, 3.4)]
    assert bench._tinyunet_targets(rows) == [
        "cosine  5-step PSNR >= bicubic + 2.5 dB                met",
        "cosine  5-step sampler <= 3.4 ms/image (CPU, batch 1)  met",
    ]
    assert bench._tinyunet_targets([_row("bicubic", 0, 30.0)]) == []


def test_sr_models_are_the_shipped_ones_or_random_init(monkeypatch):
    models = bench._sr_models(4)
    assert list(models) == ["bicubic", "MSRN", "SMSRN"]
    assert models["MSRN"][1] == "shipped msrn_x4" and type(models["SMSRN"][0]) is SMSRN
    assert models["bicubic"][0].scale == 4 and not models["MSRN"][0].training
    monkeypatch.setattr(bench.pretrained, "available", lambda: [])
    models = bench._sr_models(4)
    assert models["MSRN"][1] == "random init: no shipped weights"
    assert type(models["MSRN"][0]) is MSRN


def test_bench_sr_prints_the_measured_ratios(monkeypatch, capsys):
    torch.manual_seed(0)
    small = {"bicubic": (bench.bicubic(4), ""),
             "MSRN": (MSRN(scale=4, n_feats=8, n_blocks=2).eval(), "small"),
             "SMSRN": (SMSRN(scale=4, n_feats=8, n_blocks=2).eval(), "small")}
    monkeypatch.setattr(bench, "_sr_models", lambda scale: small)
    result = bench.bench_sr(limit=2)
    out = capsys.readouterr().out
    m, s = result["cost"]["MSRN"], result["cost"]["SMSRN"]
    assert m["params"] == sum(p.numel() for p in small["MSRN"][0].parameters()
                              if p.requires_grad)
    assert m["macs"] > s["macs"] > 0 and result["cost"]["bicubic"]["macs"] is None
    ratio_line = (f"SMSRN/MSRN: params {s['params'] / m['params']:.2%}, MACs "
                  f"{s['macs'] / m['macs']:.2%}, CPU latency "
                  f"{s['cpu'].median_ms / m['cpu'].median_ms:.3f}x (target <= 0.35x)")
    assert ratio_line in out.splitlines()
    quality = result["quality"]
    assert list(quality) == ["embedded"] and all(r["n"] == 2 for r in quality["embedded"].values())
    psnr_ratio = quality["embedded"]["SMSRN"]["psnr_y"] / quality["embedded"]["MSRN"]["psnr_y"]
    assert (f"embedded: SMSRN/MSRN PSNR {psnr_ratio:.2%}, >= 98.5%: "
            f"{'met' if psnr_ratio >= 0.985 else 'NOT met'}") in out
    before, paper_block = out.rsplit("\n\n", 1)
    table = before.splitlines()[-3:]
    assert [line.split()[:3] for line in table] == [["embedded", "bicubic", "2"],
                                                    ["embedded", "MSRN", "2"],
                                                    ["embedded", "SMSRN", "2"]]
    assert f"{quality['embedded']['MSRN']['psnr_y']:.2f}" in table[1]
    # the embedded photos are no set of the paper: no paper column, and no average anywhere
    assert [r["set"] for r in result["paper"]] == ["embedded"]
    assert result["paper"][0]["paper_ratio"] is None
    assert paper_block == evaluate.format_paper_comparison(result["paper"]) + "\n"


def test_bench_sr_compares_with_the_paper_set_by_set(monkeypatch, tmp_path, capsys):
    for k, name in enumerate(["Set5", "B100", "BSD68"]):
        (tmp_path / "bench" / name).mkdir(parents=True)
        img = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(k))
        Image.fromarray((img.permute(1, 2, 0) * 255).byte().numpy()).save(
            tmp_path / "bench" / name / "a.png")
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "bench"))
    torch.manual_seed(0)
    small = {"bicubic": (bench.bicubic(4), ""),
             "MSRN": (MSRN(scale=4, n_feats=8, n_blocks=1).eval(), "small"),
             "SMSRN": (SMSRN(scale=4, n_feats=8, n_blocks=1).eval(), "small")}
    monkeypatch.setattr(bench, "_sr_models", lambda scale: small)
    result = bench.bench_sr()
    out = capsys.readouterr().out
    paper = {r["set"]: r for r in result["paper"]}
    assert list(paper) == ["Set5", "B100", "BSD68"]
    assert paper["B100"]["paper_ratio"] == pytest.approx(27.39 / 27.61)
    assert paper["Set5"]["paper_gap_db"] == pytest.approx(32.16 - 31.73)
    assert paper["BSD68"]["paper_ratio"] is None  # BSD68 is not in the paper (nor is it B100)
    q = result["quality"]["B100"]
    assert paper["B100"]["gap_db"] == pytest.approx(q["MSRN"]["psnr_y"] - q["SMSRN"]["psnr_y"])
    lines = out.splitlines()
    b100 = next(line for line in lines if line.startswith("B100 ") and "%" in line and
                "met" not in line)
    assert b100.split()[-2:] == ["99.20%", "0.22"]
    assert "98.53" not in out  # the 4-set average of the paper is never the comparison


def test_bench_tinyunet_end_to_end(monkeypatch, capsys):
    monkeypatch.setattr(bench, "_throughput", functools.partial(bench._throughput, batch=4))
    monkeypatch.setattr(bench, "evaluate_table",
                        functools.partial(evaluate.evaluate_table, repeats=3))
    result = bench.bench_tinyunet(limit=2)
    out = capsys.readouterr().out
    assert ("\nTinyUNet x2 on embedded scikit-image photos (1000 random 32x32 crops): 2 test "
            "images.") in out
    rows = result["rows"]
    assert [(r["name"], r["steps"]) for r in rows][:3] == [
        ("bicubic", 0), ("tinyunet_regression", 1), ("tinyunet_diffusion_linear", 1)]
    assert len(rows) == 1 + 1 + 2 * 5 and all(r["ms"] > 0 for r in rows)
    assert evaluate.format_table(rows) in out
    assert set(result["throughput"]) == {("cpu", "tinyunet_regression", 1)} | {
        ("cpu", f"tinyunet_diffusion_{s}", n) for s in ("linear", "cosine") for n in (3, 5)}
    assert all(v > 0 for v in result["throughput"].values())
    targets = out.split("\ntargets:\n", 1)[1].splitlines()
    assert targets == ["  " + line for line in bench._tinyunet_targets(rows)]
    assert len(targets) == 8 and result["targets"] == [t.strip() for t in targets]
