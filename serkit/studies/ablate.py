"""`serkit ablate`: run a base recipe and its variants, then compare them.

A sweep file names a base recipe and a list of variants, each a list of ``KEY=VALUE``
overrides (the same syntax as ``serkit run --set``)::

    [sweep]
    name = "ablation-augment"
    base = "paper-emodb.toml"       # relative to this file
    baseline = "all four (paper)"   # the baseline row's name
    set = []                        # overrides for every variant, the baseline included

    [[variant]]
    name = "no augmentation"
    set = ["augment=[]"]

Every variant is a full run folder under ``<run.output>/<sweep name>/``. Runs share the
feature cache, and running the same command again skips finished variants and resumes an
interrupted one.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from serkit.core.errors import SerkitError
from serkit.core.fileio import write_figure, write_json, write_text
from serkit.core.recipe import Recipe, check_run_name, component_sections, read_toml
from serkit.core.registry import Registry, get_registry
from serkit.core.settings import EXECUTION_KEYS
from serkit.data.cache import digest
from serkit.results.folder import ENVIRONMENT, AblationFolder, RunFolder
from serkit.results.html import ablation_page
from serkit.results.render import markdown_table, md_code, md_text, pct, score_text
from serkit.results.runs import Predictions, RunComparison, compare_runs
from serkit.results.stats import ROUNDS, TESTS, Interval, ccc_interval, format_p, headline_intervals
from serkit.run.planning import plan_run, prepared_scan
from serkit.run.reporter import Reporter, TableOrList
from serkit.run.tracking import Tracking, run_tags, tracking_for
from serkit.studies.tables import SweepTable, VariantTable, known_tables, layered_recipe, read_table


@dataclass(frozen=True)
class Variant:
    name: str
    folder: str
    overrides: list[str]
    recipe: Recipe


@dataclass(frozen=True)
class Sweep:
    name: str
    path: Path
    variants: list[Variant]  # the baseline first
    #: What the table's heading calls the study, and what ``path`` is (a leak audit's is a recipe).
    title: str = "Ablation"
    path_is: str = "Sweep file"

    @property
    def output(self) -> Path:
        return Path(self.variants[0].recipe.run.output) / self.name


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "variant"


def load_sweep(path: str | Path, overrides: list[str], registry: Registry) -> Sweep:
    """Read a sweep file and validate the recipe of every variant (nothing runs yet)."""
    path = Path(path)
    raw = read_toml(path, "sweep")
    where = f"sweep '{path}'"
    known_tables(raw, ("sweep", "variant"), where)
    if not isinstance(raw.get("sweep"), dict) or "base" not in raw["sweep"]:
        raise SerkitError(f'{where}: needs a [sweep] table with base = "paper.toml" (the recipe each variant changes)')
    head = read_table(SweepTable, raw["sweep"], f"{where}: sweep")
    rows = raw.get("variant", [])
    if not isinstance(rows, list):
        raise SerkitError(f"{where}: variant: expected [[variant]] tables")
    here = path.parent.absolute()  # relative paths in the sweep file are read from its folder
    entries = [VariantTable(name=head.baseline)]
    entries += [read_table(VariantTable, row, f"{where}: variant[{k}]") for k, row in enumerate(rows)]
    variants, seen = [], set()
    for index, entry in enumerate(entries):
        label = f"{where}: variant[{index - 1}]" if index else f"{where}: baseline"
        if entry.name in seen and index and entry.name == head.baseline and "baseline" not in raw["sweep"]:
            raise SerkitError(
                f"{label}: '{entry.name}' is the name serkit gives the baseline (the recipe unchanged, always run); "
                f'name this variant otherwise, or give the baseline another name with [sweep] baseline = "..."'
            )
        if entry.name in seen:
            raise SerkitError(f"{label}: the name '{entry.name}' is used twice")
        seen.add(entry.name)
        try:
            recipe = layered_recipe(path.parent / head.base, head.set, here, overrides, entry.set, here, registry)
        except SerkitError as exc:
            earlier = earlier_provider(str(exc), path, head, overrides)
            raise SerkitError(f"{label} ('{entry.name}'): {exc}{earlier}") from exc
        variants.append(Variant(entry.name, f"{index:02d}-{slug(entry.name)}", list(entry.set), recipe))
    _same_task(variants, where)
    return Sweep(head.name or path.stem, path, variants)


def earlier_provider(message: str, path: Path, head: SweepTable, overrides: list[str]) -> str:
    """Where an unknown component named in ``message`` came from, as the sweep's earlier run folders record it
    (``environment.json``): "; the sweep's earlier run ... had it from PKG (pip install PKG)", or ""."""
    import re

    from serkit.core.recipe import component_sections

    found = re.search(r"unknown ([a-z_ ]+) '([^']+)'", message)
    if found is None:
        return ""
    name = found.group(2)
    output = next((o.split("=", 1)[1] for o in [*overrides, *head.set] if o.startswith("run.output=")), "")
    if not output:
        output = str(read_toml(path.parent / head.base, "recipe").get("run", {}).get("output", "runs"))
    sections = component_sections()
    for environment in sorted(Path(output).glob(f"{head.name or path.stem}/*/{ENVIRONMENT}")):
        try:
            recorded = RunFolder(environment.parent).read_environment().components
        except SerkitError:
            continue
        for key, provider in recorded.items():
            section, _, component = key.partition(":")
            if component == name and section in sections:
                return (
                    f"; the sweep's earlier run {environment.parent} had it from {provider}: "
                    f"pip install {provider.split(' ')[0]}"
                )
    return ""


def _same_task(variants: list[Variant], where: str) -> None:
    """Every variant does the baseline's task (a classification, or a regression of the same targets):
    their scores could not be compared otherwise."""
    task = variants[0].recipe.task
    for variant in variants[1:]:
        own = variant.recipe.task
        if (own.kind, own.targets) != (task.kind, task.targets):
            what = [
                {
                    "regression": f"a regression of {', '.join(t.targets)}",
                    "joint": f"a joint task of classes and {', '.join(t.targets)}",
                }.get(t.kind, "a classification")
                for t in (task, own)
            ]
            raise SerkitError(
                f"{where}: variant '{variant.name}' is {what[1]} but the baseline {what[0]}: their scores cannot "
                "be compared (task.kind and task.targets must not change between variants)"
            )


def preflight(sweep: Sweep, what: str = "sweep", member: str = "variant") -> None:
    """Check every variant's data and protocol before any training: impossible folds fail here."""
    scans: dict[str, Any] = {}
    for variant in sweep.variants:
        recipe = variant.recipe
        key = repr(recipe.dataset.identity()) + repr(recipe.protocol.identity()) + repr(recipe.labels)
        try:
            if key not in scans:
                scans[key] = prepared_scan(recipe)
            plan_run(recipe, scans[key].utterances)
        except SerkitError as exc:
            raise SerkitError(f"{what} '{sweep.path}': {member} '{variant.name}': {exc}") from exc


