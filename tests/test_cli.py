import os

import pytest
import torch

from srlab import config
from srlab.__main__ import build_parser, main
from srlab.checks import check_image, check_scale


def test_demo_writes_figure_offline(tmp_path, capsys):
    assert main(["demo", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "offline: yes" in out and "mean x4" in out and "measured 0.1189" in out
    assert "smsrn_x4" in out and "888,929 params" in out


def test_info(capsys):
    main(["info"])
    assert "torch" in capsys.readouterr().out


def test_parser_rejects_unknown_model():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "resnet"])


def test_budget_and_device(monkeypatch):
    monkeypatch.setenv("SRLAB_FAST", "1")
    assert config.budget(fast=3, full=300) == 3
    monkeypatch.setenv("SRLAB_FAST", "0")
    assert config.budget(fast=3, full=300) == 300
    monkeypatch.setenv("SRLAB_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    monkeypatch.setenv("SRLAB_DATA", "~/somewhere")
    assert config.data_root() == config.data_root().expanduser()
    assert str(config.data_root()).endswith("somewhere")


def test_seed_everything_repeats():
    config.seed_everything(7)
    a = torch.rand(3)
    gen = config.seed_everything(7)
    assert torch.equal(a, torch.rand(3))
    assert torch.equal(
        torch.rand(2, generator=gen), torch.rand(2, generator=config.seed_everything(7))
    )


def test_checks_messages():
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_image([[0.0]])
    with pytest.raises(ValueError, match="3 channels"):
        check_image(torch.rand(1, 4, 8, 8), channels=3)
    assert check_scale(4.0) == 4
    with pytest.raises(ValueError, match="one of"):
        check_scale(3, allowed=(2, 4))


def test_offline_flag_is_set_for_tests():
    assert os.environ["SRLAB_OFFLINE"] == "1" and config.is_offline()


def test_cli_bad_input_is_a_message_not_a_traceback(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "tinyunet", "--scale", "4"])
    assert exit_info.value.code == 2
    assert "x2 model" in capsys.readouterr().err
