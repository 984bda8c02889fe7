"""DIV2K downloader against a small zip served on 127.0.0.1 (no internet involved)."""

import hashlib
import http.server
import io
import threading
import zipfile

import pytest

import srlab.data.download as download
from srlab.data import list_images


def make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"DIV2K_train_HR/{i + 1:04d}.png", bytes(range(256)) * 40)
    return buf.getvalue()


class Server:
    """A local HTTP server for one file, with optional Range support; records requests."""

    def __init__(self, payload: bytes, ranges: bool = True):
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
                self.wfile.write(body)

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
