"""`serkit benchmark`: one model recipe over several corpora, each under its published protocol, in one table
beside the figures the literature reports.

A spec file names the base recipe (features, model, training) and the corpora::

    [benchmark]
    name = "egemaps-svm"
    base = "egemaps-svm.toml"    # relative to this file
    set = []                     # KEY=VALUE overrides for every run

    [[corpus]]
    name = "ravdess"             # a dataset component
    root = "../data/ravdess"     # relative to this file
    folds_dir = "../EmoBox/data/ravdess"              # EmoBox's folds; else protocol; else the corpus's own
    reference = {uar = 84.1, wa = 84.6, source = "EmoBox leaderboard, WavLM-large"}   # in %, optional

Each corpus is a run folder under ``<run.output>/<name>/`` on its own classes: under EmoBox's published folds
where ``folds_dir`` is given, else the spec's ``protocol``, else the protocol its dataset declares
(``Dataset.benchmark_protocol``: EMO-DB leave one speaker out, RAVDESS six folds of four actors, IEMOCAP leave
one session out, MSP-Podcast's partitions). The runs share the feature cache, run on the base recipe's
executor (Ray included) under one MLflow parent run, and a rerun reuses finished runs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from serkit.core.errors import SerkitError
from serkit.core.fileio import write_figure, write_json, write_text
from serkit.core.params import param
from serkit.core.recipe import check_run_name, read_toml
from serkit.core.registry import Registry, get_registry
from serkit.results.folder import BenchmarkFolder
from serkit.results.html import Figure, page, private_paths
from serkit.results.render import markdown_table, md_code, md_text
from serkit.results.stats import headline_intervals
from serkit.run.reporter import Reporter, TableOrList
from serkit.studies.ablate import Sweep, Variant, preflight, run_variants, slug
from serkit.studies.tables import inline_toml, known_tables, layered_recipe, read_table


@dataclass(frozen=True, kw_only=True)
class BenchmarkTable:
    """``[benchmark]``: the base recipe and what every run shares."""

    base: str = param(help="the recipe every corpus runs (features, model, training), relative to the spec file")
    name: str = param("", "the benchmark's name (its folder under run.output); empty: the file's name")
    set: list[str] = param([], "KEY=VALUE overrides for every run")


@dataclass(frozen=True, kw_only=True)
class BenchmarkCorpusTable:
    """``[[corpus]]``: one corpus, its protocol and the figure to place the result beside."""

    name: str = param(help="a dataset component (serkit plugins lists them)")
    root: str = param(help="the corpus's folder, relative to the spec file")
    label: str = param("", "its name in the table; empty: the dataset's name")
    folds_dir: str = param("", "EmoBox's data/<corpus> folder (its published folds), relative to the spec file")
    protocol: dict[str, Any] = param(
        {}, "the protocol where there is no folds_dir, e.g. {name = 'loso'}; empty: the one the dataset declares"
    )
    options: dict[str, Any] = param({}, "the dataset's other parameters, e.g. {classes = 'all'}")
    reference: dict[str, Any] = param(
        {}, "a published figure to show beside the result: {uar = 84.1, wa = 84.6, source = '...'} (in %)"
    )


@dataclass(frozen=True)
class Reference:
    """A published figure entered by the user, in %, and where it is from."""

    uar: float | None
    wa: float | None
    source: str

    @classmethod
    def read(cls, raw: dict[str, Any], where: str) -> Reference | None:
        if not raw:
            return None
        unknown = sorted(set(raw) - {"uar", "wa", "source"})
        if unknown:
            raise SerkitError(f"{where}.reference: unknown key(s) {', '.join(unknown)} (uar, wa, source)")
        values = {}
        for key in ("uar", "wa"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 100):
                raise SerkitError(f"{where}.reference.{key}: a percentage from 0 to 100, not {value!r}")
            values[key] = None if value is None else float(value)
        if values["uar"] is None and values["wa"] is None:
            raise SerkitError(f"{where}.reference: give uar or wa (in %)")
        if not str(raw.get("source", "")).strip():
            raise SerkitError(f"{where}.reference.source: say where the figure is from")
        return cls(values["uar"], values["wa"], str(raw["source"]))


@dataclass(frozen=True)
class Row:
    """One corpus's result (benchmark.csv's columns, in order): UAR and WA (accuracy) in %, with 95 % intervals."""

    corpus: str
    protocol: str
    uar: float
    uar_ci_low: float
    uar_ci_high: float
    wa: float
    wa_ci_low: float
    wa_ci_high: float
    #: What the bootstrap resampled: speakers (five or more in the test parts), else utterances.
    resampled_by: str
    classes: int
    test_utterances: int
    test_speakers: int
    reference_uar: float | None
    reference_wa: float | None
    reference_source: str
    folder: str
    warnings: str


def load_benchmark(path: str | Path, overrides: list[str], registry: Registry) -> tuple[Sweep, dict[str, Reference]]:
    """Read a spec file and validate every corpus's recipe (nothing runs yet); the references by corpus."""
    path = Path(path)
    raw = read_toml(path, "benchmark spec")
    where = f"benchmark spec '{path}'"
    known_tables(raw, ("benchmark", "corpus"), where)
    if not isinstance(raw.get("benchmark"), dict):
        raise SerkitError(f'{where}: needs a [benchmark] table with base = "egemaps-svm.toml"')
    head = read_table(BenchmarkTable, raw["benchmark"], f"{where}: benchmark")
    here = path.parent.absolute()
    rows = raw.get("corpus", [])
    if not isinstance(rows, list) or not rows:
        raise SerkitError(f"{where}: needs one or more [[corpus]] tables (name, root)")
    variants: list[Variant] = []
    references: dict[str, Reference] = {}
    for k, row in enumerate(rows):
        at = f"{where}: corpus[{k}]"
        entry = read_table(BenchmarkCorpusTable, row, at)
        dataset = registry.get("datasets", entry.name, f"{at}.name").cls
        label = entry.label or entry.name
        if label in references or any(v.name == label for v in variants):
            raise SerkitError(f"{at}: two corpora are named '{label}'; give one a label")
        if entry.folds_dir and entry.protocol:
            raise SerkitError(f"{at}: give folds_dir (EmoBox's folds) or protocol, not both")
        if entry.folds_dir:
            protocol: dict[str, Any] = {"name": "emobox", "folds_dir": str((here / entry.folds_dir).resolve())}
        else:
            protocol = dict(entry.protocol or getattr(dataset, "benchmark_protocol", {}))
        if not protocol:
            raise SerkitError(
                f"{at}: dataset '{entry.name}' declares no published protocol; give folds_dir (EmoBox's folds) "
                "or protocol = {name = 'loso'}"
            )
        table = {"name": entry.name, "root": str((here / entry.root).resolve()), **entry.options}
        own = ["dataset=" + inline_toml(table), "protocol=" + inline_toml(protocol)]
        try:
            recipe = layered_recipe(path.parent / head.base, head.set, here, overrides, own, here, registry)
        except SerkitError as exc:
            raise SerkitError(f"{at} ('{label}'): {exc}") from exc
        if recipe.task.kind != "classification":
            raise SerkitError(f'{where}: base recipe: task.kind = "{recipe.task.kind}"; benchmark scores classes')
        if not entry.folds_dir and not recipe.protocol.speaker_independent:  # EmoBox's folds say which they are
            raise SerkitError(f"{at} ('{label}'): protocol '{recipe.protocol.name}' is not speaker-independent")
        reference = Reference.read(entry.reference, at)
        if reference is not None:
            references[label] = reference
        variants.append(Variant(label, f"{k:02d}-{slug(label)}", own, recipe))
    return Sweep(head.name or path.stem, path, variants, "Benchmark", "Spec file"), references


