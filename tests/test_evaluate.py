"""srlab.evaluate: one result format for any model on any test data, tiling, tables."""

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from srlab.data import ImageFolderSR
from srlab.degradation import bicubic, bicubic_down, make_pairs, quantize
from srlab.evaluate import (
    METRICS,
    SMSRN_PAPER_X4,
    bicubic_table,
    cpu_latency_ms,
    evaluate,
    evaluate_table,
    format_paper_comparison,
    format_table,
    forward_tiled,
    paper_comparison,
)
from srlab.metrics import psnr, ssim
from srlab.models import MSRN, TinyUNetSR

RESULT_KEYS = {"names", "per_image", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "hf_ratio", "fd",
               "n", "scale", "shave"}


def tiny(scale=2):
    torch.manual_seed(0)
    return MSRN(scale=scale, n_feats=4, n_blocks=1).eval()


def photo(size, width=None, seed=1):
    """A smooth random 8-bit test image (1, 3, size, width or size + 4)."""
    gen = torch.Generator().manual_seed(seed)
    return quantize(F.interpolate(torch.rand(1, 3, 6, 7, generator=gen), (size, width or size + 4),
                                  mode="bilinear", align_corners=False))


def test_result_format_and_bicubic_matches_direct_metrics():
    images = {"a": photo(30), "b": photo(33, seed=2)}
    res = evaluate(bicubic(2), images, 2)
    assert set(res) == RESULT_KEYS and set(res["per_image"]) == set(METRICS)
    assert res["names"] == ["a", "b"] and res["n"] == 2 and res["scale"] == 2
    assert res["shave"] == 2
    hr = images["b"][..., :32, :36]  # mod-crop of 33x37
    sr = quantize(bicubic(2)(bicubic_down(hr, 2)))
    expected = {"psnr_y": psnr(sr, hr, y_channel=True, shave=2),
                "ssim_y": ssim(sr, hr, y_channel=True, shave=2),
                "psnr_rgb": psnr(sr, hr), "ssim_rgb": ssim(sr, hr)}
    for metric, value in expected.items():
        assert len(res["per_image"][metric]) == 2
        assert res["per_image"][metric][1] == pytest.approx(float(value))
        assert res[metric] == pytest.approx(sum(res["per_image"][metric]) / 2)
    assert res["psnr_y"] != res["psnr_rgb"]
    no_shave = evaluate(bicubic(2), images, 2, shave=0)
    assert no_shave["shave"] == 0 and no_shave["psnr_y"] != res["psnr_y"]
    assert no_shave["psnr_rgb"] == res["psnr_rgb"]


