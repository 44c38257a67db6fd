"""`serkit crosscorpus`: train on each corpus, test on each corpus, and one matrix of the results.

A spec file names a base recipe (features, model, training) and the corpora::

    [crosscorpus]
    name = "crosscorpus-emodb-ravdess"
    base = "egemaps-svm.toml"    # relative to this file
    label_map = "basic"          # every corpus's labels on one vocabulary (serkit plugins lists the maps)
    keep = []                    # the classes; empty: those every corpus has
    set = []                     # KEY=VALUE overrides for every run

    [[corpus]]
    name = "emodb"               # a dataset component
    root = "../data/emodb/wav"   # relative to this file
    within = {}                  # the diagonal's protocol; empty: the base recipe's
    options = {}                 # the dataset's other parameters, e.g. {scale = [1, 5]} for a manifest

Every ordered pair (A, B) is a run folder under ``<run.output>/<name>/``: on the diagonal A's own
speaker-independent result, elsewhere the union of A and B (``[[dataset]]``) with ``loco`` testing on B
(train on all of A, test on all of B). The runs share the feature cache (each corpus's features are computed
once) and run on the base recipe's executor, Ray included; running the same command again reuses finished runs.

A regression's matrix (``task.kind = "regression"`` in the base) is of mean CCC over the targets; corpora whose
targets are on different documented scales need the base's ``task.rescale = "declared"``, checked before any
run, and the matrix states the rescaling.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from serkit.core.components import Scan
from serkit.core.errors import SerkitError
from serkit.core.fileio import write_figure, write_json, write_text
from serkit.core.labels import Relabel
from serkit.core.params import param
from serkit.core.recipe import check_run_name, read_toml
from serkit.core.registry import Registry, get_registry
from serkit.core.union import union_names
from serkit.results.folder import CrossCorpusFolder
from serkit.results.html import Figure, page, private_paths
from serkit.results.render import markdown_table, md_code, md_text
from serkit.results.stats import bootstrap_ci, ccc_interval
from serkit.run.planning import on_one_scale
from serkit.run.reporter import Reporter, TableOrList
from serkit.studies.ablate import Sweep, Variant, preflight, run_variants, slug
from serkit.studies.tables import inline_toml, known_tables, layered_recipe, read_table


@dataclass(frozen=True, kw_only=True)
class CrossCorpusTable:
    """``[crosscorpus]``: the base recipe, the shared classes and what every run shares."""

    base: str = param(help="the recipe every run starts from (features, model, training), relative to the spec file")
    name: str = param("", "the study's name (its folder under run.output); empty: the file's name")
    label_map: str = param("basic", "the label map putting every corpus's labels on one vocabulary")
    keep: list[str] = param([], "the classes of every run, after the map; empty: the classes every corpus has")
    set: list[str] = param([], "KEY=VALUE overrides for every run")


@dataclass(frozen=True, kw_only=True)
class CorpusTable:
    """``[[corpus]]``: one corpus of the matrix."""

    name: str = param(help="a dataset component (serkit plugins lists them)")
    root: str = param(help="the corpus's folder, relative to the spec file")
    label: str = param("", "its name in the matrix; empty: the dataset's name")
    within: dict[str, Any] = param(
        {}, "the protocol of its own (diagonal) result, e.g. {name = 'speaker_kfold', folds = 5}; empty: the base's"
    )
    options: dict[str, Any] = param({}, "the dataset's other parameters, e.g. {scale = [1, 5]} for a manifest")


@dataclass(frozen=True)
class Corpus:
    label: str
    dataset: str
    root: Path
    within: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The dataset's parameters."""
        return {"root": str(self.root), **self.options}

    def entry(self) -> dict[str, Any]:
        """Its ``[[dataset]]`` table."""
        return {"name": self.dataset, **self.params()}


@dataclass(frozen=True)
class Cell:
    """One cell of a classification's matrix (matrix.csv's columns, in order)."""

    train: str
    test: str
    uar: float
    uar_ci_low: float
    uar_ci_high: float
    #: What the bootstrap resampled: speakers (five or more in the test part), else utterances.
    resampled_by: str
    accuracy: float
    test_utterances: int
    test_speakers: int
    protocol: str
    folder: str
    warnings: str

    def headline(self) -> tuple[float, float, float]:
        return self.uar, self.uar_ci_low, self.uar_ci_high


