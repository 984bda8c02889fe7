"""srlab.checks: every input check, its message, and the value it returns."""

import math

import pytest
import torch

from srlab.checks import (
    check_choice,
    check_eta,
    check_image,
    check_int,
    check_pair,
    check_positive,
    check_same_shape,
    check_scale,
)


def test_check_image_returns_a_good_image_unchanged():
    x = torch.rand(2, 3, 5, 4)
    assert check_image(x, channels=3) is x
    assert check_image(torch.empty(0, 3, 4, 4)).shape == (0, 3, 4, 4)  # nothing to scan


@pytest.mark.parametrize("x, error, match", [
    ([[0.5]], TypeError, "img: expected a torch.Tensor .* got list"),
    (torch.rand(3, 8, 8), ValueError, r"img: expected a 4-D .* 3-D .*x.unsqueeze\(0\)"),
    (torch.rand(8, 8), ValueError, "2-D shape"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), TypeError, r"dtype torch.uint8 .* / 255"),
    (torch.rand(1, 4, 8, 8), ValueError, r"img: expected 3 channels \(N, 3, H, W\)"),
    (torch.rand(1, 3, 8, 8) * 255, ValueError, r"values in \[0, 1\].*divide by 255"),
    (torch.rand(1, 3, 8, 8) - 0.5, ValueError, r"got min -0\.\d+"),
])
def test_check_image_messages(x, error, match):
    with pytest.raises(error, match=match):
        check_image(x, "img", channels=3)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_check_image_rejects_nan_and_inf(bad):
    x = torch.rand(1, 3, 4, 4)
    x[0, 1, 2, 3] = bad
    x[0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match="lr: expected finite values.*2 of 48 values are NaN"):
        check_image(x, "lr")
    assert check_image(x, "lr", value_range=False) is x  # the training loops skip the scan


def test_check_image_tolerates_tiny_float_overshoot():
    x = torch.full((1, 3, 2, 2), 1.0005)
    assert check_image(x) is x
    with pytest.raises(ValueError, match="max 1.01"):
        check_image(torch.full((1, 3, 2, 2), 1.01))


def test_check_same_shape():
    check_same_shape(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"a and b must have the same shape, got \(1, 3, 4, 4\) "
                                         r"and \(1, 3, 4, 5\)"):
        check_same_shape(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5), ("a", "b"))


def test_check_pair():
    check_pair(torch.rand(2, 3, 4, 5), torch.rand(2, 3, 8, 10), 2)
    with pytest.raises(ValueError, match=r"hr \(2, 3, 8, 9\) must be x2 the size of lr"):
        check_pair(torch.rand(2, 3, 4, 5), torch.rand(2, 3, 8, 9), 2)
    with pytest.raises(ValueError, match="same batch size"):
        check_pair(torch.rand(2, 3, 4, 5), torch.rand(3, 3, 8, 10), 2)
    with pytest.raises(ValueError, match="hr: expected 3 channels"):
        check_pair(torch.rand(2, 3, 4, 5), torch.rand(2, 1, 8, 10), 2)
    with pytest.raises(TypeError, match="lr: expected a float tensor"):
        check_pair(torch.zeros(2, 3, 4, 5, dtype=torch.uint8), torch.rand(2, 3, 8, 10), 2)


def test_check_scale():
    assert check_scale(4) == 4 and check_scale(4.0) == 4 and type(check_scale(4.0)) is int
    assert check_scale(torch.tensor(3).item()) == 3
    assert check_scale(2, allowed=(2, 4)) == 2
    for bad in (0, 1, -2, 2.5, "4", True, None):
        with pytest.raises(ValueError, match="scale must be an integer >= 2"):
            check_scale(bad)
    with pytest.raises(ValueError, match=r"scale must be one of \(2, 4\), got 3"):
        check_scale(3, allowed=(2, 4))


def test_check_int():
    assert check_int(5, "steps", minimum=0) == 5
    assert check_int(0, "steps", minimum=0, maximum=0) == 0
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        check_int(0, "steps", minimum=1)
    with pytest.raises(ValueError, match="n must be an integer >= 1 and <= 5, got 6"):
        check_int(6, "n", minimum=1, maximum=5)
    with pytest.raises(ValueError, match="n must be an integer <= 5, got 9"):
        check_int(9, "n", maximum=5)
    for bad in (True, 2.0, "3", None):
        with pytest.raises(ValueError, match=f"n must be an integer, got {bad!r}"):
            check_int(bad, "n")


def test_check_positive():
    assert check_positive(3, "lr") == 3.0 and type(check_positive(3, "lr")) is float
    assert check_positive(1e-4, "lr") == 1e-4
    for bad in (0, -1, 0.0, math.nan, math.inf, True, "0.1", None):
        with pytest.raises(ValueError, match="lr must be a number > 0"):
            check_positive(bad, "lr")


def test_check_choice():
    assert check_choice("flip", ("none", "flip"), "augmentation") == "flip"
    with pytest.raises(ValueError, match=r"^unknown augmentation 'rotate'; expected one of "
                                         r"\('none', 'flip'\)$"):
        check_choice("rotate", ("none", "flip"), "augmentation")


def test_check_eta():
    assert check_eta(0) == 0.0 and check_eta(0.5) == 0.5 and check_eta(1) == 1.0
    for bad in (-0.1, 1.5, True, "0", None):
        with pytest.raises(ValueError, match=r"eta must be a number in \[0, 1\]"):
            check_eta(bad)
