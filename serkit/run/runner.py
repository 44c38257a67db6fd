"""Runs a recipe end to end in a run folder: the stages in order, the run log, interruption."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from rich.rule import Rule

from serkit.core.errors import SerkitError
from serkit.core.fileio import require_writable
from serkit.core.learner import Learner
from serkit.core.recipe import Recipe, load_recipe
from serkit.core.registry import Registry, get_registry
from serkit.core.settings import EXECUTION_KEYS
from serkit.core.version import __version__
from serkit.data.cache import cache_folder
from serkit.data.store import FeatureStore
from serkit.results.folder import RunFolder
from serkit.results.records import FoldResult, RunSummary
from serkit.results.regression import per_speaker_text
from serkit.results.render import interval_basis, interval_text, metrics_table
from serkit.results.saved_model import needed_packages_error, run_learner
from serkit.run import stages
from serkit.run.executors import Executor, create_executor
from serkit.run.jobs import Job, JobFailures, PreparedRun, logging_to
from serkit.run.outputs import write_outputs
from serkit.run.planning import protocol_words
from serkit.run.reporter import Reporter, log
from serkit.run.tracking import Tracking, run_tags, tracking_for


@dataclass(frozen=True)
class RunSpec:
    """A run to execute: its recipe, its folder (new, or one to resume) and a saved split to reuse."""

    recipe: Recipe
    run_dir: Path
    split_file: Path | None = None
    label: str = ""  # how messages name it among several ("variant 'x'")

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.run_dir)


@dataclass(frozen=True)
class Finished:
    spec: RunSpec
    summary: RunSummary
    seconds: float  # wall time from the start of its preparation to its outputs


def execute(
    recipe: Recipe,
    run_dir: Path,
    *,
    registry: Registry | None = None,
    reporter: Reporter | None = None,
    split_file: Path | None = None,
) -> RunSummary:
    """Run ``recipe`` in ``run_dir`` (new, or one to resume), log to its run.log, and return the summary.

    Folds finished in an earlier attempt are read back; an interrupted fold continues from its
    checkpoint. ``split_file`` reuses a saved split instead of splitting anew.
    """
    return execute_runs([RunSpec(recipe, run_dir, split_file)], registry=registry, reporter=reporter)[0].summary


def execute_runs(
    specs: list[RunSpec],
    *,
    registry: Registry | None = None,
    reporter: Reporter | None = None,
    tracking: Tracking | None = None,
) -> list[Finished]:
    """Execute several runs with the first one's executor: locally one after another, on Ray with
    every training of every run submitted at once. A failed training lets the others finish; the
    runs it belongs to are left to resume, and the error names it. Tracking (the recipe's
    ``[track]``, or ``tracking`` for an ablation's parent run) logs from here, the driver, only."""
    registry = registry or get_registry()
    reporter = reporter or Reporter()
    first = specs[0].recipe
    if tracking is None:
        tracking = Tracking(tracking_for(first.track, first.run.output, first.run.name, reporter))
    finished: list[Finished] = []
    failures: list[str] = []
    total = 0
    current: list[RunSpec] = list(specs)
    try:
        with create_executor(first.run.executor, first.run.threads, first.ray, reporter) as executor:
            groups = [specs] if executor.batches_runs else [[spec] for spec in specs]
            for group in groups:
                current = group
                clocks = {spec.run_dir: time.perf_counter() for spec in group}
                prepared: list[PreparedRun] = []
                try:  # the feature stores are closed however the group ends (an error, Ctrl-C, SIGTERM)
                    for spec in group:
                        prepared.append(_prepare(spec, registry, reporter, executor))
                    total += sum(len(run.plans) for run in prepared)
                    for run in prepared:
                        _track_start(tracking, run)
                    results, failed = _train(prepared, executor, tracking, reporter)
                finally:
                    _close_stores(prepared)
                failures += failed
                for run in prepared:
                    if not all(job.key in results for job in run.jobs()):
                        tracking.ended([run.ctx.run_dir], "FAILED")
                        continue
                    with logging_to(run.ctx.run.log):
                        summary = _finish(run, [results[job.key] for job in run.jobs()])
                    tracking.finished(run.ctx.run_dir, summary)
                    seconds = time.perf_counter() - clocks[run.ctx.run_dir]
                    finished.append(Finished(_spec_of(group, run), summary, seconds))
    except KeyboardInterrupt:
        tracking.ended([spec.run_dir for spec in current], "KILLED")
        where = f"serkit resume {current[0].run_dir}" if len(specs) == 1 else "the same command again"
        for spec in current:
            with logging_to(spec.run.log):
                log.error("interrupted; continue with: %s", where)
        raise SerkitError(f"interrupted; continue with: {where}") from None
    if failures:
        raise JobFailures(failures, total)
    return finished


def _close_stores(prepared: list[PreparedRun]) -> None:
    for run in prepared:
        if run.store is not None:
            run.store.close()


def _train(
    prepared: list[PreparedRun], executor: Executor, tracking: Tracking, reporter: Reporter
) -> tuple[dict[tuple[str, str], FoldResult], list[str]]:
    """Every fold of these runs: read back where an earlier attempt finished it, trained otherwise;
    each logged to its run's run.log and to tracking as it finishes."""
    with contextlib.ExitStack() as logs:
        for run in prepared:
            logs.enter_context(logging_to(run.ctx.run.log))
            if executor.batches_runs:  # trained together: each run counts the batch's time
                logs.enter_context(run.ctx.timer("train"))
        jobs = [job for run in prepared for job in run.jobs()]
        results = {job.key: found for job, found in _finished_before(prepared) if found is not None}
        for job in jobs:
            if job.key in results:
                tracking.fold(job.run.ctx.run_dir, results[job.key])

        def track(job: Job, fold: FoldResult) -> None:
            tracking.fold(job.run.ctx.run_dir, fold)

        todo = [job for job in jobs if job.key not in results]
        trained, failed = executor.train(todo, reporter, track) if todo else ({}, [])
        return results | trained, failed


def _track_start(tracking: Tracking, run: PreparedRun) -> None:
    recipe = run.ctx.recipe
    tags = run_tags(run.description, recipe.dataset.name, recipe.run.executor)
    tracking.started(run.ctx.run_dir, run.label or run.ctx.run_dir.name, recipe.to_dict(), tags)


def _finished_before(prepared: list[PreparedRun]) -> Iterator[tuple[Job, FoldResult | None]]:
    """Each job with its fold's result from an earlier attempt (None where it has to be trained)."""
    for run in prepared:
        with logging_to(run.ctx.run.log):
            for job in run.jobs():
                yield job, stages.finished_fold(run.ctx, job.plan, run.corpus)


def _spec_of(group: list[RunSpec], run: PreparedRun) -> RunSpec:
    return next(spec for spec in group if spec.run_dir == run.ctx.run_dir)


def _prepare(spec: RunSpec, registry: Registry, reporter: Reporter, executor: Executor) -> PreparedRun:
    """Scan, split and compute the features of one run (logged to its run.log)."""
    recipe, run = spec.recipe, spec.run
    if spec.label:
        reporter.show(Rule(spec.label))
    with logging_to(run.log):
        try:
            ctx = stages.Context(recipe, run, registry, reporter, execution=executor.record())
            started = datetime.now().isoformat(timespec="seconds")
            run.write_recipe(recipe.to_toml())
            reporter.say(f"serkit {__version__}: run '{recipe.run.name}' -> {run}", "bold")
            executor.check_storage([cache_folder(recipe.run.cache_dir), run.path])
            with ctx.timer("scan dataset"):
                corpus = stages.scan(ctx)
            with ctx.timer("split"):
                plans, warnings = stages.split(ctx, corpus, spec.split_file)
            description = describe_protocol(recipe, corpus)
            reporter.say(f"  protocol: {description}")
            made = stages.features(ctx, corpus, plans, precompute=executor.precompute(run))
            try:
                audit = stages.audit_split(ctx, corpus, plans, made)
                run.write_split(replace(run.read_split(), audit=audit.to_json()))
            except BaseException:
                made.close()
                raise
            store: FeatureStore | None = made.store
            if executor.batches_runs:  # each training reads the cache on its own node
                made.close()
                store = None
            corpus = corpus.noted(warnings + made.notes)
            return PreparedRun(ctx, corpus, plans, description, started, made.hashes, made.cache, spec.label, store)
        except SerkitError as exc:
            log.error("%s", exc)
            raise


def _finish(run: PreparedRun, results: list[FoldResult]) -> RunSummary:
    ctx, reporter, recipe = run.ctx, run.ctx.reporter, run.ctx.recipe
    summary = write_outputs(ctx, results, run.corpus, run.description, run.started, run.cache)
    metrics = summary.metrics
    regression = metrics.get("task") == "regression"
    if not regression:
        reporter.show(metrics_table(metrics, f"{recipe.run.name}: test results ({run.description})"))
    for stage, seconds in ctx.timer.seconds.items():
        reporter.show(f"  {stage:<14} {seconds:8.1f} s")
    for warning in summary.warnings:
        reporter.say(f"warning: {warning}", "bold yellow")
    if recipe.report.groups != ["gender"]:  # chosen: a column no utterance records is said here (a typo?)
        for note in metrics.get("group_notes", []):
            reporter.say(f"note: {note}", "yellow")
    if regression:
        each = ", ".join(f"{t} {f['ccc']:.3f}" for t, f in metrics["per_target"].items())
        per_speaker = per_speaker_text(metrics["ccc_per_speaker"])
        headline = f"CCC {interval_text(metrics, 'ccc')} ({each}; per speaker {per_speaker})"
    else:
        headline = f"accuracy {interval_text(metrics, 'accuracy')}, UAR {interval_text(metrics, 'uar')}"
        if "dimensions" in metrics:  # a joint task's regression head
            headline += f", CCC {interval_text(metrics['dimensions'], 'ccc')}"
    reporter.say(f"{headline}; run folder {ctx.run_dir}", "bold green")
    reporter.say(f"  {interval_basis(metrics)}", "dim")
    return summary


def describe_protocol(recipe: Recipe, corpus: stages.Corpus) -> str:
    """The protocol in words, with the repeats and their seeds."""
    description = protocol_words(recipe, corpus.utterances)
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
    recipe_path: str,
    overrides: list[str],
    reporter: Reporter | None = None,
    split_file: Path | None = None,
    file_base: Path | None = None,
) -> Path:
    """Validate a recipe, create its run folder and execute it; returns the run folder (``file_base``: where the
    recipe's relative paths are read from, if not its file's folder)."""
    registry = get_registry()
    registry.raise_problems()
    recipe = load_recipe(recipe_path, overrides, registry, file_base=file_base)
    if recipe.run.executor == "ray":  # before the run folder exists: a wrong address leaves nothing behind
        from serkit.run.executors.ray import probe_address

        probe_address(recipe.ray.address)
    run_dir = new_run_dir(recipe.run.output, recipe.run.name)
    execute(recipe, run_dir, registry=registry, reporter=reporter, split_file=split_file)
    return run_dir