@dataclass(frozen=True)
class RegressionCell:
    """One cell of a regression's matrix (matrix.csv's columns, in order): the mean CCC over the targets."""

    train: str
    test: str
    ccc: float
    ccc_ci_low: float
    ccc_ci_high: float
    resampled_by: str
    #: Each target's CCC ("arousal 0.512; valence 0.103").
    per_target: str
    test_utterances: int
    test_speakers: int
    protocol: str
    folder: str
    warnings: str

    def headline(self) -> tuple[float, float, float]:
        return self.ccc, self.ccc_ci_low, self.ccc_ci_high


@dataclass(frozen=True)
class Scoring:
    """What the matrix's cells are: UAR over shared classes, or a regression's mean CCC over its targets."""

    classes: list[str]
    targets: list[str]
    #: How the targets were put on one scale (the runs' ``task.rescale`` note), for a regression.
    rescale: str = ""

    @property
    def regression(self) -> bool:
        return bool(self.targets)

    @property
    def metric(self) -> str:
        return "mean CCC" if self.regression else "UAR %"

    def shown(self, value: float) -> str:
        return f"{value:.3f}" if self.regression else f"{100 * value:.2f}"


def load_study(path: str | Path, overrides: list[str], registry: Registry) -> tuple[Sweep, list[Corpus], Scoring]:
    """Read a spec file, find the shared classes (or a regression's targets) and validate every run's recipe
    (nothing runs yet)."""
    path = Path(path)
    raw = read_toml(path, "crosscorpus spec")
    where = f"crosscorpus spec '{path}'"
    known_tables(raw, ("crosscorpus", "corpus"), where)
    if not isinstance(raw.get("crosscorpus"), dict):
        raise SerkitError(f'{where}: needs a [crosscorpus] table with base = "paper.toml"')
    head = read_table(CrossCorpusTable, raw["crosscorpus"], f"{where}: crosscorpus")
    here = path.parent.absolute()
    base = layered_recipe(path.parent / head.base, head.set, here, overrides, [], here, registry)
    rows = raw.get("corpus", [])
    if not isinstance(rows, list) or len(rows) < 2:
        raise SerkitError(f"{where}: needs two or more [[corpus]] tables (name, root)")
    corpora = []
    for k, row in enumerate(rows):
        entry = read_table(CorpusTable, row, f"{where}: corpus[{k}]")
        registry.get("datasets", entry.name, f"{where}: corpus[{k}].name")
        root = (here / entry.root).resolve()
        corpora.append(Corpus(entry.label or entry.name, entry.name, root, entry.within, entry.options))
    labels = [c.label for c in corpora]
    if len(set(labels)) != len(labels):
        raise SerkitError(f"{where}: two corpora share a name; give one a label")
    if base.task.kind == "regression":
        if head.keep:
            raise SerkitError(f"{where}: crosscorpus.keep: names classes; a regression's matrix is of its targets")
        scoring = Scoring([], list(base.task.targets))
    else:
        label_map = registry.label_map(head.label_map, f"{where}: crosscorpus.label_map")
        scoring = Scoring(shared_classes(corpora, Relabel(label_map, tuple(head.keep)), registry, where), [])
    variants = []
    for i, train in enumerate(corpora):
        for j, test in enumerate(corpora):
            own = _run_overrides(train, test, head.label_map, scoring)
            name = f"{train.label} → {test.label}"
            try:
                recipe = layered_recipe(path.parent / head.base, head.set, here, overrides, own, here, registry)
                if scoring.regression and train is not test:  # the scales are checked before anything runs
                    on_one_scale(recipe, Scan([], []))
            except SerkitError as exc:
                raise SerkitError(f"{where}: {name}: {exc}") from exc
            folder = f"{i * len(corpora) + j:02d}-{slug(train.label)}-to-{slug(test.label)}"
            variants.append(Variant(name, folder, own, recipe))
    if scoring.regression and base.task.rescale == "declared":
        scoring = replace(scoring, rescale=_scales(corpora, registry, where))
    return Sweep(head.name or path.stem, path, variants), corpora, scoring


def _scales(corpora: list[Corpus], registry: Registry, where: str) -> str:
    """A regression's rescaling in words: each corpus's documented scale, mapped onto -1 to 1."""
    scales = []
    for corpus in corpora:
        dataset = registry.get("datasets", corpus.dataset, where).cls.from_params(corpus.params(), where)
        low, high = dataset.documented_scale()  # type: ignore[attr-defined]  # checked by on_one_scale
        scales.append(f"{corpus.label} {low:g} to {high:g}")
    return f"each corpus's targets mapped linearly onto -1 to 1 from its documented scale ({', '.join(scales)})"