def run_benchmark(path: str, overrides: list[str], reporter: Reporter | None = None, name: str = "") -> Path:
    """Run (or resume) every corpus, then write the table; returns the benchmark's folder."""
    reporter = reporter or Reporter()
    registry = get_registry()
    registry.raise_problems()
    sweep, references = load_benchmark(path, overrides, registry)
    if name:
        sweep = Sweep(name, sweep.path, sweep.variants, sweep.title, sweep.path_is)
    check_run_name(sweep.name, "--name" if name else f"benchmark spec '{path}': benchmark.name")
    preflight(sweep, "benchmark spec", "corpus")
    first = sweep.variants[0].recipe
    if first.run.executor == "ray":
        from serkit.run.executors.ray import probe_address

        probe_address(first.ray.address)
    folder = BenchmarkFolder(sweep.output)
    folder.path.mkdir(parents=True, exist_ok=True)
    reporter.say(f"benchmark '{sweep.name}': {len(sweep.variants)} corpora -> {folder.path}", "bold")
    tracker, parent = run_variants(sweep, folder, registry, reporter, "benchmark", "corpus")
    rows = [_row(variant, folder, first.run.seed, references.get(variant.name)) for variant in sweep.variants]
    write_table(sweep, rows, folder, reporter)
    if tracker is not None:
        tracker.finish(parent, folder.path, None, "FINISHED", files=folder.comparison_files())
    return folder.path


