"""srlab.compare: any method, a TinyUNet-family model or a plain function, becomes a table row."""

import pytest
import torch

from srlab import pretrained
from srlab.compare import (
    Method,
    bicubic_method,
    card_methods,
    fastest,
    interleaved_ms,
    method_rows,
)
from srlab.cost import count_macs
from srlab.degradation import bicubic, make_pairs
from srlab.evaluate import evaluate, format_table
from srlab.models import ResShiftSR, TinyUNetSR


def test_any_method_gets_a_row():
    hr_images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    lr, hr = make_pairs((hr_images * 255).round() / 255, 2)
    torch.manual_seed(0)
    regression = TinyUNetSR(mode="regression")
    resshift = ResShiftSR(T=3, min_noise=0.2)

    def noisy(lr_b, seed):  # a student's idea in one function: bicubic plus seeded noise
        g = torch.Generator().manual_seed(seed)
        return (bicubic(2)(lr_b) + 0.02 * torch.randn(lr_b.shape[0], 3, *hr.shape[-2:],
                                                       generator=g)).clamp(0, 1)

    methods = [bicubic_method(), Method.from_model("regression", regression),
               Method.from_model("resshift", resshift),
               Method("noisy bicubic", noisy, steps=0, stochastic=True)]
    rows = method_rows(methods, (lr, hr), fd_cifar=False, repeats=2, batch=4)
    assert [r["name"] for r in rows] == ["bicubic", "regression", "resshift", "noisy bicubic"]
    assert [r["steps"] for r in rows] == [0, 1, 3, 0]
    assert rows[0]["psnr_rgb"] == pytest.approx(evaluate(bicubic(2), (lr, hr), 2)["psnr_rgb"])
    assert rows[1]["params_m"] == pytest.approx(0.122307)
    assert rows[2]["macs_m"] * 1e6 == 3 * count_macs(resshift.net, (1, 7, 32, 32))  # 3 steps
    assert rows[0]["diversity"] is None and rows[1]["diversity"] is None
    assert rows[3]["diversity"] > 0.01  # the seeds change the noise
    assert all(r["ms"] > 0 and r["ips"] > 0 and r["ms_iqr"] >= 0 for r in rows)
    assert "MACs(M)" in format_table(rows)
    untimed = method_rows(methods[:1], (lr, hr), fd_cifar=False, timing=False)
    assert all(untimed[0][k] != untimed[0][k] for k in ("ms", "ms_iqr", "ips"))  # NaN
    with pytest.raises(ValueError, match="no timing"):
        fastest(untimed)


def test_interleaved_timing_gives_a_median_and_a_spread_per_function():
    import time

    x = torch.zeros(1)
    (fast_ms, fast_iqr), (slow_ms, slow_iqr) = interleaved_ms(
        [lambda x: x, lambda x: time.sleep(0.004)], x, repeats=5, warmup=1)
    assert 0 <= fast_ms < 1 and slow_ms >= 4 and fast_iqr >= 0 and slow_iqr >= 0
    with pytest.raises(ValueError, match="repeats >= 2"):
        interleaved_ms([lambda x: x], x, repeats=1)


def test_fastest_names_a_winner_only_beyond_the_timing_noise():
    rows = [{"name": "a", "ms": 3.0, "ms_iqr": 0.5}, {"name": "b", "ms": 3.4, "ms_iqr": 0.2},
            {"name": "c", "ms": 5.0, "ms_iqr": 0.3}]
    best, ties = fastest(rows)
    assert best["name"] == "a" and [r["name"] for r in ties] == ["b"]  # 0.4 ms < 0.5 ms noise
    best, ties = fastest([rows[0], rows[2]])
    assert best["name"] == "a" and ties == []  # 2 ms apart: a real difference
    with pytest.raises(ValueError, match="no rows"):
        fastest([])