def resume_run(run_dir: str, reporter: Reporter | None = None, execution: list[str] | None = None) -> Path:
    """Continue an interrupted run from its folder: same recipe and split, training from its checkpoint.
    ``execution``: overrides of execution settings only (:data:`EXECUTION_KEYS`: run.executor, ray.address and
    the resources; not ray.train_workers), which change no result."""
    folder = Path(run_dir)
    run = RunFolder(folder)
    if not run.recipe.is_file():
        raise SerkitError(f"{folder}: not a serkit run folder (no {run.recipe.name})")
    registry = get_registry()
    if run.is_complete():
        _check_complete_run(run, registry, reporter or Reporter())
        return folder
    require_writable(folder, "the run folder")
    registry.raise_problems()
    for override in execution or []:
        key = override.split("=", 1)[0]
        section, _, name = key.partition(".")
        if name not in EXECUTION_KEYS.get(section, ()):
            raise SerkitError(f"--set {override}: resume changes execution settings only, not {key}")
    try:
        recipe = load_recipe(run.recipe, execution or [], registry, file_base=Path.cwd())  # as started
    except SerkitError as exc:
        raise needed_packages_error(run, registry) or exc from exc
    split_file = run.split if run.split.is_file() else None
    execute(recipe, folder, registry=registry, reporter=reporter, split_file=split_file)
    return folder