def _row(variant: Variant, folder: BenchmarkFolder, seed: int, reference: Reference | None) -> Row:
    """A finished run as a row: pooled UAR and WA of its test predictions with bootstrap intervals."""
    from serkit.core.scores import accuracy, uar

    run = folder.variant(variant.folder)
    summary = run.read_summary()
    found = run.read_predictions()
    truth, predicted, speakers = ([r[key] for r in found] for key in ("true", "predicted", "speaker"))
    intervals = headline_intervals(truth, predicted, speakers, seed)
    t, p = np.array(truth), np.array(predicted)
    return Row(
        corpus=variant.name,
        protocol=summary.protocol,
        uar=100 * uar(t, p),
        uar_ci_low=100 * intervals["uar"][0],
        uar_ci_high=100 * intervals["uar"][1],
        wa=100 * accuracy(t, p),
        wa_ci_low=100 * intervals["accuracy"][0],
        wa_ci_high=100 * intervals["accuracy"][1],
        resampled_by=intervals["resampled_by"],
        classes=len(set(truth)),
        test_utterances=len(found),
        test_speakers=len(set(speakers)),
        reference_uar=reference.uar if reference else None,
        reference_wa=reference.wa if reference else None,
        reference_source=reference.source if reference else "",
        folder=variant.folder,
        warnings="; ".join(summary.warnings),
    )


def write_table(sweep: Sweep, rows: list[Row], folder: BenchmarkFolder, reporter: Reporter) -> None:
    """benchmark.csv, benchmark.md, benchmark.png, benchmark.json, benchmark.html and the terminal table."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(Row)])
    writer.writeheader()
    writer.writerows(asdict(row) for row in rows)
    write_text(folder.table, buffer.getvalue())
    notes = _notes(rows)
    text = _markdown(sweep, rows, notes)
    write_text(folder.report, text)
    write_figure(_bars(rows, sweep.name), folder.plot)
    write_json(folder.sweep, {"name": sweep.name, "spec_file": str(sweep.path), "rows": [asdict(r) for r in rows]})
    warnings = [f"{row.corpus}: {row.warnings}" for row in rows if row.warnings]
    caption = "UAR % with 95 % bootstrap intervals; ◆ the published figure the spec gives"
    figures = [Figure("Results", "benchmark", caption, folder.plot.read_bytes())]
    clean = "No warnings in any run: no collapse, and none from the split audits."
    write_text(folder.html_report, page(text, figures, warnings, private_paths(folder.path, sweep.path), clean))
    table = Table(title=f"benchmark '{sweep.name}': % [95 % CI]")
    header = ["corpus", "UAR", "WA", "reference UAR / WA", "protocol"]
    for column in header:
        table.add_column(column, justify="left" if column in ("corpus", "protocol") else "right")
    for row in rows:
        table.add_row(row.corpus, _uar(row), _wa(row), _reference(row), row.protocol)
    lines = [f"{row.corpus}: UAR {_uar(row)}, WA {_wa(row)}; reference {_reference(row)}" for row in rows]
    reporter.show(TableOrList(table, lines))
    for line in _notes(rows, str):
        reporter.say(f"  {line.replace('**', '')}", "dim")
    for warning in warnings:
        reporter.say(f"  warning: {warning}", "bold yellow")
    reporter.say("table written to " + ", ".join(str(p) for p in folder.comparison_files()))


def _interval(value: float, low: float, high: float) -> str:
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _uar(row: Row) -> str:
    return _interval(row.uar, row.uar_ci_low, row.uar_ci_high) + (" (collapsed)" if "collapse" in row.warnings else "")


def _wa(row: Row) -> str:
    return _interval(row.wa, row.wa_ci_low, row.wa_ci_high)


def _reference(row: Row) -> str:
    """The published UAR / WA, and where each lies against this result's interval."""
    if not row.reference_source:
        return "-"
    shown = ["-" if v is None else f"{v:.2f}" for v in (row.reference_uar, row.reference_wa)]
    sides = [
        f"{name} {_side(value, low, high)} the interval"
        for name, value, low, high in (
            ("UAR", row.reference_uar, row.uar_ci_low, row.uar_ci_high),
            ("WA", row.reference_wa, row.wa_ci_low, row.wa_ci_high),
        )
        if value is not None
    ]
    return " / ".join(shown) + f" ({'; '.join(sides)})"


