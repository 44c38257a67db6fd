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
from dataclasses import asdict, dataclass, field, fields
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
from serkit.results.folder import AblationFolder, RunFolder
from serkit.results.html import ablation_page
from serkit.results.render import markdown_table, pct
from serkit.results.runs import RunComparison, compare_runs
from serkit.results.stats import format_p
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
            raise SerkitError(f"{label} ('{entry.name}'): {exc}") from exc
        variants.append(Variant(entry.name, f"{index:02d}-{slug(entry.name)}", list(entry.set), recipe))
    return Sweep(head.name or path.stem, path, variants)


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
    data.pop("ray")
    data.pop("track")
    data.pop("report")  # reporting only
    if recipe.calibrate.method == "none":
        data.pop("calibrate")  # added after 0.2: a run without calibration keeps its key
    if not recipe.labels.map and not recipe.labels.keep:
        data.pop("labels")  # likewise
    if recipe.task.kind == "classification" and not recipe.task.targets:
        data.pop("task")  # likewise
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
    #: Each fold's UAR and accuracy.
    folds: dict[str, float]
    fold_accuracy: dict[str, float]
    #: Wall time of the variant's run, from its preparation to its outputs, features included.
    seconds: float
    #: The part of it spent hashing files and computing (or reading cached) features.
    feature_seconds: float = 0.0
    #: What makes its results mean less than they seem (a collapsed model).
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, variant: Variant, run: RunFolder) -> VariantResult:
        summary = run.read_summary()
        seconds = run.read_wall_time()
        return cls(
            variant=variant.name,
            folder=variant.folder,
            overrides=list(variant.overrides),
            protocol=summary.protocol,
            mean=summary.mean,
            folds={f["id"]: f["metrics"]["uar"] for f in summary.folds},
            fold_accuracy={f["id"]: f["metrics"]["accuracy"] for f in summary.folds},
            seconds=seconds if seconds is not None else sum(summary.timings.values()),
            feature_seconds=sum(summary.timings.get(stage, 0.0) for stage in FEATURE_STAGES),
            warnings=list(summary.warnings),
        )


@dataclass(frozen=True)
class AblationRow:
    """One line of the comparison (ablation.csv's columns, in order): a variant against the baseline."""

    variant: str
    accuracy_mean: float
    accuracy_sd: float
    uar_mean: float
    uar_sd: float
    uar_pooled_ci_low: float
    uar_pooled_ci_high: float
    delta_accuracy: float
    delta_uar: float
    delta_uar_ci_low: float | None
    delta_uar_ci_high: float | None
    p_uar: float | None
    #: The test the design calls for (None on the baseline's row).
    test: str | None
    folds: int
    seconds: float
    feature_seconds: float
    folder: str
    #: Why the variant's figures say nothing ("" when they do): its model collapsed.
    collapse: str = ""


def compare(
    sweep: Sweep, results: list[VariantResult], folder: AblationFolder, reporter: Reporter
) -> list[AblationRow]:
    """The comparison table (terminal, ablation.md, ablation.csv) and bar chart (ablation.png): every
    mean with a speaker-bootstrap 95 % CI, every difference from the baseline with the test its
    design calls for (serkit runs compare's)."""
    baseline = results[0]
    comparisons = {result.variant: _compared(baseline, result, folder) for result in results[1:]}
    rows = []
    bootstrap_notes: set[str] = set()
    for result in results:
        interval = _bootstrap(folder.variant(result.folder), sweep)
        if interval.note:
            bootstrap_notes.add(interval.note)
        rows.append(_row(result, baseline, comparisons.get(result.variant), interval))
    protocols = sorted({result.protocol for result in results})
    tests = sorted({str(r.test) for r in rows[1:] if r.test})
    _write_csv(folder.table, rows)
    markdown = _markdown(sweep, rows, protocols, tests, sorted(bootstrap_notes)) + _group_markdown(comparisons)
    write_text(folder.report, markdown)
    _plot(rows, folder.plot, sweep.name)
    sweep_record = {"name": sweep.name, "sweep_file": str(sweep.path), "rows": [asdict(r) for r in results]}
    write_json(folder.sweep, sweep_record)
    write_text(folder.html_report, ablation_page(folder, read_rows(folder)))
    reporter.show(_rich_table(sweep, rows, protocols))
    for line in _collapse_notes(rows):
        reporter.say(f"  warning: {line}", "bold yellow")
    for line in _test_notes(tests, sorted(bootstrap_notes)):
        reporter.say(f"  {line}", "dim")
    reporter.say("comparison written to " + ", ".join(str(path) for path in folder.comparison_files()))
    return rows


