"""How `serkit predict` shows its results: a rich table, CSV, timeline plots."""

from __future__ import annotations

import csv
import os
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serkit.core.fileio import write_atomic, write_figure
from serkit.inference.predictor import Prediction, Window


def print_table(console: Console, results: list[Prediction], predictor: Any, failures: list[str]) -> None:
    if predictor.card.regression:
        return _print_values(console, results, predictor, failures)
    table = Table(title=f"emotion predictions ({escape(str(predictor.run_dir))})", title_justify="left")
    table.add_column("file")
    table.add_column("emotion", style="bold")
    for label in predictor.labels:
        table.add_column(label, justify="right")
    table.add_column("uncertainty", justify="right")
    for target in predictor.targets:  # a joint task's regression head
        table.add_column(target, justify="right", style="cyan")
    table.add_column("notes")
    for result in results:
        table.add_row(
            escape(result.source),
            result.label,
            *[f"{100 * result.probabilities[label]:.1f}" for label in predictor.labels],
            f"{result.uncertainty:.2f}",
            *[f"{result.values[t]:.3f}" for t in predictor.targets],
            escape("; ".join(result.notes)),
        )
    console.print(table)
    console.print(
        f"{escape(predictor.calibration_note)}; uncertainty: entropy of the probabilities / log(classes), "
        "0 sure to 1 uniform"
    )
    for result in results:
        if result.windows:
            how = "smoothed over windows" if result.timeline == "windows" else result.timeline
            timeline = Table(title=f"timeline of {escape(result.source)} ({how})", title_justify="left")
            for column in ("from s", "to s", "emotion", "probability %"):
                timeline.add_column(column, justify="right")
            for window in result.windows:
                timeline.add_row(
                    f"{window.start:.2f}",
                    f"{window.end:.2f}",
                    window.label,
                    f"{100 * window.smoothed[window.label]:.1f}",
                )
            console.print(timeline)
    if predictor.version_note:
        console.print(f"[yellow]note: {escape(predictor.version_note)}[/yellow]")
    if failures:
        console.print(f"[red]{len(failures)} file(s) could not be used; see the errors below[/red]")


def _print_values(console: Console, results: list[Prediction], predictor: Any, failures: list[str]) -> None:
    """A regression's predictions: each target's value per file, and per window or segment of long ones."""
    table = Table(title=f"predicted values ({escape(str(predictor.run_dir))})", title_justify="left")
    for column in ("file", "from s", "to s", *predictor.labels, "notes"):
        table.add_column(column, justify="left" if column in ("file", "notes") else "right")
    for result in results:
        values = [f"{result.probabilities[t]:.3f}" for t in predictor.labels]
        table.add_row(escape(result.source), "", "", *values, escape("; ".join(result.notes)))
        for w in result.windows:
            table.add_row(
                "", f"{w.start:.2f}", f"{w.end:.2f}", *[f"{w.probabilities[t]:.3f}" for t in predictor.labels], ""
            )
    console.print(table)
    console.print(escape(predictor.calibration_note))
    if failures:
        console.print(f"[red]{len(failures)} file(s) could not be used; see the errors below[/red]")


def print_csv(results: list[Prediction], labels: list[str]) -> None:
    writer = csv.writer(sys.stdout)
    if results and results[0].regression:  # a regression: each target's value
        writer.writerow(["file", "start", "end", *labels])
        for result in results:
            writer.writerow([result.source, "", "", *[f"{result.probabilities[k]:.6f}" for k in labels]])
            for w in result.windows:
                writer.writerow([result.source, w.start, w.end, *[f"{w.probabilities[k]:.6f}" for k in labels]])
        return
    targets = list(results[0].values) if results else []  # a joint task's
    writer.writerow(["file", "start", "end", "emotion", *[f"p_{label}" for label in labels], "uncertainty", *targets])
    for result in results:
        probabilities = [f"{result.probabilities[k]:.6f}" for k in labels]
        values = [f"{result.values[t]:.6f}" for t in targets]
        writer.writerow([result.source, "", "", result.label, *probabilities, f"{result.uncertainty:.6f}", *values])
        for window in result.windows:
            writer.writerow(
                [
                    result.source,
                    window.start,
                    window.end,
                    window.label,
                    *[f"{window.probabilities[k]:.6f}" for k in labels],
                    f"{window.uncertainty:.6f}",
                    *[f"{window.values[t]:.6f}" for t in targets],
                ]
            )


def output_stems(sources: list[str]) -> list[str]:
    """The name each input's timeline files take, so that no file overwrites another's: its stem; where
    inputs share one, its path from their common folder with "__" for each separator (a/x.wav and
    b/x.wav: "a__x", "b__x"), then with its suffix (x.wav and x.flac: "x_wav", "x_flac"); the same file
    given twice is numbered ("x", "x-2")."""
    paths = [Path(source).resolve() for source in sources]
    common = Path(os.path.commonpath(paths)) if len(paths) > 1 else None
    names = [path.stem for path in paths]
    for keep_suffix in (False, True):
        clashing = {name for name in names if names.count(name) > 1}
        for k, path in enumerate(paths):
            if names[k] in clashing:
                inner = path.relative_to(common).parts if common is not None and path != common else ()
                inner = inner or (path.name,)
                last = inner[-1] if keep_suffix else Path(inner[-1]).stem
                names[k] = "__".join([*inner[:-1], last.replace(".", "_")])
    seen: Counter[str] = Counter()
    numbered = []
    for name in names:
        seen[name] += 1
        numbered.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return numbered


