"""`serkit runs`: find, list and compare run folders.

``list`` reads every run folder under a folder (:func:`~.runfolder.find_runs`); ``compare`` tests
the difference between two runs evaluated on the
same test utterances, with the test the evaluation design calls for (:mod:`.stats`).
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.scores import accuracy, mean_ccc, uar
from serkit.results import stats
from serkit.results.folder import SPLIT, RunFolder, find_runs
from serkit.results.groups import paired_group_differences

#: complete; collapsed (complete, but its model predicted one class, or nearly: see its report);
#: interrupted; failed; damaged (its metrics.json cannot be read).
STATUSES = ("complete", "collapsed", "interrupted", "failed", "damaged")


@dataclass(frozen=True)
class RunInfo:
    """One run folder, as `serkit runs list` shows it."""

    path: Path
    name: str
    date: str
    status: str
    dataset: str
    protocol: str
    settings: dict[str, Any]  # the resolved recipe, flattened to dotted keys
    accuracy: dict[str, float] | None
    uar: dict[str, float] | None
    epochs: float | None
    seconds: float | None
    problem: str = ""  # what is wrong with a damaged run folder, naming the file
    #: A regression's mean CCC over the targets, mean ± sd over folds (a classification has none).
    ccc: dict[str, float] | None = None
    #: The pooled UAR (a regression's mean CCC) with its 95 % interval: metric, value, ci (none before 0.3).
    pooled: dict[str, Any] | None = None

    def row(self, keys: list[str]) -> RunRow:
        return RunRow(
            name=self.name,
            date=self.date,
            dataset=self.dataset,
            protocol=self.protocol,
            differs={key: self.settings.get(key) for key in keys},
            accuracy_mean=self.accuracy["mean"] if self.accuracy else None,
            accuracy_sd=self.accuracy["sd"] if self.accuracy else None,
            uar_mean=self.uar["mean"] if self.uar else None,
            uar_sd=self.uar["sd"] if self.uar else None,
            ccc_mean=self.ccc["mean"] if self.ccc else None,
            ccc_sd=self.ccc["sd"] if self.ccc else None,
            folds=int((self.uar or self.ccc or {"n": 0})["n"]) if self.uar or self.ccc else None,
            pooled_metric=self.pooled["metric"] if self.pooled else None,
            pooled=self.pooled["value"] if self.pooled else None,
            pooled_ci_low=self.pooled["ci"][0] if self.pooled else None,
            pooled_ci_high=self.pooled["ci"][1] if self.pooled else None,
            epochs=self.epochs,
            seconds=self.seconds,
            status=self.status,
            problem=self.problem,
            path=str(self.path),
        )


@dataclass(frozen=True)
class RunRow:
    """A line of `serkit runs list` (its --json rows have these keys)."""

    name: str
    date: str
    dataset: str
    protocol: str
    #: The recipe keys that differ between the listed runs, with this run's values.
    differs: dict[str, Any]
    accuracy_mean: float | None
    accuracy_sd: float | None
    uar_mean: float | None
    uar_sd: float | None
    ccc_mean: float | None
    ccc_sd: float | None
    folds: int | None
    #: ``uar`` or ``ccc``: what ``pooled`` is, every fold's test predictions together, with its 95 % CI.
    pooled_metric: str | None
    pooled: float | None
    pooled_ci_low: float | None
    pooled_ci_high: float | None
    epochs: float | None
    seconds: float | None
    status: str
    problem: str
    path: str

    def value(self, column: str) -> Any:
        """A column of `runs list --csv`: a field, or a differing recipe key."""
        return getattr(self, column) if column in _ROW_FIELDS else self.differs.get(column)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested tables and lists of tables as dotted keys (``model.filters``, ``preprocess[0].name``)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out |= flatten(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for k, value in enumerate(data):
            out |= flatten(value, f"{prefix}[{k}]")
    else:
        out[prefix] = data
    return out


#: Keys that differ between runs without saying anything about what was computed.
NOISE = ("run.output", "run.cache_dir", "run.workers", "run.executor", "run.name", "ray.")


def read_run(run: RunFolder, base: Path) -> RunInfo:
    try:
        settings = flatten(tomllib.loads(run.recipe.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SerkitError(f"{run.recipe}: cannot read ({exc})") from exc
    dataset = str(settings.get("dataset.name", "?"))
    protocol = str(settings.get("protocol.name", "?"))
    accuracy = uar = ccc = epochs = seconds = pooled = None
    problem = ""
    date = datetime.fromtimestamp(run.recipe.stat().st_mtime).isoformat(timespec="seconds")
    if run.metrics.exists():
        try:
            summary = run.read_summary()
            status = "collapsed" if any("collapse" in warning for warning in summary.warnings) else "complete"
            protocol, dataset = summary.protocol, str(summary.dataset.get("name", dataset))
            if summary.metrics.get("task") == "regression":  # no accuracy or UAR: its mean CCC
                ccc = summary.mean["ccc"]
            else:
                accuracy, uar = summary.mean["accuracy"], summary.mean["uar"]
                ccc = (summary.metrics.get("dimensions") or {}).get("mean", {}).get("ccc")  # a joint task's
            pooled = pooled_figure(summary.metrics)
            epochs = float(np.mean([f["epochs"] for f in summary.folds]))
            wall = run.read_wall_time()
            seconds = wall if wall is not None else float(sum(summary.timings.values()))
            date = summary.started
        except SerkitError as exc:
            status, problem = "damaged", str(exc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            accuracy = uar = ccc = epochs = seconds = pooled = None
            status, problem = "damaged", f"{run.metrics}: not a run summary ({type(exc).__name__}: {exc})"
    else:
        text = run.log.read_text(encoding="utf-8", errors="replace") if run.log.is_file() else ""
        errors = [line for line in text.splitlines() if " ERROR " in line]
        status = "interrupted" if not errors or any("interrupted" in line for line in errors) else "failed"
    name = str(run.path.relative_to(base)) if run.path != base else run.name
    return RunInfo(
        run.path, name, date, status, dataset, protocol, settings, accuracy, uar, epochs, seconds, problem, ccc, pooled
    )


def pooled_figure(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """A run's pooled UAR (a regression's mean CCC) with its 95 % interval, or None where it kept none."""
    metric = "ccc" if metrics.get("task") == "regression" else "uar"
    interval = metrics.get("intervals", {}).get(metric)
    return None if interval is None else {"metric": metric, "value": metrics[metric], "ci": interval}


def differing_keys(runs: list[RunInfo]) -> list[str]:
    """Recipe keys whose values are not the same in every listed run."""
    keys = sorted({key for run in runs for key in run.settings})
    return [
        key
        for key in keys
        if not key.startswith(NOISE) and len({json.dumps(run.settings.get(key), sort_keys=True) for run in runs}) > 1
    ]


def list_runs(folder: str, filters: list[str], sort: str) -> tuple[list[RunRow], list[str]]:
    """The rows of `serkit runs list` and the recipe keys that differ between them."""
    base = Path(folder)
    runs = [read_run(run, base) for run in find_runs(base)]
    for text in filters:
        key, sep, value = text.partition("=")
        if not sep:
            raise SerkitError(f"--filter {text}: expected KEY=VALUE, e.g. status=complete or model.name=crnn")
        runs = [run for run in runs if _matches(run, key, value)]
    keys = differing_keys(runs) if len(runs) > 1 else []
    rows = [run.row(keys) for run in runs]
    numbers = ("accuracy_mean", "uar_mean", "ccc_mean", "epochs", "seconds")
    sortable = ("name", "date", "dataset", "protocol", *numbers, "status")
    field = {"accuracy": "accuracy_mean", "uar": "uar_mean", "ccc": "ccc_mean", "wall": "seconds"}.get(sort, sort)
    if field not in sortable:
        raise SerkitError(
            f"--sort {sort}: expected one of name, date, dataset, protocol, accuracy, uar, ccc, epochs, wall, status"
        )
    numeric = field in numbers
    rows.sort(key=lambda r: (r.value(field) is None, -(r.value(field) or 0) if numeric else str(r.value(field))))
    return rows, keys


def _matches(run: RunInfo, key: str, value: str) -> bool:
    if key in ("status", "dataset", "protocol", "name"):
        return value.lower() in str(getattr(run, key)).lower()
    if key not in run.settings:
        return False
    found = run.settings[key]
    return str(found).lower() == value.lower() or json.dumps(found) == value


def rows_csv(rows: list[RunRow], keys: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = ["name", "date", "dataset", "protocol", *keys, "accuracy_mean", "accuracy_sd", "uar_mean", "uar_sd"]
    columns += ["ccc_mean", "ccc_sd", "pooled_metric", "pooled", "pooled_ci_low", "pooled_ci_high"]
    columns += ["folds", "epochs", "seconds", "status"]
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.value(column) for column in columns])
    return buffer.getvalue()


_ROW_FIELDS = {f.name for f in fields(RunRow)}


# --- comparing two runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Predictions:
    """A finished run's test predictions, per fold, with its folds' sizes."""

    run: Path
    rows: list[dict[str, str]]
    sizes: dict[str, dict[str, int]]
    protocol: str
    warnings: list[str]
    #: A regression's or a joint task's targets (predictions.csv's true_<t> and predicted_<t>); a classification
    #: has none.
    targets: tuple[str, ...] = ()
    #: Whether the tested models were refit on fit + validation (``train.refit``).
    refit: bool = False
    #: A joint task's: classes and targets, compared by uar or accuracy (the default) or by ccc.
    joint: bool = False

    @classmethod
    def read(cls, path: Path) -> Predictions:
        run = RunFolder(path)
        if not run.is_complete():
            raise SerkitError(f"{run}: not a finished run (no {run.metrics.name})")
        summary = run.read_summary()
        dimensions = summary.metrics.get("dimensions") or {}
        joint = bool(dimensions)
        if summary.metrics.get("task") == "regression" or joint:
            targets = tuple((dimensions or summary.metrics).get("targets", ()))
        else:
            targets = ()
        sizes = {f["id"]: f.get("sizes", {}) for f in summary.folds}
        try:
            refit = bool(tomllib.loads(run.recipe.read_text(encoding="utf-8")).get("train", {}).get("refit", False))
        except (OSError, tomllib.TOMLDecodeError, AttributeError):
            refit = False  # no readable recipe: the fit part, as most runs
        rows = run.read_predictions(probabilities=False)  # a comparison reads the labels (and values) alone
        return cls(path, rows, sizes, summary.protocol, summary.warnings, targets, refit, joint)

    def valued(self, rows: list[dict[str, str]]) -> list[dict[str, str]]:
        """The rows with a true value for every target (a joint task's utterance may lack some)."""
        return [r for r in rows if all(r.get(f"true_{t}", "") != "" for t in self.targets)]

    def values(self, rows: list[dict[str, str]], kind: str) -> np.ndarray:
        """A regression's ``true`` or ``predicted`` values of ``rows``, (utterances, targets)."""
        try:
            return np.array([[float(r[f"{kind}_{t}"]) for t in self.targets] for r in rows], dtype=np.float64)
        except (KeyError, ValueError) as exc:
            raise SerkitError(f"{RunFolder(self.run).predictions}: not a regression's predictions ({exc})") from exc

    def folds(self) -> dict[str, list[dict[str, str]]]:
        out: dict[str, list[dict[str, str]]] = {}
        for row in self.rows:
            out.setdefault(row["fold"], []).append(row)
        return out


def design_of(folds: dict[str, list[dict[str, str]]]) -> str:
    """``single`` (one test set), ``speaker`` (one test speaker per fold, each once) or ``resampled``."""
    if len(folds) == 1:
        return "single"
    speakers = [{row["speaker"] for row in rows} for rows in folds.values()]
    if all(len(s) == 1 for s in speakers) and len(set().union(*speakers)) == len(folds):
        return "speaker"
    return "resampled"


def fold_scores(run: Predictions, rows: list[dict[str, str]], metric: str) -> float:
    """A fold's UAR, accuracy or (a regression's) mean CCC over the targets."""
    if metric == "ccc":
        rows = run.valued(rows)
        return mean_ccc(run.values(rows, "true"), run.values(rows, "predicted"))
    truth = np.array([r["true"] for r in rows])
    predicted = np.array([r["predicted"] for r in rows])
    return uar(truth, predicted) if metric == "uar" else accuracy(truth, predicted)


@dataclass(frozen=True)
class FoldScores:
    fold: str
    a: float
    b: float


@dataclass(frozen=True)
class RunComparison:
    """`serkit runs compare`: two runs' scores per fold on the same test utterances, and the test."""

    run_a: str
    run_b: str
    metric: str
    protocol: str
    folds: list[FoldScores]
    mean_a: float
    mean_b: float
    comparison: stats.Comparison
    #: A run whose model collapsed, said: its difference is not a finding.
    warnings: list[str]
    #: Per group of each metadata column both runs' predictions carry ([report] groups): each run's UAR,
    #: the paired bootstrap CI of the difference, and each run's gap between groups.
    groups: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"comparison": self.comparison.to_json()}

    def to_records(self) -> list[dict[str, Any]]:
        """One row per fold: A's and B's score and their difference (``pandas.DataFrame(rows)``)."""
        return [
            {"fold": f.fold, "metric": self.metric, "a": f.a, "b": f.b, "difference": f.b - f.a} for f in self.folds
        ]

    def _repr_html_(self) -> str:
        """The comparison's page (``serkit runs compare --html``), framed for a notebook."""
        from serkit.results.html import comparison_page, framed

        return framed(comparison_page(self))


