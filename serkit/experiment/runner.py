"""Runs a recipe end to end in a run folder: the stages in order, the run log, interruption."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from serkit.core.errors import SerkitError
from serkit.core.fileio import write_text
from serkit.core.recipe import Recipe, load_recipe
from serkit.core.registry import Registry, get_registry
from serkit.core.version import __version__
from serkit.experiment import stages
from serkit.experiment.outputs import write_outputs
from serkit.experiment.records import RunSummary
from serkit.experiment.report import metrics_table
from serkit.experiment.reporter import Reporter, log


def execute(
    recipe: Recipe,
    run_dir: Path,
    *,
    registry: Registry | None = None,
    reporter: Reporter | None = None,
    split_file: str | None = None,
) -> RunSummary:
    """Run ``recipe`` in ``run_dir`` (new, or one to resume), log to its run.log, and return the summary.

    Folds finished in an earlier attempt are read back; an interrupted fold continues from its
    checkpoint. ``split_file`` reuses a saved split instead of splitting anew.
    """
    registry = registry or get_registry()
    reporter = reporter or Reporter()
    handler = _attach_log(run_dir)
    try:
        return _stages(stages.Context(recipe, run_dir, registry, reporter), split_file)
    except SerkitError as exc:
        log.error("%s", exc)
        raise
    except KeyboardInterrupt:
        log.error("interrupted; continue with: serkit resume %s", run_dir)
        raise SerkitError(f"interrupted; continue with: serkit resume {run_dir}") from None
    finally:
        log.removeHandler(handler)
        handler.close()


def _stages(ctx: stages.Context, split_file: str | None) -> RunSummary:
    recipe, reporter = ctx.recipe, ctx.reporter
    started = datetime.now().isoformat(timespec="seconds")
    write_text(ctx.run_dir / "recipe.toml", recipe.to_toml())
    reporter.say(f"serkit {__version__}: run '{recipe.run.name}' -> {ctx.run_dir}", "bold")
    with ctx.timer("scan dataset"):
        corpus = stages.scan(ctx)
    with ctx.timer("split"):
        plans = stages.split(ctx, corpus, split_file)
    description = describe_protocol(recipe, corpus)
    reporter.say(f"  protocol: {description}")
    with stages.features(ctx, corpus, plans) as store:
        results = [stages.train_fold(ctx, plan, store, corpus) for plan in plans]
    summary = write_outputs(ctx, results, corpus, description, started)
    reporter.show(metrics_table(summary.metrics, f"{recipe.run.name}: test results ({description})"))
    for stage, seconds in ctx.timer.seconds.items():
        reporter.show(f"  {stage:<14} {seconds:8.1f} s")
    accuracy, uar = 100 * summary.metrics["accuracy"], 100 * summary.metrics["uar"]
    reporter.say(f"accuracy {accuracy:.2f} %, UAR {uar:.2f} %; run folder {ctx.run_dir}", "bold green")
    return summary


def describe_protocol(recipe: Recipe, corpus: stages.Corpus) -> str:
    """The protocol in words, with the repeats and their seeds."""
    description = recipe.protocol.describe(corpus.utterances)
    repeats, seed = recipe.run.repeats, recipe.run.seed
    if repeats > 1:
        description += f"; {repeats} repeats with seeds {seed} to {seed + repeats - 1}"
    return description


def new_run_dir(output: str, name: str) -> Path:
    """A new folder ``<output>/<name>-<timestamp>`` (suffixed if that exists)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(output) / f"{name}-{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    try:
        candidate.mkdir(parents=True)
    except OSError as exc:
        raise SerkitError(f"run.output: cannot create the run folder {candidate} ({exc.strerror or exc})") from exc
    return candidate


def run_recipe(
    recipe_path: str, overrides: list[str], reporter: Reporter | None = None, split_file: str | None = None
) -> Path:
    """Validate a recipe, create its run folder and execute it; returns the run folder."""
    registry = get_registry()
    registry.raise_problems()
    recipe = load_recipe(recipe_path, overrides, registry)
    run_dir = new_run_dir(recipe.run.output, recipe.run.name)
    execute(recipe, run_dir, registry=registry, reporter=reporter, split_file=split_file)
    return run_dir


def resume_run(run_dir: str, reporter: Reporter | None = None) -> Path:
    """Continue an interrupted run from its folder: same recipe and split, training from its checkpoint."""
    folder = Path(run_dir)
    if not (folder / "recipe.toml").is_file():
        raise SerkitError(f"{folder}: not a serkit run folder (no recipe.toml)")
    if (folder / "metrics.json").is_file():
        raise SerkitError(f"{folder}: this run is already complete (metrics.json exists)")
    registry = get_registry()
    registry.raise_problems()
    recipe = load_recipe(folder / "recipe.toml", [], registry, file_base=Path.cwd())  # as the run was started
    split_file = str(folder / "split.json") if (folder / "split.json").is_file() else None
    execute(recipe, folder, registry=registry, reporter=reporter, split_file=split_file)
    return folder


def _attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler
