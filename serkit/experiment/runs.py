"""`serkit runs`: find, list and compare run folders.

``list`` reads every run folder under a folder (any folder holding a ``recipe.toml`` beside a
``split.json`` or ``run.log``); ``compare`` tests the difference between two runs evaluated on the
same test utterances, with the test the evaluation design calls for (:mod:`.stats`).
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.experiment import stats

STATUSES = ("complete", "interrupted", "failed", "damaged")


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

    def row(self, keys: list[str]) -> dict[str, Any]:
        return {
            "name": self.name,
            "date": self.date,
            "dataset": self.dataset,
            "protocol": self.protocol,
            "differs": {key: self.settings.get(key) for key in keys},
            "accuracy_mean": self.accuracy["mean"] if self.accuracy else None,
            "accuracy_sd": self.accuracy["sd"] if self.accuracy else None,
            "uar_mean": self.uar["mean"] if self.uar else None,
            "uar_sd": self.uar["sd"] if self.uar else None,
            "folds": int(self.uar["n"]) if self.uar else None,
            "epochs": self.epochs,
            "seconds": self.seconds,
            "status": self.status,
            "problem": self.problem,
            "path": str(self.path),
        }


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


def find_runs(folder: Path) -> list[Path]:
    """Run folders under ``folder`` (itself included), not descending into a run's own folds."""
    if not folder.is_dir():
        raise SerkitError(f"{folder}: no such folder")
    found = []
    for recipe in sorted(folder.rglob("recipe.toml")):
        run = recipe.parent
        if run.parent.name == "folds" or run.parent.name == "trials" or run.name == "features":
            continue
        if (run / "split.json").is_file() or (run / "run.log").is_file():
            found.append(run)
    return found


