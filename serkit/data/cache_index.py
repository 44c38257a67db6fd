"""What the feature cache holds and how to shrink it: ``serkit cache info`` and ``serkit cache prune``.

Every run records, in ``<cache>/pipelines/<id>.json``, the pipeline it used (in words) and the
entries it read or wrote; the record's modification time is the pipeline's last use. Pruning
removes whole pipelines (least recently used first) and then every entry no remaining record
names. It takes an exclusive lock on the cache; runs hold a shared one while they compute
features, so pruning waits for them, and a run that starts later recomputes what was removed.
Entries are written by atomic rename, so no reader ever sees half a file.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serkit.core.errors import SerkitError
from serkit.core.fileio import write_json

KINDS = ("waves", "rates", "features")


@contextmanager
def cache_lock(root: Path, exclusive: bool) -> Iterator[None]:
    """A shared (runs) or exclusive (prune) lock on the cache folder."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_use(root: Path, pipeline_id: str, description: str, entries: Iterable[tuple[str, str]]) -> None:
    """Note that a run used ``entries`` ((kind, key) pairs) of pipeline ``pipeline_id``, now. The record is
    read and rewritten under an exclusive lock of the records' own, so runs of one pipeline at once keep
    each other's entries (a lost entry would be pruned while in use); the cache's shared lock, which the
    caller holds, still keeps ``prune`` out."""
    folder = root / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pipeline_id}.json"
    with open(folder / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            known: set[tuple[str, str]] = set()
            if path.is_file():
                try:
                    known = {(k, v) for k, v in json.loads(path.read_text(encoding="utf-8"))["entries"]}
                except (OSError, ValueError, KeyError, TypeError):
                    known = set()  # a damaged record is rewritten
            write_json(path, {"pipeline": description, "entries": sorted(known | set(entries))})
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class PipelineRecord:
    id: str
    description: str
    last_use: float
    entries: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class CacheEntry:
    kind: str
    key: str
    path: Path
    size: int
    mtime: float


def scan_cache(root: Path) -> tuple[dict[tuple[str, str], CacheEntry], list[PipelineRecord]]:
    """Every entry of the cache and every recorded pipeline."""
    entries = {}
    for kind in KINDS:
        for path in (root / kind).glob("*/*.npy"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed meanwhile
                continue
            entries[(kind, path.stem)] = CacheEntry(kind, path.stem, path, stat.st_size, stat.st_mtime)
    pipelines = []
    for path in sorted((root / "pipelines").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            used = {(k, v) for k, v in data["entries"]}
            pipelines.append(PipelineRecord(path.stem, str(data["pipeline"]), path.stat().st_mtime, used))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable records protect nothing
    return entries, pipelines


def cache_info(root: Path) -> dict[str, Any]:
    """Size and entries by kind and by pipeline, and when each pipeline was last used."""
    entries, pipelines = scan_cache(root)
    by_kind = {kind: {"entries": 0, "bytes": 0} for kind in KINDS}
    for entry in entries.values():
        by_kind[entry.kind]["entries"] += 1
        by_kind[entry.kind]["bytes"] += entry.size
    named: set[tuple[str, str]] = set()
    rows = []
    for pipeline in sorted(pipelines, key=lambda p: -p.last_use):
        present = [entries[e] for e in pipeline.entries if e in entries]
        named |= pipeline.entries
        rows.append(
            {
                "id": pipeline.id,
                "pipeline": pipeline.description,
                "entries": len(present),
                "bytes": sum(e.size for e in present),
                "last_use": time.strftime("%Y-%m-%d %H:%M", time.localtime(pipeline.last_use)),
            }
        )
    unrecorded = [e for key, e in entries.items() if key not in named]
    return {
        "root": str(root),
        "bytes": sum(e.size for e in entries.values()),
        "entries": len(entries),
        "by_kind": by_kind,
        "pipelines": rows,
        "unrecorded": {"entries": len(unrecorded), "bytes": sum(e.size for e in unrecorded)},
    }


def prune(
    root: Path,
    older_than_days: float | None = None,
    max_bytes: int | None = None,
    keep_pipelines: set[str] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Remove pipelines not used for ``older_than_days``, the least recently used beyond ``max_bytes``,
    or every pipeline but ``keep_pipelines``; then every entry that no remaining pipeline names."""
    if older_than_days is None and max_bytes is None and keep_pipelines is None:
        raise SerkitError("serkit cache prune: say what to remove (--older-than, --max-size or --keep)")
    with cache_lock(root, exclusive=True):
        entries, pipelines = scan_cache(root)
        now = time.time()
        kept = sorted(pipelines, key=lambda p: -p.last_use)  # most recent first
        if keep_pipelines is not None:
            kept = [p for p in kept if p.id in keep_pipelines]
        if older_than_days is not None:
            kept = [p for p in kept if now - p.last_use <= older_than_days * 86400]
        if max_bytes is not None:
            budget, fitting = 0, []
            for pipeline in kept:
                size = sum(entries[e].size for e in pipeline.entries if e in entries)
                if budget + size > max_bytes:
                    break
                budget += size
                fitting.append(pipeline)
            kept = fitting
        protected = set().union(*(p.entries for p in kept)) if kept else set()
        doomed = [e for key, e in entries.items() if key not in protected]
        dropped = [p for p in pipelines if p not in kept]
        if not dry_run:
            for entry in doomed:
                entry.path.unlink(missing_ok=True)
            for pipeline in dropped:
                (root / "pipelines" / f"{pipeline.id}.json").unlink(missing_ok=True)
    return {
        "removed_entries": len(doomed),
        "removed_bytes": sum(e.size for e in doomed),
        "removed_pipelines": [p.description for p in dropped],
        "kept_pipelines": len(kept),
        "dry_run": dry_run,
    }


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5GB``, ``800000`` (bytes) -> bytes."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = value[-1] if value and value[-1] in units else ""
    try:
        return int(float(value[: len(value) - len(unit)]) * units[unit])
    except ValueError as exc:
        raise SerkitError(f"--max-size: cannot read '{text}' as a size (e.g. 500M, 2G)") from exc


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
