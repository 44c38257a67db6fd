"""serkit from Python: run, resume, ablate, tune, compare, list and audit experiments, cross-corpus matrices and
benchmarks, the same code the command line runs.

Each call returns a typed result with its folder's path: it displays itself in a notebook (``_repr_html_``: the
run's page, as ``report.html`` shows it, framed so its style stays its own) and gives rows for pandas
(``to_records()``; pandas is not needed)::

    import serkit

    run = serkit.run_recipe("recipes/tiny.toml", overrides=["train.max_epochs=1"])
    run.uar, run.path
    other = serkit.run_recipe("recipes/tiny.toml", overrides=["train.max_epochs=2"])
    serkit.compare_runs(run, other).comparison.p

Progress goes to ``reporter`` (nothing is printed by default; ``serkit.ConsoleReporter()`` shows what the
command line shows). Errors are :class:`~serkit.SerkitError` with the command line's one-line message.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomli_w

from serkit.core.errors import SerkitError
from serkit.data.leakage import SplitAudit
from serkit.results.folder import RECIPE, AblationFolder, BenchmarkFolder, CrossCorpusFolder, RunFolder, SearchFolder
from serkit.results.html import framed
from serkit.results.records import RunSummary
from serkit.results.runs import RunComparison, RunRow
from serkit.run.reporter import Reporter

#: A recipe: a file's path, a TOML text, or the recipe's tables as a dict.
RecipeSource = str | Path | Mapping[str, Any]


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder and its summary (what metrics.json holds)."""

    #: The run folder (absolute).
    path: Path
    summary: RunSummary

    @classmethod
    def open(cls, path: str | Path) -> RunResult:
        """A run folder read back (serkit 0.1 and 0.2 folders included); one that never finished is an error."""
        folder = RunFolder(Path(path).absolute())
        if not folder.metrics.is_file():
            raise SerkitError(f"{path}: not a finished serkit run (no {folder.metrics.name}; serkit resume it)")
        return cls(folder.path, folder.read_summary())

    @property
    def metrics(self) -> dict[str, Any]:
        """The pooled figures (accuracy, uar, per_class, ... or a regression's ccc, per_target, ...)."""
        return self.summary.metrics

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("accuracy")

    @property
    def uar(self) -> float | None:
        return self.metrics.get("uar")

    @property
    def ccc(self) -> float | None:
        return self.metrics.get("ccc")

    @property
    def warnings(self) -> list[str]:
        """What makes the figures mean less than they seem (a collapsed model, leakage, a deliberate leak)."""
        return list(self.summary.warnings)

    def to_records(self) -> list[dict[str, Any]]:
        """One row per fold: its id, repeat, best epoch and every scalar figure (``pandas.DataFrame(rows)``)."""
        rows = []
        for fold in self.summary.folds:
            figures = {k: v for k, v in fold.get("metrics", {}).items() if isinstance(v, int | float)}
            row = {"run": self.summary.run_name, "fold": fold.get("id"), "repeat": fold.get("repeat")}
            rows.append(row | {"best_epoch": fold.get("best_epoch")} | figures)
        return rows

    def _repr_html_(self) -> str:
        from serkit.results.html import run_page

        return framed(run_page(self.summary, RunFolder(self.path)))


@dataclass(frozen=True)
class AblationResult:
    """A finished sweep: its folder and its comparison's rows (what ablation.csv holds, numbers as numbers)."""

    path: Path
    rows: list[dict[str, Any]]

    @classmethod
    def open(cls, path: str | Path) -> AblationResult:
        from serkit.studies.ablate import read_rows

        folder = AblationFolder(Path(path).absolute())
        if not folder.table.is_file():
            raise SerkitError(f"{path}: not a finished serkit ablation (no {folder.table.name})")
        return cls(folder.path, [{k: _number(v) for k, v in row.items()} for row in read_rows(folder)])

    def to_records(self) -> list[dict[str, Any]]:
        """One row per variant, the baseline first."""
        return [dict(row) for row in self.rows]

    def _repr_html_(self) -> str:
        from serkit.results.html import ablation_page
        from serkit.studies.ablate import read_rows

        folder = AblationFolder(self.path)
        return framed(ablation_page(folder, read_rows(folder)))


