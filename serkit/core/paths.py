"""Parameters that name files: where a relative path is taken from, that it exists, and its content.

A relative path written in a recipe or sweep file is read against that file's folder; one given
with ``--set`` against the working directory. A component's cache identity holds what the path
names (a content hash), so moving a folder changes nothing and editing a file changes the key.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from serkit.core.errors import SerkitError
from serkit.core.kinds import all_kinds
from serkit.core.registry import Registry


def resolve_paths(raw: dict[str, Any], registry: Registry, base: Path) -> None:
    """Make every relative value of a path parameter in ``raw`` absolute against ``base`` (in place).

    Values already absolute (resolved by an earlier layer) are left alone, so layers apply in
    order: the recipe file's folder, then a sweep file's, then the working directory.
    """
    for kind in all_kinds():
        section = raw.get(kind.section)
        entries = section if isinstance(section, list) else [section]
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            found = registry.entries[kind.key].get(entry["name"])
            if found is None:
                continue  # an unknown name: the recipe check names it
            for spec in found.cls.params():
                value = entry.get(spec.name)
                if spec.path and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                    entry[spec.name] = os.path.normpath(base / value)


def check_exists(component: Any, where: str) -> None:
    """Every non-empty path parameter of ``component`` names something that exists.

    A dataset's root is left to its scan (which names ``dataset.root``), so that a recipe can be
    validated, listed and compared where its corpus is not.
    """
    from serkit.core.components import Dataset

    if isinstance(component, Dataset):
        return
    from serkit.core.components import path_params

    for name in path_params(type(component)):
        value = getattr(component, name)
        if value and not Path(value).expanduser().exists():
            raise SerkitError(
                f"{where}.{name}: '{value}' does not exist (a relative path in a recipe or sweep file is read "
                "from that file's folder; one given with --set, from the working directory)"
            )


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