def _compared(baseline: VariantResult, result: VariantResult, folder: AblationFolder) -> RunComparison | None:
    """``serkit runs compare`` of a variant against the baseline (None: they tested different utterances)."""
    try:
        return compare_runs(folder.variant(baseline.folder).path, folder.variant(result.folder).path)
    except SerkitError:
        return None


def _row(
    result: VariantResult, baseline: VariantResult, comparison: RunComparison | None, interval: Any
) -> AblationRow:
    """A variant against the baseline: its figures, the difference and the test its design calls for."""
    acc, uar = result.mean["accuracy"], result.mean["uar"]
    test: str | None = None
    p = low = high = None
    if comparison is not None:
        found = comparison.comparison
        test, p, low, high = found.test, found.p, found.ci_low, found.ci_high
    elif result is not baseline:
        test = "none: different test sets"
    return AblationRow(
        variant=result.variant,
        accuracy_mean=acc["mean"],
        accuracy_sd=acc["sd"],
        uar_mean=uar["mean"],
        uar_sd=uar["sd"],
        uar_pooled_ci_low=interval.low,
        uar_pooled_ci_high=interval.high,
        delta_accuracy=acc["mean"] - baseline.mean["accuracy"]["mean"],
        delta_uar=uar["mean"] - baseline.mean["uar"]["mean"],
        delta_uar_ci_low=low,
        delta_uar_ci_high=high,
        p_uar=p,
        test=test,
        folds=int(uar["n"]),
        seconds=result.seconds,
        feature_seconds=result.feature_seconds,
        collapse=next((w for w in result.warnings if "collapse" in w), ""),
        folder=result.folder,
    )


def _bootstrap(run: RunFolder, sweep: Sweep) -> Any:
    """The 95 % CI of UAR over the run's pooled test predictions, resampled by speaker."""
    from serkit.results.stats import bootstrap_ci

    rows = run.read_predictions()
    seed = sweep.variants[0].recipe.run.seed
    return bootstrap_ci(
        [r["true"] for r in rows], [r["predicted"] for r in rows], [r["speaker"] for r in rows], "uar", seed=seed
    )


def _fmt(mean: float, sd: float) -> str:
    return f"{100 * mean:.2f} ± {100 * sd:.2f}"


