"""srlab.checkpoint: atomic writes, safe reads that refuse anything foreign, sha256."""

import hashlib
import os
import pickle
import stat

import pytest
import torch

from srlab import checkpoint

PAYLOAD = {"kind": "msrn", "config": {"scale": 2}, "model": {"w": torch.arange(4.0)}}


class _RunsCode:
    """A pickle that would create a file when unpickled (what weights_only=True prevents)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_save_load_round_trip(tmp_path):
    path = checkpoint.save(PAYLOAD, tmp_path / "sub" / "w.pt")
    assert path == tmp_path / "sub" / "w.pt"
    loaded = checkpoint.load(path)
    assert loaded["kind"] == "msrn" and loaded["config"] == {"scale": 2}
    assert torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert os.listdir(tmp_path / "sub") == ["w.pt"]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_save_replaces_atomically_and_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = checkpoint.save(PAYLOAD, tmp_path / "w.pt")
    before = path.read_bytes()

    def broken_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save({**PAYLOAD, "kind": "smsrn"}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.pt"]


def test_required_keys(tmp_path):
    path = checkpoint.save({"hr": torch.zeros(1), "source": "x"}, tmp_path / "c.pt")
    assert set(checkpoint.load(path, required=frozenset({"hr", "source"}))) == {"hr", "source"}
    with pytest.raises(ValueError, match=r"not a srlab weights file: .*c.pt .*\['config', "
                                         r"'kind', 'model'\]"):
        checkpoint.load(path)


def _text_file(path):
    path.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/bin/sh\n")


def _random_bytes(path):
    path.write_bytes(os.urandom(3000))


def _foreign_pickle(path):
    path.write_bytes(pickle.dumps(_RunsCode(path.parent / "code_ran"), protocol=2))


def _foreign_torch_file(path):
    torch.save({"kind": "msrn", "config": {}, "model": _RunsCode(path.parent / "code_ran")}, path)


def _tensor_not_dict(path):
    torch.save(torch.zeros(3), path)


def _dict_without_keys(path):
    torch.save({"state_dict": {"w": torch.zeros(1)}}, path)


def _empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("write", [_text_file, _random_bytes, _foreign_pickle,
                                   _foreign_torch_file, _tensor_not_dict, _dict_without_keys,
                                   _empty])
def test_anything_foreign_is_one_clear_value_error(tmp_path, write):
    path = tmp_path / "weights.pt"
    write(path)
    with pytest.raises(ValueError) as err:
        checkpoint.load(path)
    message = str(err.value)
    assert message.startswith(f"not a srlab weights file: {path}")
    assert "\n" not in message and "weights_only" not in message
    # no chained torch error (with its advice to set weights_only=False) in a traceback
    assert err.value.__cause__ is None
    assert err.value.__context__ is None or err.value.__suppress_context__
    assert not (tmp_path / "code_ran").exists()  # nothing from the file was executed


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt does not exist"):
        checkpoint.load(tmp_path / "nothing.pt")
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path)  # a folder is not a file


def test_sha256_of(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # more than one 1 MiB chunk
    (tmp_path / "f").write_bytes(data)
    assert checkpoint.sha256_of(tmp_path / "f") == hashlib.sha256(data).hexdigest()