def _check_complete_run(run: RunFolder, registry: Registry, reporter: Reporter) -> None:
    """A complete run has nothing to resume, but its model must load: a damaged top-level model file
    is restored from the fold it was copied from, or named."""
    card, _, learner = run_learner(run, registry)
    weights = run.weights_file(card.weights_file)
    problem = _load_problem(learner, weights)
    if problem is None:
        raise SerkitError(f"{run}: this run is already complete ({run.metrics.name} exists and its model loads)")
    if not card.fold_weights:
        raise SerkitError(f"{run}: the run is complete but {problem}; no fold copy to restore it from")
    source = run.weights_file(next(iter(card.fold_weights.values())))
    if source == weights or _load_problem(learner, source):
        raise SerkitError(f"{run}: the run is complete but {problem}, and its fold copy {source} is damaged too")
    require_writable(run.path, "the run folder")
    run.copy_weights(source, weights)
    reporter.say(f"{run}: the run was complete but {problem}; restored {weights.name} from {source}")


def _load_problem(learner: Learner, weights: Path) -> str | None:
    """Why ``weights`` does not load into ``learner``, naming the file; None when it loads."""
    try:
        learner.loads(weights.read_bytes())
    except Exception as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        return f"{weights} does not load ({type(exc).__name__}: {first})"
    return None
