"""`serkit data check`: what a corpus folder really holds, and what is wrong with it."""

from __future__ import annotations

import os
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from serkit.core.components import Dataset
from serkit.core.errors import SerkitError
from serkit.data import audio
from serkit.data.cache import file_digest


def survey_dataset(dataset: Dataset, progress: Callable[[int], None] = lambda n: None) -> dict[str, Any]:
    """Counts, audio formats, durations and problems of every file the dataset finds."""
    scan = dataset.scan()
    root = dataset.root or dataset.location()
    base = dataset.location()

    def rel(path: str) -> str:
        return os.path.relpath(path, base) if base else path

    durations: list[float] = []
    rates: Counter[int] = Counter()
    channels: Counter[int] = Counter()
    unreadable: list[str] = []
    multichannel = []
    by_size: dict[int, list[str]] = defaultdict(list)
    for utterance in scan.utterances:
        try:
            wave, rate, count = audio.read(utterance.path)  # the samples too: NaN and inf count as unreadable
            frames = wave.size
        except SerkitError as exc:
            unreadable.append(str(exc))
        else:
            durations.append(frames / rate)
            rates[rate] += 1
            channels[count] += 1
            if count > 1:
                multichannel.append(rel(utterance.path))
            by_size[os.path.getsize(utterance.path)].append(utterance.path)
        progress(1)
    duplicates = []
    for paths in by_size.values():
        if len(paths) > 1:
            groups: dict[str, list[str]] = defaultdict(list)
            for path in paths:
                groups[file_digest(path)].append(rel(path))
            duplicates += [sorted(group) for group in groups.values() if len(group) > 1]
    return {
        "dataset": dataset.name,
        "root": root,
        "files": len(scan.utterances),
        "classes": {label: sum(u.label == label for u in scan.utterances) for label in scan.labels},
        "speakers": dict(sorted(Counter(u.speaker for u in scan.utterances).items())),
        "genders": dict(sorted(Counter(str(u.meta.get("gender", "unknown")) for u in scan.utterances).items())),
        "duration_seconds": _summary(durations),
        "sample_rates": {str(k): v for k, v in sorted(rates.items())},
        "channels": {str(k): v for k, v in sorted(channels.items())},
        "multichannel_files": sorted(multichannel),
        "unreadable": unreadable,
        "duplicates": sorted(duplicates),
        "unmatched_names": [rel(p) for p in scan.unmatched],
        "ignored": len(scan.ignored),
        "notes": scan.notes,
        "warnings": scan.warnings,
        "invalid": scan.problems(),
    }


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "min": round(min(values), 3),
        "mean": round(statistics.fmean(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
        "total_minutes": round(sum(values) / 60, 2),
    }


def problems(report: dict[str, Any]) -> list[str]:
    """The findings that need a person's attention, one line each."""
    found = [f"invalid: {line}" for line in report.get("invalid", [])]
    found += [f"warning: {line}" for line in report["warnings"]]
    found += [f"unreadable: {line}" for line in report["unreadable"]]
    found += [f"byte-identical: {' = '.join(group)}" for group in report["duplicates"]]
    found += [f"multi-channel (mixed down to mono when loaded): {name}" for name in report["multichannel_files"]]
    return found + [f"does not fit the naming convention: {name}" for name in report["unmatched_names"]]


def check_tables(report: dict[str, Any], found: list[str]) -> list[Any]:
    """What ``serkit data check`` shows: a summary table, counts per class and speaker, notes and problems."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    summary = Table(title=f"{report['dataset']} at {escape(report['root'])}", title_justify="left", show_header=False)
    duration = report["duration_seconds"]
    rows = [
        ("files", str(report["files"])),
        ("speakers", str(len(report["speakers"]))),
        ("genders", ", ".join(f"{k} {v}" for k, v in report["genders"].items())),
        ("duration (s)", ", ".join(f"{k} {v}" for k, v in duration.items() if k != "total_minutes")),
        ("total (min)", str(duration.get("total_minutes", 0))),
        ("sample rates (Hz)", ", ".join(f"{k}: {v}" for k, v in report["sample_rates"].items())),
        ("channels", ", ".join(f"{k}: {v}" for k, v in report["channels"].items())),
        ("multi-channel files", "\n".join(report["multichannel_files"]) or "none"),
    ]
    for key, value in rows:
        summary.add_row(key, escape(value))
    out: list[Any] = [summary]
    for title, counts in (("class", report["classes"]), ("speaker", report["speakers"])):
        table = Table(title=f"files per {title}", title_justify="left")
        table.add_column(title)
        table.add_column("files", justify="right")
        for key, value in counts.items():
            table.add_row(escape(key), str(value))
        out.append(table)
    out += [Text(note, style="dim") for note in report["notes"]]
    out += [Text(problem, style="yellow") for problem in found]
    if not found:
        out.append(Text("no problems found", style="green"))
    return out
