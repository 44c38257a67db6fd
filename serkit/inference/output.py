"""How `serkit predict` shows its results: a rich table, CSV, timeline plots."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serkit.core.fileio import write_figure
from serkit.inference.predictor import Prediction


def print_table(console: Console, results: list[Prediction], predictor: Any, failures: list[str]) -> None:
    table = Table(title=f"emotion predictions ({escape(str(predictor.run_dir))})", title_justify="left")
    table.add_column("file")
    table.add_column("emotion", style="bold")
    for label in predictor.labels:
        table.add_column(label, justify="right")
    table.add_column("uncertainty", justify="right")
    table.add_column("notes")
    for result in results:
        table.add_row(
            escape(result.source),
            result.label,
            *[f"{100 * result.probabilities[label]:.1f}" for label in predictor.labels],
            f"{result.uncertainty:.2f}",
            escape("; ".join(result.notes)),
        )
    console.print(table)
    console.print(
        f"{escape(predictor.calibration_note)}; uncertainty: entropy of the probabilities / log(classes), "
        "0 sure to 1 uniform"
    )
    for result in results:
        if result.windows:
            timeline = Table(title=f"timeline of {escape(result.source)} (smoothed over windows)", title_justify="left")
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


def print_csv(results: list[Prediction], labels: list[str]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(["file", "start", "end", "emotion", *[f"p_{label}" for label in labels], "uncertainty"])
    for result in results:
        probabilities = [f"{result.probabilities[k]:.6f}" for k in labels]
        writer.writerow([result.source, "", "", result.label, *probabilities, f"{result.uncertainty:.6f}"])
        for window in result.windows:
            writer.writerow(
                [
                    result.source,
                    window.start,
                    window.end,
                    window.label,
                    *[f"{window.probabilities[k]:.6f}" for k in labels],
                    "",
                ]
            )


def plot_timeline(result: Prediction, folder: str | Path) -> Path:
    """A PNG of every emotion's smoothed probability over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = [(w.start + w.end) / 2 for w in result.windows]
    figure, axes = plt.subplots(figsize=(10, 3.5))
    for label in result.probabilities:
        axes.plot(centres, [w.smoothed[label] for w in result.windows], marker=".", label=label)
    axes.set_xlabel("time (s, window centre)")
    axes.set_ylabel("probability (smoothed)")
    axes.set_ylim(0, 1)
    axes.set_title(Path(result.source).name)
    axes.legend(ncol=4, fontsize=8)
    path = Path(folder) / f"{Path(result.source).stem}.timeline.png"
    write_figure(figure, path, dpi=110)
    return path


def predictions_document(run: str, predictor: Any, results: list[Prediction], failures: list[str]) -> dict[str, Any]:
    """What ``serkit predict --json`` prints."""
    return {
        "run": run,
        "predictions": [r.to_dict() for r in results],
        "errors": failures,
        "calibration": predictor.card.calibration,
        "notes": [predictor.version_note] if predictor.version_note else [],
    }
