import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from srlab.cost import (
    PARTS,
    Latency,
    SeparableTiming,
    conv_bytes,
    conv_cost,
    copy_bandwidth,
    count_macs,
    count_params,
    depthwise_cost,
    format_timings,
    measure_latency,
    pointwise_cost,
    roofline_ms,
    roofline_sentence,
    separable_cost,
    separable_ratio,
    synchronize,
    time_standard_vs_separable,
)
from srlab.layers import DepthwiseSeparableConv2d, check_separable


def test_cost_equations():
    assert conv_cost(3, 64, 128) == 9 * 64 * 128  # (1)
    assert depthwise_cost(3, 64) == 9 * 64  # (2)
    assert pointwise_cost(64, 128) == 64 * 128  # (3)
    assert separable_cost(3, 64, 128) == 64 * (9 + 128)  # (4)
    for k, d, n in [(3, 64, 128), (5, 128, 128), (7, 32, 16)]:
        assert separable_cost(k, d, n) / conv_cost(k, d, n) == pytest.approx(separable_ratio(k, n))


def test_paper_ratios_analytic_and_measured():
    for k, expected in [(3, 0.1189), (5, 0.0478)]:
        assert abs(separable_ratio(k, 128) - expected) < 1e-4
        shape = (1, 64, 16, 16)
        standard = count_macs(nn.Conv2d(64, 128, k, padding=k // 2), shape)
        separable = count_macs(DepthwiseSeparableConv2d(64, 128, k), shape)
        assert standard == conv_cost(k, 64, 128) * 16 * 16
        assert separable == separable_cost(k, 64, 128) * 16 * 16
        assert abs(separable / standard - expected) < 1e-4


def test_separable_layer_shapes_and_params():
    layer = DepthwiseSeparableConv2d(64, 128, 5)
    assert layer(torch.zeros(2, 64, 9, 11)).shape == (2, 128, 9, 11)
    assert layer.depthwise.groups == 64
    assert count_params(layer) == (25 * 64 + 64) + (64 * 128 + 128)
    with pytest.raises(ValueError, match="odd"):
        DepthwiseSeparableConv2d(8, 8, 4)


def test_count_params_trainable_only():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 1))
    model[1].weight.requires_grad_(False)
    assert count_params(model, trainable_only=False) == 3 * 4 * 9 + 4 + 16 + 4
    assert count_params(model) == 3 * 4 * 9 + 4 + 4


def test_count_macs_reports_failing_shape():
    with pytest.raises(ValueError, match=r"\(1, 5, 8, 8\)"):
        count_macs(nn.Conv2d(3, 8, 3), (1, 5, 8, 8))


def test_measure_latency_returns_positive_times():
    lat = measure_latency(nn.Conv2d(3, 8, 3), torch.zeros(1, 3, 32, 32), warmup=1, repeats=5)
    assert lat.median_ms > 0 and lat.min_ms <= lat.median_ms and lat.iqr_ms >= 0
    assert lat.repeats == 5 and lat.device == "cpu"
    with pytest.raises(ValueError):
        measure_latency(nn.Identity(), torch.zeros(1), repeats=0)


class _FakeQueue:
    """A device that queues work: ``launch`` returns at once, ``synchronize`` waits for it."""

    def __init__(self, seconds: float):
        self.seconds, self.pending, self.calls = seconds, 0.0, []

    def launch(self, x):
        self.pending += self.seconds

    def synchronize(self, *args):
        self.calls.append(args)
        time.sleep(self.pending)
        self.pending = 0.0


@pytest.mark.parametrize("device", ["mps", "cuda"])
def test_measure_latency_waits_for_gpu_work(monkeypatch, device):
    queue = _FakeQueue(0.02)
    monkeypatch.setattr(torch.mps, "synchronize", queue.synchronize)
    monkeypatch.setattr(torch.cuda, "synchronize", queue.synchronize)
    x = SimpleNamespace(device=torch.device(device))  # only .device is read
    lat = measure_latency(queue.launch, x, warmup=1, repeats=3)
    assert len(queue.calls) == 2 * 4  # before and after every call
    assert lat.median_ms >= 15  # the queued 20 ms are inside the timed interval
    assert lat.device == device


def test_synchronize_is_a_no_op_on_the_cpu(monkeypatch):
    def fail(*args):
        raise AssertionError("a GPU was synchronised for a CPU tensor")

    monkeypatch.setattr(torch.mps, "synchronize", fail)
    monkeypatch.setattr(torch.cuda, "synchronize", fail)
    synchronize("cpu")
    assert measure_latency(lambda x: x + 1, torch.zeros(4), warmup=0, repeats=2).repeats == 2