def check_metric(a: Predictions, b: Predictions, metric: str) -> str:
    """The metric to compare two runs by (``""``: UAR, or CCC for regressions), or one line saying why
    they cannot be compared by it."""
    if (a.targets, a.joint) != (b.targets, b.joint):
        what = [task_words(r) for r in (a, b)]
        raise SerkitError(f"{a.run} is {what[0]} and {b.run} {what[1]}: comparing them would mean nothing")
    metric = metric or ("ccc" if a.targets and not a.joint else "uar")
    if a.joint:
        return metric
    if a.targets and metric != "ccc":
        raise SerkitError(f"--metric {metric}: {a.run} and {b.run} are regressions; they compare by ccc")
    if not a.targets and metric == "ccc":
        raise SerkitError(f"--metric ccc: {a.run} and {b.run} are classifications; they compare by uar or accuracy")
    return metric


def task_words(run: Predictions) -> str:
    """What a run predicts, in words."""
    if run.joint:
        return f"a joint task of classes and {', '.join(run.targets)}"
    return f"a regression of {', '.join(run.targets)}" if run.targets else "a classification"


def compare_runs(run_a: Path, run_b: Path, metric: str = "") -> RunComparison:
    """Per-fold scores of two runs on the same test utterances and the test their design calls for, by
    ``metric`` (``uar`` or ``accuracy``; ``ccc`` for regressions, the mean over their targets; ``""``: the
    task's own)."""
    a, b = Predictions.read(run_a), Predictions.read(run_b)
    metric = check_metric(a, b, metric)
    folds_a, folds_b = a.folds(), b.folds()
    if sorted(folds_a) != sorted(folds_b):
        raise SerkitError(
            f"{run_a} and {run_b} were not evaluated on the same folds ({', '.join(sorted(folds_a))} against "
            f"{', '.join(sorted(folds_b))}); comparing them would mean nothing"
        )
    for fold, rows in folds_a.items():
        if sorted(r["file"] for r in rows) != sorted(r["file"] for r in folds_b[fold]):
            raise SerkitError(
                f"{run_a} and {run_b} tested different utterances in fold {fold}; comparing them would mean nothing "
                f"(rerun one with --split <other run>/{SPLIT})"
            )
    scores = [
        FoldScores(fold, fold_scores(a, folds_a[fold], metric), fold_scores(b, folds_b[fold], metric))
        for fold in folds_a
    ]
    differences = [score.b - score.a for score in scores]
    comparison = _test(design_of(folds_a), metric, differences, a, b, folds_a, folds_b)
    return RunComparison(
        run_a=str(run_a),
        run_b=str(run_b),
        metric=metric,
        protocol=a.protocol,
        folds=scores,
        mean_a=float(np.mean([score.a for score in scores])),
        mean_b=float(np.mean([score.b for score in scores])),
        comparison=comparison,
        warnings=[
            f"run {name} {warning}: a difference from it is not a finding"
            if "collapse" in warning
            else f"run {name}: {warning}"
            for name, run in (("A", a), ("B", b))
            for warning in run.warnings
        ],
        groups={} if a.targets and not a.joint else group_differences(a.rows, b.rows),
    )


