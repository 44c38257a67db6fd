"""What a path names, as a hash: a component's cache identity holds it for each path parameter, so
moving a folder changes nothing and editing a file changes the key."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


def fingerprint(value: str) -> str:
    """A hash of what a path names: a file's bytes, or a folder's file names and bytes."""
    path = Path(value).expanduser()
    if not path.exists():
        return f"missing:{value}"
    if path.is_file():
        stat = path.stat()
        return _file_hash(str(path), stat.st_size, stat.st_mtime_ns)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(_file_hash(str(file), stat.st_size, stat.st_mtime_ns).encode())
    return digest.hexdigest()


@lru_cache(maxsize=4096)
def _file_hash(path: str, size: int, mtime: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
