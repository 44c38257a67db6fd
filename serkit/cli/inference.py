"""Commands that use a trained model: predict and export."""

from __future__ import annotations

import functools
import json
import sys

import click
from rich.console import Console

from serkit.data.vad import ENGINES, VadSettings


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
@click.option(
    "--segments",
    type=click.Choice(["windows", "vad"]),
    default="windows",
    show_default=True,
    help="Timeline of long recordings: windows of the training length, or the speech segments voice activity "
    "detection finds (the file read in blocks: any length in bounded memory).",
)
@click.option("--vad-engine", type=click.Choice(ENGINES), default=VadSettings.engine, show_default=True)
@click.option(
    "--vad-threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5, show_default=True
)
@click.option("--audacity", "audacity_dir", type=click.Path(file_okay=False), help="Write Audacity label tracks here.")
@click.option("--elan", "elan_dir", type=click.Path(file_okay=False), help="Write ELAN annotation files (.eaf) here.")
def predict(
    run_dir: str,
    audio: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
    hop: float | None,
    smooth: int,
    plot_dir: str | None,
    segments: str,
    vad_engine: str,
    vad_threshold: float,
    audacity_dir: str | None,
    elan_dir: str | None,
) -> None:
    """Predict the emotion of AUDIO files or folders with the model trained in RUN_DIR."""
    from serkit.data.vad import require_engine
    from serkit.inference.output import (
        output_stems,
        plot_timeline,
        predictions_document,
        print_csv,
        print_table,
        write_audacity,
        write_elan,
    )
    from serkit.inference.predictor import Predictor, predict_files
    from serkit.inference.segments import predict_segments

    if segments == "vad":
        require_engine(vad_engine)
    predictor = Predictor.load(run_dir)
    vad = VadSettings(vad_engine, vad_threshold)
    by_segment = functools.partial(predict_segments, predictor, settings=vad) if segments == "vad" else None
    batch = predict_files(predictor, list(audio), hop, smooth, by_segment)
    if batch.speaker_note:
        click.echo(f"Note: {batch.speaker_note}", err=True)
    stems = output_stems([result.source for result in batch.results])
    for result, stem in zip(batch.results, stems, strict=True):
        for folder, write in ((plot_dir, plot_timeline), (audacity_dir, write_audacity), (elan_dir, write_elan)):
            if folder and result.windows:
                write(result, folder, stem)
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