def test_time_standard_vs_separable_measures_all_four_parts():
    x = torch.rand(1, 8, 16, 12)
    row = time_standard_vs_separable(3, x, n=16, warmup=1, repeats=3)
    assert (row.k, row.d, row.n, row.pixels, row.device) == (3, 8, 16, 16 * 12, "cpu")
    assert row.threads == torch.get_num_threads()
    assert set(row.times) == set(PARTS)
    assert all(row.ms(p) > 0 and row.times[p].iqr_ms >= 0 for p in PARTS)
    assert row.time_ratio == pytest.approx(row.ms("separable") / row.ms("standard"))
    assert row.mac_ratio == pytest.approx(1 / 16 + 1 / 9)
    assert row.depthwise_mac_share == pytest.approx(9 / (9 + 16))
    assert time_standard_vs_separable(5, x, repeats=1).n == 8  # N defaults to D
    with pytest.raises(ValueError, match="B, D, H, W"):
        time_standard_vs_separable(3, torch.rand(8, 16, 16))
    with pytest.raises(ValueError, match="repeats"):
        time_standard_vs_separable(3, x, repeats=0)


def _timing(k=3, d=128, n=128, pixels=64 * 64, **ms) -> SeparableTiming:
    """A made-up SeparableTiming with the given median times (ms) per part."""
    ms = {"standard": 10.0, "depthwise": 2.0, "pointwise": 3.0, "separable": 5.0} | ms
    times = {p: Latency(t, 0.1 * t, 0.9 * t, 5, "cpu") for p, t in ms.items()}
    return SeparableTiming(k, d, n, pixels, times, "cpu", 2)


def test_conv_bytes_and_roofline_bound():
    # 3x3 depthwise on 128 channels, 64x64: input + output + 9*128 weights + 128 biases, float32
    assert conv_bytes(128, 128, 4096, 9 * 128 + 128) == 4 * (2 * 128 * 4096 + 10 * 128)
    assert conv_bytes(2, 3, 10, 0, itemsize=2) == 2 * 50
    # t >= max(MACs / P, bytes / B): 1e9 MACs at 1e10 MACs/s = 100 ms; 1e8 B at 1e10 B/s = 10 ms
    assert roofline_ms(1e9, 1e8, 1e10, 1e10) == pytest.approx(100)
    assert roofline_ms(1e6, 1e9, 1e10, 1e10) == pytest.approx(100)  # memory-bound
    with pytest.raises(ValueError, match="positive"):
        roofline_ms(1, 1, 0, 1)


def test_copy_bandwidth_is_bytes_per_second():
    bw = copy_bandwidth(nbytes=2**20, repeats=2)
    assert 1e7 < bw < 1e13  # between 10 MB/s and 10 TB/s
    with pytest.raises(ValueError, match="repeats"):
        copy_bandwidth(repeats=0)


def test_separable_timing_macs_bytes_and_rates():
    row = _timing(k=3, d=128, n=128, pixels=4096)
    assert row.macs("standard") == 9 * 128 * 128 * 4096
    assert row.macs("separable") == row.macs("depthwise") + row.macs("pointwise")
    assert row.nbytes("standard") == 4 * (2 * 128 * 4096 + 9 * 128 * 128 + 128)
    # the separable layer writes the depthwise output and reads it back
    assert row.nbytes("separable") == row.nbytes("depthwise") + row.nbytes("pointwise")
    assert row.intensity("depthwise") == pytest.approx(1.1, abs=0.05)  # ~ k^2 / 8 for D = N
    assert row.mac_rate("standard") == pytest.approx(row.macs("standard") / 0.010)
    assert row.byte_rate("pointwise") == pytest.approx(row.nbytes("pointwise") / 0.003)
    assert row.depthwise_time_share == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="part must be one of"):
        row.ms("1x1")


@pytest.mark.parametrize("separable_ms, verdict", [
    (12.0, "slower than the standard layer"),
    (10.0, "not faster"),
    (5.0, "time shrank less than the MACs"),
    (1.2, "time shrank about as much as the MACs"),
    (0.5, "time shrank more than the MACs"),
])
def test_separable_timing_summary_is_computed_from_the_times(separable_ms, verdict):
    row = _timing(separable=separable_ms, depthwise=separable_ms / 2)
    text = row.summary()
    assert text.startswith(f"k=3: {separable_ms / 10:.2f} of the standard layer's time for 0.1189")
    assert text.endswith(f"({verdict})")


