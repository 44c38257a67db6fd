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

Every ordered pair (A, B) is a run folder under ``<run.output>/<name>/``: on the diagonal A's own
speaker-independent result, elsewhere ``cross_corpus`` (train on A, test on all of B). The runs share
the feature cache (each corpus's features are computed once) and run on the base recipe's executor,
Ray included; running the same command again reuses finished runs.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from serkit.core.errors import SerkitError
from serkit.core.fileio import write_figure, write_json, write_text
from serkit.core.labels import Relabel
from serkit.core.params import param
from serkit.core.recipe import check_run_name, read_toml
from serkit.core.registry import Registry, get_registry
from serkit.results.folder import CrossCorpusFolder
from serkit.results.html import Figure, page, private_paths
from serkit.results.render import markdown_table, md_code, md_text
from serkit.results.stats import bootstrap_ci
from serkit.run.reporter import Reporter, TableOrList
from serkit.studies.ablate import Sweep, Variant, preflight, run_variants, slug
from serkit.studies.tables import known_tables, layered_recipe, read_table


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


@dataclass(frozen=True)
class Corpus:
    label: str
    dataset: str
    root: Path
    within: dict[str, Any]


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix (matrix.csv's columns, in order)."""

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


def load_study(path: str | Path, overrides: list[str], registry: Registry) -> tuple[Sweep, list[Corpus], list[str]]:
    """Read a spec file, find the shared classes and validate every run's recipe (nothing runs yet)."""
    path = Path(path)
    raw = read_toml(path, "crosscorpus spec")
    where = f"crosscorpus spec '{path}'"
    known_tables(raw, ("crosscorpus", "corpus"), where)
    if not isinstance(raw.get("crosscorpus"), dict):
        raise SerkitError(f'{where}: needs a [crosscorpus] table with base = "paper.toml"')
    head = read_table(CrossCorpusTable, raw["crosscorpus"], f"{where}: crosscorpus")
    here = path.parent.absolute()
    base = layered_recipe(path.parent / head.base, head.set, here, overrides, [], here, registry)
    if base.task.kind == "regression":  # its matrix is of UAR over shared classes
        raise SerkitError(
            f'{where}: base recipe: task.kind = "regression"; crosscorpus compares classifications (not yet '
            "regressions: run each pair with serkit run and compare them with serkit runs compare)"
        )
    rows = raw.get("corpus", [])
    if not isinstance(rows, list) or len(rows) < 2:
        raise SerkitError(f"{where}: needs two or more [[corpus]] tables (name, root)")
    corpora = []
    for k, row in enumerate(rows):
        entry = read_table(CorpusTable, row, f"{where}: corpus[{k}]")
        registry.get("datasets", entry.name, f"{where}: corpus[{k}].name")
        corpora.append(Corpus(entry.label or entry.name, entry.name, (here / entry.root).resolve(), entry.within))
    labels = [c.label for c in corpora]
    if len(set(labels)) != len(labels):
        raise SerkitError(f"{where}: two corpora share a name; give one a label")
    label_map = registry.label_map(head.label_map, f"{where}: crosscorpus.label_map")
    classes = shared_classes(corpora, Relabel(label_map, tuple(head.keep)), registry, where)
    variants = []
    for i, train in enumerate(corpora):
        for j, test in enumerate(corpora):
            own = _run_overrides(train, test, head.label_map, classes)
            name = f"{train.label} → {test.label}"
            try:
                recipe = layered_recipe(path.parent / head.base, head.set, here, overrides, own, here, registry)
            except SerkitError as exc:
                raise SerkitError(f"{where}: {name}: {exc}") from exc
            folder = f"{i * len(corpora) + j:02d}-{slug(train.label)}-to-{slug(test.label)}"
            variants.append(Variant(name, folder, own, recipe))
    return Sweep(head.name or path.stem, path, variants), corpora, classes


def shared_classes(corpora: list[Corpus], relabel: Relabel, registry: Registry, where: str) -> list[str]:
    """The classes every corpus has under the map (or those ``keep`` names, each checked to be in every corpus)."""
    found = {}
    for corpus in corpora:
        dataset = registry.get("datasets", corpus.dataset, where).cls.from_params({"root": str(corpus.root)}, where)
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


def _inline(value: Any) -> str:
    """A value as TOML inline syntax (what --set reads)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_inline(v)}" for key, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _run_overrides(train: Corpus, test: Corpus, label_map: str, classes: list[str]) -> list[str]:
    own = [
        "dataset=" + _inline({"name": train.dataset, "root": str(train.root)}),
        f"labels.map={_inline(label_map)}",
        f"labels.keep={_inline(classes)}",
    ]
    if train is test:
        return own + ([f"protocol={_inline(train.within)}"] if train.within else [])
    protocol = {"name": "cross_corpus", "test_dataset": test.dataset, "test_root": str(test.root)}
    return [*own, "protocol=" + _inline(protocol)]


def run_study(path: str, overrides: list[str], reporter: Reporter | None = None, name: str = "") -> Path:
    """Run (or resume) every pair of corpora, then write the matrix; returns the study's folder."""
    reporter = reporter or Reporter()
    registry = get_registry()
    registry.raise_problems()
    sweep, corpora, classes = load_study(path, overrides, registry)
    if name:
        sweep = Sweep(name, sweep.path, sweep.variants)
    check_run_name(sweep.name, "--name" if name else f"crosscorpus spec '{path}': crosscorpus.name")
    for variant in sweep.variants[:: len(corpora) + 1]:
        if variant.recipe.protocol.name == "cross_corpus":
            raise SerkitError(f"{variant.name}: the diagonal needs a within-corpus protocol, not cross_corpus")
    preflight(sweep, "crosscorpus spec", "run")
    first = sweep.variants[0].recipe
    if first.run.executor == "ray":
        from serkit.run.executors.ray import probe_address

        probe_address(first.ray.address)
    folder = CrossCorpusFolder(sweep.output)
    folder.path.mkdir(parents=True, exist_ok=True)
    reporter.say(
        f"cross-corpus '{sweep.name}': {len(corpora)} corpora, {len(sweep.variants)} runs, classes "
        f"{', '.join(classes)} -> {folder.path}",
        "bold",
    )
    tracker, parent = run_variants(sweep, folder, registry, reporter, "crosscorpus", "run")
    cells = [_cell(variant, folder, first.run.seed) for variant in sweep.variants]
    write_matrix(sweep, corpora, classes, cells, folder, reporter)
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


def write_matrix(
    sweep: Sweep,
    corpora: list[Corpus],
    classes: list[str],
    cells: list[Cell],
    folder: CrossCorpusFolder,
    reporter: Reporter,
) -> None:
    """matrix.csv, crosscorpus.md, matrix.png, crosscorpus.json, crosscorpus.html and the terminal table."""
    labels = [c.label for c in corpora]
    grid = {(cell.train, cell.test): cell for cell in cells}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(Cell)])
    writer.writeheader()
    writer.writerows(asdict(cell) for cell in cells)
    write_text(folder.table, buffer.getvalue())
    notes = _notes(cells, classes)
    header = ["train ↓ / test →", *labels]
    body = [[train, *(_shown(grid[train, test]) for test in labels)] for train in labels]
    text = _markdown(sweep, header, body, cells, notes)
    write_text(folder.report, text)
    write_figure(_heatmap(labels, grid, sweep.name, len(classes)), folder.plot)
    record = {"name": sweep.name, "spec_file": str(sweep.path), "classes": classes, "cells": [asdict(c) for c in cells]}
    write_json(folder.sweep, record)
    warnings = [f"{c.train} → {c.test}: {c.warnings}" for c in cells if c.warnings]
    figures = [Figure("Results", "matrix", "UAR % with 95 % bootstrap intervals", folder.plot.read_bytes())]
    clean = "No warnings in any run: no collapse, and none from the split audits."
    write_text(folder.html_report, page(text, figures, warnings, private_paths(folder.path, sweep.path), clean))
    table = Table(title=f"cross-corpus '{sweep.name}': UAR % [95 % CI], rows train, columns test")
    for column in header:
        table.add_column(column, justify="left" if column == header[0] else "right")
    for row in body:
        table.add_row(*row)
    reporter.show(TableOrList(table, [f"{c.train} → {c.test}: {_shown(c)}" for c in cells]))
    for line in notes:
        reporter.say(f"  {line.replace('**', '')}", "dim")
    for warning in warnings:
        reporter.say(f"  warning: {warning}", "bold yellow")
    reporter.say("matrix written to " + ", ".join(str(p) for p in folder.comparison_files()))