def shared_classes(corpora: list[Corpus], relabel: Relabel, registry: Registry, where: str) -> list[str]:
    """The classes every corpus has under the map (or those ``keep`` names, each checked to be in every corpus)."""
    found = {}
    for corpus in corpora:
        dataset = registry.get("datasets", corpus.dataset, where).cls.from_params(corpus.params(), where)
        scan = Relabel(relabel.label_map).apply(dataset.scan(), f"corpus '{corpus.label}'")  # type: ignore[attr-defined]
        found[corpus.label] = scan.labels
    if relabel.keep:
        for label, classes in found.items():
            missing = [c for c in relabel.keep if c not in classes]
            if missing:
                raise SerkitError(f"{where}: crosscorpus.keep: corpus '{label}' has no {', '.join(missing)}")
        return list(relabel.keep)
    first, *rest = found.values()
    shared = [c for c in first if all(c in other for other in rest)]
    if len(shared) < 2:
        listed = "; ".join(f"{label}: {', '.join(classes)}" for label, classes in found.items())
        raise SerkitError(f"{where}: the corpora share fewer than two classes under the label map ({listed})")
    return shared


def _run_overrides(train: Corpus, test: Corpus, label_map: str, scoring: Scoring) -> list[str]:
    """A pair's overrides: A alone with its own protocol on the diagonal; elsewhere the union of A and B with
    ``loco`` leaving B out (train on all of A, test on all of B)."""
    own = (
        []
        if scoring.regression
        else [f"labels.map={inline_toml(label_map)}", f"labels.keep={inline_toml(scoring.classes)}"]
    )
    if train is test:
        within = [f"protocol={inline_toml(train.within)}"] if train.within else []
        return ["dataset=" + inline_toml(train.entry()), *own, *within]
    protocol = {"name": "loco", "test": union_names([train.dataset, test.dataset])[1:]}  # B's name in the union
    return ["dataset=" + inline_toml([train.entry(), test.entry()]), *own, "protocol=" + inline_toml(protocol)]


def run_study(path: str, overrides: list[str], reporter: Reporter | None = None, name: str = "") -> Path:
    """Run (or resume) every pair of corpora, then write the matrix; returns the study's folder."""
    reporter = reporter or Reporter()
    registry = get_registry()
    registry.raise_problems()
    sweep, corpora, scoring = load_study(path, overrides, registry)
    if name:
        sweep = Sweep(name, sweep.path, sweep.variants)
    check_run_name(sweep.name, "--name" if name else f"crosscorpus spec '{path}': crosscorpus.name")
    for variant in sweep.variants[:: len(corpora) + 1]:
        if variant.recipe.protocol.name in ("cross_corpus", "loco"):
            raise SerkitError(
                f"{variant.name}: the diagonal needs a within-corpus protocol, not {variant.recipe.protocol.name}"
            )
    preflight(sweep, "crosscorpus spec", "run")
    first = sweep.variants[0].recipe
    if first.run.executor == "ray":
        from serkit.run.executors.ray import probe_address

        probe_address(first.ray.address)
    folder = CrossCorpusFolder(sweep.output)
    folder.path.mkdir(parents=True, exist_ok=True)
    what = f"targets {', '.join(scoring.targets)}" if scoring.regression else f"classes {', '.join(scoring.classes)}"
    reporter.say(
        f"cross-corpus '{sweep.name}': {len(corpora)} corpora, {len(sweep.variants)} runs, {what} -> {folder.path}",
        "bold",
    )
    tracker, parent = run_variants(sweep, folder, registry, reporter, "crosscorpus", "run")
    seed = first.run.seed
    cells = [
        _regression_cell(v, folder, seed, scoring.targets) if scoring.regression else _cell(v, folder, seed)
        for v in sweep.variants
    ]
    write_matrix(sweep, corpora, scoring, cells, folder, reporter)
    if tracker is not None:
        tracker.finish(parent, folder.path, None, "FINISHED", files=folder.comparison_files())
    return folder.path