def run_sweep(path: str, overrides: list[str], reporter: Reporter | None = None, name: str = "") -> Path:
    """Run (or resume) every variant, then write the comparison; returns the sweep folder."""
    reporter = reporter or Reporter()
    registry = get_registry()
    registry.raise_problems()
    sweep = load_sweep(path, overrides, registry)
    if name:
        sweep = Sweep(name, sweep.path, sweep.variants)
    check_run_name(sweep.name, "--name" if name else f"sweep '{path}': sweep.name")
    preflight(sweep)
    first = sweep.variants[0].recipe
    if first.run.executor == "ray":  # before the sweep folder exists
        from serkit.run.executors.ray import probe_address

        probe_address(first.ray.address)
    output = sweep.output
    output.mkdir(parents=True, exist_ok=True)
    folder = AblationFolder(output)
    reporter.say(f"sweep '{sweep.name}': {len(sweep.variants)} runs -> {output}", "bold")
    tracker, parent = run_variants(sweep, folder, registry, reporter, "ablation")
    results = [VariantResult.read(variant, folder.variant(variant.folder)) for variant in sweep.variants]
    compare(sweep, results, folder, reporter)
    if tracker is not None:
        tracker.finish(parent, output, None, "FINISHED", files=folder.comparison_files())
    return output