def test_train_rows_trains_every_row_alike_and_resumes(tmp_path):
    from srlab import compare

    g = torch.Generator().manual_seed(1)
    hr = (torch.rand(24, 3, 32, 32, generator=g) * 255).to(torch.uint8)
    lines = []
    nets = compare.train_rows(hr, compare.ROWS, steps=2, batch_size=4, ckpt_dir=tmp_path,
                              log=lines.append)
    assert list(nets) == list(compare.ROWS)
    assert len(lines) == len(compare.ROWS)
    assert all(not net.training for net in nets.values())
    # the SR3 rows that scale the residual share one measured 1/std; s=1 does not scale it
    assert nets["sr3_linear"].config["residual_scale"] == nets["sr3_cosine"].config[
        "residual_scale"] == pytest.approx(1 / TinyUNetSR.residual_std(hr))
    assert nets["sr3_linear_s1"].config["residual_scale"] == 1.0
    assert nets["sinsr_student"].config["one_step"] and nets["sinsr_student"].step_counts == (1,)
    assert nets["resdiff"].config["residual_scale"] != 1.0  # measured on the CNN's residual
    # one checkpoint per run, named by budget and data; a rerun loads them, same weights
    assert len(list(tmp_path.glob("*_2x4_24img.ckpt"))) == len(compare.ROWS) + 1  # + ResDiff CNN
    again = compare.train_rows(hr, ["regression"], steps=2, batch_size=4, ckpt_dir=tmp_path,
                               log=lines.append)
    for a, b in zip(again["regression"].state_dict().values(),
                    nets["regression"].state_dict().values(), strict=True):
        assert torch.equal(a, b)
    methods = compare.row_methods(nets)
    names = [m.name for m in methods]
    assert names[0] == "bicubic" and "ResShift T=4, SinSR ODE" in names
    assert len(methods) == len(compare.ROWS) + 2
    lr, _ = make_pairs(hr[:2].float() / 255, 2)
    for m in methods:
        assert m.sample(lr, 0).shape == (2, 3, 32, 32)


def test_comparison_rows_are_the_shipped_ones_unless_asked_to_retrain(monkeypatch, tmp_path):
    from srlab import compare

    monkeypatch.setattr(compare, "shipped_rows", lambda: {"shipped": True})
    monkeypatch.delenv("SRLAB_RETRAIN_ROWS", raising=False)
    assert compare.comparison_rows() == {"shipped": True}
    calls = []
    monkeypatch.setattr(compare, "cifar10_hr", lambda split, verbose: (split, "src"))
    monkeypatch.setattr(compare, "train_rows", lambda hr, names, **kw: calls.append(
        (hr, names, kw)) or {"trained": True})
    monkeypatch.setenv("SRLAB_OUTPUTS", str(tmp_path))
    monkeypatch.setenv("SRLAB_RETRAIN_ROWS", "1")
    assert compare.comparison_rows() == {"trained": True}
    (hr, names, kw), = calls
    assert hr == "train" and names == compare.ROWS and kw["source"] == "src"
    assert kw["steps"] == compare.ROW_BUDGET["steps"]
    assert kw["ckpt_dir"] == tmp_path / "diffusion-sr"


def test_train_rows_says_what_it_needs(tmp_path):
    from srlab import compare

    hr = (torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 255).byte()
    with pytest.raises(ValueError, match="unknown comparison rows"):
        compare.train_rows(hr, ["sr4"], steps=1, batch_size=2, ckpt_dir=tmp_path)
    with pytest.raises(ValueError, match="needs its teacher"):
        compare.train_rows(hr, ["sinsr_student"], steps=1, batch_size=2, ckpt_dir=tmp_path)
    with pytest.raises(ValueError, match="no detail beyond bicubic"):
        compare.train_rows(torch.zeros_like(hr), ["regression"], steps=1, batch_size=2,
                           ckpt_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown comparison row 'x'"):
        compare.fresh_row("x", 1.0)


def test_the_papers_table_is_printed_as_published():
    from srlab.compare import PAPER_TABLE, PAPER_TABLE_NOTE, format_paper_table

    # the paper's Param(M) column is neither the published models' size nor ours
    assert "as printed" in PAPER_TABLE_NOTE and "119M" in PAPER_TABLE_NOTE
    assert "full-size" not in PAPER_TABLE_NOTE
    lines = format_paper_table().splitlines()
    assert lines[0].split() == ["model", "Step", "Param(M)", "ms", "PSNR", "SSIM"]
    assert lines[1].split() == ["SinSR", "1", "2.1", "12.4", "27.2", "0.83"]
    assert lines[4].split()[-5:] == ["5", "0.15", "6.8", "28.5", "0.84"]
    assert len(lines) == len(PAPER_TABLE) + 1


def test_card_methods_label_the_shipped_card_budget_files_by_their_residual_scale():
    regression, linear = card_methods()
    scale = pretrained.load("tinyunet_diffusion_linear").config["residual_scale"]
    assert scale == pytest.approx(18.59, abs=0.05)  # retrained with --residual-scale auto
    assert regression.name == "regression (card budget)" and regression.steps == 1
    assert linear.name == "SR3-style residual DDIM linear, s=1/std (card budget)"
    assert linear.steps == 5 and linear.stochastic
    lr = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(linear.sample(lr, 3), pretrained.load("tinyunet_diffusion_linear").upscale(
        lr, steps=5, seed=3))
