"""srlab.compare: any method, a TinyUNet-family model or a plain function, becomes a table row."""

import pytest
import torch

from srlab.compare import Method, bicubic_method, method_rows
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
    assert all(r["ms"] > 0 and r["ips"] > 0 for r in rows)
    assert "MACs(M)" in format_table(rows)