def plot_timeline(result: Prediction, folder: str | Path, stem: str = "") -> Path:
    """A PNG of every emotion's smoothed probability over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = [(w.start + w.end) / 2 for w in result.windows]
    figure, axes = plt.subplots(figsize=(10, 3.5))
    for label in result.probabilities:
        axes.plot(centres, [w.smoothed[label] for w in result.windows], marker=".", label=label)
    axes.set_xlabel(f"time (s, centre of each {result.timeline.removesuffix('s')})")
    if result.regression:  # values on the targets' own scale
        axes.set_ylabel("value (smoothed)" if result.timeline == "windows" else "value")
    else:
        axes.set_ylabel("probability (smoothed)")
        axes.set_ylim(0, 1)
    axes.set_title(Path(result.source).name)
    axes.legend(ncol=4, fontsize=8)
    path = Path(folder) / f"{stem or Path(result.source).stem}.timeline.png"
    write_figure(figure, path, dpi=110)
    return path


def write_audacity(result: Prediction, folder: str | Path, stem: str = "") -> Path:
    """An Audacity label track (File > Import > Labels): start, end and the emotion with its probability."""
    lines = [f"{w.start:.3f}\t{w.end:.3f}\t{_annotation(result, w)}" for w in result.windows]
    path = Path(folder) / f"{stem or Path(result.source).stem}.labels.txt"
    write_atomic(path, lambda out: out.write("".join(f"{line}\n" for line in lines)))
    return path


def write_elan(result: Prediction, folder: str | Path, stem: str = "") -> Path:
    """An ELAN annotation file (EAF 3.0) with one tier, "emotion", of the timeline (overlapping windows are cut
    where the next begins: a tier's annotations may not overlap)."""
    from xml.etree import ElementTree as ET

    document = ET.Element(
        "ANNOTATION_DOCUMENT",
        {"AUTHOR": "serkit", "DATE": datetime.now(UTC).isoformat(timespec="seconds"), "FORMAT": "3.0",
         "VERSION": "3.0", "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
         "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"},
    )  # fmt: skip
    header = ET.SubElement(document, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    media = {"MEDIA_URL": Path(result.source).resolve().as_uri(), "MIME_TYPE": _mime_type(result.source)}
    ET.SubElement(header, "MEDIA_DESCRIPTOR", media)
    slots = ET.SubElement(document, "TIME_ORDER")
    tier = ET.SubElement(document, "TIER", {"LINGUISTIC_TYPE_REF": "emotion", "TIER_ID": "emotion"})
    for k, window in enumerate(result.windows):
        following = result.windows[k + 1].start if k + 1 < len(result.windows) else window.end
        for end, slot in ((window.start, 2 * k + 1), (min(window.end, following), 2 * k + 2)):
            ET.SubElement(slots, "TIME_SLOT", {"TIME_SLOT_ID": f"ts{slot}", "TIME_VALUE": str(round(1000 * end))})
        annotation = ET.SubElement(
            ET.SubElement(tier, "ANNOTATION"),
            "ALIGNABLE_ANNOTATION",
            {"ANNOTATION_ID": f"a{k + 1}", "TIME_SLOT_REF1": f"ts{2 * k + 1}", "TIME_SLOT_REF2": f"ts{2 * k + 2}"},
        )
        value = _annotation(result, window) if result.regression else window.label  # a tier of emotions
        ET.SubElement(annotation, "ANNOTATION_VALUE").text = value
    ET.SubElement(
        document,
        "LINGUISTIC_TYPE",
        {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": "emotion", "TIME_ALIGNABLE": "true"},
    )
    path = Path(folder) / f"{stem or Path(result.source).stem}.eaf"
    text = ET.tostring(document, encoding="unicode", xml_declaration=True)
    write_atomic(path, lambda out: out.write(text))
    return path


def _annotation(result: Prediction, window: Window) -> str:
    """A window's label in a label track: its emotion and probability, or a regression's values."""
    if result.regression:
        return ", ".join(f"{name} {value:.2f}" for name, value in window.probabilities.items())
    return f"{window.label} {100 * window.probabilities[window.label]:.0f}%"


def _mime_type(path: str) -> str:
    """The MIME type ELAN wants for the recording (EAF requires one)."""
    suffix = Path(path).suffix.lower()
    return {".wav": "audio/x-wav", ".flac": "audio/flac", ".ogg": "audio/ogg"}.get(suffix, "application/octet-stream")


def predictions_document(run: str, predictor: Any, results: list[Prediction], failures: list[str]) -> dict[str, Any]:
    """What ``serkit predict --json`` prints."""
    return {
        "run": run,
        "predictions": [r.to_dict() for r in results],
        "errors": failures,
        "calibration": predictor.card.calibration,
        "notes": [predictor.version_note] if predictor.version_note else [],
    }