def run_variants(
    sweep: Sweep, folder: AblationFolder, registry: Registry, reporter: Reporter, kind: str, member: str = "variant"
) -> tuple[Any, Any]:
    """Run every variant not finished earlier, each in its run folder under ``folder`` (a folder whose recipe
    changed is moved aside), tracked under one parent run; returns the tracker and the parent run to end."""
    from serkit.run.runner import RunSpec, execute_runs

    todo: list[RunSpec] = []
    for variant in sweep.variants:
        run = folder.variant(variant.folder)
        key = content_key(variant.recipe)
        if run.path.exists() and not _same_content(run, variant.recipe, key):
            aside = run.path.with_name(f"{run.name}.replaced-{datetime.now():%Y%m%d-%H%M%S}")
            shutil.move(run.path, aside)
            reporter.say(f"{member} '{variant.name}' changed since its last run; the old folder is kept as {aside}")
        if run.is_complete():
            reporter.say(f"{member} '{variant.name}': finished earlier, reusing {run}")
            continue
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_content_key(key)
        split_file = run.split if run.split.is_file() else None
        todo.append(RunSpec(variant.recipe, run.path, split_file, f"{member} '{variant.name}'"))
    base = sweep.variants[0].recipe
    tracker = tracking_for(base.track, base.run.output, sweep.name, reporter)
    parent = None
    if tracker is not None:
        tags = {"serkit.sweep": sweep.name, "serkit.sweep_file": str(sweep.path.absolute())}
        parent = tracker.start(folder.path, sweep.name, tags | run_tags(kind, base.dataset.name, base.run.executor))
    if todo:
        try:
            tracking = Tracking(tracker, parent)
            for done in execute_runs(todo, registry=registry, reporter=reporter, tracking=tracking):
                done.spec.run.write_wall_time(done.seconds)
        except BaseException:
            if tracker is not None:
                tracker.end(parent, "FAILED")
            raise
    return tracker, parent


#: Training settings added after the content keys' second version, with their defaults.
TRAIN_KEYS_ADDED = {"schedule": "constant", "warmup_epochs": 0.0, "accumulate": 1}


def content_key(recipe: Recipe, *, legacy: bool = False) -> str:
    """The recipe by what it means: settings, and each component's identity, in which a path parameter
    counts by the content it names. Moving a checkout or a corpus keeps the key; editing a file changes it;
    execution settings (executor, workers, Ray resources) are not part of it. ``legacy``: the key serkit
    0.2 wrote (execution settings included, as they then existed), so its folders are not rerun."""
    data = recipe.to_dict()
    if data.pop("ray")["train_workers"] != 1:  # changes the result (a run of one worker keeps its key)
        data["train"]["ray_train_workers"] = recipe.ray.train_workers
    data.pop("track")
    data.pop("report")  # reporting only
    if recipe.calibrate.method == "none":
        data.pop("calibrate")  # added after 0.2: a run without calibration keeps its key
    if not recipe.labels.map and not recipe.labels.keep:
        data.pop("labels")  # likewise
    if recipe.augmentation.mode == "copies":
        data.pop("augmentation")  # likewise (its other keys are execution settings)
    elif data["augmentation"].get("where") == "auto":
        data["augmentation"].pop("where")  # added later; auto resolves alike for the same components
    if recipe.task.kind == "classification" and not recipe.task.targets:
        data.pop("task")  # likewise
    elif recipe.task.kind != "joint":
        data["task"].pop("weights")  # added later, for joint tasks only: a regression keeps its key
    for key, default in TRAIN_KEYS_ADDED.items():
        if data["train"].get(key) == default:
            data["train"].pop(key)  # likewise: a run that does not use them keeps its key
    if legacy:
        if recipe.run.executor != "local" or recipe.run.threads:
            return ""
        data["run"].pop("executor")
        data["run"].pop("threads")
        data["run"].pop("plugin_checks")  # added after 0.2
    else:
        for section_key, keys in EXECUTION_KEYS.items():
            for key in keys:
                data.get(section_key, {}).pop(key, None)
    for section, kind in component_sections().items():
        value = recipe.section(section)
        data[section] = [c.identity() for c in value] if kind.many else value.identity()
    return digest("recipe content", data) if legacy else digest("recipe content v2", data)


def _same_content(run: RunFolder, recipe: Recipe, key: str) -> bool:
    if run.content_key.is_file():
        found = run.read_content_key()
        if found == key:
            return True
        if found is not None and found == content_key(recipe, legacy=True):
            run.write_content_key(key)
            return True
        return False
    # A folder from before content keys: compare the recipe's text.
    return run.recipe.is_file() and run.recipe.read_text(encoding="utf-8") == recipe.to_toml()


#: The stages of a run's timings that compute or read its features.
FEATURE_STAGES = ("hash files", "features")


