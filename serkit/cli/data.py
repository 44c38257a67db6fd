"""`serkit data`: synthesise, download and check corpora."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serkit.cli.base import SerkitGroup
from serkit.core.components import Dataset
from serkit.core.errors import SerkitError


@click.group(cls=SerkitGroup)
def data() -> None:
    """Make, fetch and check corpora."""


@data.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--actors", default=4, show_default=True, help="Speakers (odd male, even female).")
@click.option("--emotions", default="", help="Comma-separated RAVDESS emotions; default all eight.")
@click.option("--statements", default=2, show_default=True, help="Sentences per emotion and intensity (1-6).")
@click.option("--repetitions", default=2, show_default=True, help="Repetitions of each sentence.")
@click.option("--sample-rate", default=48000, show_default=True, help="Sample rate of the files in Hz.")
@click.option("--seed", default=0, show_default=True, help="Synthesis seed; the same seed gives identical files.")
@click.option("--noise-snr", default=0.0, show_default=True, help="Background noise SNR in dB; 0 means none.")
@click.option("--workers", default=0, help="Parallel processes; 0 uses every core.")
def synth(
    out_dir: str,
    actors: int,
    emotions: str,
    statements: int,
    repetitions: int,
    sample_rate: int,
    seed: int,
    noise_snr: float,
    workers: int,
) -> None:
    """Write a synthetic acted-emotion corpus in RAVDESS's layout to OUT_DIR (eSpeak NG voices)."""
    from serkit.corpora.synth import EMOTION_CODES, SynthConfig, check_target, synthesise_corpus
    from serkit.run.reporter import progress_bar

    chosen = tuple(e.strip() for e in emotions.split(",") if e.strip()) or tuple(EMOTION_CODES)
    config = SynthConfig(actors, chosen, statements, repetitions, sample_rate, seed, noise_snr, workers)
    config.check()
    check_target(out_dir)
    console = Console()
    with progress_bar(console) as bars:
        task = bars.add_task("synthesise", total=actors * config.files_per_actor, info="", eta="ETA")
        out = synthesise_corpus(out_dir, config, lambda n: bars.advance(task, n))
    console.print(
        f"wrote {actors * config.files_per_actor} files from {actors} actors to {out}", highlight=False, soft_wrap=True
    )


@data.command()
@click.argument("corpus", required=False)
@click.option("--to", "to", type=click.Path(file_okay=False), help="Folder to extract into (default data/CORPUS).")
@click.option("--url", default="", help="Fetch from this address instead (a mirror); give its checksum too.")
@click.option("--md5", default="", help="Expected MD5 of the archive.")
@click.option("--sha256", default="", help="Expected SHA-256 of the archive.")
@click.option("--keep-archive", is_flag=True, help="Keep the zip file after extracting it.")
def download(corpus: str | None, to: str | None, url: str, md5: str, sha256: str, keep_archive: bool) -> None:
    """Fetch CORPUS's official archive (resuming a partial download), verify it and extract it; without
    CORPUS, list the corpora that can be downloaded (every dataset with a source, plugins' included)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from serkit.core.registry import get_registry
    from serkit.core.suggest import did_you_mean
    from serkit.corpora.download import download_corpus

    registry = get_registry()
    sources = {
        name: entry.cls.source
        for name, entry in registry.entries["datasets"].items()
        if issubclass(entry.cls, Dataset) and entry.cls.source is not None
    }
    providers = {name: registry.entries["datasets"][name].provider for name in sources}
    console = Console()
    manual = {
        name: entry.cls.obtain
        for name, entry in registry.entries["datasets"].items()
        if name not in sources and issubclass(entry.cls, Dataset) and entry.cls.obtain
    }
    if corpus is None:
        _list_sources(console, sources, providers, manual)
        return
    if corpus in manual:
        raise SerkitError(f"CORPUS: '{corpus}' has no public archive serkit can fetch: {manual[corpus]}")
    if corpus not in sources:
        known = ", ".join(sources) or "none"
        raise SerkitError(f"CORPUS: no downloadable corpus '{corpus}'{did_you_mean(corpus, list(sources))} ({known})")
    source = sources[corpus]
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress("[bold]download", *columns, console=console) as bars:
        task = bars.add_task("download", total=None)

        def progress(received: int, total: int | None) -> None:
            bars.update(task, advance=received, total=total)

        root, digest = download_corpus(source, Path(to or f"data/{corpus}"), progress, url, md5, sha256, keep_archive)
    checked = (
        "checksum verified"
        if (md5 or sha256 or (not url and (source.md5 or source.sha256)))
        else ("no published checksum to verify against")
    )
    for line in (
        f"{corpus}: extracted to {root} ({checked}; archive sha256 {digest})",
        f"licence: {source.licence}",
        f"use it with: --set dataset.root={root}",
    ):
        console.print(line, highlight=False, soft_wrap=True)


def _list_sources(console: Console, sources: dict, providers: dict, manual: dict[str, str]) -> None:
    table = Table(title="corpora serkit data download can fetch", title_justify="left")
    for column in ("name", "from", "licence", "archive"):
        table.add_column(column)
    for name, source in sources.items():
        archives = source.url + (f" (+ {len(source.parts)} more parts)" if source.parts else "")
        table.add_row(escape(name), escape(str(providers[name])), escape(source.licence), escape(archives))
    console.print(table)
    if manual:
        listing = Table(title="corpora to get by hand (serkit reads them once you have them)", title_justify="left")
        listing.add_column("name")
        listing.add_column("where to get it")
        for name, text in manual.items():
            listing.add_row(escape(name), escape(text))
        console.print(listing)


@data.command()
@click.argument("dataset")
@click.argument("root", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any problem is found.")
def check(dataset: str, root: str, as_json: bool, strict: bool) -> None:
    """Count classes, speakers and formats of DATASET at ROOT and list what is wrong (e.g. ravdess ./data)."""
    from serkit.core.registry import get_registry
    from serkit.corpora.check import check_tables, problems, survey_dataset
    from serkit.run.reporter import progress_bar

    entry = get_registry().get("datasets", dataset, "DATASET")
    component = entry.cls.from_params({"root": root}, "dataset")
    assert isinstance(component, Dataset)
    console = Console(stderr=as_json)
    with progress_bar(console) as bars:
        task = bars.add_task("check", total=None, info="", eta="ETA")
        report = survey_dataset(component, lambda n: bars.advance(task, n))
    found = problems(report)
    if as_json:
        click.echo(json.dumps(report | {"problems": found}, indent=2))
    else:
        for renderable in check_tables(report, found):
            console.print(renderable)
    if strict and found:
        sys.exit(1)


@data.command()
@click.argument("dataset")
def cite(dataset: str) -> None:
    """Print how to cite DATASET (BibTeX), e.g. serkit data cite crema_d."""
    from serkit.core.registry import get_registry

    entry = get_registry().get("datasets", dataset, "DATASET")
    citation = getattr(entry.cls, "citation", "")
    if not citation:
        raise SerkitError(f"DATASET: '{dataset}' records no citation (its provider, {entry.provider}, gives none)")
    click.echo(citation)
