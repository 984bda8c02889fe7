"""Downloaders (DIV2K, the benchmark archive) against small files served on 127.0.0.1 (no
internet involved)."""

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

import srlab.data.download as download
from srlab.data import benchmark_set, list_images


def make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"DIV2K_train_HR/{i + 1:04d}.png", bytes(range(256)) * 40)
    return buf.getvalue()


class Server:
    """A local HTTP server for one file, with optional Range support; records requests."""

    def __init__(self, payload: bytes, ranges: bool = True, cut_at: int | None = None):
        """``cut_at``: close the connection after sending the file up to that byte, having
        announced the whole length (a download cut short)."""
        self.payload, self.ranges, self.requests = payload, ranges, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                start = 0
                header = self.headers.get("Range")
                if outer.ranges and header:
                    start = int(header.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                else:
                    self.send_response(200)
                body = payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if cut_at is None else payload[start:cut_at])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(monkeypatch):
    payload = make_zip()
    monkeypatch.delenv("SRLAB_OFFLINE", raising=False)  # only 127.0.0.1 is contacted
    monkeypatch.setitem(download.DIV2K_FILES, "train", (
        "DIV2K_train_HR.zip", len(payload), hashlib.md5(payload).hexdigest()))
    servers = []

    def start(ranges=True):
        servers.append(Server(payload, ranges))
        return servers[-1]

    yield payload, start
    for s in servers:
        s.close()


def test_offline_refuses_before_any_network_access(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLAB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="SRLAB_OFFLINE=1"):
        download.download_div2k(tmp_path, "train", base_url="http://127.0.0.1:9/")
    assert not list(tmp_path.iterdir())


def test_download_verify_unpack_and_reuse(tmp_path, served):
    payload, start = served
    server = start()
    folder = download.download_div2k(tmp_path, "train", base_url=server.url, progress=False)
    assert folder == tmp_path / "DIV2K_train_HR"
    assert [p.name for p in list_images(folder)] == ["0001.png", "0002.png", "0003.png"]
    assert not (tmp_path / "DIV2K_train_HR.zip").exists()  # zip removed after unpacking
    assert server.requests == [("/DIV2K_train_HR.zip", None)]
    server.close()
    # a second call finds the unpacked folder and needs no server
    assert download.download_div2k(tmp_path, "train", base_url=server.url) == folder


def test_interrupted_download_resumes_with_range(tmp_path, served):
    payload, start = served
    server = start()
    half = len(payload) // 2
    (tmp_path / "DIV2K_train_HR.zip.part").write_bytes(payload[:half])
    folder = download.download_div2k(tmp_path, "train", base_url=server.url, progress=False,
                                     keep_zip=True)
    assert server.requests == [("/DIV2K_train_HR.zip", f"bytes={half}-")]
    assert (tmp_path / "DIV2K_train_HR.zip").read_bytes() == payload
    assert len(list_images(folder)) == 3


def test_server_without_range_support_restarts(tmp_path, served):
    payload, start = served
    server = start(ranges=False)
    (tmp_path / "DIV2K_train_HR.zip.part").write_bytes(payload[:100])
    download.download_div2k(tmp_path, "train", base_url=server.url, progress=False, keep_zip=True)
    assert (tmp_path / "DIV2K_train_HR.zip").read_bytes() == payload


def test_checksum_mismatch_deletes_the_file(tmp_path, served, monkeypatch):
    payload, start = served
    server = start()
    monkeypatch.setitem(download.DIV2K_FILES, "train",
                        ("DIV2K_train_HR.zip", len(payload), "0" * 32))
    with pytest.raises(RuntimeError, match="MD5"):
        download.download_div2k(tmp_path, "train", base_url=server.url, progress=False)
    assert not (tmp_path / "DIV2K_train_HR.zip.part").exists()