@dataclass(frozen=True)
class VariantResult:
    """A finished variant's results, as sweep.json keeps them."""

    variant: str
    folder: str
    overrides: list[str]
    protocol: str
    #: Mean, sd and n over folds of each metric.
    mean: dict[str, dict[str, float]]
    #: Each fold's score: UAR, or a regression's mean CCC over its targets (``metric``).
    folds: dict[str, float]
    #: Each fold's accuracy (a regression has none).
    fold_accuracy: dict[str, float]
    #: Wall time of the variant's run, from its preparation to its outputs, features included.
    seconds: float
    #: The part of it spent hashing files and computing (or reading cached) features.
    feature_seconds: float = 0.0
    #: What makes its results mean less than they seem (a collapsed model).
    warnings: list[str] = field(default_factory=list)
    #: What ``folds`` hold: ``uar`` (a classification) or ``ccc`` (a regression).
    metric: str = "uar"
    #: The deliberate leaks the variant was run with (a leak audit's), in words: its figures are not results.
    leaks: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, variant: Variant, run: RunFolder) -> VariantResult:
        summary = run.read_summary()
        seconds = run.read_wall_time()
        metric = "ccc" if summary.metrics.get("task") == "regression" else "uar"
        return cls(
            variant=variant.name,
            folder=variant.folder,
            overrides=list(variant.overrides),
            protocol=summary.protocol,
            mean=summary.mean,
            folds={f["id"]: f["metrics"][metric] for f in summary.folds},
            fold_accuracy={f["id"]: f["metrics"]["accuracy"] for f in summary.folds} if metric == "uar" else {},
            seconds=seconds if seconds is not None else sum(summary.timings.values()),
            feature_seconds=sum(summary.timings.get(stage, 0.0) for stage in FEATURE_STAGES),
            warnings=list(summary.warnings),
            metric=metric,
            leaks=list(summary.leaks),
        )


@dataclass(frozen=True)
class AblationRow:
    """One line of the comparison: a variant against the baseline, by its task's metric (UAR, or a
    regression's mean CCC over its targets); ablation.csv names the columns by it (:func:`csv_columns`)."""

    variant: str
    #: ``uar`` or ``ccc``: what ``mean`` to ``p`` are of.
    metric: str
    #: The mean and sd over folds (and repeats).
    mean: float
    sd: float
    #: The figure of every fold's test predictions pooled (the run's own), with its 95 % bootstrap interval.
    pooled: float | None
    pooled_ci_low: float
    pooled_ci_high: float
    #: The difference from the baseline: the comparison's (the mean difference over folds), or of the means.
    delta: float
    delta_ci_low: float | None
    delta_ci_high: float | None
    p: float | None
    #: The test the design calls for (None on the baseline's row).
    test: str | None
    folds: int
    seconds: float
    feature_seconds: float
    folder: str
    #: Why the variant's figures say nothing ("" when they do): its model collapsed.
    collapse: str = ""
    #: A classification's accuracy, mean and sd over folds, and its difference from the baseline's.
    accuracy_mean: float | None = None
    accuracy_sd: float | None = None
    delta_accuracy: float | None = None
    #: Why there is no p (and no interval of Δ), where the folds give no evidence either way.
    untestable: str = ""
    #: The deliberate leaks of the variant (a leak audit's), in words ("": an honest run).
    leak: str = ""

    @property
    def label(self) -> str:
        """The variant's name with what makes its figures no finding: "(leak)", "(collapsed)"."""
        return self.variant + " (leak)" * bool(self.leak) + " (collapsed)" * bool(self.collapse)


def csv_columns(metric: str) -> dict[str, str]:
    """ablation.csv's columns, in order, with the row field each holds: ``uar_mean``, ``delta_uar``,
    ``p_uar`` (or ``ccc_...``) and, for a classification, the accuracy's."""
    columns = {"variant": "variant"}
    if metric != "ccc":
        columns |= {"accuracy_mean": "accuracy_mean", "accuracy_sd": "accuracy_sd"}
    columns |= {f"{metric}_{name}": name for name in ("mean", "sd", "pooled", "pooled_ci_low", "pooled_ci_high")}
    if metric != "ccc":
        columns["delta_accuracy"] = "delta_accuracy"
    columns |= {f"delta_{metric}": "delta", f"delta_{metric}_ci_low": "delta_ci_low"}
    columns |= {f"delta_{metric}_ci_high": "delta_ci_high", f"p_{metric}": "p"}
    rest = ("test", "folds", "seconds", "feature_seconds", "folder", "collapse", "untestable", "leak")
    return columns | {name: name for name in rest}