#: The columns of predictions.csv that are not a group's (the rest: p_<class>, then the groups).
PREDICTION_COLUMNS = ("fold", "file", "speaker", "true", "predicted")


def group_differences(rows_a: list[dict[str, str]], rows_b: list[dict[str, str]]) -> dict[str, Any]:
    """Per group column both runs' predictions carry (and every utterance has): the groups' paired
    differences (the same utterances, matched by fold and file)."""
    keys = [
        k
        for k in (rows_a[0] if rows_a else {})
        if k not in PREDICTION_COLUMNS and not k.startswith(("p_", "true_", "predicted_"))  # a joint task's values
    ]
    keys = [k for k in keys if rows_b and k in rows_b[0] and all(r[k] for r in rows_a)]
    if not keys:
        return {}
    b_of = {(r["fold"], r["file"]): r for r in rows_b}
    if sorted(b_of) != sorted((r["fold"], r["file"]) for r in rows_a):
        return {}  # different test utterances: nothing to pair
    matched = [b_of[(r["fold"], r["file"])] for r in rows_a]
    truth, speakers = [r["true"] for r in rows_a], [r["speaker"] for r in rows_a]
    a, b = [r["predicted"] for r in rows_a], [r["predicted"] for r in matched]
    found = {key: paired_group_differences(truth, a, b, speakers, [r[key] for r in rows_a]) for key in keys}
    return {key: value for key, value in found.items() if len(value["groups"]) > 1}


