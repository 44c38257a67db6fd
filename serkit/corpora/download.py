"""`serkit data download`: fetch a corpus's archives with resume, verify them, extract them safely."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from serkit.core.components import DownloadSource
from serkit.core.errors import SerkitError
from serkit.core.version import __version__

Progress = Callable[[int, int | None], None]  # (bytes just received, total bytes or None)


def fetch(url: str, dest: Path, progress: Progress = lambda n, total: None, timeout: float = 30) -> Path:
    """Download ``url`` to ``dest``, resuming a ``.part`` file left by an interrupted attempt."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"serkit/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
            os.replace(part, dest)
            return dest
        raise SerkitError(f"{url}: download failed (HTTP {exc.code} {exc.reason})") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SerkitError(f"{url}: cannot connect ({reason})") from exc
    with response:
        resumed = have and response.status == 206
        length = response.headers.get("Content-Length")
        total = (have if resumed else 0) + int(length) if length else None
        progress(have if resumed else 0, total)
        received = have if resumed else 0
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    received += len(chunk)
                    progress(len(chunk), total)
        except (OSError, http.client.HTTPException) as exc:
            raise SerkitError(
                f"{url}: download interrupted after {received} bytes ({type(exc).__name__}); "
                "run the same command again to resume"
            ) from exc
    if total is not None and received != total:
        raise SerkitError(
            f"{url}: download interrupted after {received} of {total} bytes; run the same command again to resume"
        )
    os.replace(part, dest)
    return dest


def verify(path: Path, md5: str = "", sha256: str = "") -> str:
    """Check a file against the expected digests; return its SHA-256. A mismatch removes the file."""
    digests = {"md5": hashlib.md5(usedforsecurity=False), "sha256": hashlib.sha256()}
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            for digest in digests.values():
                digest.update(block)
    for name, expected in (("md5", md5), ("sha256", sha256)):
        actual = digests[name].hexdigest()
        if expected and actual != expected.lower():
            path.unlink()
            raise SerkitError(
                f"{path}: checksum mismatch (expected {name} {expected}, got {actual}); "
                "the file was removed, run the command again to fetch it anew"
            )
    return digests["sha256"].hexdigest()


def unpack(archive: Path, staging: Path, target: Path) -> None:
    """Unpack one archive into ``staging`` (named ``target`` in messages), by its kind."""
    name = archive.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        _untar(archive, staging, target)
    else:
        _unzip(archive, staging, target)


def _escapes(name: str, base: Path, is_link: bool) -> bool:
    destination = (base / name).resolve()
    return Path(name).is_absolute() or ".." in Path(name).parts or not destination.is_relative_to(base) or is_link


def _unzip(archive: Path, staging: Path, target: Path) -> None:
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SerkitError(f"{archive}: not a readable zip archive (truncated or corrupt: {exc})") from exc
    with bundle:
        base = staging.resolve()
        for info in bundle.infolist():
            if _escapes(info.filename, base, stat.S_ISLNK(info.external_attr >> 16)):
                raise SerkitError(
                    f"{archive}: entry '{info.filename}' would be written outside {target}; refusing to extract"
                )
        broken = _first_corrupt(bundle)
        if broken:
            raise SerkitError(f"{archive}: entry '{broken}' is corrupt (CRC mismatch); delete the archive and retry")
        try:
            bundle.extractall(staging)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise SerkitError(f"{archive}: extraction failed ({exc})") from exc


def _untar(archive: Path, staging: Path, target: Path) -> None:
    """A tar archive: every member a plain file or folder inside the target, extracted with tarfile's
    ``data`` filter as well (no links, devices or absolute paths)."""
    try:
        with tarfile.open(archive) as bundle:
            members = bundle.getmembers()
            base = staging.resolve()
            for member in members:
                if _escapes(member.name, base, not (member.isfile() or member.isdir())):
                    raise SerkitError(
                        f"{archive}: entry '{member.name}' would be written outside {target} or is not a plain "
                        "file; refusing to extract"
                    )
            bundle.extractall(staging, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise SerkitError(f"{archive}: not a readable tar archive (truncated or corrupt: {exc})") from exc


def _first_corrupt(bundle: zipfile.ZipFile) -> str | None:
    try:
        return bundle.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"? ({exc})"


def download_corpus(
    source: DownloadSource,
    to: Path,
    progress: Progress,
    url: str = "",
    md5: str = "",
    sha256: str = "",
    keep_archive: bool = False,
) -> tuple[Path, str]:
    """Fetch, verify and extract one corpus (every archive of one in parts); returns (dataset root, the
    archives' SHA-256 digests, comma-separated)."""
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise SerkitError(f"{to}: folder exists and is not empty (choose another --to)")
    try:
        to.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SerkitError(f"{to.parent}: cannot create the folder ({exc.strerror or exc})") from exc
    if source.parts and (md5 or sha256):
        raise SerkitError("--md5/--sha256: this corpus comes in several archives; they cannot share one checksum")
    archives, digests = [], []
    for address, filename in source.archives(url):
        archive = to.parent / f"{to.name}-{filename}"
        if not archive.exists():
            fetch(address, archive, progress)
        checks = (md5, sha256) if (md5 or sha256 or url) else (source.md5, source.sha256)
        digests.append(verify(archive, *checks))
        archives.append(archive)
    staging = to.parent / f".{to.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    for archive in archives:
        stem = re.sub(r"(\.tar\.gz|\.tgz|\.tar|\.zip)$", "", archive.name.removeprefix(f"{to.name}-"))
        unpack(archive, staging / stem if source.folders else staging, to)
    if to.exists():
        to.rmdir()  # empty, checked above
    os.replace(staging, to)
    if not keep_archive:
        for archive in archives:
            archive.unlink()
    return to / source.root, ", ".join(digests)