def compare(
    sweep: Sweep,
    results: list[VariantResult],
    folder: AblationFolder,
    reporter: Reporter,
    section: Callable[[list[AblationRow]], list[str]] | None = None,
) -> list[AblationRow]:
    """The comparison table (terminal, ablation.md, ablation.csv) and bar chart (ablation.png): every
    mean with a speaker-bootstrap 95 % CI, every difference from the baseline with the test its
    design calls for (serkit runs compare's); ``section`` adds markdown lines of a study's own after the
    table (the leak audit's), on the page too."""
    baseline = results[0]
    comparisons = {result.variant: _compared(baseline, result, folder) for result in results[1:]}
    rows = []
    bootstrap_notes: set[str] = set()
    for result in results:
        pooled, interval = _pooled(folder.variant(result.folder), sweep, result.metric)
        if interval.note:
            bootstrap_notes.add(interval.note)
        rows.append(_row(result, baseline, comparisons.get(result.variant), pooled, interval))
    protocols = sorted({result.protocol for result in results})
    tests = sorted({str(r.test) for r in rows[1:] if r.test})
    _write_csv(folder.table, rows)
    markdown = _markdown(sweep, rows, protocols, tests, sorted(bootstrap_notes))
    if section is not None:
        markdown += "\n".join(section(rows)) + "\n"
    markdown += _group_markdown(comparisons)
    dimensions = _dimension_lines(results, folder)
    markdown += "\n".join(dimensions)
    write_text(folder.report, markdown)
    _plot(rows, folder.plot, sweep.name)
    sweep_record = {"name": sweep.name, "sweep_file": str(sweep.path), "rows": [asdict(r) for r in results]}
    write_json(folder.sweep, sweep_record)
    write_text(folder.html_report, ablation_page(folder, read_rows(folder)))
    reporter.show(_rich_table(sweep, rows, protocols))
    for line in _leak_notes(rows) + _collapse_notes(rows):
        reporter.say(f"  warning: {line}", "bold yellow")
    for line in _test_notes(tests, sorted(bootstrap_notes), baseline.metric) + _untestable_notes(rows):
        reporter.say(f"  {line}", "dim")
    for line in dimensions:
        if line.startswith("| ") and not line.startswith("| variant") and not line.startswith("| ---"):
            reporter.say(f"  dimensions: {line.strip('| ').replace(' | ', ', ')}", "dim")
    reporter.say("comparison written to " + ", ".join(str(path) for path in folder.comparison_files()))
    return rows


def _compared(baseline: VariantResult, result: VariantResult, folder: AblationFolder) -> RunComparison | None:
    """``serkit runs compare`` of a variant against the baseline (None: they tested different utterances)."""
    try:
        return compare_runs(folder.variant(baseline.folder).path, folder.variant(result.folder).path)
    except SerkitError:
        return None


def _row(
    result: VariantResult,
    baseline: VariantResult,
    comparison: RunComparison | None,
    pooled: float | None,
    interval: Interval,
) -> AblationRow:
    """A variant against the baseline: its figures, the difference and the test its design calls for."""
    score = result.mean[result.metric]
    test: str | None = None
    p = low = high = None
    delta = score["mean"] - baseline.mean[result.metric]["mean"]
    untestable = ""
    if comparison is not None:
        found = comparison.comparison
        test, p, low, high, delta = found.test, found.p, found.ci_low, found.ci_high, found.difference
        untestable = found.untestable
    elif result is not baseline:
        test = DIFFERENT_TEST_SETS
    accuracy = result.mean.get("accuracy") if result.metric == "uar" else None
    return AblationRow(
        variant=result.variant,
        metric=result.metric,
        mean=score["mean"],
        sd=score["sd"],
        pooled=pooled,
        pooled_ci_low=interval.low,
        pooled_ci_high=interval.high,
        delta=delta,
        delta_ci_low=low,
        delta_ci_high=high,
        p=p,
        test=test,
        folds=int(score["n"]),
        seconds=result.seconds,
        feature_seconds=result.feature_seconds,
        folder=result.folder,
        collapse=next((w for w in result.warnings if "collapse" in w), ""),
        accuracy_mean=accuracy["mean"] if accuracy else None,
        accuracy_sd=accuracy["sd"] if accuracy else None,
        delta_accuracy=accuracy["mean"] - baseline.mean["accuracy"]["mean"] if accuracy else None,
        untestable=untestable,
        leak="; ".join(result.leaks),
    )