def test_format_timings_shows_median_iqr_and_rates():
    row = _timing(standard=1677.7, depthwise=0.05123)
    table = format_timings([row]).splitlines()
    assert len(table) == 1 + len(PARTS)
    assert "median ms" in table[0] and "IQR ms" in table[0] and "GMAC/s" in table[0]
    assert " 1678 " in table[1] and " 168 " in table[1]  # 3 significant digits, no exponent
    assert "0.0512" in table[2]
    assert "e+" not in "\n".join(table)
    rows = [_timing(k=3, pointwise=3.0), _timing(k=5, pointwise=3.6)]
    noise = format_timings(rows).splitlines()[-1]
    assert noise.startswith("noise: the pointwise part is the same 1x1 conv in every row")
    assert noise.endswith("3.00 to 3.60 ms, 20% apart")


@pytest.mark.parametrize("times, expected", [
    # memory roof 10 GB/s, compute roof 50 GMAC/s: depthwise (1.1 MACs/byte) is memory-bound
    ({"depthwise": 0.5}, "Near the memory roof: its time follows the bytes it moves."),
    ({"depthwise": 20.0}, "Far below the memory roof: neither its bytes nor its MACs"),
    ({"pointwise": 1.5}, "Near the compute roof: its time follows its MACs."),
    ({"pointwise": 8.0}, "Far below the compute roof"),
])
def test_roofline_sentence_is_computed(times, expected):
    (part, ms), = times.items()
    rows = [_timing(k=3, **times)]
    text = roofline_sentence(rows, part, mac_rate=50e9, bandwidth=10e9)
    assert text.startswith(f"{part.capitalize()} (balance 5.0 MACs/byte): k=3: ")
    assert expected in text
    bound = roofline_ms(rows[0].macs(part), rows[0].nbytes(part), 50e9, 10e9)
    assert f"{ms / bound:.1f}x its bound" in text


def test_roofline_sentence_mixed_rows():
    rows = [_timing(k=3, depthwise=0.5), _timing(k=5, depthwise=20.0)]
    text = roofline_sentence(rows, "depthwise", mac_rate=50e9, bandwidth=10e9)
    assert "k=3: " in text and "k=5: " in text
    assert text.endswith("Near its roof for one kernel size, far below it for another.")
    with pytest.raises(ValueError, match="no timings"):
        roofline_sentence([], "depthwise", 1.0, 1.0)


def test_separable_layer_is_depthwise_then_pointwise():
    """Notebook 01 writes the layer in five lines and copies its weights into srlab's by name."""
    layer = DepthwiseSeparableConv2d(4, 6, 3)
    assert list(layer.state_dict()) == ["depthwise.weight", "depthwise.bias",
                                        "pointwise.weight", "pointwise.bias"]
    plain = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.Conv2d(4, 6, 1))
    plain.load_state_dict({k.replace("depthwise", "0").replace("pointwise", "1"): v
                           for k, v in layer.state_dict().items()})
    x = torch.rand(2, 4, 7, 5)
    assert torch.equal(layer(x), plain(x))


class _Separable(nn.Module):
    """A hand-written separable layer, as notebook 01 writes it, with knobs to get it wrong."""

    def __init__(self, d, n, k, groups=None, padding=None, order="dp", n_out=None):
        super().__init__()
        self.depthwise = nn.Conv2d(d, d, k, padding=k // 2 if padding is None else padding,
                                   groups=d if groups is None else groups)
        self.pointwise = nn.Conv2d(d, n if n_out is None else n_out, 1)
        self.order = order

    def forward(self, x):
        if self.order == "dp":
            return self.pointwise(self.depthwise(x))
        if self.order == "d":
            return self.depthwise(x)
        return self.depthwise(self.pointwise(x))


@pytest.mark.parametrize("kwargs, message", [
    ({"groups": 1}, r"expected \(6, 1, 3, 3\).*set groups=6"),
    ({"padding": 0}, r"padding=1 and stride 1 keep the size"),
    ({"n_out": 5}, r"pointwise weight has shape \(5, 6, 1, 1\), expected \(4, 6, 1, 1\)"),
    ({"order": "d"}, r"self.depthwise first, then self.pointwise"),
    ({"order": "pd"}, r"forward failed"),
])
def test_check_separable_names_what_is_wrong(kwargs, message):
    assert check_separable(_Separable(6, 4, 3), 6, 4, 3).startswith("your layer is a separable")
    with pytest.raises(ValueError, match=message):
        check_separable(_Separable(6, 4, 3, **kwargs), 6, 4, 3)
    with pytest.raises(ValueError, match="attribute called 'depthwise'"):
        check_separable(nn.Conv2d(6, 4, 3), 6, 4, 3)
