"""srlab.bench: the benchmarks print what they measured; the targets' verdicts are right."""

import functools
import gc
import re

import pytest
import torch
from PIL import Image

from srlab import bench, compare, evaluate
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


def _sampling(fast, overhead, threads=2):
    return {"steps": 5, "threads": threads, "fast": fast, "overhead_fast": overhead}


def test_sampling_targets_met_and_missed():
    lines = bench._sampling_targets({"tinyunet_diffusion_linear": _sampling(2.4, 0.05),
                                     "tinyunet_diffusion_cosine": _sampling(3.1, 0.234, 1)})
    assert lines == [
        "linear  5-step fast path <= 2.5 ms/image (batch 1)     met (2 threads)",
        "linear  fast-path overhead <= 15% over 5 net calls     met (2 threads)",
        "cosine  5-step fast path <= 2.5 ms/image (batch 1)     MISSED by 0.60 ms (1 thread)",
        "cosine  fast-path overhead <= 15% over 5 net calls     MISSED by 8% (1 thread)",
    ]
    assert bench._sampling_targets({}) == []


def test_cpu_sampling_times_both_samplers_and_their_network_calls():
    model = bench.pretrained.load("tinyunet_diffusion_cosine")
    r = bench.sampling_times(model, steps=2, rounds=1, repeats=2)
    assert r["steps"] == 2 and r["threads"] == torch.get_num_threads()
    assert (r["rounds"], r["repeats"]) == (1, 2)
    assert all(r[k] > 0 for k in ("net", "fast_net", "reference", "fast"))
    assert r["overhead_reference"] == pytest.approx(r["reference"] / r["net"] - 1)
    assert r["overhead_fast"] == pytest.approx(r["fast"] / r["fast_net"] - 1)
    assert 0 <= r["max_diff"] <= 1e-5 and r["form"].endswith(", channels_last")
    lines = bench.format_sampling("tinyunet_diffusion_cosine", r)
    assert lines[0] == f"tinyunet_diffusion_cosine (the fast path's network: {r['form']}):"
    assert len(lines) == 6
    assert lines[3].split()[:2] == ["reference", "sampler"]
    assert f"{r['reference']:6.2f} ms  overhead {r['overhead_reference']:+.0%} over its 2 " \
           "network calls" in lines[3]
    assert f"{r['fast']:6.2f} ms  overhead {r['overhead_fast']:+.0%}" in lines[4]
    assert f"{r['reference'] / r['fast']:.2f}x the reference's speed" in lines[5]
    assert gc.isenabled()  # paused for the timing only


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
                  f"{s['cpu'].median_ms / m['cpu'].median_ms:.3f}x (the layout srlab "
                  f"chooses: memory_format='auto')")
    assert ratio_line in out.splitlines()
    layouts = result["layouts"]
    for name in ("MSRN", "SMSRN"):
        assert small[name][0].memory_format == "auto"  # restored after timing both layouts
        by_fmt = layouts[name]
        faster = min(bench.LAYOUTS, key=lambda f, b=by_fmt: b[f]["total"])
        assert layouts["best"][name] == faster
        assert all(t > 0 for r in by_fmt.values() for t in r.values())
        assert all(v >= 0 for r in layouts["iqr"][name].values() for v in r.values())
    best = {n: layouts[n][layouts["best"][n]] for n in ("MSRN", "SMSRN")}
    assert layouts["ratio"] == best["SMSRN"]["total"] / best["MSRN"]["total"]
    assert layouts["tail_floor"] == best["SMSRN"]["tail"] / best["MSRN"]["total"]
    verdict = ("met" if layouts["ratio"] <= 0.35
               else f"MISSED by {layouts['ratio'] - 0.35:.3f}")
    assert (f"SMSRN/MSRN CPU time, each in its faster layout: {layouts['ratio']:.3f}x "
            f"(target <= 0.35x: {verdict})") in out
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
    monkeypatch.setattr(bench, "sampling_times",
                        functools.partial(bench.sampling_times, rounds=1, repeats=2))
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
    sampling = result["sampling"]
    assert list(sampling) == ["tinyunet_diffusion_linear", "tinyunet_diffusion_cosine"]
    assert (f"\nbatch-1 sampling on the CPU: one 16x16 LR image, 5 steps, "
            f"{torch.get_num_threads()} threads, ms per image (median of 1 interleaved rounds "
            "of 2 calls, garbage collector paused):\n") in out
    for name, r in sampling.items():
        assert "\n".join(bench.format_sampling(name, r)) in out
    targets = out.split("\ntargets:\n", 1)[1].splitlines()
    assert targets == ["  " + line for line in bench._tinyunet_targets(rows)
                       + bench._sampling_targets(sampling)]
    assert len(targets) == 12 and result["targets"] == [t.strip() for t in targets]