def _pooled(run: RunFolder, sweep: Sweep, metric: str) -> tuple[float | None, Interval]:
    """The run's pooled UAR (or mean CCC) and its 95 % bootstrap CI, resampled by speaker: as its metrics.json
    holds them, or computed from its predictions for run folders from before serkit 0.3."""
    summary = run.read_summary()
    stored = summary.metrics.get("intervals", {})
    if metric not in stored:  # computed as a run of serkit 0.3 stores it
        seed = sweep.variants[0].recipe.run.seed
        found = Predictions.read(run.path)
        speakers = [r["speaker"] for r in found.rows]
        if metric == "ccc":
            stored = ccc_interval(
                found.values(found.rows, "true"), found.values(found.rows, "predicted"), speakers, seed
            )
        else:
            labels, guesses = ([r[key] for r in found.rows] for key in ("true", "predicted"))
            stored = headline_intervals(labels, guesses, speakers, seed)
    low, high = stored[metric]
    return summary.metrics.get(metric), Interval(low, high, stored["resampled_by"], stored.get("note", ""))


def _fmt(mean: float | None, sd: float | None, metric: str) -> str:
    if mean is None or sd is None:
        return ""
    return f"{score_text(mean, metric)} ± {score_text(sd, metric)}"


def _interval(low: float | None, high: float | None, metric: str, signed: bool = False) -> str:
    if low is None or high is None:
        return ""
    return f"[{score_text(low, metric, signed)}, {score_text(high, metric, signed)}]"


def _pooled_text(row: AblationRow) -> str:
    """The pooled figure with its interval, "72.10 [68.00, 76.20]"."""
    interval = _interval(row.pooled_ci_low, row.pooled_ci_high, row.metric)
    return interval if row.pooled is None else f"{score_text(row.pooled, row.metric)} {interval}"


def _cells(row: AblationRow, first: bool, mixed: bool) -> list[str]:
    metric, classes = row.metric, row.metric != "ccc"
    accuracy = [_fmt(row.accuracy_mean, row.accuracy_sd, metric)] if classes else []
    delta_accuracy = [("" if first else score_text(row.delta_accuracy or 0.0, metric, True))] if classes else []
    cells = [
        row.label,
        *accuracy,
        *delta_accuracy,
        _fmt(row.mean, row.sd, metric),
        _pooled_text(row),
        "" if first else score_text(row.delta, metric, True),
        "" if first else _interval(row.delta_ci_low, row.delta_ci_high, metric, signed=True),
        "" if first else format_p(row.p),
    ]
    if mixed:
        cells.append("" if first else str(row.test or ""))
    return [*cells, str(row.folds), f"{row.seconds:.0f} ({row.feature_seconds:.0f})"]


def _header(mixed: bool, metric: str) -> list[str]:
    """The columns: the figures over folds, then the pooled figure with its interval, then the difference
    from the baseline, its interval and p, all three of the one metric the header names."""
    name = "CCC" if metric == "ccc" else "UAR"
    accuracy = [] if metric == "ccc" else ["accuracy % (fold mean ± sd)", "Δ accuracy"]
    figures = [f"{name}{' %' * (metric != 'ccc')} (fold mean ± sd)", f"pooled {name} [95 % CI]"]
    tested = [f"Δ {name} (fold mean)", f"Δ {name} 95 % CI", f"p (Δ {name})"]
    return ["variant", *accuracy, *figures, *tested, *(["test"] if mixed else []), "folds", "wall s (features)"]


def _untestable_notes(rows: list[AblationRow]) -> list[str]:
    """A line per variant whose difference could not be tested, saying why."""
    return [f"variant '{row.variant}': not testable: {row.untestable}" for row in rows if row.untestable]


def _leak_notes(rows: list[AblationRow]) -> list[str]:
    """A line per variant run with a deliberate leak: its figure measures the leak, it is not a result."""
    return [f"variant '{row.variant}' is a leak, not a result: {row.leak}" for row in rows if row.leak]


def _collapse_notes(rows: list[AblationRow]) -> list[str]:
    """A line per variant whose model collapsed: its figures, and its difference, are not findings."""
    return [
        f"variant '{row.variant}' {row.collapse}; its difference from the baseline is not a finding"
        for row in rows
        if row.collapse
    ]


#: The test column of a variant tested on other utterances than the baseline: no paired test applies.
DIFFERENT_TEST_SETS = "none: different test sets"