def _cell(variant: Variant, folder: CrossCorpusFolder, seed: int) -> Cell:
    """A finished run as a matrix cell: UAR of its pooled test predictions with a bootstrap interval."""
    from serkit.core.scores import uar

    run = folder.variant(variant.folder)
    summary = run.read_summary()
    rows = run.read_predictions()
    truth, predicted, speakers = ([r[key] for r in rows] for key in ("true", "predicted", "speaker"))
    interval = bootstrap_ci(truth, predicted, speakers, "uar", seed=seed)
    train, test = variant.name.split(" → ")
    return Cell(
        train=train,
        test=test,
        uar=uar(np.array(truth), np.array(predicted)),
        uar_ci_low=interval.low,
        uar_ci_high=interval.high,
        resampled_by=interval.unit,
        accuracy=float(np.mean(np.array(truth) == np.array(predicted))),
        test_utterances=len(rows),
        test_speakers=len(set(speakers)),
        protocol=summary.protocol,
        folder=variant.folder,
        warnings="; ".join(summary.warnings),
    )


def _regression_cell(variant: Variant, folder: CrossCorpusFolder, seed: int, targets: list[str]) -> RegressionCell:
    """A finished regression as a matrix cell: the mean CCC over the targets of its pooled test predictions,
    with a bootstrap interval, and each target's CCC."""
    from serkit.core.scores import ccc, mean_ccc

    run = folder.variant(variant.folder)
    summary = run.read_summary()
    rows = run.read_predictions()
    truth, predicted = (
        np.array([[float(r[f"{k}_{t}"]) for t in targets] for r in rows]) for k in ("true", "predicted")
    )
    speakers = [r["speaker"] for r in rows]
    interval = ccc_interval(truth, predicted, speakers, seed)
    train, test = variant.name.split(" → ")
    each = (f"{t} {ccc(truth[:, k], predicted[:, k]):.3f}" for k, t in enumerate(targets))
    return RegressionCell(
        train=train,
        test=test,
        ccc=mean_ccc(truth, predicted),
        ccc_ci_low=interval["ccc"][0],
        ccc_ci_high=interval["ccc"][1],
        resampled_by=interval["resampled_by"],
        per_target="; ".join(each),
        test_utterances=len(rows),
        test_speakers=len(set(speakers)),
        protocol=summary.protocol,
        folder=variant.folder,
        warnings="; ".join(summary.warnings),
    )


AnyCell = Cell | RegressionCell


def write_matrix(
    sweep: Sweep,
    corpora: list[Corpus],
    scoring: Scoring,
    cells: Sequence[AnyCell],
    folder: CrossCorpusFolder,
    reporter: Reporter,
) -> None:
    """matrix.csv, crosscorpus.md, matrix.png, crosscorpus.json, crosscorpus.html and the terminal table."""
    labels = [c.label for c in corpora]
    grid = {(cell.train, cell.test): cell for cell in cells}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(cells[0])])
    writer.writeheader()
    writer.writerows(asdict(cell) for cell in cells)
    write_text(folder.table, buffer.getvalue())
    notes = _notes(cells, scoring)
    header = ["train ↓ / test →", *labels]
    body = [[train, *(_shown(grid[train, test], scoring) for test in labels)] for train in labels]
    text = _markdown(sweep, header, body, cells, notes, scoring)
    write_text(folder.report, text)
    write_figure(_heatmap(labels, grid, sweep.name, scoring), folder.plot)
    record = {
        "name": sweep.name,
        "spec_file": str(sweep.path),
        "classes": scoring.classes,
        **({"targets": scoring.targets, "rescale": scoring.rescale} if scoring.regression else {}),
        "cells": [asdict(c) for c in cells],
    }
    write_json(folder.sweep, record)
    warnings = [f"{c.train} → {c.test}: {c.warnings}" for c in cells if c.warnings]
    caption = f"{scoring.metric} with 95 % bootstrap intervals"
    figures = [Figure("Results", "matrix", caption, folder.plot.read_bytes())]
    clean = "No warnings in any run: no collapse, and none from the split audits."
    write_text(folder.html_report, page(text, figures, warnings, private_paths(folder.path, sweep.path), clean))
    table = Table(title=f"cross-corpus '{sweep.name}': {scoring.metric} [95 % CI], rows train, columns test")
    for column in header:
        table.add_column(column, justify="left" if column == header[0] else "right")
    for row in body:
        table.add_row(*row)
    reporter.show(TableOrList(table, [f"{c.train} → {c.test}: {_shown(c, scoring)}" for c in cells]))
    for line in notes:
        reporter.say(f"  {line.replace('**', '')}", "dim")
    for warning in warnings:
        reporter.say(f"  warning: {warning}", "bold yellow")
    reporter.say("matrix written to " + ", ".join(str(p) for p in folder.comparison_files()))


