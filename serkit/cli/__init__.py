"""The ``serkit`` command line."""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serkit.core.components import Dataset
from serkit.core.errors import SerkitError
from serkit.core.version import __version__


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Show a SerkitError (or any unexpected error) as one line and exit 1; ``--debug`` shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return command(*args, **kwargs)
        except SerkitError as exc:
            if debug:
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:
            if debug:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"Error: {where}{exc.strerror or exc} (rerun with --debug for the traceback)", err=True)
            sys.exit(1)
        except Exception as exc:
            if debug:
                raise
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True
            )
            sys.exit(1)

    return wrapper


class KindChoice(click.Choice):
    """The component types of :func:`serkit.core.kinds.component_types`, read when the command runs."""

    def __init__(self) -> None:
        super().__init__([])

    @property
    def choices(self) -> tuple[str, ...]:
        from serkit.core.kinds import component_types

        return tuple(component_types())

    @choices.setter
    def choices(self, value: object) -> None:
        pass


def set_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The repeatable ``--set KEY=VALUE`` recipe override."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=help_text)


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--executor``, ``--address`` and ``--track``: where the trainings run and where they are logged
    (execution settings: they change no result)."""
    command = click.option(
        "--track",
        type=click.Choice(["mlflow", "none"]),
        default=None,
        help="Log the run to MLflow (default store: sqlite:///<run.output>/mlflow.db) [track.backend].",
    )(command)
    command = click.option(
        "--address",
        default=None,
        help="Ray cluster to join: auto, or ray://host:port (default: start a local Ray instance).",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default=None,
        help="local: folds one after another here; ray: each fold (and variant) as a Ray task [run.executor].",
    )(command)


def execution_overrides(executor: str | None, address: str | None, track: str | None = None) -> list[str]:
    out = [f"run.executor={executor}"] * bool(executor) + [f"track.backend={track}"] * bool(track)
    return out + ([f"ray.address={address}"] if address is not None else [])


@click.group()
@click.version_option(__version__, prog_name="serkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Speech emotion recognition experiments from TOML recipes."""


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@set_option("Override a recipe key, e.g. --set train.max_epochs=3 --set dataset.root=/data/ravdess.")
@click.option(
    "--split",
    "split_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Reuse the split file an earlier run saved in its folder instead of splitting anew.",
)
@click.option("--skip-unreadable", is_flag=True, help="Leave out unreadable audio files (listed) instead of stopping.")
@executor_options
@friendly_errors
def run(
    recipe: str,
    overrides: tuple[str, ...],
    split_file: str | None,
    skip_unreadable: bool,
    executor: str | None,
    address: str | None,
    track: str | None,
) -> None:
    """Run the experiment described by RECIPE and write a run folder."""
    from serkit.run.reporter import ConsoleReporter
    from serkit.run.runner import run_recipe

    overrides = (*overrides, "run.skip_unreadable=true") if skip_unreadable else overrides
    split = Path(split_file) if split_file else None
    run_recipe(recipe, [*overrides, *execution_overrides(executor, address, track)], ConsoleReporter(), split)


@cli.command()
@click.argument("sweep", type=click.Path(dir_okay=False))
@set_option("Override a recipe key in every variant, e.g. --set dataset.root=/data/emodb/wav.")
@click.option("--name", default="", help="Sweep name (its folder under run.output); default from the sweep file.")
@executor_options
@friendly_errors
def ablate(
    sweep: str, overrides: tuple[str, ...], name: str, executor: str | None, address: str | None, track: str | None
) -> None:
    """Run the baseline and every variant of SWEEP and compare them (rerun to resume)."""
    from serkit.run.reporter import ConsoleReporter
    from serkit.studies.ablate import run_sweep

    run_sweep(sweep, [*overrides, *execution_overrides(executor, address, track)], ConsoleReporter(), name)


@cli.command()
@click.argument("search", type=click.Path(dir_okay=False))
@set_option("Override a recipe key in every trial, e.g. --set dataset.root=/data/emodb/wav.")
@click.option("--address", default=None, help="Ray cluster to join: auto, or ray://host:port (default: a local one).")
@friendly_errors
def tune(search: str, overrides: tuple[str, ...], address: str | None) -> None:
    """Search hyperparameters on Ray Tune (validation parts only), then run the best recipe once."""
    from serkit.run.reporter import ConsoleReporter
    from serkit.studies.tune import run_search

    run_search(search, [*overrides, *execution_overrides(None, address)], ConsoleReporter())