def _interval(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None:
        return ""
    return f"[{100 * low:+.2f}, {100 * high:+.2f}]" if signed else f"[{100 * low:.2f}, {100 * high:.2f}]"


def _cells(row: AblationRow, first: bool, mixed: bool) -> list[str]:
    cells = [
        row.variant + " (collapsed)" * bool(row.collapse),
        _fmt(row.accuracy_mean, row.accuracy_sd),
        _fmt(row.uar_mean, row.uar_sd),
        _interval(row.uar_pooled_ci_low, row.uar_pooled_ci_high),
        "" if first else f"{100 * row.delta_accuracy:+.2f}",
        "" if first else f"{100 * row.delta_uar:+.2f}",
        "" if first else _interval(row.delta_uar_ci_low, row.delta_uar_ci_high, signed=True),
        "" if first else format_p(row.p_uar),
    ]
    if mixed:
        cells.append("" if first else str(row.test or ""))
    return [*cells, str(row.folds), f"{row.seconds:.0f} ({row.feature_seconds:.0f})"]


def _header(mixed: bool) -> list[str]:
    header = ["variant", "accuracy %", "UAR %", "UAR 95 % CI", "Δ acc", "Δ UAR", "Δ UAR 95 % CI", "p (UAR)"]
    return [*header, *(["test"] if mixed else []), "folds", "wall s (features)"]


def _collapse_notes(rows: list[AblationRow]) -> list[str]:
    """A line per variant whose model collapsed: its figures, and its difference, are not findings."""
    return [
        f"variant '{row.variant}' {row.collapse}; its difference from the baseline is not a finding"
        for row in rows
        if row.collapse
    ]


def _test_notes(tests: list[str], bootstrap_notes: list[str]) -> list[str]:
    lines = [
        "UAR 95 % CI: bootstrap over the pooled test predictions, resampling speakers (1000 rounds).",
    ]
    lines += [f"UAR 95 % CI: {note}." for note in bootstrap_notes]
    lines.append(
        "wall s: each variant's run from its preparation to its outputs, features included; in brackets the "
        "part spent on features (the variants share the cache: a variant that changes only the model reads them)."
    )
    explain = {
        "Nadeau-Bengio corrected resampled t": "p and Δ CI: Nadeau-Bengio corrected resampled t-test over folds "
        "(their training sets overlap; the plain paired t would overstate significance).",
        "Wilcoxon signed-rank over speakers": "p: Wilcoxon signed-rank test over speakers (one fold per speaker); "
        "Δ CI: paired t interval, optimistic as leave-one-speaker-out folds share most training data.",
        "McNemar": "p: McNemar's test on the paired predictions of the one test set; Δ CI: of accuracy.",
    }
    lines += [explain.get(test, f"{test}.") for test in tests]
    return lines


def _markdown(sweep: Sweep, rows: list[AblationRow], protocols: list[str], tests: list[str], notes: list[str]) -> str:
    mixed = len(tests) > 1
    lines = [
        f"# Ablation `{sweep.name}`",
        "",
        f"- **Sweep file:** `{sweep.path}`",
        f"- **Protocol:** {'; '.join(protocols)}",
        "- Mean ± standard deviation over folds and repeats; Δ is the difference from the first row "
        "(the baseline), in percentage points.",
        *[f"- **Warning: {line}.**" for line in _collapse_notes(rows)],
        *[f"- {line}" for line in _test_notes(tests, notes)],
        "",
        markdown_table(_header(mixed), [_cells(row, i == 0, mixed) for i, row in enumerate(rows)]),
        "",
    ]
    return "\n".join(lines)


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
                rows.append([variant, name, *figures, interval, row["resampled_by"]])
            gap_a, gap_b = comparison["gap_a"], comparison["gap_b"]
            rows.append([variant, "gap", pct(gap_a), pct(gap_b), f"{100 * (gap_b - gap_a):+.2f}", "", ""])
    lines = []
    for key, rows in tables.items():
        header = ["variant", key, "baseline UAR %", "variant UAR %", "Δ UAR", "Δ 95 % CI (paired bootstrap)", "by"]
        lines += [f"\n## UAR per {key}\n", markdown_table(header, rows), ""]
    return "\n".join(lines)


def _rich_table(sweep: Sweep, rows: list[AblationRow], protocols: list[str]) -> TableOrList:
    """The comparison as a table, or, where the terminal is too narrow for it, a paragraph per variant."""
    mixed = len({str(r.test) for r in rows[1:] if r.test}) > 1
    table = Table(title=f"ablation '{sweep.name}' ({'; '.join(protocols)})")
    for column in _header(mixed):
        table.add_column(column, justify="left" if column in ("variant", "test") else "right")
    for i, row in enumerate(rows):
        table.add_row(*_cells(row, i == 0, mixed))
    return TableOrList(table, [line for i, row in enumerate(rows) for line in _lines(row, i == 0)])


def _lines(row: AblationRow, first: bool) -> list[str]:
    """One variant of the comparison as lines that read at any width."""
    ci = _interval(row.uar_pooled_ci_low, row.uar_pooled_ci_high)
    lines = [
        f"{row.variant}{' (baseline)' * first}{' (collapsed)' * bool(row.collapse)}:",
        f"  accuracy {_fmt(row.accuracy_mean, row.accuracy_sd)} %, UAR {_fmt(row.uar_mean, row.uar_sd)} % (CI {ci})",
    ]
    if not first:
        delta_ci = _interval(row.delta_uar_ci_low, row.delta_uar_ci_high, signed=True)
        test = f" ({row.test})" if row.test else ""
        lines.append(f"  Δ UAR {100 * row.delta_uar:+.2f} (CI {delta_ci}), p = {format_p(row.p_uar)}{test}")
    lines.append(f"  {row.folds} folds, {row.seconds:.0f} s ({row.feature_seconds:.0f} s features)")
    return lines


def read_rows(folder: AblationFolder) -> list[dict[str, str]]:
    """The comparison's rows as ablation.csv holds them."""
    with folder.table.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, rows: list[AblationRow]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(AblationRow)])
    writer.writeheader()
    writer.writerows(asdict(row) for row in rows)
    write_text(path, buffer.getvalue())


def _plot(rows: list[AblationRow], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row.variant for row in rows]
    figure, axes = plt.subplots(figsize=(1.6 + 1.2 * len(rows), 4))
    colours = ["C1"] + ["C0"] * (len(rows) - 1)
    axes.bar(
        range(len(rows)),
        [100 * r.uar_mean for r in rows],
        yerr=[100 * r.uar_sd for r in rows],
        color=colours,
        capsize=4,
    )
    axes.set_xticks(range(len(rows)), names, rotation=30, ha="right")
    axes.set_ylabel("UAR % (mean ± sd over folds)")
    axes.set_ylim(0, 100)
    axes.set_title(f"{title} (baseline in orange)")
    write_figure(figure, path)