def _side(value: float, low: float, high: float) -> str:
    return "above" if value > high else "below" if value < low else "inside"


def _notes(rows: list[Row], shown: Callable[[str], str] = md_text) -> list[str]:
    """What the table means (``shown`` escapes the names for markdown; the terminal gets them as they are)."""
    by_utterance = [row.corpus for row in rows if row.resampled_by == "utterance"]
    sources = [f"{shown(row.corpus)}: {shown(row.reference_source)}" for row in rows if row.reference_source]
    return [
        "Each corpus on its own classes under its protocol (every test utterance scored once); UAR is the mean of "
        "the classes' recalls, WA the accuracy, both of the run's pooled test predictions, in %.",
        "95 % CI: percentile bootstrap (1000 rounds) resampling the test speakers"
        + (
            f"; by utterance for {', '.join(map(shown, by_utterance))} (fewer than five test speakers: the "
            "interval ignores between-speaker variation)"
            if by_utterance
            else ""
        )
        + ".",
        "**References** are figures entered in the spec, not measured here; a reference outside a row's interval "
        "differs from this result, though protocol details (folds, classes, files) may differ too"
        + (f" ({'; '.join(sources)})." if sources else "."),
    ]


def _markdown(sweep: Sweep, rows: list[Row], notes: list[str]) -> str:
    body = [
        [md_text(r.corpus), _uar(r), _wa(r), _reference(r), md_text(r.protocol), str(r.classes), str(r.test_speakers)]
        for r in rows
    ]
    runs = [
        [md_text(r.corpus), str(r.test_utterances), md_text(r.reference_source or "-"), md_text(r.folder)] for r in rows
    ]
    lines = [
        f"# Benchmark {md_code(sweep.name)}",
        "",
        f"- **Spec file:** {md_code(sweep.path)}",
        *[f"- {line}" for line in notes],
        "",
        "## Results",
        "",
        markdown_table(
            ["corpus", "UAR % [95 % CI]", "WA % [95 % CI]", "reference UAR / WA %", "protocol", "classes", "speakers"],
            body,
        ),
        "",
        "## Runs",
        "",
        markdown_table(["corpus", "test utterances", "reference source", "folder"], runs),
        "",
    ]
    return "\n".join(lines)


def _bars(rows: list[Row], title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 1.8 + 0.6 * len(rows)))
    places = np.arange(len(rows))[::-1]
    values = np.array([row.uar for row in rows])
    errors = np.array([[row.uar - row.uar_ci_low, row.uar_ci_high - row.uar] for row in rows]).T
    axes.barh(places, values, xerr=errors, color="#4c72b0", capsize=3, label="this recipe (95 % CI)")
    marked = [(place, row.reference_uar) for place, row in zip(places, rows, strict=True) if row.reference_uar]
    if marked:
        axes.scatter([v for _, v in marked], [p for p, _ in marked], marker="D", color="#dd8452", zorder=3,
                     label="published (spec)")  # fmt: skip
    axes.set_yticks(places, [row.corpus for row in rows])
    axes.set_xlim(0, 100)
    axes.set_xlabel("UAR %")
    axes.set_title(f"{title}: UAR % per corpus")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3 if len(rows) < 4 else -0.15), ncol=2, fontsize="small")
    figure.tight_layout()
    return figure
