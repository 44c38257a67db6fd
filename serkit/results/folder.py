"""The folders serkit writes, as objects: a run's, an ablation's and a search's.

This module alone knows their layout: every file name, and how each document is read and written
(atomically, with its format number). Everything else asks a :class:`RunFolder` for a path or a
typed document::

    run = RunFolder(path)
    run.metrics                      # the path of metrics.json
    summary = run.read_summary()     # a RunSummary, or one line naming the damaged file
    card = run.read_model_card()     # a ModelCard: labels, input shape, normaliser, weights

A run folder::

    recipe.toml  split.json  run.log  environment.json
    folds/<id>/  result.json  model.pt|model.skops  checkpoint.pt  epochs/NNN.pt  train.log
    predictions.csv  model.pt|model.skops  model.json  history.json  report.md
    report.html  confusion_matrix.png  training_curves.png  reliability.png  occlusion.png (image features)
    metrics.json (written last: the run is complete)
    mlflow.json  wall_time.json  recipe.content.json  audit/  (written by tracking, ablate, audit)
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from serkit.core.errors import SerkitError
from serkit.core.fileio import JSONObject, write_atomic, write_json, write_text
from serkit.core.version import RUN_FORMAT, run_format
from serkit.data.split import SplitFile
from serkit.results.records import FoldResult, RunSummary

D = TypeVar("D")

RECIPE = "recipe.toml"
SPLIT = "split.json"
LOG = "run.log"
ENVIRONMENT = "environment.json"
PREDICTIONS = "predictions.csv"
PER_SPEAKER = "per_speaker.csv"
MODEL_CARD = "model.json"
HISTORY = "history.json"
REPORT = "report.md"
REPORT_HTML = "report.html"
CONFUSION_PLOT = "confusion_matrix.png"
REGRESSION_PLOT = "regression.png"
TRAINING_PLOT = "training_curves.png"
RELIABILITY_PLOT = "reliability.png"
OCCLUSION_PLOT = "occlusion.png"
METRICS = "metrics.json"
TRACKING_STATE = "mlflow.json"
WALL_TIME = "wall_time.json"
CONTENT_KEY = "recipe.content.json"
FOLDS = "folds"
RESULT = "result.json"
CHECKPOINT = "checkpoint.pt"
REFIT_CHECKPOINT = "refit-checkpoint.pt"
EPOCHS = "epochs"
TRAIN_LOG = "train.log"
AUDIT = "audit"
AUDIT_JSON, AUDIT_REPORT, AUDIT_PLOT = "audit.json", "audit.md", "curves.png"
#: Weights as each kind of learner writes them (``model`` + the learner's suffix).
MODEL_STEM = "model"
TORCH_WEIGHTS, ESTIMATOR_WEIGHTS = "model.pt", "model.skops"
EXPORTS = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt", "pretrained": "pretrained"}
#: An ablation's folder.
ABLATION_CSV, ABLATION_REPORT, ABLATION_PLOT, SWEEP = "ablation.csv", "ablation.md", "ablation.png", "sweep.json"
ABLATION_HTML = "ablation.html"
#: A cross-corpus study's folder.
MATRIX_CSV, MATRIX_REPORT, MATRIX_PLOT, MATRIX_HTML = "matrix.csv", "crosscorpus.md", "matrix.png", "crosscorpus.html"
MATRIX_RECORD = "crosscorpus.json"
#: A benchmark's folder: a run folder per corpus and the table.
BENCHMARK_CSV, BENCHMARK_REPORT, BENCHMARK_PLOT = "benchmark.csv", "benchmark.md", "benchmark.png"
BENCHMARK_HTML, BENCHMARK_RECORD = "benchmark.html", "benchmark.json"
#: A search's folder.
TRIALS_FOLDER, TRIALS, TRIAL, BEST_RECIPE, SEARCH_REPORT = "trials", "trials.json", "trial.json", "best.toml", "tune.md"
#: A search's folder for the base recipe's features, computed once before the trials.
FEATURES = "features"

#: Files whose presence (beside recipe.toml) makes a folder a run folder.
_RUN_MARKERS = (SPLIT, LOG)
#: Files an export must never overwrite.
_PROTECTED = (RECIPE, MODEL_CARD, TORCH_WEIGHTS, ESTIMATOR_WEIGHTS, SPLIT, METRICS)


def read_json(path: Path, what: str) -> JSONObject:
    """A JSON document (an object) of one of serkit's folders, or one line naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SerkitError(f"{path}: cannot read the {what} ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise SerkitError(f"{path}: not a serkit {what}")
    run_format(data, path)
    return data