@cli.command()
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
@friendly_errors
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
    from serkit.inference.predictor import AUDIO_SUFFIXES, Predictor, audio_files

    predictor = Predictor.load(run_dir)
    results, failures = [], []
    files = audio_files(list(audio))
    if not files:
        raise SerkitError(f"AUDIO: no audio files ({', '.join(AUDIO_SUFFIXES)}) in {', '.join(audio)}")
    speaker_note = predictor.fit_speaker(files)
    if speaker_note:
        click.echo(f"Note: {speaker_note}", err=True)
    for path in files:
        try:
            results.append(predictor.predict_file(path, hop=hop, smooth=smooth))
        except SerkitError as exc:
            failures.append(str(exc))
    if plot_dir:
        for result in results:
            if result.windows:
                plot_timeline(result, plot_dir)
    if as_json:
        click.echo(json.dumps(predictions_document(run_dir, predictor, results, failures), indent=2))
    elif as_csv:
        print_csv(results, predictor.labels)
    else:
        print_table(Console(), results, predictor, failures)
    if failures:
        for failure in failures:
            click.echo(f"Error: {failure}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Model file to write (default: inside RUN_DIR).")
@friendly_errors
def export(run_dir: str, fmt: str, out: str | None) -> None:
    """Export the model of RUN_DIR as ONNX or TorchScript, with a JSON of its preprocessing and labels."""
    from serkit.inference.export import export_model
    from serkit.inference.predictor import Predictor

    model, description = export_model(Predictor.load(run_dir), fmt, out)
    click.echo(f"wrote {model} and {description}")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@executor_options