def test_bad_split_and_unreachable_server(tmp_path, served):
    with pytest.raises(ValueError, match="split"):
        download.download_div2k(tmp_path, "test")
    with pytest.raises(RuntimeError, match="failed"):
        download.download_div2k(tmp_path, "train", base_url="http://127.0.0.1:9/",
                                progress=False)


# ---------------------------------------------------------------- benchmark archive
def _png(seed: int, size: int = 8) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def make_benchmark_tar() -> bytes:
    """The layout of the EDSR benchmark.tar: benchmark/<set>/HR and LR_bicubic/X4, plus a
    file that tries to escape the target folder and a symlink, which must not be unpacked."""
    files = {f"benchmark/{name}/HR/{name.lower()}_{i}.png": _png(10 * k + i)
             for k, (name, n) in enumerate([("Set5", 3), ("Set14", 2), ("B100", 2),
                                            ("Urban100", 1)]) for i in range(n)}
    files["benchmark/Set5/LR_bicubic/X4/set5_0x4.png"] = _png(99, 2)
    files["benchmark/Set5/HR/../../../escaped.png"] = _png(98)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("benchmark/Set14/HR/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    return buf.getvalue()


@pytest.fixture
def bench_served(monkeypatch):
    """(payload, md5, start(ranges=True, cut_at=None) -> Server) for the benchmark tar."""
    payload = make_benchmark_tar()
    monkeypatch.delenv("SRLAB_OFFLINE", raising=False)  # only 127.0.0.1 is contacted
    servers = []

    def start(ranges=True, cut_at=None):
        servers.append(Server(payload, ranges, cut_at))
        return servers[-1]

    yield payload, hashlib.md5(payload).hexdigest(), start
    for s in servers:
        s.close()


def test_benchmarks_download_unpack_and_reuse(tmp_path, bench_served, capsys):
    payload, md5, start = bench_served
    server = start()
    root = tmp_path / "data" / "benchmarks"
    folders = download.download_benchmarks(["Set5", "B100"], root, base_url=server.url, md5=md5,
                                           progress=False)
    assert folders == {"Set5": root / "Set5", "B100": root / "B100"}
    assert sorted(p.name for p in root.iterdir()) == ["B100", "Set5"]  # archive deleted
    assert [p.name for p in list_images(root / "Set5")] == [f"set5_{i}.png" for i in range(3)]
    assert (root / "Set5" / ".complete").exists() and len(list_images(root / "B100")) == 2
    assert not list(tmp_path.rglob("escaped.png")) and not list(tmp_path.rglob("link.png"))
    assert server.requests == [("/benchmark.tar", None)]
    assert f"about {download.BENCHMARK_APPROX_MB} MB" in capsys.readouterr().out
    # the unpacked images are the archive's, bit for bit, and benchmark_set reads them
    assert (root / "Set5" / "set5_1.png").read_bytes() == _png(1)
    server.close()
    again = download.download_benchmarks(["B100", "Set5"], root, base_url=server.url, md5=md5)
    assert again == {"B100": root / "B100", "Set5": root / "Set5"}
    assert capsys.readouterr().out == ""  # no download announced, no request made


def test_benchmarks_default_root_is_where_benchmark_set_looks(tmp_path, bench_served,
                                                              monkeypatch):
    payload, md5, start = bench_served
    monkeypatch.setenv("SRLAB_DATA", str(tmp_path / "srlab-data"))
    monkeypatch.setenv("SRLAB_BENCHMARKS", str(tmp_path / "elsewhere"))
    server = start()
    download.download_benchmarks("Urban100", base_url=server.url, md5=md5, progress=False)
    ds = benchmark_set("Urban100", 4)
    assert ds.names == ["urban100_0"] and ds[0][1].shape == (3, 8, 8)


def test_benchmarks_cut_short_then_resumed(tmp_path, bench_served):
    payload, md5, start = bench_served
    half = len(payload) // 2
    cut = start(cut_at=half)
    with pytest.raises(RuntimeError, match="cut short.*run again to resume"):
        download.download_benchmarks(["Set14"], tmp_path, base_url=cut.url, md5=md5,
                                     progress=False)
    assert (tmp_path / "benchmark.tar.part").stat().st_size == half
    assert not (tmp_path / "Set14").exists()
    server = start()
    download.download_benchmarks(["Set14"], tmp_path, base_url=server.url, md5=md5,
                                 progress=False, keep_archive=True)
    assert server.requests == [("/benchmark.tar", f"bytes={half}-")]
    assert (tmp_path / "benchmark.tar").read_bytes() == payload
    assert [p.name for p in list_images(tmp_path / "Set14")] == ["set14_0.png", "set14_1.png"]


def test_size_none_is_checked_against_the_announced_length(tmp_path, bench_served,
                                                            monkeypatch):
    """A server that closes early on a response without Content-Length leaves a short file;
    with a Content-Length the size is checked even when no size was given."""
    payload, md5, start = bench_served
    server = start()
    dest = download.download_file(server.url + "benchmark.tar", tmp_path / "b.tar",
                                  progress=False)
    assert dest.read_bytes() == payload
    cut = start(cut_at=100)
    with pytest.raises(RuntimeError, match="cut short"):
        download.download_file(cut.url + "benchmark.tar", tmp_path / "c.tar", progress=False)
    assert (tmp_path / "c.tar.part").stat().st_size == 100 and not (tmp_path / "c.tar").exists()


def test_benchmarks_wrong_md5_deletes_the_file(tmp_path, bench_served):
    payload, md5, start = bench_served
    server = start()
    with pytest.raises(RuntimeError, match="MD5 .* does not match"):
        download.download_benchmarks(["Set5"], tmp_path, base_url=server.url, md5="0" * 32,
                                     progress=False)
    assert list(tmp_path.iterdir()) == []


def test_benchmarks_offline_refuses_before_any_network_access(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SRLAB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match=r"SRLAB_OFFLINE=1 .*about 250 MB.* for Set5, B100"):
        download.download_benchmarks(["Set5", "B100"], tmp_path, base_url="http://127.0.0.1:9/")
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr().out == ""


def test_benchmarks_unknown_set_and_manga109(tmp_path):
    with pytest.raises(ValueError, match="unknown benchmark set 'Set15'.*Set5, Set14, B100, "
                                         "Urban100"):
        download.download_benchmarks(["Set5", "Set15"], tmp_path)
    with pytest.raises(ValueError, match="Manga109 is not redistributed.*manga109.org"):
        download.download_benchmarks(["Manga109"], tmp_path)
    with pytest.raises(ValueError, match="BSD68"):  # the denoising set is not in the archive
        download.download_benchmarks(["BSD68"], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_benchmarks_a_set_missing_from_the_archive(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("benchmark/Set5/HR/a.png")
        body = _png(0)
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
    (tmp_path / "benchmark.tar").write_bytes(buf.getvalue())  # as if downloaded before
    monkeypatch.delenv("SRLAB_OFFLINE", raising=False)
    with pytest.raises(RuntimeError, match="no HR images of Urban100"):
        download.download_benchmarks(["Set5", "Urban100"], tmp_path, base_url="http://127.0.0.1:9/")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["benchmark.tar"]  # nothing half-done


def test_benchmarks_a_folder_put_there_by_hand_is_kept(tmp_path, monkeypatch):
    (tmp_path / "Set5").mkdir()
    (tmp_path / "Set5" / "mine.png").write_bytes(_png(5))
    monkeypatch.setenv("SRLAB_OFFLINE", "1")  # would refuse if it tried to download
    assert download.download_benchmarks(["Set5"], tmp_path) == {"Set5": tmp_path / "Set5"}
    assert [p.name for p in (tmp_path / "Set5").iterdir()] == ["mine.png"]