def test_bench_diffusion_sr_prints_the_table_and_retrains_a_row(monkeypatch, tmp_path, capsys):

    torch.manual_seed(0)
    untrained = {name: compare.fresh_row(name, 10.0).eval() for name in compare.ROWS
                 if name != "sinsr_student"}
    untrained["sinsr_student"] = compare.sinsr_student(untrained["resshift_t4"]).eval()
    monkeypatch.setattr(compare, "shipped_rows", lambda: dict(untrained))
    monkeypatch.setattr(compare, "ROW_BUDGET", {"steps": 2, "batch_size": 4, "lr": 2e-3})
    monkeypatch.setenv("SRLAB_OUTPUTS", str(tmp_path / "out"))
    rows = bench.bench_diffusion_sr(limit=6, train=["regression"])
    out = capsys.readouterr().out
    names = [r["name"] for r in rows]
    assert names[:2] == ["bicubic", "regression"]
    assert names[-2:] == ["regression (card budget)",
                          "SR3-style residual DDIM linear, s=1/std (card budget)"]
    assert len(rows) == len(compare.ROWS) + 4  # + bicubic, SinSR ODE, two card-budget rows
    assert "retraining regression: 2 steps of batch 4" in out
    assert "2 Adam steps of batch 4" in out and "6 test images" in out
    assert compare.PAPER_TABLE_NOTE in out
    for r in rows:  # every number printed is a measured one
        assert r["psnr_rgb"] > 0 and r["ms"] > 0 and r["ips"] > 0
        assert f"{r['psnr_rgb']:.2f}" in out
    # the retrained row left its checkpoint and an fp16 weights file like the shipped ones
    assert list((tmp_path / "out" / "diffusion-sr").glob("regression_2x4_*img.ckpt"))
    shipped_like = tmp_path / "out" / "diffusion-sr" / "cmp_regression.pt"
    assert f"wrote {shipped_like} (sha256 " in out
    assert bench.pretrained.load(shipped_like).kind == "tinyunet"


def test_bench_tinyunet_ablation_trains_each_variant_and_names_the_best(monkeypatch, tmp_path,
                                                                         capsys):

    monkeypatch.setattr(compare, "ROW_BUDGET", {"steps": 2, "batch_size": 4, "lr": 2e-3})
    two = {k: compare.ABLATION[k] for k in ("paper: 48/96, ReLU", "pixel shuffle, 38/76")}
    monkeypatch.setattr(compare, "ABLATION", two)
    monkeypatch.setenv("SRLAB_OUTPUTS", str(tmp_path / "out"))
    rows = bench.bench_tinyunet_ablation(limit=6)
    out = capsys.readouterr().out
    assert [r["name"] for r in rows] == list(two)
    assert rows[0]["params_m"] == pytest.approx(0.125379)  # the shipped diffusion TinyUNet's
    assert all(r["params_m"] <= 0.150 and r["ms"] > 0 and r["psnr_rgb"] > 0 for r in rows)
    best = max(rows, key=lambda r: r["psnr_rgb"])
    assert f"best: {best['name']}, {best['psnr_rgb'] - rows[0]['psnr_rgb']:+.2f} dB" in out
    assert len(list((tmp_path / "out" / "ablation").glob("ablation*_2x4_*img.ckpt"))) == 2