def _test(
    design: str,
    metric: str,
    differences: list[float],
    a: Predictions,
    b: Predictions,
    folds_a: dict[str, list[dict[str, str]]],
    folds_b: dict[str, list[dict[str, str]]],
) -> stats.Comparison:
    """The test the design calls for, of ``metric``: on one test set a paired test of the pooled figure,
    else one over the folds' differences."""
    if design == "single":
        (fold,) = folds_a
        by_file = {r["file"]: r for r in folds_b[fold]}
        rows_a, rows_b = folds_a[fold], [by_file[r["file"]] for r in folds_a[fold]]
        speakers = [r["speaker"] for r in rows_a]
        if metric == "ccc":
            kept = [k for k, r in enumerate(rows_a) if a.valued([r])]  # a joint task's utterances with every value
            rows_a, rows_b, speakers = [rows_a[k] for k in kept], [rows_b[k] for k in kept], [speakers[k] for k in kept]
            truth, predicted_a = a.values(rows_a, "true"), a.values(rows_a, "predicted")
            return stats.paired_ccc_comparison(truth, predicted_a, b.values(rows_b, "predicted"), speakers)
        if metric == "accuracy":
            return _mcnemar(rows_a, rows_b)
        labels = [r["true"] for r in rows_a]
        return stats.paired_uar_comparison(
            labels, [r["predicted"] for r in rows_a], [r["predicted"] for r in rows_b], speakers
        )
    if design == "speaker":
        mean, low, high, p_t = stats.paired_t(differences)
        few = len(differences) < 6
        return stats.Comparison(
            test=stats.WILCOXON_SPEAKERS,
            metric=metric,
            design=f"one fold per speaker ({len(differences)} speakers)",
            difference=mean,
            ci_low=low,
            ci_high=high,
            p=stats.wilcoxon(differences),
            note=f"with {len(differences)} speakers the two-sided Wilcoxon test cannot reach p < 0.05" * few,
            extra=(("paired t p", p_t),),
        )
    ratio, size = fit_ratio(a.sizes, a.refit)
    mean, low, high, p = stats.nadeau_bengio(differences, ratio)
    _, _, _, p_t = stats.paired_t(differences)
    return stats.Comparison(
        test=stats.NADEAU_BENGIO,
        metric=metric,
        design=f"{len(differences)} folds whose training sets overlap (test/{size} size {ratio:.3f})",
        difference=mean,
        ci_low=low,
        ci_high=high,
        p=p,
        extra=(("uncorrected paired t p", p_t),),
        untestable=stats.untestable(differences),
    )