def read_run(run: Path, base: Path) -> RunInfo:
    try:
        settings = flatten(tomllib.loads((run / "recipe.toml").read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SerkitError(f"{run / 'recipe.toml'}: cannot read ({exc})") from exc
    metrics, unreadable = _read_json(run / "metrics.json")
    dataset = str(settings.get("dataset.name", "?"))
    protocol = str(settings.get("protocol.name", "?"))
    accuracy = uar = epochs = seconds = None
    problem = ""
    date = datetime.fromtimestamp((run / "recipe.toml").stat().st_mtime).isoformat(timespec="seconds")
    if metrics is None and (run / "metrics.json").exists():
        status, problem = "damaged", f"{run / 'metrics.json'}: unreadable ({unreadable})"
    elif metrics is not None:
        try:
            status = "complete"
            protocol = str(metrics.get("protocol", protocol))
            dataset = (
                str(metrics.get("dataset", {}).get("name", dataset))
                if isinstance(metrics.get("dataset"), dict)
                else dataset
            )
            accuracy, uar = metrics["mean"]["accuracy"], metrics["mean"]["uar"]
            epochs = float(np.mean([f["epochs"] for f in metrics["folds"]]))
            wall = _json(run / "wall_time.json")
            seconds = float(wall["seconds"]) if wall else float(sum(metrics.get("timings", {}).values()))
            date = str(metrics.get("started", ""))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            accuracy = uar = epochs = seconds = None
            status, problem = "damaged", f"{run / 'metrics.json'}: not a run summary ({type(exc).__name__}: {exc})"
    else:
        log = run / "run.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        errors = [line for line in text.splitlines() if " ERROR " in line]
        status = "interrupted" if not errors or any("interrupted" in line for line in errors) else "failed"
    name = str(run.relative_to(base)) if run != base else run.name
    return RunInfo(run, name, date, status, dataset, protocol, settings, accuracy, uar, epochs, seconds, problem)


def _read_json(path: Path) -> tuple[Any, str]:
    """A JSON file's data, or None and why it could not be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), ""
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _json(path: Path) -> Any:
    return _read_json(path)[0]


def differing_keys(runs: list[RunInfo]) -> list[str]:
    """Recipe keys whose values are not the same in every listed run."""
    keys = sorted({key for run in runs for key in run.settings})
    return [
        key
        for key in keys
        if not key.startswith(NOISE) and len({json.dumps(run.settings.get(key), sort_keys=True) for run in runs}) > 1
    ]


def list_runs(folder: str, filters: list[str], sort: str) -> tuple[list[dict[str, Any]], list[str]]:
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
    sortable = ("name", "date", "dataset", "protocol", "accuracy_mean", "uar_mean", "epochs", "seconds", "status")
    field = {"accuracy": "accuracy_mean", "uar": "uar_mean", "wall": "seconds"}.get(sort, sort)
    if field not in sortable:
        raise SerkitError(
            f"--sort {sort}: expected one of name, date, dataset, protocol, accuracy, uar, epochs, wall, status"
        )
    numeric = field in ("accuracy_mean", "uar_mean", "epochs", "seconds")
    rows.sort(key=lambda r: (r[field] is None, -(r[field] or 0) if numeric else str(r[field])))
    return rows, keys


def _matches(run: RunInfo, key: str, value: str) -> bool:
    if key in ("status", "dataset", "protocol", "name"):
        return value.lower() in str(getattr(run, key)).lower()
    if key not in run.settings:
        return False
    found = run.settings[key]
    return str(found).lower() == value.lower() or json.dumps(found) == value


def rows_csv(rows: list[dict[str, Any]], keys: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = ["name", "date", "dataset", "protocol", *keys, "accuracy_mean", "accuracy_sd", "uar_mean", "uar_sd"]
    writer.writerow([*columns, "folds", "epochs", "seconds", "status"])
    for row in rows:
        values = [row[c] if c in row else row["differs"].get(c) for c in columns]
        writer.writerow([*values, row["folds"], row["epochs"], row["seconds"], row["status"]])
    return buffer.getvalue()


# --- comparing two runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Predictions:
    """A finished run's test predictions, per fold, with its folds' sizes."""

    run: Path
    rows: list[dict[str, str]]
    sizes: dict[str, dict[str, int]]
    protocol: str

    @classmethod
    def read(cls, run: Path) -> Predictions:
        metrics = _json(run / "metrics.json")
        if metrics is None:
            raise SerkitError(f"{run}: not a finished run (no readable metrics.json)")
        path = run / "predictions.csv"
        try:
            rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
        except OSError as exc:
            raise SerkitError(f"{path}: cannot read ({exc})") from exc
        sizes = {f["id"]: f.get("sizes", {}) for f in metrics["folds"]}
        return cls(run, rows, sizes, str(metrics.get("protocol", "")))

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


def fold_scores(rows: list[dict[str, str]], metric: str) -> float:
    truth = np.array([r["true"] for r in rows])
    predicted = np.array([r["predicted"] for r in rows])
    return stats.uar(truth, predicted) if metric == "uar" else float(np.mean(truth == predicted))


def compare_runs(run_a: Path, run_b: Path, metric: str = "uar") -> dict[str, Any]:
    """Per-fold scores of two runs on the same test utterances and the test their design calls for."""
    a, b = Predictions.read(run_a), Predictions.read(run_b)
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
                "(rerun one with --split <other run>/split.json)"
            )
    scores = {fold: (fold_scores(folds_a[fold], metric), fold_scores(folds_b[fold], metric)) for fold in folds_a}
    per_fold = [{"fold": fold, "a": score_a, "b": score_b} for fold, (score_a, score_b) in scores.items()]
    differences = [score_b - score_a for score_a, score_b in scores.values()]
    design = design_of(folds_a)
    comparison = _test(design, differences, a, b, folds_a, folds_b)
    return {
        "run_a": str(run_a),
        "run_b": str(run_b),
        "metric": metric,
        "protocol": a.protocol,
        "folds": per_fold,
        "mean_a": float(np.mean([score_a for score_a, _ in scores.values()])),
        "mean_b": float(np.mean([score_b for _, score_b in scores.values()])),
        "comparison": comparison.__dict__ | {"extra": dict(comparison.extra)},
    }


def _test(
    design: str,
    differences: list[float],
    a: Predictions,
    b: Predictions,
    folds_a: dict[str, list[dict[str, str]]],
    folds_b: dict[str, list[dict[str, str]]],
) -> stats.Comparison:
    if design == "single":
        (fold,) = folds_a
        right_b = {r["file"]: r["true"] == r["predicted"] for r in folds_b[fold]}
        files = [r["file"] for r in folds_a[fold]]
        correct_a = [r["true"] == r["predicted"] for r in folds_a[fold]]
        correct_b = [right_b[f] for f in files]
        only_a, only_b, p = stats.mcnemar(correct_a, correct_b)
        accuracy_difference = (only_b - only_a) / len(files)
        low, high = _paired_wald(only_a, only_b, len(files))
        return stats.Comparison(
            "McNemar",
            f"one test set ({len(files)} utterances): paired predictions of the same utterances",
            accuracy_difference,
            low,
            high,
            p,
            f"difference and interval are of accuracy; {only_a} utterance(s) only A got right, {only_b} only B",
        )
    if design == "speaker":
        mean, low, high, p_t = stats.paired_t(differences)
        return stats.Comparison(
            "Wilcoxon signed-rank over speakers",
            f"one fold per speaker ({len(differences)} speakers)",
            mean,
            low,
            high,
            stats.wilcoxon(differences),
            "the paired t-test beside it assumes independent folds, but leave-one-speaker-out folds share "
            "most of their training data: read its p as optimistic"
            + (
                f"; with {len(differences)} speakers the two-sided Wilcoxon test cannot reach p < 0.05"
                if len(differences) < 6
                else ""
            ),
            (("paired t p", p_t),),
        )
    ratios = [s["test"] / s["train"] for s in a.sizes.values() if s.get("train")]
    ratio = float(np.mean(ratios)) if ratios else 0.0
    mean, low, high, p = stats.nadeau_bengio(differences, ratio)
    _, _, _, p_t = stats.paired_t(differences)
    return stats.Comparison(
        "Nadeau-Bengio corrected resampled t",
        f"{len(differences)} folds whose training sets overlap (test/train size {ratio:.3f})",
        mean,
        low,
        high,
        p,
        "the uncorrected paired t-test overstates significance here: its p is shown for comparison only",
        (("uncorrected paired t p", p_t),),
    )


def _paired_wald(only_a: int, only_b: int, n: int) -> tuple[float, float]:
    """An approximate 95 % CI of a paired difference in proportions (Wald on discordant pairs)."""
    difference = (only_b - only_a) / n
    variance = (only_a + only_b - (only_b - only_a) ** 2 / n) / n**2
    half = 1.959963984540054 * float(np.sqrt(max(variance, 0.0)))
    return difference - half, difference + half
