"""Commands that run experiments: run, ablate, leaks, crosscorpus, benchmark, tune, resume and audit."""

from __future__ import annotations

from pathlib import Path

import click

from serkit.cli.base import execution_overrides, executor_options, set_option


@click.command()
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
    from serkit.experiments import run_recipe
    from serkit.run.reporter import ConsoleReporter

    overrides = (*overrides, "run.skip_unreadable=true") if skip_unreadable else overrides
    run_recipe(
        recipe, [*overrides, *execution_overrides(executor, address, track)], ConsoleReporter(), split_file or ""
    )


@click.command()
@click.argument("sweep", type=click.Path(dir_okay=False))
@set_option("Override a recipe key in every variant, e.g. --set dataset.root=/data/emodb/wav.")
@click.option("--name", default="", help="Sweep name (its folder under run.output); default from the sweep file.")
@executor_options
def ablate(
    sweep: str, overrides: tuple[str, ...], name: str, executor: str | None, address: str | None, track: str | None
) -> None:
    """Run the baseline and every variant of SWEEP and compare them (rerun to resume)."""
    from serkit.experiments import ablate as run_sweep
    from serkit.run.reporter import ConsoleReporter

    run_sweep(sweep, [*overrides, *execution_overrides(executor, address, track)], ConsoleReporter(), name)


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@set_option("Override a recipe key in every run, e.g. --set dataset.root=/data/emodb/wav.")
@click.option("--name", default="", help="Audit name (its folder under run.output); default leaks-<run.name>.")
@click.option(
    "--published",
    default="",
    help="A published figure to place against the audit, accuracy=PERCENT or uar=PERCENT (e.g. accuracy=91.59).",
)
@click.option("--source", default="", help="Where the published figure comes from, for the table.")
@executor_options
def leaks(
    recipe: str,
    overrides: tuple[str, ...],
    name: str,
    published: str,
    source: str,
    executor: str | None,
    address: str | None,
    track: str | None,
) -> None:
    """AUDIT (not a result): run RECIPE honestly, then with each leak that inflates published SER figures
    (augmenting before the split, normalising on all data, choosing the epoch on the test part, training
    without validation for the epochs the test part chose, a speaker-dependent split), and say how much
    each adds (rerun to resume)."""
    from serkit.run.reporter import ConsoleReporter
    from serkit.studies.leaks import Published, run_leak_audit

    figure = Published.parse(published, source) if published else None
    run_leak_audit(
        recipe, [*overrides, *execution_overrides(executor, address, track)], ConsoleReporter(), name, figure
    )


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@set_option("Override a recipe key in every run, e.g. --set run.output=/tmp/runs.")
@click.option("--name", default="", help="Study name (its folder under run.output); default from the spec file.")
@executor_options
def crosscorpus(
    spec: str, overrides: tuple[str, ...], name: str, executor: str | None, address: str | None, track: str | None
) -> None:
    """Train on every corpus of SPEC and test on every corpus: a matrix of UAR (a regression's: mean CCC) with
    95 % intervals, its own speaker-independent result on the diagonal (rerun to resume)."""
    from serkit.experiments import crosscorpus as run_study
    from serkit.run.reporter import ConsoleReporter

    run_study(spec, [*overrides, *execution_overrides(executor, address, track)], ConsoleReporter(), name)


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@set_option("Override a recipe key in every run, e.g. --set run.output=/tmp/runs.")
@click.option("--name", default="", help="Benchmark name (its folder under run.output); default from the spec file.")
@executor_options
def benchmark(
    spec: str, overrides: tuple[str, ...], name: str, executor: str | None, address: str | None, track: str | None
) -> None:
    """Run one recipe on every corpus of SPEC under its published protocol (EmoBox's folds, or the corpus's own):
    a table of UAR and WA with 95 % intervals beside the reference figures SPEC gives (rerun to resume)."""
    from serkit.experiments import benchmark as run_benchmark
    from serkit.run.reporter import ConsoleReporter

    run_benchmark(spec, [*overrides, *execution_overrides(executor, address, track)], ConsoleReporter(), name)


@click.command()
@click.argument("search", type=click.Path(dir_okay=False))
@set_option("Override a recipe key in every trial, e.g. --set dataset.root=/data/emodb/wav.")
@click.option("--address", default=None, help="Ray cluster to join: auto, or ray://host:port (default: a local one).")
def tune(search: str, overrides: tuple[str, ...], address: str | None) -> None:
    """Search hyperparameters on Ray Tune (validation parts only), then run the best recipe once."""
    from serkit.experiments import tune as run_search
    from serkit.run.reporter import ConsoleReporter

    run_search(search, [*overrides, *execution_overrides(None, address)], ConsoleReporter())


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@executor_options
def resume(run_dir: str, executor: str | None, address: str | None, track: str | None) -> None:
    """Continue an interrupted run in RUN_DIR from its last checkpoint."""
    from serkit.experiments import resume as resume_run
    from serkit.run.reporter import ConsoleReporter

    resume_run(run_dir, ConsoleReporter(), execution_overrides(executor, address, track))


@click.command()
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "--recipe",
    "recipe_file",
    type=click.Path(exists=True, dir_okay=False),
    help="The recipe a split file is of (its dataset and features); default: the recipe.toml beside it.",
)
@set_option("Override a key of that recipe, e.g. --set dataset.root=/data/emodb.")
@click.option("--json", "as_json", is_flag=True, help="Print the split audit as JSON (and nothing else).")
def audit(path: str, recipe_file: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Audit a run folder or a split file. The split audit: speakers in more than one part, byte- and
    near-identical audio across parts, shared sentences, pretraining corpora. For a run that kept its
    epochs (train.keep_epoch_weights), AUDIT (not a result): score every kept epoch on the test part and
    show how much choosing epochs on the test part would add."""
    import json

    from serkit.experiments import audit as split_audit
    from serkit.run.reporter import ConsoleReporter, Reporter
    from serkit.studies.audit import audit_run, epoch_audit_blocker

    found = split_audit(path, recipe_file or "", overrides, Reporter() if as_json else ConsoleReporter())
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
        return
    click.echo(f"split audit: {len(found.warnings)} warning(s), {len(found.notes)} note(s)")
    if not Path(path).is_dir():
        return
    missing = epoch_audit_blocker(path)
    if missing:
        click.echo(f"selection audit skipped: {missing}")
        return
    audit_run(path, ConsoleReporter())
