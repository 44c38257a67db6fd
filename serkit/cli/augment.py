"""`serkit augment`: a recipe's augmentation, heard and seen before training on it."""

from __future__ import annotations

import click

from serkit.cli.base import SerkitGroup, set_option


@click.group(cls=SerkitGroup)
def augment() -> None:
    """Hear and see a recipe's augmentation."""


@augment.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@set_option("Override a recipe key, e.g. --set dataset.root=/data/ravdess.")
@click.option("--files", default=3, show_default=True, type=click.IntRange(1, 50), help="Training files to preview.")
@click.option(
    "--draws", default=3, show_default=True, type=click.IntRange(1, 20), help="Epochs drawn per file in online mode."
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Folder to write (default <run.output>/augment-preview-NAME)."
)
def preview(recipe: str, overrides: tuple[str, ...], files: int, draws: int, out: str | None) -> None:
    """Write, for a few training files of RECIPE, each augmented example as FLAC (every entry's copy, or in online
    mode the policy drawn for the first epochs), what was drawn, and one self-contained page with their log-mel
    spectrograms beside the original and audio players."""
    from serkit.run.preview import preview as write_preview
    from serkit.run.reporter import ConsoleReporter

    write_preview(recipe, list(overrides), files, draws, out, ConsoleReporter())