# ------------------------------------------------ MSRN vs SMSRN part by part (notebook 03)
def test_params_by_swap_accounts_for_every_parameter():
    rows = bench.params_by_swap(MSRN(scale=4), SMSRN(scale=4))
    assert [r["part"] for r in rows] == ["3x3 convs made separable (17)",
                                         "5x5 convs made separable (16)",
                                         "kept standard (1x1 convs, tail)", "total"]
    assert [(r["msrn"], r["smsrn"]) for r in rows] == [
        (1_477_888, 181_022), (4_097_536, 205_312), (502_595, 502_595), (6_078_019, 888_929)]
    assert rows[-1]["share"] == pytest.approx(888_929 / 6_078_019)
    # the total ratio is the rows' ratios weighted by their share of MSRN
    weighted = sum(r["share"] * r["msrn"] for r in rows[:-1]) / rows[-1]["msrn"]
    assert weighted == pytest.approx(rows[-1]["share"])
    small = bench.params_by_swap(MSRN(scale=2, n_feats=8, n_blocks=1),
                                 SMSRN(scale=2, n_feats=8, n_blocks=1))
    assert [r["part"] for r in small][:2] == ["3x3 convs made separable (3)",
                                              "5x5 convs made separable (2)"]
    with pytest.raises(ValueError, match="layers that were not swapped differ"):
        bench.params_by_swap(MSRN(scale=4, n_feats=8, n_blocks=1),
                             SMSRN(scale=2, n_feats=8, n_blocks=1))
    with pytest.raises(ValueError, match="separable in one network but a Depthwise"):
        bench.params_by_swap(SMSRN(scale=2, n_feats=8, n_blocks=1),
                             SMSRN(scale=2, n_feats=8, n_blocks=1))


def test_macs_table_is_the_hand_count_per_lr_pixel():
    msrn, smsrn = MSRN(scale=4), SMSRN(scale=4)
    rows = bench.macs_table(msrn, smsrn, h=16)
    assert {r["part"]: (r["msrn"], r["smsrn"]) for r in rows} == {
        "head (LR)": (1_728, 219), "8 blocks (LR)": (5_701_632, 510_976),
        "fusion 1x1 + 3x3 (LR)": (73_728, 73_728), "upsampler conv 1 (LR)": (147_456, 147_456),
        "upsampler conv 2 (4x the LR pixels)": (589_824, 589_824),
        "reconstruction 3x3 (16x the LR pixels)": (27_648, 27_648),
        "mean shifts 1x1 (LR and HR)": (153, 153), "total": (6_542_169, 1_350_004)}
    assert rows[-1]["share"] == pytest.approx(1_350_004 / 6_542_169)
    assert round(100 * rows[-1]["share"], 1) == 20.6
    assert sum(r["of_smsrn"] for r in rows[:-1]) == pytest.approx(1.0)
    assert not msrn.head._forward_pre_hooks  # the shape hooks are gone


@pytest.mark.parametrize("scale", [2, 3, 8])
def test_macs_by_part_adds_up_at_any_scale(scale):
    model = MSRN(scale=scale, n_feats=8, n_blocks=2)
    parts = bench.macs_by_part(model, 8)
    assert sum(parts.values()) == bench.cost.count_macs(model, (1, 3, 8, 8))
    upsampler = [p for p in parts if p.startswith("upsampler")]
    expected = {2: ["upsampler conv 1 (LR)"], 3: ["upsampler conv 1 (LR)"],
                8: ["upsampler conv 1 (LR)", "upsampler conv 2 (4x the LR pixels)",
                    "upsampler conv 3 (16x the LR pixels)"]}[scale]
    assert upsampler == expected
    assert f"reconstruction 3x3 ({scale * scale}x the LR pixels)" in parts
    with pytest.raises(ValueError, match="h must be an integer >= 1"):
        bench.macs_by_part(model, 0)


def test_fell_compares_a_ratio_with_its_reference_within_the_spread():
    assert bench.fell(0.43, 0.206, 0.2) == "less than"
    assert bench.fell(0.21, 0.206, 0.05) == "about as much as"
    assert bench.fell(0.206, 0.206) == "about as much as"
    assert bench.fell(0.15, 0.206, 0.1) == "more than"
    assert bench.fell(0.15, 0.206, 0.5) == "about as much as"  # a noisy timing decides nothing
    with pytest.raises(ValueError, match="reference > 0"):
        bench.fell(0.3, 0.0)