def _document(cls: type[D], data: dict[str, Any], path: Path, what: str) -> D:
    """A dataclass document from its JSON object: missing keys with defaults take them, others are named."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    missing = [
        f.name
        for f in fields(cls)  # type: ignore[arg-type]
        if f.name not in data and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise SerkitError(f"{path}: damaged {what} (no {', '.join(missing)})")
    return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """``model.json``: what predict, export and resume need besides the recipe and the weights."""

    serkit_version: str = ""
    #: The model's identity (name, version, parameters), as it was trained.
    model: JSONObject = field(default_factory=dict)
    labels: list[str]
    input_shape: list[int]
    #: The fitted normalisation: method, scope and statistics (or per-speaker statistics).
    normaliser: JSONObject
    #: In words: which file holds the weights and which fold they come from.
    weights: str = ""
    weights_file: str = TORCH_WEIGHTS
    #: Each fold's weights, relative to the run folder.
    fold_weights: dict[str, str] = field(default_factory=dict)
    #: The calibration of the model's fold, fitted on its validation part (empty: not calibrated).
    calibration: JSONObject = field(default_factory=dict)
    #: A regression's or a joint task's (kind, targets, loss, weights); empty: a classification, whose labels are
    #: the classes (a joint task's labels are its classes too; its targets follow them in the model's outputs).
    task: JSONObject = field(default_factory=dict)
    format_version: int = RUN_FORMAT

    def to_json(self) -> JSONObject:
        data = asdict(self)
        return {"format_version": data.pop("format_version"), **data}

    @property
    def regression(self) -> bool:
        """Whether the model predicts values of ``labels`` (a regression's targets) rather than classes."""
        return self.task.get("kind") == "regression"

    @property
    def joint_targets(self) -> list[str]:
        """A joint task's targets, whose values follow the classes' probabilities in the outputs ([]: none)."""
        targets = self.task.get("targets") if self.task.get("kind") == "joint" else None
        return [str(t) for t in targets] if isinstance(targets, list) else []

    @property
    def per_speaker(self) -> bool:
        """Whether each speaker is normalised by its own statistics (set by the predictor, not saved)."""
        return self.normaliser.get("scope") == "speaker" and "speakers" in self.normaliser


@dataclass(frozen=True)
class Environment:
    """``environment.json``: where and with what a run was made."""

    serkit: str
    python: str
    platform: str
    processor: str
    cpu_count: int | None
    device: JSONObject
    packages: dict[str, str | None]
    #: ``<section>:<component>`` → the distribution that provided it.
    components: dict[str, str]
    #: Which cache folder and pipeline record hold the run's features (serkit 0.2 and later).
    cache: dict[str, str] = field(default_factory=dict)
    #: How the trainings were executed (serkit 0.2 and later).
    execution: JSONObject = field(default_factory=dict)
    #: The licence of the corpus the run used, where its dataset records one (serkit 0.3 and later).
    dataset_licence: str = ""


@dataclass(frozen=True)
class TrackingState:
    """``mlflow.json``: the MLflow run a folder logs to (a resumed run continues it), and the folds logged."""

    uri: str
    run_id: str
    experiment: str
    folds: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FoldFolder:
    """``folds/<id>/`` of a run folder: one fold's result, weights and checkpoints."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def result(self) -> Path:
        return self.path / RESULT

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def refit_checkpoint(self) -> Path:
        return self.path / REFIT_CHECKPOINT

    @property
    def epochs(self) -> Path:
        """Each epoch's weights, with ``train.keep_epoch_weights`` (for ``serkit audit``)."""
        return self.path / EPOCHS

    @property
    def train_log(self) -> Path:
        """The log of a training that ran on a Ray worker."""
        return self.path / TRAIN_LOG

    def epoch(self, number: int) -> Path:
        """Where epoch ``number``'s weights are kept."""
        return self.epochs / f"{number:03d}.pt"

    def epoch_weights(self) -> dict[int, Path]:
        """The epochs whose weights were kept, in order, and their files."""
        return {int(path.stem): path for path in sorted(self.epochs.glob("[0-9]*.pt")) if path.stem.isdigit()}

    def weights(self, suffix: str) -> Path:
        """The fitted model's file, for a learner whose files end in ``suffix``."""
        return self.path / f"{MODEL_STEM}{suffix}"

    def is_finished(self) -> bool:
        return self.result.is_file()

    def read_result(self) -> FoldResult:
        data = read_json(self.result, "fold result")
        data["model_file"] = data.get("model_file") or TORCH_WEIGHTS  # results of serkit 0.1 did not say
        try:
            return FoldResult.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise SerkitError(f"{self.result}: damaged fold result ({type(exc).__name__}: {exc})") from exc

    def write_result(self, fold: FoldResult) -> None:
        """Written last: its presence marks the fold done."""
        write_json(self.result, fold.to_json())

    def model(self, fold: FoldResult) -> Path:
        """The fitted model file of the fold's result."""
        return self.path / fold.model_file

    def write_weights(self, suffix: str, data: bytes) -> Path:
        path = self.weights(suffix)
        write_atomic(path, lambda out: out.write(data), binary=True)
        return path


@dataclass(frozen=True)
class RunLayout:
    """Where each file of a run folder is, and what state the folder is in."""

    path: Path

    def __str__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    # --- paths -------------------------------------------------------------------------------

    @property
    def recipe(self) -> Path:
        return self.path / RECIPE

    @property
    def split(self) -> Path:
        return self.path / SPLIT

    @property
    def log(self) -> Path:
        return self.path / LOG

    @property
    def environment(self) -> Path:
        return self.path / ENVIRONMENT

    @property
    def predictions(self) -> Path:
        return self.path / PREDICTIONS

    @property
    def per_speaker_table(self) -> Path:
        """Every test speaker's figures (the report lists the worst where there are many)."""
        return self.path / PER_SPEAKER

    @property
    def model_card(self) -> Path:
        return self.path / MODEL_CARD

    @property
    def history(self) -> Path:
        return self.path / HISTORY

    @property
    def report(self) -> Path:
        return self.path / REPORT

    @property
    def html_report(self) -> Path:
        return self.path / REPORT_HTML

    @property
    def confusion_plot(self) -> Path:
        return self.path / CONFUSION_PLOT

    @property
    def regression_plot(self) -> Path:
        return self.path / REGRESSION_PLOT

    @property
    def training_plot(self) -> Path:
        return self.path / TRAINING_PLOT

    @property
    def reliability_plot(self) -> Path:
        return self.path / RELIABILITY_PLOT

    @property
    def occlusion_plot(self) -> Path:
        return self.path / OCCLUSION_PLOT

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def tracking_state(self) -> Path:
        return self.path / TRACKING_STATE

    @property
    def wall_time(self) -> Path:
        return self.path / WALL_TIME

    @property
    def content_key(self) -> Path:
        return self.path / CONTENT_KEY

    @property
    def audit(self) -> Path:
        return self.path / AUDIT

    @property
    def audit_files(self) -> tuple[Path, Path, Path]:
        """The audit's JSON, report and plot."""
        return self.audit / AUDIT_JSON, self.audit / AUDIT_REPORT, self.audit / AUDIT_PLOT

    def fold(self, fold_id: str) -> FoldFolder:
        return FoldFolder(self.path / FOLDS / fold_id)

    def relative(self, path: Path) -> str:
        """``path`` as model.json names files: relative to the run folder, with forward slashes."""
        return path.relative_to(self.path).as_posix()

    def weights_file(self, name: str) -> Path:
        """A file named by model.json (the weights, or a fold's weights relative to the folder)."""
        return self.path / name

    def export_file(self, fmt: str) -> Path:
        return self.path / EXPORTS[fmt]

    def protects(self, path: Path) -> bool:
        """Whether ``path`` is one of the files that make this run what it is (an export must not replace it)."""
        return path.resolve() in {(self.path / name).resolve() for name in _PROTECTED}

    # --- what state it is in -----------------------------------------------------------------

    def is_run(self) -> bool:
        """A run folder: a recipe beside a split or a log (not a fold's, search trial's or cache's folder)."""
        inside = self.path.parent.name in (FOLDS, TRIALS_FOLDER)
        return not inside and self.recipe.is_file() and any((self.path / name).is_file() for name in _RUN_MARKERS)

    def is_complete(self) -> bool:
        """metrics.json is written last: its presence marks the run complete."""
        return self.metrics.is_file()

    def missing(self, *, for_predicting: bool = False) -> list[str]:
        """The files a complete run (or, ``for_predicting``, a usable model) needs that are not there."""
        needed = (RECIPE, MODEL_CARD) if for_predicting else (RECIPE, MODEL_CARD, METRICS)
        return [name for name in needed if not (self.path / name).is_file()]


@dataclass(frozen=True)
class RunFolder(RunLayout):
    """One run's folder: its paths (:class:`RunLayout`), and its documents read and written as typed records."""

    def write_recipe(self, text: str) -> None:
        write_text(self.recipe, text)

    def read_summary(self) -> RunSummary:
        data = read_json(self.metrics, "run summary")
        try:
            return RunSummary.from_json(data)
        except (KeyError, TypeError) as exc:
            raise SerkitError(f"{self.metrics}: damaged run summary (no {exc})") from exc

    def write_summary(self, summary: RunSummary) -> None:
        """Written last: marks the run complete."""
        write_json(self.metrics, summary.to_json())

    def read_model_card(self) -> ModelCard:
        try:
            data = read_json(self.model_card, "model description")
            card = _document(ModelCard, data, self.model_card, "model description")
            [str(label) for label in card.labels]
            [int(n) for n in card.input_shape]
            card.normaliser.get("method")
        except (SerkitError, TypeError, ValueError, AttributeError) as exc:
            raise SerkitError(
                f"{self.model_card}: unreadable or from an incompatible serkit version ({type(exc).__name__}: {exc})"
            ) from exc
        return card

    def write_model_card(self, card: ModelCard) -> None:
        write_json(self.model_card, card.to_json())

    def read_environment(self) -> Environment:
        data = read_json(self.environment, "environment record")
        try:
            return _document(Environment, data, self.environment, "environment record")
        except TypeError as exc:
            raise SerkitError(f"{self.environment}: damaged environment record ({exc})") from exc

    def cache_pipeline(self) -> str | None:
        """The id of the cache pipeline the run's features are in (None before serkit 0.2 or unreadable)."""
        try:
            return self.read_environment().cache.get("pipeline")
        except (SerkitError, AttributeError):
            return None

    def write_environment(self, environment: Environment) -> None:
        write_json(self.environment, asdict(environment))

    def read_split(self) -> SplitFile:
        return SplitFile.read(self.split)

    def write_split(self, split: SplitFile) -> None:
        write_json(self.split, split.to_json())

    def write_predictions(self, text: str) -> None:
        write_text(self.predictions, text)

    def read_predictions(self, probabilities: bool = True) -> list[dict[str, str]]:
        """predictions.csv's rows: fold, file, speaker, true, predicted and p_<label> per class (left out with
        ``probabilities=False``, as comparisons need the labels alone). Folds, speakers, classes and groups are held
        once however many rows repeat them."""
        try:
            with self.predictions.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader, [])
                kept = [
                    (k, name, name != "file" and not name.startswith(("p_", "true_", "predicted_")))  # repeated values
                    for k, name in enumerate(header)
                    if probabilities or not name.startswith("p_")
                ]
                return [_row(row, kept) for row in reader if row]  # as csv.DictReader, a blank line is no row
        except OSError as exc:
            raise SerkitError(f"{self.predictions}: cannot read ({exc.strerror or exc})") from exc

    def write_history(self, histories: list[list[dict[str, float]]]) -> None:
        write_json(self.history, histories)

    def write_report(self, text: str) -> None:
        write_text(self.report, text)

    def write_html_report(self, text: str) -> None:
        write_text(self.html_report, text)

    def read_wall_time(self) -> float | None:
        """Seconds from the start of the run's preparation to its outputs (written by ablate), if recorded."""
        try:
            seconds = read_json(self.wall_time, "wall time").get("seconds")
        except SerkitError:
            return None
        return float(seconds) if isinstance(seconds, int | float) else None

    def write_wall_time(self, seconds: float) -> None:
        write_json(self.wall_time, {"seconds": seconds})

    def read_content_key(self) -> str | None:
        """The content key of the recipe the folder was made from (ablate), None when unreadable."""
        try:
            return str(json.loads(self.content_key.read_text(encoding="utf-8")).get("key"))
        except (OSError, ValueError, AttributeError):
            return None

    def write_content_key(self, key: str) -> None:
        write_json(self.content_key, {"key": key})

    def read_tracking_state(self) -> TrackingState | None:
        """The folder's MLflow run, None when it has none (or its record is unreadable: a new run is made)."""
        try:
            data = json.loads(self.tracking_state.read_text(encoding="utf-8"))
            return TrackingState(
                str(data["uri"]), str(data["run_id"]), str(data.get("experiment", "")), list(data.get("folds", []))
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write_tracking_state(self, state: TrackingState) -> None:
        write_json(self.tracking_state, asdict(state))

    def artefacts(self) -> list[Path]:
        """Every file worth a copy in a tracking store: not resume checkpoints, not the tracking record."""
        skipped = {CHECKPOINT, REFIT_CHECKPOINT, TRACKING_STATE}
        return [path for path in sorted(self.path.rglob("*")) if path.is_file() and path.name not in skipped]

    def copy_weights(self, source: Path, target: Path) -> None:
        data = source.read_bytes()
        write_atomic(target, lambda out: out.write(data), binary=True)


def find_runs(folder: Path) -> list[RunFolder]:
    """Run folders under ``folder`` (itself included), not a fold's, a trial's or a cache's folder."""
    if not folder.is_dir():
        raise SerkitError(f"{folder}: no such folder")
    runs = (RunFolder(recipe.parent) for recipe in sorted(folder.rglob(RECIPE)))
    return [run for run in runs if run.name != FEATURES and run.is_run()]


@dataclass(frozen=True)
class AblationFolder:
    """An ablation's folder: a run folder per variant and the comparison."""

    path: Path

    def variant(self, folder: str) -> RunFolder:
        return RunFolder(self.path / folder)

    @property
    def table(self) -> Path:
        return self.path / ABLATION_CSV

    @property
    def report(self) -> Path:
        return self.path / ABLATION_REPORT

    @property
    def plot(self) -> Path:
        return self.path / ABLATION_PLOT

    @property
    def html_report(self) -> Path:
        return self.path / ABLATION_HTML

    @property
    def sweep(self) -> Path:
        return self.path / SWEEP

    def comparison_files(self) -> list[Path]:
        return [self.report, self.html_report, self.table, self.plot]


@dataclass(frozen=True)
class CrossCorpusFolder(AblationFolder):
    """A cross-corpus study's folder: a run folder per (training corpus, test corpus) and the matrix."""

    @property
    def table(self) -> Path:
        return self.path / MATRIX_CSV

    @property
    def report(self) -> Path:
        return self.path / MATRIX_REPORT

    @property
    def plot(self) -> Path:
        return self.path / MATRIX_PLOT

    @property
    def html_report(self) -> Path:
        return self.path / MATRIX_HTML

    @property
    def sweep(self) -> Path:
        return self.path / MATRIX_RECORD


class BenchmarkFolder(AblationFolder):
    """A benchmark's folder: a run folder per corpus and the table."""

    @property
    def table(self) -> Path:
        return self.path / BENCHMARK_CSV

    @property
    def report(self) -> Path:
        return self.path / BENCHMARK_REPORT

    @property
    def plot(self) -> Path:
        return self.path / BENCHMARK_PLOT

    @property
    def html_report(self) -> Path:
        return self.path / BENCHMARK_HTML

    @property
    def sweep(self) -> Path:
        return self.path / BENCHMARK_RECORD


@dataclass(frozen=True)
class SearchFolder:
    """A hyper-parameter search's folder: a folder per trial, the trials, the best recipe and its report."""

    path: Path

    @property
    def trials_folder(self) -> Path:
        return self.path / TRIALS_FOLDER

    def trial(self, trial_id: str) -> RunFolder:
        """A trial's folder: a run folder trained in validation-only mode, with its trial record."""
        return RunFolder(self.trials_folder / trial_id)

    def trial_record(self, trial_id: str) -> Path:
        return self.trial(trial_id).path / TRIAL

    @property
    def features(self) -> RunFolder:
        """Where the base recipe's features are computed once, before the trials."""
        return RunFolder(self.path / FEATURES)

    @property
    def trials(self) -> Path:
        return self.path / TRIALS

    @property
    def best_recipe(self) -> Path:
        return self.path / BEST_RECIPE

    def best_run(self) -> RunFolder | None:
        """The latest finished run of the best trial's recipe (``<name>-best-<time>``), if any."""
        finished = sorted(p for p in self.path.glob("*-best-*") if RunFolder(p).is_complete())
        return RunFolder(finished[-1]) if finished else None

    @property
    def report(self) -> Path:
        return self.path / SEARCH_REPORT

    @property
    def recipe(self) -> Path:
        return self.path / RECIPE

    @property
    def log(self) -> Path:
        return self.path / LOG


def _row(values: list[str], columns: list[tuple[int, str, bool]]) -> dict[str, str]:
    """One predictions.csv row by column name ("" where the line is short), the values of the columns marked
    shared (folds, speakers, classes, groups: repeated) held once however many rows repeat them."""
    return {
        name: "" if k >= len(values) else sys.intern(values[k]) if shared else values[k] for k, name, shared in columns
    }
