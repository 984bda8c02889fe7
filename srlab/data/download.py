"""DIV2K download (the standard SR training set): official HR zips, verified and resumable.

``download_div2k(root, "train")`` fetches ``DIV2K_train_HR.zip`` (800 images, 3.5 GB) from
the ETH Zurich server into ``root``, checks its size and MD5 (the checksums every SR
codebase uses), unpacks it and returns the image folder ``root/DIV2K_train_HR``. An
interrupted download continues where it stopped (HTTP Range) on the next call.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from srlab.config import data_root, is_offline

DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
# split -> (file name, size in bytes, md5)
DIV2K_FILES: dict[str, tuple[str, int, str]] = {
    "train": ("DIV2K_train_HR.zip", 3_530_603_713, "bdc2d9338d4e574fe81bf7d158758658"),
    "valid": ("DIV2K_valid_HR.zip", 448_993_893, "9fcdda83005c5e5997799b69f955ff88"),
}
CHUNK = 1 << 20


def md5_of(path: str | os.PathLike) -> str:
    """Hex MD5 of a file (a checksum against corruption, not a security measure)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(url: str, dest: str | os.PathLike, *, size: int | None = None,
                  md5: str | None = None, progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a partial ``.part``.

    The finished file must have ``size`` bytes and the ``md5`` given (a mismatch deletes
    the partial file and raises ``RuntimeError``). Refuses with ``RuntimeError`` when
    ``SRLAB_OFFLINE=1``, before any network access.
    """
    dest = Path(dest)
    if dest.is_file() and (size is None or dest.stat().st_size == size):
        return dest
    if is_offline():
        raise RuntimeError(
            f"SRLAB_OFFLINE=1 is set, so {url} is not downloaded. Unset SRLAB_OFFLINE, or "
            f"download the file yourself and save it as {dest}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is None or have < size:
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            if err.code != 416:  # 416: nothing left to fetch (the part file is complete)
                raise RuntimeError(f"download of {url} failed: HTTP {err.code} {err.reason}"
                                   ) from err
            response = None
        except OSError as err:
            raise RuntimeError(f"download of {url} failed: {err}; run again to resume") from err
        if response is not None:
            with response:
                if have and response.status != 206:  # server ignored Range: start over
                    have = 0
                total = size or (have + int(response.headers.get("Content-Length", 0))) or None
                with open(part, "ab" if have else "wb") as f, tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, desc=dest.name,
                    disable=not progress,
                ) as bar:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        f.write(chunk)
                        bar.update(len(chunk))
    got = part.stat().st_size
    if size is not None and got != size:
        raise RuntimeError(f"{part} has {got} bytes, expected {size}: the download was cut "
                           "short; run again to resume")
    if md5 is not None and (digest := md5_of(part)) != md5:
        part.unlink()
        raise RuntimeError(f"{url}: MD5 {digest} does not match the expected {md5}; the "
                           "corrupt file was deleted, run again to download it afresh")
    os.replace(part, dest)
    return dest


def download_div2k(root: str | os.PathLike | None = None, split: str = "train", *,
                   base_url: str = DIV2K_URL, keep_zip: bool = False,
                   progress: bool = True) -> Path:
    """Download and unpack the DIV2K HR images of ``split`` ("train": 800, "valid": 100).

    ``root`` defaults to ``data_root()/"DIV2K"``. Returns the folder of PNGs, e.g.
    ``root/DIV2K_train_HR``, ready for ``ImageFolderSR`` or ``python -m srlab train --data``.
    Already unpacked data is reused without network access.
    """
    if split not in DIV2K_FILES:
        raise ValueError(f"split must be one of {sorted(DIV2K_FILES)}, got {split!r}")
    name, size, md5 = DIV2K_FILES[split]
    root = Path(root).expanduser() if root is not None else data_root() / "DIV2K"
    folder = root / name.removesuffix(".zip")
    if (folder / ".complete").exists():
        return folder
    archive = download_file(base_url.rstrip("/") + "/" + name, root / name, size=size, md5=md5,
                            progress=progress)
    tmp = root / f".{folder.name}.unpacking"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp)
    inner = tmp / folder.name
    if not inner.is_dir():  # the official zips hold one folder named like the zip
        raise RuntimeError(f"{archive} does not contain a {folder.name}/ folder")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(inner, folder)
    shutil.rmtree(tmp, ignore_errors=True)
    (folder / ".complete").write_text(f"{name} {md5}\n")
    if not keep_zip:
        archive.unlink()
    return folder
