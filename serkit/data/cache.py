"""Content-addressed array cache with atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.fileio import write_atomic

#: Bump when the meaning of cached arrays changes (loader or pipeline semantics).
CACHE_FORMAT = "3"


def digest(*parts: Any) -> str:
    """A stable hex digest of JSON-serialisable parts."""
    text = json.dumps([CACHE_FORMAT, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: str) -> str:
    """SHA-256 of a file's content."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def default_cache_dir() -> Path:
    return Path(os.environ.get("SERKIT_CACHE") or Path.home() / ".cache" / "serkit")


def cache_folder(cache_dir: str) -> Path:
    """The feature cache a run uses (``run.cache_dir``, else the default), absolute: Ray workers and
    Tune trials do not share the driver's working folder."""
    return Path(cache_dir or default_cache_dir()).absolute()


class ArrayCache:
    """Arrays stored as ``<root>/<kind>/<ab>/<key>.npy``; a damaged entry reads as a miss."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.npy"

    def get(self, kind: str, key: str) -> np.ndarray | None:
        path = self.path(kind, key)
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None

    def remove(self, kind: str, key: str) -> None:
        """Forget a (damaged) entry, so that it is computed again."""
        self.path(kind, key).unlink(missing_ok=True)

    def put(self, kind: str, key: str, array: np.ndarray) -> None:
        write_atomic(self.path(kind, key), lambda out: np.save(out, array, allow_pickle=False), binary=True)
