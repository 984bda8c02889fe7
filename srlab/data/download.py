"""Dataset downloads, verified and resumable: DIV2K (training) and the SR test sets.

``download_div2k(root, "train")`` fetches ``DIV2K_train_HR.zip`` (800 images, 3.5 GB) from
the ETH Zurich server into ``root``, checks its size and MD5 (the checksums every SR
codebase uses), unpacks it and returns the image folder ``root/DIV2K_train_HR``.

``download_benchmarks(["Set5", "Set14", "B100", "Urban100"])`` fetches the benchmark archive
the EDSR authors publish (about 250 MB, MD5 checked) and unpacks the HR images of each set
into ``data_root()/"benchmarks"/<name>``, where ``benchmark_set`` looks for them.

An interrupted download continues where it stopped (HTTP Range) on the next call; with
``SRLAB_OFFLINE=1`` nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from srlab.config import data_root, is_offline

DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
# split -> (file name, size in bytes, md5)
DIV2K_FILES: dict[str, tuple[str, int, str]] = {
    "train": ("DIV2K_train_HR.zip", 3_530_603_713, "bdc2d9338d4e574fe81bf7d158758658"),
    "valid": ("DIV2K_valid_HR.zip", 448_993_893, "9fcdda83005c5e5997799b69f955ff88"),
}
CHUNK = 1 << 20

# The SR test sets as the EDSR authors publish them (also used by EDSR-PyTorch and torchSR):
# benchmark/<set>/HR/*.png plus LR_bicubic/ folders, which are not unpacked here.
BENCHMARK_URL = "https://cv.snu.ac.kr/research/EDSR/"
BENCHMARK_FILE = ("benchmark.tar", "4ace41d33c2384b97e6b320cd0afd6ba")  # (name, md5)
BENCHMARK_APPROX_MB = 250  # exact size not recorded: the MD5 and Content-Length are checked
BENCHMARK_DOWNLOADABLE = ("Set5", "Set14", "B100", "Urban100")
NOT_REDISTRIBUTED = {
    "Manga109": "Manga109 is not redistributed in the benchmark archive: its licence allows "
                "academic use on request only (ask at http://www.manga109.org, then put the "
                "HR images in a folder named Manga109 under SRLAB_BENCHMARKS)",
}


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

    The finished file must have ``size`` bytes (when ``size`` is None: the total the server
    announces in Content-Length or Content-Range) and the ``md5`` given; a wrong MD5 deletes
    the partial file, a short file is kept to resume, both raise ``RuntimeError``. Refuses
    with ``RuntimeError`` when ``SRLAB_OFFLINE=1``, before any network access.
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
                announced = _announced_size(response, have)
                if size is None:
                    size = announced
                with open(part, "ab" if have else "wb") as f, tqdm(
                    total=size, initial=have, unit="B", unit_scale=True, desc=dest.name,
                    disable=not progress,
                ) as bar:
                    try:
                        for chunk in iter(lambda: response.read(CHUNK), b""):
                            f.write(chunk)
                            bar.update(len(chunk))
                    except (OSError, http.client.HTTPException) as err:
                        f.flush()
                        raise RuntimeError(
                            f"download of {url} was cut short after {f.tell():,} bytes "
                            f"({type(err).__name__}); run again to resume") from err
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


def _announced_size(response, have: int) -> int | None:
    """Total file size the server announces: Content-Range's total for a 206 (resumed)
    answer, else ``have`` + Content-Length; None when it announces neither."""
    if response.status == 206:
        match = re.fullmatch(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
        if match:
            return int(match.group(1))
    length = response.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


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


def _has_images(folder: Path) -> bool:
    """A set unpacked here (``.complete``) or put there by hand (any image file): reused."""
    return (folder / ".complete").exists() or (folder.is_dir() and any(
        p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp") for p in folder.iterdir()))


def _hr_member(member: tarfile.TarInfo, names: Sequence[str]) -> tuple[str, str] | None:
    """(set, file name) when ``member`` is an HR image ``[...]/<set>/HR/<file>`` of a set in
    ``names``, else None (LR folders, other sets, links, odd names are skipped)."""
    parts = PurePosixPath(member.name).parts
    if not member.isfile() or len(parts) < 3 or parts[-2] != "HR" or parts[-3] not in names:
        return None
    fname = parts[-1]
    if ".." in parts or fname.startswith(".") or Path(fname).suffix.lower() not in (
            ".png", ".jpg", ".jpeg", ".bmp"):
        return None
    return parts[-3], fname


def _unpack_hr(archive: Path, names: Sequence[str], root: Path) -> None:
    """Unpack the HR images of ``names`` from the tar ``archive`` into ``root/<name>/``,
    each set atomically (a temporary folder, then ``os.replace``) with a ``.complete`` marker."""
    tmp = root / ".benchmarks.unpacking"
    shutil.rmtree(tmp, ignore_errors=True)
    counts = dict.fromkeys(names, 0)
    with tarfile.open(archive) as tf:
        for member in tf:
            found = _hr_member(member, names)
            if found is None:
                continue
            set_name, fname = found
            member.name = f"{set_name}/{fname}"  # flat: tmp/<set>/<file>, nothing else
            if hasattr(tarfile, "data_filter"):  # refuses links, absolute paths, "..": safe
                tf.extract(member, tmp, filter="data")
            else:
                tf.extract(member, tmp)
            counts[set_name] += 1
    missing = [n for n, c in counts.items() if c == 0]
    if missing:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"{archive} holds no HR images of {', '.join(missing)} "
                           "(expected benchmark/<set>/HR/*.png)")
    for name in names:
        folder = root / name
        (tmp / name / ".complete").write_text(f"{BENCHMARK_FILE[0]} {counts[name]} images\n")
        shutil.rmtree(folder, ignore_errors=True)  # holds no image (see _has_images)
        os.replace(tmp / name, folder)
    shutil.rmtree(tmp, ignore_errors=True)


def download_benchmarks(names: Sequence[str] = BENCHMARK_DOWNLOADABLE,
                        root: str | os.PathLike | None = None, *, base_url: str = BENCHMARK_URL,
                        md5: str = BENCHMARK_FILE[1], keep_archive: bool = False,
                        progress: bool = True) -> dict[str, Path]:
    """Download the SR test sets ``names`` (any of Set5, Set14, B100, Urban100) and unpack
    their HR images into ``root/<name>/`` (default root: ``data_root()/"benchmarks"``, where
    ``benchmark_set`` looks). Returns name -> folder.

    One archive (``benchmark.tar`` of the EDSR authors, about 250 MB, MD5 checked, resumable)
    holds all four sets. Sets already there (unpacked before, or a folder of images you put
    there) are reused without network access; the archive
    is deleted after unpacking unless ``keep_archive``. Manga109 is not redistributed there
    (a ``ValueError`` says how to get it); ``SRLAB_OFFLINE=1`` refuses with a ``RuntimeError``.
    """
    names = [names] if isinstance(names, str) else list(dict.fromkeys(names))
    for name in names:
        if name in NOT_REDISTRIBUTED:
            raise ValueError(NOT_REDISTRIBUTED[name])
        if name not in BENCHMARK_DOWNLOADABLE:
            raise ValueError(f"unknown benchmark set {name!r}: download_benchmarks knows "
                             f"{', '.join(BENCHMARK_DOWNLOADABLE)}")
    if not names:
        raise ValueError(f"no set asked for; choose from {', '.join(BENCHMARK_DOWNLOADABLE)}")
    root = Path(root).expanduser() if root is not None else data_root() / "benchmarks"
    folders = {name: root / name for name in names}
    todo = [name for name, folder in folders.items() if not _has_images(folder)]
    if not todo:
        return folders
    file_name = BENCHMARK_FILE[0]
    url = base_url.rstrip("/") + "/" + file_name
    if is_offline():
        raise RuntimeError(
            f"SRLAB_OFFLINE=1 is set, so the benchmark archive {url} (about "
            f"{BENCHMARK_APPROX_MB} MB) is not downloaded for {', '.join(todo)}. Unset "
            f"SRLAB_OFFLINE, or put the HR images of each set in {root}/<name>/ (or in a folder "
            "named after the set under SRLAB_BENCHMARKS)")
    archive = root / file_name
    if not archive.is_file():
        print(f"[srlab.data] downloading {', '.join(todo)}: {url}, about "
              f"{BENCHMARK_APPROX_MB} MB (all four sets are in the one archive)", flush=True)
    archive = download_file(url, archive, md5=md5, progress=progress)
    _unpack_hr(archive, todo, root)
    if not keep_archive:
        archive.unlink()
    return folders
