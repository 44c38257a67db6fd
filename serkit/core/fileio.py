"""Atomic writes for run-folder artefacts."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeAlias

from serkit.core.errors import SerkitError

#: A value a JSON document can hold, and a JSON object (what serkit's documents keep free-form).
JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
JSONObject: TypeAlias = dict[str, JSONValue]

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: str | Path, write: Callable[[IO[Any]], object], binary: bool = False) -> None:
    """Write through ``write(handle)`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        out: IO[Any]
        with os.fdopen(handle, "wb") if binary else os.fdopen(handle, "w", encoding="utf-8") as out:
            write(out)
        os.chmod(temp, 0o666 & ~_UMASK)  # mkstemp makes files private; give them the usual mode
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    write_atomic(path, lambda out: out.write(text))


def write_bytes(path: str | Path, data: bytes) -> None:
    write_atomic(path, lambda out: out.write(data), binary=True)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_figure(figure: Any, path: str | Path, dpi: int = 120) -> None:
    """Save a matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    write_atomic(path, lambda out: figure.savefig(out, format="png", dpi=dpi, bbox_inches="tight"), binary=True)
    plt.close(figure)


def require_writable(folder: str | Path, what: str) -> Path:
    """``folder``, created if need be; one line naming it when it cannot take new files (read-only,
    immutable, another user's) instead of a library's error halfway through writing."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".serkit-writable-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise SerkitError(f"{folder}: {what} is not writable ({exc.strerror or exc}); nothing was written") from exc
    return folder