def _markdown(
    sweep: Sweep, header: list[str], body: list[list[str]], cells: Sequence[AnyCell], notes: list[str], scoring: Scoring
) -> str:
    last = (
        ("per target", lambda c: md_text(c.per_target))
        if scoring.regression
        else ("accuracy %", lambda c: _pct(c.accuracy))
    )
    runs = [
        [*map(md_text, (c.train, c.test, c.protocol)), str(c.test_utterances), str(c.test_speakers), last[1](c)]
        for c in cells
    ]
    lines = [
        f"# Cross-corpus matrix {md_code(sweep.name)}",
        "",
        f"- **Spec file:** {md_code(sweep.path)}",
        *[f"- {line}" for line in notes],
        "",
        "## Results",
        "",
        markdown_table([header[0], *map(md_text, header[1:])], [[md_text(row[0]), *row[1:]] for row in body]),
        "",
        "## Runs",
        "",
        markdown_table(
            ["train", "test", "protocol", "test utterances", "speakers", last[0], "folder"],
            [[*row, md_text(c.folder)] for row, c in zip(runs, cells, strict=True)],
        ),
        "",
    ]
    return "\n".join(lines)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _shown(cell: AnyCell, scoring: Scoring) -> str:
    collapsed = " (collapsed)" if "collapse" in cell.warnings else ""
    value, low, high = map(scoring.shown, cell.headline())
    return f"{value} [{low}, {high}]{collapsed}"


def _notes(cells: Sequence[AnyCell], scoring: Scoring) -> list[str]:
    by_utterance = sorted({c.test for c in cells if c.resampled_by == "utterance"})
    if scoring.regression:
        first = [
            f"**Targets:** {', '.join(map(md_text, scoring.targets))}; each cell is the mean of their concordance "
            "correlation coefficients (CCC) over the run's pooled test predictions.",
            f"**Scales:** {md_text(scoring.rescale)}."
            if scoring.rescale
            else '**Scales:** the corpora\'s own (one documented scale, or none documented; task.rescale = "none").',
        ]
    else:
        classes = scoring.classes
        first = [f"**Classes:** {', '.join(map(md_text, classes))} (chance UAR {100 / len(classes):.2f} %)."]
    lines = [
        *first,
        f"{'Mean CCC' if scoring.regression else 'UAR'} of each run's pooled test predictions; rows are the training "
        "corpus, columns the test corpus. The diagonal is each corpus's own speaker-independent result (every "
        "utterance tested once); elsewhere the model trained on all of the row's corpus is tested on all of the "
        "column's.",
        "95 % CI: percentile bootstrap (1000 rounds) resampling the test corpus's speakers"
        + (
            f"; by utterance for {', '.join(map(md_text, by_utterance))} (fewer than five test speakers: the "
            "interval ignores between-speaker variation)"
            if by_utterance
            else ""
        )
        + ".",
    ]
    return lines


def _heatmap(labels: list[str], grid: dict[tuple[str, str], AnyCell], title: str, scoring: Scoring) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = 1 if scoring.regression else 100
    values = np.array([[scale * grid[a, b].headline()[0] for b in labels] for a in labels])
    size = 2.2 + 1.4 * len(labels)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    low, high = (-1, 1) if scoring.regression else (0, 100)
    image = axes.imshow(values, cmap="viridis", vmin=low, vmax=high)
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            value, ci_low, ci_high = map(scoring.shown, grid[a, b].headline())
            bright = values[i, j] >= low + 0.6 * (high - low)
            text = f"{value}\n[{ci_low}, {ci_high}]"
            axes.text(j, i, text, ha="center", va="center", color="black" if bright else "white")
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("test corpus")
    axes.set_ylabel("training corpus")
    chance = "chance 0" if scoring.regression else f"chance {100 / len(scoring.classes):.1f} %"
    axes.set_title(f"{title}\n{scoring.metric} [95 % CI] ({chance})")
    figure.colorbar(image, ax=axes, label=scoring.metric)
    figure.tight_layout()
    return figure
