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


def read_csv_rows(path: str | Path, columns: tuple[str, ...], key: str) -> list[dict[str, str]]:
    """A CSV file's rows as dicts, every field a string; a SerkitError naming ``key``, the file and the line where
    it cannot be read, lacks one of ``columns`` (e.g. another separator), or a row has fewer fields than the
    header (a cut or damaged row)."""
    import csv

    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            absent = [c for c in columns if c not in header]
            if absent:
                shown = ", ".join(header[:6]) + (", ..." if len(header) > 6 else "") or "none"
                raise SerkitError(
                    f"{key}: {path}: the header lacks column(s) {', '.join(absent)} (found: {shown}); a CSV file "
                    "separated by commas was expected"
                )
            rows = []
            for row in reader:
                if None in row.values() or None in row:
                    line = reader.line_num
                    raise SerkitError(
                        f"{key}: {path}, line {line}: the row has {len([v for v in row.values() if v is not None])} "
                        f"field(s) for a header of {len(header)} (a cut or damaged row)"
                    )
                rows.append(row)
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SerkitError(f"{key}: cannot read {path} ({type(exc).__name__}: {exc})") from exc


def read_json_file(path: str | Path, key: str) -> Any:
    """A JSON file's content; a SerkitError naming ``key``, the file, and the line and column where it is not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SerkitError(f"{key}: {path}, line {exc.lineno} column {exc.colno}: not JSON ({exc.msg})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SerkitError(f"{key}: cannot read {path} ({type(exc).__name__}: {exc})") from exc