@dataclass(frozen=True)
class StudyResult:
    """A finished cross-corpus matrix or benchmark: its folder and its rows (a matrix's cells, a benchmark's
    corpora: what matrix.csv or benchmark.csv hold)."""

    path: Path
    #: "crosscorpus" or "benchmark".
    kind: str
    rows: list[dict[str, Any]]

    @classmethod
    def open(cls, path: str | Path) -> StudyResult:
        """A study folder read back: a cross-corpus matrix's or a benchmark's."""
        from serkit.results.folder import read_json

        folder = Path(path).absolute()
        for kind, record, key in (
            ("crosscorpus", CrossCorpusFolder(folder).sweep, "cells"),
            ("benchmark", BenchmarkFolder(folder).sweep, "rows"),
        ):
            if record.is_file():
                rows = read_json(record, f"{kind} record").get(key)
                if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                    raise SerkitError(f"{record}: damaged (its '{key}' is not a list of rows)")
                return cls(folder, kind, [dict(row) for row in rows if isinstance(row, dict)])
        raise SerkitError(f"{path}: not a finished serkit crosscorpus or benchmark folder")

    def to_records(self) -> list[dict[str, Any]]:
        """One row per cell (train, test) of a matrix, or per corpus of a benchmark."""
        return [dict(row) for row in self.rows]

    def _repr_html_(self) -> str:
        folder = CrossCorpusFolder(self.path) if self.kind == "crosscorpus" else BenchmarkFolder(self.path)
        return framed(folder.html_report.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class SearchResult:
    """A finished hyperparameter search: its folder, what it selected on, every trial (trials.json) and the best
    recipe's run, which alone scored the test parts."""

    path: Path
    #: The validation metric trials were selected on (val_uar, val_ccc, ...).
    metric: str
    trials: list[dict[str, Any]]
    #: The run of the best trial's recipe (None where the search stopped before it).
    best: RunResult | None

    @classmethod
    def open(cls, path: str | Path) -> SearchResult:
        from serkit.results.folder import read_json

        folder = SearchFolder(Path(path).absolute())
        if not folder.trials.is_file():
            raise SerkitError(f"{path}: not a finished serkit search (no {folder.trials.name})")
        record = read_json(folder.trials, "search record")
        trials = record.get("trials")
        if not isinstance(trials, list):
            raise SerkitError(f"{folder.trials}: damaged (its 'trials' is not a list)")
        run = folder.best_run()
        best = RunResult.open(run.path) if run is not None else None
        return cls(folder.path, str(record.get("metric", "")), [dict(t) for t in trials if isinstance(t, dict)], best)

    def to_records(self) -> list[dict[str, Any]]:
        """One row per trial: its id, status, score and each searched value (``config.<key>``)."""
        rows = []
        for trial in self.trials:
            config = trial.get("config", {}) if isinstance(trial.get("config"), dict) else {}
            row = {k: v for k, v in trial.items() if k != "config"}
            rows.append(row | {f"config.{k}": v for k, v in config.items()})
        return rows

    def _repr_html_(self) -> str:
        from serkit.results.html import page, private_paths

        text = SearchFolder(self.path).report.read_text(encoding="utf-8")
        return framed(page(text, [], [], private_paths(self.path), "No warnings."))


def run_recipe(
    recipe: RecipeSource, overrides: Sequence[str] = (), reporter: Reporter | None = None, split: str | Path = ""
) -> RunResult:
    """Run a recipe (a path, a TOML text or a dict; relative paths in a text or dict are read from the working
    directory), with ``overrides`` as the command line's ``--set``; ``split`` reuses a run's split.json."""
    from serkit.run.runner import run_recipe as execute_recipe

    split_file = Path(split) if split else None
    if isinstance(recipe, Path) or (isinstance(recipe, str) and "\n" not in recipe):  # a file (a text has lines)
        return RunResult.open(execute_recipe(str(recipe), list(overrides), reporter or Reporter(), split_file))
    text, given = (recipe, "the recipe text") if isinstance(recipe, str) else (tomli_w.dumps(dict(recipe)), "the dict")
    with tempfile.TemporaryDirectory(prefix="serkit-recipe-") as folder:
        path = Path(folder) / RECIPE
        path.write_text(text, encoding="utf-8")
        try:
            run = execute_recipe(str(path), list(overrides), reporter or Reporter(), split_file, file_base=Path.cwd())
        except SerkitError as exc:  # named as the caller gave it, not by the file it was written to
            raise SerkitError(str(exc).replace(f"recipe '{path}'", f"recipe ({given})")) from exc
    return RunResult.open(run)


def resume(run: str | Path | RunResult, reporter: Reporter | None = None, execution: Sequence[str] = ()) -> RunResult:
    """Continue an interrupted run from its folder (a finished one is checked and returned as it is);
    ``execution``: overrides of execution settings only (run.executor, ray.address, resources)."""
    from serkit.run.runner import resume_run

    return RunResult.open(resume_run(str(_path(run)), reporter or Reporter(), list(execution)))


def ablate(
    sweep: str | Path, overrides: Sequence[str] = (), reporter: Reporter | None = None, name: str = ""
) -> AblationResult:
    """Run (or resume) a sweep file's baseline and variants and compare them."""
    from serkit.studies.ablate import run_sweep

    return AblationResult.open(run_sweep(str(sweep), list(overrides), reporter or Reporter(), name))


def crosscorpus(
    spec: str | Path, overrides: Sequence[str] = (), reporter: Reporter | None = None, name: str = ""
) -> StudyResult:
    """Run (or resume) a cross-corpus spec: train on every corpus, test on every corpus; the matrix."""
    from serkit.studies.crosscorpus import run_study

    return StudyResult.open(run_study(str(spec), list(overrides), reporter or Reporter(), name))


def benchmark(
    spec: str | Path, overrides: Sequence[str] = (), reporter: Reporter | None = None, name: str = ""
) -> StudyResult:
    """Run (or resume) a benchmark spec: the base recipe on every corpus under its published protocol, beside
    the reference figures the spec gives."""
    from serkit.studies.benchmark import run_benchmark

    return StudyResult.open(run_benchmark(str(spec), list(overrides), reporter or Reporter(), name))


def tune(search: str | Path, overrides: Sequence[str] = (), reporter: Reporter | None = None) -> SearchResult:
    """Run a search file on Ray Tune (trials scored on validation parts only), then its best recipe once."""
    from serkit.studies.tune import run_search

    return SearchResult.open(run_search(str(search), list(overrides), reporter or Reporter()))


def audit(
    path: str | Path, recipe: str | Path = "", overrides: Sequence[str] = (), reporter: Reporter | None = None
) -> SplitAudit:
    """The split audit of a run folder, or of a split file (with ``recipe``, or the recipe.toml beside it): speakers
    in more than one part, byte- and near-identical audio across parts, shared sentences, pretraining corpora."""
    from serkit.studies.split_audit import audit_split_file

    return audit_split_file(path, str(recipe) if recipe else None, list(overrides), reporter or Reporter())


def compare_runs(a: str | Path | RunResult, b: str | Path | RunResult, metric: str = "") -> RunComparison:
    """B against A on the same test utterances: per fold, and the test the design calls for (``metric``: uar,
    accuracy or ccc; default the task's)."""
    from serkit.results.runs import compare_runs as compared

    return compared(_path(a), _path(b), metric)


def list_runs(folder: str | Path = "runs", filters: Sequence[str] = (), sort: str = "date") -> list[RunRow]:
    """The runs under ``folder`` as ``serkit runs list`` shows them (``filters``: KEY=VALUE, e.g. status=complete)."""
    from serkit.results.runs import list_runs as listed

    return listed(str(folder), list(filters), sort)[0]


def open_run(path: str | Path) -> RunResult:
    """A finished run folder as a :class:`RunResult`."""
    return RunResult.open(path)


def rows_of(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows for pandas from typed records (e.g. :func:`list_runs`'s)."""
    return [asdict(item) for item in items]


def _path(run: str | Path | RunResult) -> Path:
    return run.path if isinstance(run, RunResult) else Path(os.fspath(run))


def _number(text: str) -> Any:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return text