def _markdown(sweep: Sweep, header: list[str], body: list[list[str]], cells: list[Cell], notes: list[str]) -> str:
    runs = [
        [*map(md_text, (c.train, c.test, c.protocol)), str(c.test_utterances), str(c.test_speakers), _pct(c.accuracy)]
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
            ["train", "test", "protocol", "test utterances", "speakers", "accuracy %", "folder"],
            [[*row, md_text(c.folder)] for row, c in zip(runs, cells, strict=True)],
        ),
        "",
    ]
    return "\n".join(lines)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _shown(cell: Cell) -> str:
    collapsed = " (collapsed)" if "collapse" in cell.warnings else ""
    return f"{_pct(cell.uar)} [{_pct(cell.uar_ci_low)}, {_pct(cell.uar_ci_high)}]{collapsed}"


def _notes(cells: list[Cell], classes: list[str]) -> list[str]:
    by_utterance = sorted({c.test for c in cells if c.resampled_by == "utterance"})
    lines = [
        f"**Classes:** {', '.join(map(md_text, classes))} (chance UAR {100 / len(classes):.2f} %).",
        "UAR of each run's pooled test predictions; rows are the training corpus, columns the test corpus. "
        "The diagonal is each corpus's own speaker-independent result (every utterance tested once); "
        "elsewhere the model trained on all of the row's corpus is tested on all of the column's.",
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


def _heatmap(labels: list[str], grid: dict[tuple[str, str], Cell], title: str, n_classes: int) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.array([[100 * grid[a, b].uar for b in labels] for a in labels])
    size = 2.2 + 1.4 * len(labels)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(values, cmap="viridis", vmin=0, vmax=100)
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            cell = grid[a, b]
            text = f"{values[i, j]:.1f}\n[{_pct(cell.uar_ci_low)[:-1]}, {_pct(cell.uar_ci_high)[:-1]}]"
            axes.text(j, i, text, ha="center", va="center", color="white" if values[i, j] < 60 else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("test corpus")
    axes.set_ylabel("training corpus")
    axes.set_title(f"{title}\nUAR % [95 % CI] (chance {100 / n_classes:.1f} %)")
    figure.colorbar(image, ax=axes, label="UAR %")
    figure.tight_layout()
    return figure
