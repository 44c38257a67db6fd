"""Commands that use a trained model: predict and export."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console


@click.command()
@click.argument("run_dir", type=click.Path())
@click.argument("audio", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with every window of long recordings).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: one row per file and per window.")
@click.option(
    "--hop",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Hop between windows of long recordings, in seconds (default: half the training length).",
)
@click.option("--smooth", default=3, show_default=True, help="Windows averaged in the smoothed timeline.")
@click.option(
    "--plot", "plot_dir", type=click.Path(file_okay=False), help="Write a PNG timeline per long recording here."
)
def predict(
    run_dir: str,
    audio: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
    hop: float | None,
    smooth: int,
    plot_dir: str | None,
) -> None:
    """Predict the emotion of AUDIO files or folders with the model trained in RUN_DIR."""
    from serkit.inference.output import plot_timeline, predictions_document, print_csv, print_table
    from serkit.inference.predictor import Predictor, predict_files

    predictor = Predictor.load(run_dir)
    batch = predict_files(predictor, list(audio), hop, smooth)
    if batch.speaker_note:
        click.echo(f"Note: {batch.speaker_note}", err=True)
    for result in batch.results:
        if plot_dir and result.windows:
            plot_timeline(result, plot_dir)
    if as_json:
        click.echo(json.dumps(predictions_document(run_dir, predictor, batch.results, batch.failures), indent=2))
    elif as_csv:
        print_csv(batch.results, predictor.labels)
    else:
        print_table(Console(), batch.results, predictor, batch.failures)
    for failure in batch.failures:
        click.echo(f"Error: {failure}", err=True)
    if batch.failures:
        sys.exit(1)


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript", "pretrained"]), required=True)
@click.option("--out", type=click.Path(), help="Model file (pretrained: folder) to write (default: inside RUN_DIR).")
def export(run_dir: str, fmt: str, out: str | None) -> None:
    """Export the model of RUN_DIR as ONNX or TorchScript, with a JSON of its preprocessing and labels; or, for a
    fine-tuned speech encoder (ssl_finetune), the encoder as a Hugging Face checkpoint folder (pretrained)."""
    from serkit.inference.export import export_model
    from serkit.inference.predictor import Predictor

    model, description = export_model(Predictor.load(run_dir), fmt, out)
    click.echo(f"wrote {model} and {description}")