@friendly_errors
def resume(run_dir: str, executor: str | None, address: str | None, track: str | None) -> None:
    """Continue an interrupted run in RUN_DIR from its last checkpoint."""
    from serkit.run.reporter import ConsoleReporter
    from serkit.run.runner import resume_run

    resume_run(run_dir, ConsoleReporter(), execution_overrides(executor, address, track))


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
@friendly_errors
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List every component by kind, with the plugin that provides it and its parameters."""
    if ctx.invoked_subcommand is not None:
        return
    from serkit.core.registry import get_registry

    registry = get_registry()
    document = registry.listing()
    if as_json:
        click.echo(json.dumps(document, indent=2, default=str))
        return
    console = Console()
    for problem in registry.problems:  # first, where they are seen
        console.print(f"[red]broken:[/red] {escape(str(problem))}", highlight=False)
    if registry.problems:
        console.print("  (SERKIT_LOAD_PLUGINS=name,... loads only the named plugins, to rule one out)\n")
    for kind, entries in document["components"].items():
        table = Table(title=kind.replace("_", " "), title_justify="left", show_lines=False)
        table.add_column("name", style="bold")
        table.add_column("from")
        table.add_column("parameters")
        table.add_column("description")
        for entry in entries:
            params = "\n".join(_param_line(p) for p in entry["parameters"]) or "-"
            source = f"{entry['distribution']} {entry['version']}"
            shapes = f" Gives {entry['shape']}s." if "shape" in entry else ""
            shapes += f" Takes {' or '.join(a + 's' for a in entry['accepts'])}." if "accepts" in entry else ""
            table.add_row(escape(entry["name"]), escape(source), params, escape(entry["description"] + shapes))
        console.print(table)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@friendly_errors
def audit(run_dir: str) -> None:
    """AUDIT (not a result): score every kept epoch of RUN_DIR on its test part, and show how much
    choosing epochs on the test part would add (needs train.keep_epoch_weights = true)."""
    from serkit.run.reporter import ConsoleReporter
    from serkit.studies.audit import audit_run

    audit_run(run_dir, ConsoleReporter())


@cli.group()
def runs() -> None:
    """List run folders and compare two runs with statistics that fit their protocol."""


@runs.command("list")
@click.argument("folder", type=click.Path(file_okay=False), default="runs")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option(
    "--sort",
    default="date",
    show_default=True,
    help="name, date, dataset, protocol, accuracy, uar, epochs, wall, status.",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep runs whose recipe key (or status, dataset, protocol, name) matches.",
)
@friendly_errors
def runs_list(folder: str, as_json: bool, as_csv: bool, sort: str, filters: tuple[str, ...]) -> None:
    """Every run folder under FOLDER (default ./runs): results, status and the recipe keys that differ."""
    from serkit.results.runs import list_runs, rows_csv

    rows, keys = list_runs(folder, list(filters), sort)
    if as_json:
        click.echo(json.dumps({"differing_keys": keys, "runs": [asdict(row) for row in rows]}, indent=2))
        return
    if as_csv:
        click.echo(rows_csv(rows, keys), nl=False)
        return
    table = Table(title=f"{len(rows)} run(s) under {escape(folder)}", title_justify="left")
    for column in ("run", "date", "dataset", "protocol", *keys, "accuracy %", "UAR %", "epochs", "wall s", "status"):
        table.add_column(
            escape(column),
            justify="right" if column in ("accuracy %", "UAR %", "epochs", "wall s") else "left",
            overflow="fold",
        )

    def spread(mean: float | None, sd: float | None) -> str:
        return "" if mean is None else f"{100 * mean:.2f} ± {100 * (sd or 0):.2f}"

    for row in rows:
        table.add_row(
            escape(row.name),
            row.date[:16].replace("T", " "),
            escape(row.dataset),
            escape(row.protocol[:60] + ("…" if len(row.protocol) > 60 else "")),
            *[escape(json.dumps(row.differs[key])) for key in keys],
            spread(row.accuracy_mean, row.accuracy_sd),
            spread(row.uar_mean, row.uar_sd),
            "" if row.epochs is None else f"{row.epochs:.1f}",
            "" if row.seconds is None else f"{row.seconds:.0f}",
            row.status,
        )
    Console().print(table)
    for row in rows:
        if row.problem:
            click.echo(f"Warning: {row.name} is damaged: {row.problem}", err=True)


@runs.command("compare")
@click.argument("run_a", type=click.Path(file_okay=False, exists=True))
@click.argument("run_b", type=click.Path(file_okay=False, exists=True))
@click.option("--metric", type=click.Choice(["uar", "accuracy"]), default="uar", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@friendly_errors
def runs_compare(run_a: str, run_b: str, metric: str, as_json: bool) -> None:
    """Compare RUN_B against RUN_A on the same test utterances: per fold, the difference with a 95 % CI
    and the test the protocol calls for (McNemar, Wilcoxon over speakers, or Nadeau-Bengio)."""
    from serkit.results.runs import compare_runs
    from serkit.results.stats import format_p

    result = compare_runs(Path(run_a), Path(run_b), metric)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    console = Console()
    table = Table(title=f"{metric.upper()} per fold (B - A)", title_justify="left")
    for column in ("fold", "A %", "B %", "B - A"):
        table.add_column(column, justify="left" if column == "fold" else "right")
    for row in result.folds:
        table.add_row(escape(row.fold), f"{100 * row.a:.2f}", f"{100 * row.b:.2f}", f"{100 * (row.b - row.a):+.2f}")
    console.print(f"A: {escape(run_a)}\nB: {escape(run_b)}\nprotocol: {escape(result.protocol)}", highlight=False)
    console.print(table)
    c = result.comparison
    console.print(
        f"{c.test} ({escape(c.design)}): difference {100 * c.difference:+.2f} points, 95 % CI "
        f"[{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}], p = {format_p(c.p)}",
        highlight=False,
    )
    for name, value in c.extra:
        console.print(f"  {name} = {format_p(value)}", highlight=False)
    if c.caveat:
        console.print(f"  note: {escape(c.caveat)}", highlight=False)


@cli.group()
def cache() -> None:
    """See and shrink the feature cache ($SERKIT_CACHE or ~/.cache/serkit)."""


def _cache_root(folder: str | None) -> Path:
    from serkit.data.cache import default_cache_dir

    return Path(folder) if folder else default_cache_dir()


def _pipelines_of_runs(folders: tuple[str, ...]) -> set[str]:
    """The cache pipelines the given run folders used (their environment.json records it)."""
    from serkit.results.folder import RunFolder

    ids = set()
    for folder in folders:
        run = RunFolder(Path(folder))
        pipeline = run.cache_pipeline()
        if pipeline is None:
            raise SerkitError(
                f"--keep {folder}: no cache record in {run.environment} (a run folder of serkit 0.2 or later)"
            )
        ids.add(pipeline)
    return ids


@cache.command("info")
@click.option("--dir", "folder", type=click.Path(file_okay=False), help="Cache folder (default: the serkit cache).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@friendly_errors
def cache_info(folder: str | None, as_json: bool) -> None:
    """Size and entries by kind and by pipeline, and when each pipeline was last used."""
    from serkit.data.cachestore import cache_info as info
    from serkit.data.cachestore import human

    report = info(_cache_root(folder))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console = Console()
    console.print(f"{escape(report['root'])}: {human(report['bytes'])} in {report['entries']} entries", highlight=False)
    kinds = Table(title="by kind", title_justify="left")
    for column in ("kind", "entries", "size"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    for kind, row in report["by_kind"].items():
        kinds.add_row(kind, str(row["entries"]), human(row["bytes"]))
    console.print(kinds)
    pipelines = Table(title="by pipeline (most recently used first)", title_justify="left")
    for column in ("id", "pipeline", "entries", "size", "last use"):
        pipelines.add_column(column, justify="right" if column in ("entries", "size") else "left")
    for row in report["pipelines"]:
        pipelines.add_row(row["id"], escape(row["pipeline"]), str(row["entries"]), human(row["bytes"]), row["last_use"])
    unrecorded = report["unrecorded"]
    if unrecorded["entries"]:
        pipelines.add_row(
            "-", "(no record: written by serkit 0.1)", str(unrecorded["entries"]), human(unrecorded["bytes"]), ""
        )
    console.print(pipelines)


@cache.command("prune")
@click.option("--dir", "folder", type=click.Path(file_okay=False), help="Cache folder (default: the serkit cache).")
@click.option("--older-than", "days", type=float, help="Remove pipelines not used for this many days.")
@click.option("--max-size", help="Keep the most recently used pipelines that fit this size (e.g. 2G).")
@click.option(
    "--keep", "keep", multiple=True, type=click.Path(file_okay=False), help="Keep only what these run folders used."
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@friendly_errors
def cache_prune(
    folder: str | None, days: float | None, max_size: str | None, keep: tuple[str, ...], dry_run: bool
) -> None:
    """Remove cached entries by age, by a size budget, or all but what given run folders used.

    Safe while runs are going: pruning waits for runs computing features, and a run that
    needs a removed entry later recomputes it.
    """
    from serkit.data.cachestore import human, parse_size, prune

    if days is not None and days < 0:
        raise SerkitError(f"--older-than: must be 0 or more days, got {days:g}")
    result = prune(
        _cache_root(folder),
        older_than_days=days,
        max_bytes=parse_size(max_size) if max_size else None,
        keep_pipelines=_pipelines_of_runs(keep) if keep else None,
        dry_run=dry_run,
    )
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {result['removed_entries']} entries ({human(result['removed_bytes'])}) and "
        f"{len(result['removed_pipelines'])} pipeline record(s); {result['kept_pipelines']} pipeline(s) kept"
    )


@cli.group()
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
@friendly_errors
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
        task = bars.add_task("synthesise", total=actors * config.files_per_actor, info="")
        out = synthesise_corpus(out_dir, config, lambda n: bars.advance(task, n))
    console.print(
        f"wrote {actors * config.files_per_actor} files from {actors} actors to {out}", highlight=False, soft_wrap=True
    )


@data.command()
@click.argument("corpus", type=click.Choice(["ravdess", "emodb"]))
@click.option("--to", "to", type=click.Path(file_okay=False), help="Folder to extract into (default data/CORPUS).")
@click.option("--url", default="", help="Fetch from this address instead (a mirror); give its checksum too.")
@click.option("--md5", default="", help="Expected MD5 of the archive.")
@click.option("--sha256", default="", help="Expected SHA-256 of the archive.")
@click.option("--keep-archive", is_flag=True, help="Keep the zip file after extracting it.")
@friendly_errors
def download(corpus: str, to: str | None, url: str, md5: str, sha256: str, keep_archive: bool) -> None:
    """Fetch CORPUS's official archive (resuming a partial download), verify it and extract it."""
    from pathlib import Path

    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from serkit.corpora.download import download_corpus

    console = Console()
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress("[bold]download", *columns, console=console) as bars:
        task = bars.add_task("download", total=None)

        def progress(received: int, total: int | None) -> None:
            bars.update(task, advance=received, total=total)

        root, digest, source = download_corpus(
            corpus, Path(to or f"data/{corpus}"), progress, url, md5, sha256, keep_archive
        )
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