def _test_notes(tests: list[str], bootstrap_notes: list[str], metric: str) -> list[str]:
    """The notes under the table: what each figure is, and each test used, from its declaration."""
    name = "CCC" if metric == "ccc" else "UAR"
    lines = [
        f"{name} (fold mean ± sd): over folds and repeats; pooled {name}: of every fold's test predictions "
        f"together, with its 95 % CI, a bootstrap resampling speakers ({ROUNDS} rounds).",
        f"Δ {name} (fold mean), its 95 % CI and p: all of {name}, by the test named below; Δ is the mean over folds "
        f"of the variant's {name} minus the baseline's (on one test set, the difference of the pooled figures).",
    ]
    if metric == "ccc":
        lines.insert(0, "CCC: Lin's concordance correlation coefficient, averaged over the targets.")
    else:
        lines.append("Δ accuracy: the difference of the fold-mean accuracies (untested).")
    lines += [f"pooled {name} 95 % CI: {note}." for note in bootstrap_notes]
    lines.append(
        "wall s: each variant's run from its preparation to its outputs, features included; in brackets the "
        "part spent on features (the variants share the cache: a variant that changes only the model reads them)."
    )
    for test in tests:
        if test == DIFFERENT_TEST_SETS:
            lines.append(
                f"{test}: the variant was tested on other utterances than the baseline; no paired test applies."
            )
        else:
            declared = TESTS[test]
            lines.append(declared.explanation() + (f" Caveat: {declared.caveat}." if declared.caveat else ""))
    return lines


def _markdown(sweep: Sweep, rows: list[AblationRow], protocols: list[str], tests: list[str], notes: list[str]) -> str:
    mixed, metric = len(tests) > 1, rows[0].metric
    unit = "CCC" if metric == "ccc" else "percentage points"
    lines = [
        f"# {sweep.title} {md_code(sweep.name)}",
        "",
        f"- **{sweep.path_is}:** {md_code(sweep.path)}",
        f"- **Protocol:** {md_text('; '.join(protocols))}",
        f"- Δ is the difference from the first row (the baseline), in {unit}.",
        *[f"- **Warning: {md_text(line)}.**" for line in _leak_notes(rows) + _collapse_notes(rows)],
        *[f"- {line}" for line in _test_notes(tests, notes, metric)],
        *[f"- {md_text(line)}." for line in _untestable_notes(rows)],
        "",
        markdown_table(_header(mixed, metric), [_markdown_cells(row, i == 0, mixed) for i, row in enumerate(rows)]),
        "",
    ]
    return "\n".join(lines)


def _markdown_cells(row: AblationRow, first: bool, mixed: bool) -> list[str]:
    """A row of ablation.md: the variant's name as text (never markup), the rest as the terminal shows it."""
    _, *rest = _cells(row, first, mixed)
    return [md_text(row.variant) + row.label[len(row.variant) :], *rest]


def _dimension_lines(results: list[VariantResult], folder: AblationFolder) -> list[str]:
    """A joint task's regression head, compared like its classes: each variant's mean CCC over folds and pooled
    with its interval, and its difference from the baseline with the test its design calls for (``serkit runs
    compare --metric ccc``); nothing for other tasks."""
    base = folder.variant(results[0].folder)
    if not base.read_summary().metrics.get("dimensions"):
        return []
    rows = []
    for k, result in enumerate(results):
        run = folder.variant(result.folder)
        dimensions = run.read_summary().metrics.get("dimensions") or {}
        spread = dimensions.get("mean", {}).get("ccc")
        low, high = dimensions.get("intervals", {}).get("ccc", (None, None))
        cells = [
            md_text(result.variant),
            f"{spread['mean']:.3f} ± {spread['sd']:.3f}" if spread else "-",
            f"{dimensions['ccc']:.3f} [{low:.3f}, {high:.3f}]" if low is not None else "-",
        ]
        if k == 0:
            rows.append([*cells, "baseline", "", ""])
            continue
        try:
            tested = compare_runs(base.path, run.path, "ccc").comparison
        except SerkitError:
            rows.append([*cells, "not comparable (different test utterances)", "", ""])
            continue
        interval = f" [{tested.ci_low:+.3f}, {tested.ci_high:+.3f}]" if tested.ci_low is not None else ""
        rows.append([*cells, f"{tested.difference:+.3f}{interval}", format_p(tested.p), md_text(tested.test)])
    header = ["variant", "CCC (fold mean ± sd)", "pooled CCC [95 % CI]", "Δ CCC [95 % CI]", "p", "test"]
    return [
        "",
        "## Dimensions (the regression head): mean CCC",
        "",
        "Each variant's regression head by its mean CCC over the targets, compared with the baseline's on the same "
        "test utterances by the test the design calls for (as `serkit runs compare --metric ccc`).",
        "",
        markdown_table(header, rows),
        "",
    ]