def fit_ratio(sizes: dict[str, dict[str, int]], refit: bool = False) -> tuple[float, str]:
    """The mean test/fit size over folds, the ratio Nadeau and Bengio's correction calls for (the utterances
    each tested model was fitted on); with "fit", or "train" (fit + validation) where the models were refit on
    both, or where a folder did not record the fit part's size."""
    key = "fit" if not refit and all(s.get("fit") for s in sizes.values()) else "train"
    ratios = [s["test"] / s[key] for s in sizes.values() if s.get(key)]
    return (float(np.mean(ratios)) if ratios else 0.0), key


def _mcnemar(rows_a: list[dict[str, str]], rows_b: list[dict[str, str]]) -> stats.Comparison:
    """Two classifications of one test set by accuracy: McNemar's test on their paired predictions."""
    correct_a = [r["true"] == r["predicted"] for r in rows_a]
    correct_b = [r["true"] == r["predicted"] for r in rows_b]
    only_a, only_b, p = stats.mcnemar(correct_a, correct_b)
    low, high = _paired_wald(only_a, only_b, len(rows_a))
    return stats.Comparison(
        test=stats.MCNEMAR,
        metric="accuracy",
        design=f"one test set ({len(rows_a)} utterances): paired predictions of the same utterances",
        difference=(only_b - only_a) / len(rows_a),
        ci_low=low,
        ci_high=high,
        p=p,
        note=f"{only_a} utterance(s) only A got right, {only_b} only B",
    )


def _paired_wald(only_a: int, only_b: int, n: int) -> tuple[float, float]:
    """An approximate 95 % CI of a paired difference in proportions (Wald on discordant pairs)."""
    difference = (only_b - only_a) / n
    variance = (only_a + only_b - (only_b - only_a) ** 2 / n) / n**2
    half = 1.959963984540054 * float(np.sqrt(max(variance, 0.0)))
    return difference - half, difference + half