@data.command()
@click.argument("dataset")
@click.argument("root", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any problem is found.")
@friendly_errors
def check(dataset: str, root: str, as_json: bool, strict: bool) -> None:
    """Count classes, speakers and formats of DATASET at ROOT and list what is wrong (e.g. ravdess ./data)."""
    from serkit.core.registry import get_registry
    from serkit.corpora.check import check_dataset, check_tables, problems
    from serkit.run.reporter import progress_bar

    entry = get_registry().get("datasets", dataset, "DATASET")
    component = entry.cls.from_params({"root": root}, "dataset")
    assert isinstance(component, Dataset)
    console = Console(stderr=as_json)
    with progress_bar(console) as bars:
        task = bars.add_task("check", total=None, info="")
        report = check_dataset(component, lambda n: bars.advance(task, n))
    found = problems(report)
    if as_json:
        click.echo(json.dumps(report | {"problems": found}, indent=2))
    else:
        for renderable in check_tables(report, found):
            console.print(renderable)
    if strict and found:
        sys.exit(1)


@plugins.command("show")
@click.argument("name")
@friendly_errors
def plugins_show(name: str) -> None:
    """Show one component: what it does, where it comes from, every parameter, a recipe snippet."""
    from serkit.authoring.review import find_component
    from serkit.core.kinds import by_key
    from serkit.core.registry import get_registry
    from serkit.core.suggest import did_you_mean

    registry = get_registry()
    found = find_component(registry, name)
    if not found:
        every = [n for table in registry.entries.values() for n in table]
        raise SerkitError(f"NAME: no component '{name}'{did_you_mean(name, every)} (see: serkit plugins)")
    console = Console()
    for entry in found:
        kind = by_key(entry.kind)
        cls = entry.cls
        console.print(f"[bold]{escape(cls.name)}[/bold]: {kind.singular} from {escape(str(entry.provider))}")
        console.print(escape(inspect.cleandoc(cls.__doc__ or "")), highlight=False)
        table = Table(show_lines=False)
        for column in ("parameter", "type", "default", "range", "meaning"):
            table.add_column(column)
        for spec in cls.params():
            default = "required" if spec.required else repr(spec.default)
            table.add_row(
                escape(spec.name), escape(spec.type_name), escape(default), escape(spec.range_text), escape(spec.help)
            )
        console.print(table)
        header = f"[[{kind.section}]]" if kind.many else f"[{kind.section}]"
        console.print(escape(f'{header}\nname = "{cls.name}"'), highlight=False)


@plugins.command("check")
@click.argument("distribution")
@set_option("Give a component a parameter value, e.g. --set folder_noise.noise_dir=/data/noise.")
@friendly_errors
def plugins_check(distribution: str, overrides: tuple[str, ...]) -> None:
    """Run the contract kit on every component DISTRIBUTION provides; exit 1 if one fails."""
    from serkit.authoring.review import check_distribution
    from serkit.core.recipe import parse_value
    from serkit.core.registry import get_registry

    values: dict[str, dict[str, object]] = {}
    for override in overrides:
        key, sep, text = override.partition("=")
        component, dot, parameter = key.partition(".")
        if not (sep and dot and component and parameter):
            raise SerkitError(f"--set {override}: expected COMPONENT.PARAMETER=VALUE")
        values.setdefault(component, {})[parameter] = parse_value(text)
    verdicts = check_distribution(get_registry(), distribution, values)
    table = Table(title=f"contract kit on {distribution}", title_justify="left")
    for column in ("kind", "component", "outcome", "detail"):
        table.add_column(column)
    colours = {"pass": "green", "fail": "red", "needs values": "yellow"}
    for v in verdicts:
        table.add_row(v.kind, escape(v.name), f"[{colours[v.outcome]}]{v.outcome}[/]", escape(v.detail))
    Console().print(table)
    if any(v.outcome == "fail" for v in verdicts):
        sys.exit(1)


@plugins.command("new")
@click.argument("kind", type=KindChoice())
@click.argument("name")
@click.option("--to", "to", type=click.Path(file_okay=False), help="Folder to write (default ./DIST).")
@click.option("--dist", "dist", default="", help="Distribution (package) name (default serkit-NAME).")
@click.option("--with-file-param", "file_param", is_flag=True, help="Add a parameter that names a file, and its test.")
@friendly_errors
def plugins_new(kind: str, name: str, to: str | None, dist: str, file_param: bool) -> None:
    """Write a ready plugin package for a component of KIND called NAME."""
    from serkit.authoring.scaffold import new_plugin

    folder = new_plugin(kind, name, to, dist, file_param)
    click.echo(f"wrote {folder}: pip install -e '{folder}[test]' && python -m pytest {folder}")


def _param_line(spec: dict[str, Any]) -> str:
    default = "required" if spec["required"] else f"= {spec['default']!r}"
    limits = f" ({spec['range']})" if spec["range"] else ""
    help_text = f"\n  [dim]{escape(spec['help'])}[/dim]" if spec["help"] else ""
    return escape(f"{spec['name']}: {spec['type']} {default}{limits}") + help_text


def main() -> None:
    _terminate_as_interrupt()
    cli()


def _terminate_as_interrupt() -> None:
    """SIGTERM (a scheduler's or ``kill``'s) stops a run as Ctrl-C does: logged, resumable."""
    import os
    import signal

    main_process = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != main_process:  # a forked worker: die as it would have
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    main()