def test_layout_rows_are_the_times_and_the_speed_ups():
    times = {"MSRN": {"contiguous": {"total": 10.0, "features": 8.0, "tail": 2.0},
                      "channels_last": {"total": 8.0, "features": 6.0, "tail": 2.5}},
             "SMSRN": {"contiguous": {"total": 6.0, "features": 4.0, "tail": 2.0},
                       "channels_last": {"total": 3.0, "features": 1.0, "tail": 2.0}},
             "best": {"MSRN": "channels_last", "SMSRN": "channels_last"}}
    rows = bench.layout_rows(times)
    assert [(r["name"], r["layout"]) for r in rows] == [
        (n, layout) for n in ("MSRN", "SMSRN") for layout in ("NCHW", "channels_last",
                                                              "speed-up (x)")]
    assert rows[0] == {"name": "MSRN", "layout": "NCHW", "total_ms": 10.0,
                       "total_iqr_ms": None, "features_ms": 8.0, "tail_ms": 2.0}
    assert (rows[2]["total_ms"], rows[2]["tail_ms"]) == (1.25, 0.8)
    assert rows[5]["features_ms"] == 4.0
    lines = evaluate.format_table(rows).splitlines()
    assert lines[0].split() == ["model", "layout", "total", "IQR", "features", "tail"]
    assert lines[3].split() == ["MSRN", "speed-up", "(x)", "1.25", "-", "1.33", "0.80"]
    times["iqr"] = {n: {f: {"total": 0.5, "features": 0.1, "tail": 0.1} for f in bench.LAYOUTS}
                    for n in ("MSRN", "SMSRN")}
    rows = bench.layout_rows(times)
    assert rows[1]["total_iqr_ms"] == 0.5 and rows[2]["total_iqr_ms"] is None


def test_layout_verdict_names_the_faster_layout_and_checks_the_earlier_timing():
    from srlab import cost

    times = {"MSRN": {"contiguous": {"total": 10.0, "features": 8.0, "tail": 2.0},
                      "channels_last": {"total": 8.0, "features": 6.0, "tail": 2.5}},
             "SMSRN": {"contiguous": {"total": 3.0, "features": 1.0, "tail": 2.0},
                       "channels_last": {"total": 6.0, "features": 4.0, "tail": 2.0}},
             "iqr": {n: {f: {"total": 0.5} for f in bench.LAYOUTS} for n in ("MSRN", "SMSRN")},
             "best": {"MSRN": "channels_last", "SMSRN": "contiguous"}}
    lines = bench.layout_verdict(times)
    assert lines == ["channels_last was the faster layout for: MSRN",
                     "MSRN: channels_last speed-up 1.33x on the features, 0.80x on the tail",
                     "SMSRN: channels_last speed-up 0.25x on the features, 1.00x on the tail"]
    agree = {"MSRN": cost.Latency(8.4, 0.2, 8.0, 5, "cpu"),
             "SMSRN": cost.Latency(6.0, 0.2, 6.0, 5, "cpu")}
    assert bench.layout_verdict(times, agree)[-1].startswith("the channels_last totals agree")
    busy = {**agree, "MSRN": cost.Latency(9.0, 0.2, 8.0, 5, "cpu")}  # 1.0 apart > 0.2 + 0.5
    assert bench.layout_verdict(times, busy)[-1] == (
        "the two timings of the same setup disagree: the machine was busy; rerun for stable "
        "numbers")
    times["best"]["MSRN"] = "contiguous"
    assert bench.layout_verdict(times)[0] == "channels_last was the faster layout for: neither"


def test_interleaved_latency_lets_the_models_take_turns():
    calls = []

    def model(name):
        def run(x):
            calls.append((name, tuple(x.shape)))
        return run

    x = torch.rand(1, 3, 4, 4)
    lat = bench.interleaved_latency({"a": model("a"), "b": model("b")}, x, repeats=3, warmup=2)
    # warm-up: 2 untimed + 1 timed call each, then the models take turns
    assert [n for n, _ in calls] == ["a"] * 3 + ["b"] * 3 + ["a", "b"] * 3
    assert {shape for _, shape in calls} == {(1, 3, 4, 4)}
    assert set(lat) == {"a", "b"}
    for t in lat.values():
        assert t.repeats == 3 and t.device == "cpu" and 0 <= t.min_ms <= t.median_ms
        assert t.iqr_ms >= 0
    with pytest.raises(ValueError, match="repeats >= 1"):
        bench.interleaved_latency({"a": model("a")}, x, repeats=0)