def _group_markdown(comparisons: dict[str, RunComparison | None]) -> str:
    """Per group ([report] groups columns in every variant's predictions): each variant's UAR per group
    against the baseline's on the same utterances, with a paired bootstrap 95 % CI, and both gaps."""
    tables: dict[str, list[list[str]]] = {}
    for variant, compared in comparisons.items():
        for key, comparison in (compared.groups if compared else {}).items():
            rows = tables.setdefault(key, [])
            for name, row in comparison["groups"].items():
                low, high = row["ci"]
                interval = f"[{100 * low:+.2f}, {100 * high:+.2f}]"
                figures = [pct(row["uar_a"]), pct(row["uar_b"]), f"{100 * row['difference']:+.2f}"]
                rows.append([md_text(variant), md_text(name), *figures, interval, row["resampled_by"]])
            gap_a, gap_b = comparison["gap_a"], comparison["gap_b"]
            rows.append([md_text(variant), "gap", pct(gap_a), pct(gap_b), f"{100 * (gap_b - gap_a):+.2f}", "", ""])
    lines = []
    for key, rows in tables.items():
        header = ["variant", md_text(key), "baseline UAR %", "variant UAR %", "Δ UAR", "Δ 95 % CI (paired bootstrap)"]
        lines += [f"\n## UAR per {md_text(key)}\n", markdown_table([*header, "by"], rows), ""]
    return "\n".join(lines)


def _rich_table(sweep: Sweep, rows: list[AblationRow], protocols: list[str]) -> TableOrList:
    """The comparison as a table, or, where the terminal is too narrow for it, a paragraph per variant."""
    mixed = len({str(r.test) for r in rows[1:] if r.test}) > 1
    table = Table(title=f"{sweep.title.lower()} '{sweep.name}' ({'; '.join(protocols)})")
    for column in _header(mixed, rows[0].metric):
        table.add_column(column, justify="left" if column in ("variant", "test") else "right")
    for i, row in enumerate(rows):
        table.add_row(*_cells(row, i == 0, mixed))
    return TableOrList(table, [line for i, row in enumerate(rows) for line in _lines(row, i == 0)])


def _lines(row: AblationRow, first: bool) -> list[str]:
    """One variant of the comparison as lines that read at any width."""
    metric = row.metric
    name, percent = ("CCC", "") if metric == "ccc" else ("UAR", " %")
    figures = [f"  {name} {_fmt(row.mean, row.sd, metric)}{percent} over folds, pooled {_pooled_text(row)}"]
    if metric != "ccc":
        figures.insert(0, f"  accuracy {_fmt(row.accuracy_mean, row.accuracy_sd, metric)} % over folds")
    lines = [f"{row.variant}{' (baseline)' * first}{row.label[len(row.variant) :]}:", *figures]
    if not first:
        delta_ci = _interval(row.delta_ci_low, row.delta_ci_high, metric, signed=True)
        test = f" ({row.test})" if row.test else ""
        tested = f"not testable: {row.untestable}" if row.untestable else f"p = {format_p(row.p)}"
        interval = f" (CI {delta_ci})" if delta_ci else ""
        lines.append(f"  Δ {name} {score_text(row.delta, metric, True)}{interval}, {tested}{test}")
    folds = f"{row.folds} fold{'s' * (row.folds != 1)}"
    lines.append(f"  {folds}, {row.seconds:.0f} s ({row.feature_seconds:.0f} s features)")
    return lines


def read_rows(folder: AblationFolder) -> list[dict[str, str]]:
    """The comparison's rows as ablation.csv holds them."""
    with folder.table.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, rows: list[AblationRow]) -> None:
    columns = csv_columns(rows[0].metric)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows({column: getattr(row, name) for column, name in columns.items()} for row in rows)
    write_text(path, buffer.getvalue())


def _plot(rows: list[AblationRow], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = 1.0 if rows[0].metric == "ccc" else 100.0
    names = [row.variant for row in rows]
    figure, axes = plt.subplots(figsize=(1.6 + 1.2 * len(rows), 4))
    colours = ["C1"] + ["C0"] * (len(rows) - 1)
    axes.bar(
        range(len(rows)),
        [scale * r.mean for r in rows],
        yerr=[scale * r.sd for r in rows],
        color=colours,
        capsize=4,
    )
    axes.set_xticks(range(len(rows)), names, rotation=30, ha="right")
    if rows[0].metric == "ccc":
        axes.set_ylabel("CCC, mean over targets (mean ± sd over folds)")
        axes.set_ylim(min(0.0, *(r.mean - r.sd for r in rows)), 1)
    else:
        axes.set_ylabel("UAR % (mean ± sd over folds)")
        axes.set_ylim(0, 100)
    axes.set_title(f"{title} (baseline in orange)")
    write_figure(figure, path)