def test_hf_ratio_pools_the_whole_set():
    from srlab.metrics import hf_ratio, high_frequency_energy

    hrs = [photo(24, 24, seed=s) for s in range(5)]
    lr, hr = make_pairs(torch.cat(hrs), 2)
    sr = quantize(bicubic(2)(lr))
    res = evaluate(bicubic(2), (lr, hr), 2, batch_size=2)  # pooled over three batches
    assert res["hf_ratio"] == pytest.approx(float(hf_ratio(sr, hr)))  # band 1/4 at x2
    first = evaluate(bicubic(2), (lr, hr), 2, batch_size=2, limit=3)  # 2 + 1 of the next batch
    assert first["hf_ratio"] == pytest.approx(float(hf_ratio(sr[:3], hr[:3])))
    # images of two sizes: energies are summed over images, not shares averaged
    images = {"a": photo(30), "b": photo(33, seed=2)}
    mixed = evaluate(bicubic(2), images, 2)
    parts = []
    for img in images.values():
        h = img[..., : img.shape[-2] // 2 * 2, : img.shape[-1] // 2 * 2]
        s_img = quantize(bicubic(2)(bicubic_down(h, 2)))
        parts.append((*high_frequency_energy(s_img), *high_frequency_energy(h)))
    a, b, c, d = (sum(float(p[i]) for p in parts) for i in range(4))
    assert mixed["hf_ratio"] == pytest.approx((a / b) / (c / d))


def test_every_kind_of_test_data_gives_the_same_numbers(tmp_path):
    hrs = [photo(24, 24, seed=s) for s in range(5)]
    lr, hr = make_pairs(torch.cat(hrs), 2)
    as_tuple = evaluate(bicubic(2), (lr, hr), 2, batch_size=2)  # three batches
    as_dict = evaluate(bicubic(2), {str(i): h for i, h in enumerate(hrs)}, 2)
    as_list = evaluate(bicubic(2), hrs, 2)
    as_pairs = evaluate(bicubic(2), list(zip(lr, hr, strict=True)), 2)
    for i, img in enumerate(hrs):
        arr = (img[0].permute(1, 2, 0) * 255).round().byte().numpy()
        Image.fromarray(arr).save(tmp_path / f"img{i}.png")
    as_folder = evaluate(bicubic(2), ImageFolderSR(tmp_path, 2), 2)
    assert as_tuple["names"] == as_dict["names"] == as_list["names"] == as_pairs["names"] \
        == [str(i) for i in range(5)]
    assert as_folder["names"] == [f"img{i}" for i in range(5)]
    for res in (as_dict, as_list, as_pairs, as_folder):
        for metric in METRICS:
            # batched and single-image runs differ in float rounding only
            assert res["per_image"][metric] == pytest.approx(as_tuple["per_image"][metric],
                                                             rel=1e-5)


def test_limit_scale_from_the_model_and_training_mode_restored():
    lr, hr = make_pairs(torch.cat([photo(16, 16, seed=s) for s in range(6)]), 2)
    model = tiny().train()
    res = evaluate(model, (lr, hr), limit=4, batch_size=3)
    assert res["n"] == 4 and res["names"] == ["0", "1", "2", "3"] and res["scale"] == 2
    assert all(len(v) == 4 for v in res["per_image"].values())
    assert model.training  # restored
    full = evaluate(model, (lr, hr))
    assert full["per_image"]["psnr_rgb"][:4] == pytest.approx(res["per_image"]["psnr_rgb"])


def test_outputs_are_clamped_and_quantised():
    lr, hr = make_pairs(torch.cat([photo(16, 16, seed=s) for s in range(2)]), 2)
    hr[:, :, 0, 0] = 1.0

    def oracle(x):  # the HR image, off by 0.4 of an 8-bit level, and above 1 where HR is 1
        assert x.shape == lr.shape
        return hr + 0.4 / 255 + 0.2 * (hr == 1)

    oracle.scale = 2
    res = evaluate(oracle, (lr, hr), 2)
    assert res["per_image"]["psnr_rgb"] == [math.inf, math.inf]
    assert res["ssim_rgb"] == pytest.approx(1.0)


def test_tiled_forward_matches_whole_image():
    def nearest(x):
        return F.interpolate(x, scale_factor=2, mode="nearest")

    lr = torch.rand(1, 3, 21, 17)
    torch.testing.assert_close(forward_tiled(nearest, lr, 2, tile=8, overlap=2), nearest(lr))
    torch.testing.assert_close(forward_tiled(nearest, lr, 2, tile=None), nearest(lr))
    torch.testing.assert_close(forward_tiled(nearest, lr, 2, tile=30), nearest(lr))
    with pytest.raises(ValueError, match=r"tile \(4\) must be larger than overlap \(8\)"):
        forward_tiled(nearest, lr, 2, tile=4)
    model = tiny()
    with torch.no_grad():
        whole = model(lr)
        tiled = forward_tiled(model, lr, 2, tile=12, overlap=4)
    assert tiled.shape == whole.shape
    # MSRN has a receptive field wider than the overlap: tiles differ only near the seams
    assert (tiled - whole).abs().mean() < 0.02
    res_tiled = evaluate(model, [photo(40)], 2, tile=12)
    res_whole = evaluate(model, [photo(40)], 2)
    assert res_tiled["psnr_y"] == pytest.approx(res_whole["psnr_y"], abs=0.5)


def test_evaluate_bad_input():
    with pytest.raises(ValueError, match="x2 network, but the evaluation scale is x4"):
        evaluate(tiny(scale=2), [photo(32)], 4)
    with pytest.raises(ValueError, match="scale must be an integer"):
        evaluate(lambda x: x, [photo(32)])  # no scale anywhere
    with pytest.raises(ValueError, match="smaller than the scale"):
        evaluate(bicubic(4), [torch.rand(1, 3, 3, 3)], 4)
    hrs = torch.cat([photo(16, 16, seed=s) for s in range(2)])
    x4_pairs = list(zip(F.avg_pool2d(hrs, 4), hrs, strict=True))
    with pytest.raises(ValueError, match="test pair 0 is lr .* which is not x2"):
        evaluate(bicubic(2), x4_pairs, 2)
    with pytest.raises(ValueError, match=r"model output \(1, 3, 48, 48\) does not match"):
        evaluate(lambda x: F.interpolate(x, scale_factor=3), [photo(32, 32)], 2)
    with pytest.raises(ValueError, match="empty"):
        evaluate(bicubic(2), {}, 2)
    with pytest.raises(ValueError, match="limit must be an integer >= 1"):
        evaluate(bicubic(2), [photo(16)], 2, limit=0)
    with pytest.raises(ValueError, match="shave must be an integer >= 0"):
        evaluate(bicubic(2), [photo(16)], 2, shave=-1)
    with pytest.raises(ValueError, match="image 0: expected values in"):
        evaluate(bicubic(2), [photo(16) * 255], 2)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_in_a_test_image_is_refused(bad):
    img = photo(16)
    img[0, 1, 4, 4] = bad
    with pytest.raises(ValueError, match="image x: expected finite values.*NaN"):
        evaluate(bicubic(2), {"x": img}, 2)
    sr = photo(16)
    with pytest.raises(ValueError, match="sr: expected finite values.*NaN"):
        psnr(img, sr)
    with pytest.raises(ValueError, match="hr: expected finite values.*NaN"):
        ssim(sr, img)


def test_evaluate_table_rows():
    lr, hr = make_pairs(torch.cat([photo(16, 16, seed=s) for s in range(3)]), 2)
    diffusion = TinyUNetSR(mode="diffusion")
    torch.manual_seed(0)
    torch.nn.init.normal_(diffusion.net.dec2.weight, std=0.05)
    models = {"d": diffusion, "r": TinyUNetSR(mode="regression")}
    rows = evaluate_table(models, (lr, hr), 2, n_steps=(1, 3), timing=False, progress=False)
    assert [(r["name"], r["steps"]) for r in rows] == [("bicubic", 0), ("d", 1), ("d", 3),
                                                       ("r", 1)]
    for row in rows:
        assert set(row) == {"name", "steps", "params_m", "ms", *METRICS, "hf_ratio", "diversity",
                            "fd"}
        assert math.isnan(row["ms"])
    assert rows[0]["params_m"] == 0 and rows[1]["params_m"] == pytest.approx(0.125379)
    bicubic_res = evaluate(bicubic(2), (lr, hr), 2)
    assert all(rows[0][m] == pytest.approx(bicubic_res[m]) for m in METRICS)
    # a fresh regression TinyUNet outputs the bicubic image
    assert rows[3]["psnr_rgb"] == pytest.approx(bicubic_res["psnr_rgb"], abs=1e-3)
    d3 = evaluate(diffusion.sampler(steps=3, seed=0), (lr, hr), 2)
    assert rows[2]["psnr_rgb"] == pytest.approx(d3["psnr_rgb"])
    assert rows[2]["hf_ratio"] == pytest.approx(d3["hf_ratio"])
    # diversity: samplers only, of 4 seeds' 8-bit samples; a deterministic model has none
    assert rows[0]["diversity"] is None and rows[3]["diversity"] is None
    samples = torch.stack([quantize(diffusion.upscale(lr, steps=3, seed=s)) for s in range(4)])
    assert rows[2]["diversity"] == pytest.approx(float(samples.double().std(0).mean()))
    assert rows[2]["diversity"] > 0
    timed = evaluate_table({"r": models["r"]}, (lr, hr), 2, timing=True, repeats=2,
                           progress=False)
    assert all(r["ms"] > 0 for r in timed)


def _column_spans(line: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", line)]


def test_format_table_aligns_long_model_names():
    names = ["bicubic", "tinyunet_diffusion_linear",
             "tinyunet_diffusion_cosine_zero_terminal_snr_v_prediction"]
    rows = [{"name": n, "steps": s, "params_m": p, "ms": ms, "psnr_y": 30 + i,
             "ssim_y": 0.9, "psnr_rgb": 28.123 + 10 * i, "ssim_rgb": 0.8}
            for i, (n, s, p, ms) in enumerate(zip(names, (0, 5, 12), (0, 0.125379, 12.5),
                                                 (0.1, 3.21, 123.4), strict=True))]
    text = format_table(rows)
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].split() == ["model", "Step", "Param(M)", "ms", "PSNR-Y", "SSIM-Y", "PSNR",
                                "SSIM"]
    spans = [_column_spans(line) for line in lines]
    assert all(len(s) == 8 for s in spans)
    assert all(s[0][0] == 0 for s in spans)  # names start the line, left-aligned
    for col in range(1, 8):  # numbers and their headers end in one column
        assert len({s[col][1] for s in spans}) == 1, (col, text)
    assert len({len(line) for line in lines}) == 1
    assert names[2] in lines[3] and "12.500" in lines[3] and "48.12" in lines[3]
    assert len(lines[0]) - len(names[2]) < 60  # widths fit the entries, no fixed padding


def test_format_table_columns_and_empty():
    rows = [{"set": "Set5", "name": "msrn_x4_from_my_own_long_run", "n": 5, "psnr_y": 32.1,
             "ssim_y": 0.89}, {"set": "Urban100", "name": "bicubic", "n": 100, "psnr_y": 23.1,
                               "ssim_y": 0.65}]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["set", "model", "images", "PSNR-Y", "SSIM-Y"]
    assert lines[1].split() == ["Set5", "msrn_x4_from_my_own_long_run", "5", "32.10", "0.8900"]
    spans = [_column_spans(line) for line in lines]
    assert len({s[1][0] for s in spans}) == 1  # text columns start together
    assert all(len({s[c][1] for s in spans}) == 1 for c in (2, 3, 4))
    only = format_table(rows, ["set", "psnr_y"]).splitlines()
    assert only[0].split() == ["set", "PSNR-Y"] and only[2].split() == ["Urban100", "23.10"]
    assert format_table([]) == "(no rows)"


def test_bicubic_table():
    images = {"a": photo(24), "b": photo(32, seed=3)}
    rows = bicubic_table(images, scales=(2, 4))
    assert [(r["name"], r["scale"]) for r in rows] == [("a", 2), ("b", 2), ("a", 4), ("b", 4)]
    assert all(set(r) == {"name", "scale", "psnr_y", "ssim_y"} for r in rows)
    res = evaluate(bicubic(4), images, 4)
    assert rows[3]["psnr_y"] == pytest.approx(res["per_image"]["psnr_y"][1])
    assert rows[0]["psnr_y"] > rows[2]["psnr_y"]  # x2 is easier than x4


def test_cpu_latency_ms():
    calls = []

    def model(x):
        calls.append(tuple(x.shape))
        return x

    ms = cpu_latency_ms(model, lr_size=8, batch=2, repeats=3)
    assert ms > 0 and calls[0] == (2, 3, 8, 8) and len(calls) == 3 + 3  # warm-up + repeats
    assert np.isfinite(ms)


# ---------------------------------------------------------------- the SMSRN paper, set by set
def test_paper_table_is_the_papers_table_1():
    assert list(SMSRN_PAPER_X4) == ["Set5", "Set14", "B100", "Urban100"]  # no BSD68
    assert SMSRN_PAPER_X4["B100"] == {"MSRN": (27.61, 0.7139), "SMSRN": (27.39, 0.7051)}
    assert SMSRN_PAPER_X4["Urban100"]["SMSRN"] == (25.45, 0.7423)
    # the paper's 98.53% is the ratio of its rounded 4-set averages, 28.22 / 28.64 dB
    msrn, smsrn = ([v[m][0] for v in SMSRN_PAPER_X4.values()] for m in ("MSRN", "SMSRN"))
    mean_m, mean_s = round(sum(msrn) / 4, 2), round(sum(smsrn) / 4, 2)
    assert (mean_m, mean_s) == (28.64, 28.22) and round(100 * mean_s / mean_m, 2) == 98.53


def test_paper_comparison_per_set_never_averaged():
    ours = {"Set5": {"MSRN": 30.0, "SMSRN": 29.4},
            "BSD68": {"MSRN": {"psnr_y": 27.0, "n": 68}, "SMSRN": {"psnr_y": 26.0, "n": 68}},
            "B100": {"bicubic": 25.0, "MSRN": 27.5, "SMSRN": 27.0}}
    rows = paper_comparison(ours)
    assert [r["set"] for r in rows] == ["Set5", "BSD68", "B100"]  # one row per set, no mean
    set5, bsd68, b100 = rows
    assert set5["ratio"] == pytest.approx(0.98) and set5["gap_db"] == pytest.approx(0.6)
    assert set5["paper_ratio"] == pytest.approx(31.73 / 32.16)
    assert set5["paper_gap_db"] == pytest.approx(0.43) and set5["n"] is None
    assert b100["paper_gap_db"] == pytest.approx(0.22)  # B100's own values, not Set5's
    assert bsd68["n"] == 68 and bsd68["gap_db"] == pytest.approx(1.0)
    assert all(bsd68[k] is None for k in ("paper_msrn", "paper_smsrn", "paper_ratio",
                                          "paper_gap_db"))
    lines = format_paper_comparison(rows).splitlines()[1:]
    assert lines[0].startswith("paper = the SMSRN paper's Table 1")
    assert lines[1].split() == ["set", "images", "MSRN", "SMSRN", "SMSRN/MSRN", "gap", "dB",
                                "paper", "MSRN", "paper", "SMSRN", "paper", "ratio", "paper",
                                "gap", "dB"]
    assert lines[2].split() == ["Set5", "-", "30.00", "29.40", "98.00%", "0.60", "32.16",
                                "31.73", "98.66%", "0.43"]
    assert lines[3].split() == ["BSD68", "68", "27.00", "26.00", "96.30%", "1.00", "-", "-", "-",
                                "-"]
    with pytest.raises(ValueError, match="'Set14' needs both 'MSRN' and 'SMSRN'"):
        paper_comparison({"Set14": {"MSRN": 28.0}})


def test_fd_of_evaluate_is_the_frechet_distance_of_the_features():
    from srlab.metrics import frechet_distance

    hrs = [photo(24, 24, seed=s) for s in range(6)]
    lr, hr = make_pairs(torch.cat(hrs), 2)
    sr = quantize(bicubic(2)(lr))

    def features(x):  # any (N, D) features: here the channel means and stds
        return torch.cat([x.mean((-2, -1)), x.std((-2, -1))], dim=1)

    res = evaluate(bicubic(2), (lr, hr), 2, batch_size=4, fd_features=features)
    assert res["fd"] == pytest.approx(float(frechet_distance(features(sr), features(hr))))
    assert evaluate(bicubic(2), (lr, hr), 2)["fd"] is None
    same = evaluate(lambda x: hr[: len(x)], (lr, hr), 2, fd_features=features)  # SR = HR
    assert same["fd"] == pytest.approx(0.0, abs=1e-9)


def test_paper_verdict_names_the_sets_one_by_one():
    from srlab.evaluate import paper_verdict

    ours = {"Set5": {"MSRN": 31.0, "SMSRN": 30.4}, "B100": {"MSRN": 27.7, "SMSRN": 27.55},
            "BSD68": {"MSRN": 27.0, "SMSRN": 26.0}}
    assert paper_verdict(paper_comparison(ours)) == (
        "Our MSRN - SMSRN gap is larger than the paper's on Set5, not larger on B100; our MSRN "
        "is below the paper's MSRN on Set5; the paper does not report BSD68.")
    both = {"Set14": {"MSRN": 28.0, "SMSRN": 27.0}, "Set5": {"MSRN": 32.2, "SMSRN": 31.7}}
    assert paper_verdict(paper_comparison(both)) == (
        "Our MSRN - SMSRN gap is larger than the paper's on Set14 and Set5; our MSRN is below "
        "the paper's MSRN on Set14.")
    three = {"Set5": {"MSRN": 31.0, "SMSRN": 30.0}, "Set14": {"MSRN": 28.0, "SMSRN": 27.9},
             "B100": {"MSRN": 27.0, "SMSRN": 26.7}, "BSD68": {"MSRN": 26.0, "SMSRN": 25.0},
             "Sun80": {"MSRN": 29.0, "SMSRN": 28.0}}
    assert paper_verdict(paper_comparison(three)) == (
        "Our MSRN - SMSRN gap is larger than the paper's on Set5 and B100, not larger on Set14; "
        "our MSRN is below the paper's MSRN on Set5, Set14 and B100; the paper does not report "
        "BSD68 and Sun80.")
    assert paper_verdict(paper_comparison({"B100": {"MSRN": 27.7, "SMSRN": 27.6}})) == (
        "Our MSRN - SMSRN gap is larger than the paper's on no set, not larger on B100; our "
        "MSRN is below the paper's MSRN on no set.")
    assert paper_verdict(paper_comparison({"embedded": {"MSRN": 25.0, "SMSRN": 24.0}})) == (
        "The paper reports none of these sets (embedded): there is no gap of the paper's to "
        "compare ours with.")
    with pytest.raises(ValueError, match="no rows"):
        paper_verdict([])


def test_published_points_for_the_fig1_plot():
    from srlab.evaluate import PUBLISHED_X4_SET5

    assert PUBLISHED_X4_SET5["bicubic"] == (0, 28.42)
    assert PUBLISHED_X4_SET5["MSRN (SMSRN paper)"] == (6_078_019, 32.16)
    assert PUBLISHED_X4_SET5["SMSRN (SMSRN paper)"] == (888_929, 31.73)
    # IMDN: fewer parameters than SMSRN and a higher Set5 PSNR (the notebook's question)
    imdn, smsrn = PUBLISHED_X4_SET5["IMDN"], PUBLISHED_X4_SET5["SMSRN (SMSRN paper)"]
    assert imdn[0] < smsrn[0] and imdn[1] > smsrn[1]
    beats = [n for n, (p, v) in PUBLISHED_X4_SET5.items() if p < smsrn[0] and v > smsrn[1]]
    assert beats == ["IMDN"]


def test_bicubic_vs_paper_scores_both_border_rules_next_to_the_papers_values():
    from srlab.evaluate import BICUBIC_PAPER_X4, bicubic_vs_paper

    assert BICUBIC_PAPER_X4 == {"Set5": (28.42, 0.8104), "Set14": (26.00, 0.7027)}
    sets = {"Set5": [photo(34), photo(32, seed=1)], "mine": [photo(40, seed=2)]}
    rows = bicubic_vs_paper(sets)
    assert [(r["set"], r["border"], r["n"]) for r in rows] == [
        ("Set5", "renormalise", 2), ("Set5", "symmetric", 2),
        ("mine", "renormalise", 1), ("mine", "symmetric", 1)]
    # the default rule is srlab's evaluation of the bicubic model (mod-crop, 8-bit output)
    res = evaluate(bicubic(4), dict(enumerate(sets["Set5"])), 4)
    assert rows[0]["psnr_y"] == pytest.approx(res["psnr_y"], abs=1e-9)
    assert rows[0]["ssim_y"] == pytest.approx(res["ssim_y"], abs=1e-9)
    assert rows[1]["psnr_y"] != rows[0]["psnr_y"]  # the border rule changes the score
    assert rows[1]["psnr_vs_paper"] == pytest.approx(rows[1]["psnr_y"] - 28.42)
    assert rows[2]["paper_psnr_y"] is None and rows[2]["psnr_vs_paper"] is None
    assert all(r["paper_psnr_y"] is None for r in bicubic_vs_paper(sets, scale=2))
    table = format_table(rows, ["set", "border", "psnr_y", "paper_psnr_y", "psnr_vs_paper"])
    assert table.splitlines()[0].split() == ["set", "border", "rule", "PSNR-Y", "paper",
                                             "PSNR-Y", "PSNR", "-", "paper"]
    assert table.splitlines()[1].split()[-2:] == ["28.42", f"{rows[0]['psnr_vs_paper']:+.2f}"]
    with pytest.raises(ValueError, match="holds no images"):
        bicubic_vs_paper({"Set5": []})
    with pytest.raises(ValueError, match="3 channels"):
        bicubic_vs_paper({"grey": [torch.rand(1, 1, 16, 16)]})


def test_bicubic_benchmarks_scores_the_sets_found_next_to_the_published_values(
        tmp_path, monkeypatch):
    from srlab.evaluate import BICUBIC_PAPER, BICUBIC_PAPER_X4, bicubic_benchmarks, bicubic_vs_paper

    assert all(BICUBIC_PAPER[name, 4] == value for name, value in BICUBIC_PAPER_X4.items())
    for name, n in (("Set5", 3), ("B100", 2), ("BSD68", 1)):  # BSD68: not asked for by default
        (tmp_path / name).mkdir()
        for i in range(n):
            arr = (photo(36, 40, seed=i)[0].permute(1, 2, 0).numpy() * 255).round()
            Image.fromarray(arr.astype(np.uint8)).save(tmp_path / name / f"img_{i}.png")
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path))
    monkeypatch.delenv("SRLAB_FAST", raising=False)
    rows = bicubic_benchmarks()
    assert [(r["set"], r["scale"], r["n"], r["n_set"]) for r in rows] == [
        ("Set5", 2, 3, 3), ("Set5", 4, 3, 3), ("B100", 2, 2, 2), ("B100", 4, 2, 2)]
    from srlab.data import load_image

    set5 = [load_image(p) for p in sorted((tmp_path / "Set5").glob("*.png"))]
    same = bicubic_vs_paper({"Set5": set5})[0]  # x4, the default border rule
    assert rows[1]["psnr_y"] == pytest.approx(same["psnr_y"], abs=1e-9)
    assert rows[1]["ssim_y"] == pytest.approx(same["ssim_y"], abs=1e-9)
    assert rows[0]["paper_psnr_y"] == 33.66 and rows[0]["paper_ssim_y"] == 0.9299
    assert rows[0]["psnr_vs_paper"] == pytest.approx(rows[0]["psnr_y"] - 33.66)
    part = bicubic_benchmarks(["Set5"], scales=[4], limit=2)  # a part of a set: no difference
    assert part[0]["n"] == 2 and part[0]["n_set"] == 3 and part[0]["psnr_vs_paper"] is None
    monkeypatch.setenv("SRLAB_FAST", "1")
    assert [r["n"] for r in bicubic_benchmarks(["Set5"], scales=[2])] == [3]  # 5 at most
    assert bicubic_benchmarks(["Urban100"]) == []
    with pytest.raises(ValueError, match="limit"):
        bicubic_benchmarks(["Set5"], limit=0)


def test_single_channel_files_finds_the_greyscale_ones(tmp_path):
    from srlab.evaluate import single_channel_files

    grey = np.full((4, 4), 100, dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "rgb_but_grey.png")
    Image.fromarray(grey).convert("P").save(tmp_path / "palette.png")
    paths = sorted(tmp_path.glob("*.png"))
    assert single_channel_files(paths) == [tmp_path / "grey.png"]


def test_sample_image_takes_the_last_sets_first_image(tmp_path):
    from srlab.evaluate import sample_image

    photos = {"astronaut": torch.rand(1, 3, 8, 8), "coffee": torch.rand(1, 3, 8, 8)}
    name, image, hr = sample_image({"embedded": photos})
    assert (name, image) == ("embedded", "coffee") and hr is photos["coffee"]
    assert sample_image({"x": {"a": photos["astronaut"]}})[1] == "a"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "img_001.png")
    folder = ImageFolderSR(tmp_path, 4)
    name, image, hr = sample_image({"embedded": photos, "B100": folder})
    assert (name, image, hr.shape) == ("B100", folder.names[0], (1, 3, 8, 8))
    with pytest.raises(ValueError, match="no test set"):
        sample_image({})
