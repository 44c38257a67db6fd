"""`serkit audit RUN_DIR`: how much of a result could be selection on the test part.

Many published SER numbers pick the checkpoint (or stop early) on the test part. With
``train.keep_epoch_weights = true`` a run keeps every epoch's weights; the audit scores each
epoch on the test part and compares the honest pick (the epoch validation chose, the model the
run reported) with the pick a test-set selection would make. It writes ``audit/`` in the run
folder, labelled as an audit: its test-selected figure is never a result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.fileio import require_writable, write_figure, write_json, write_text
from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry
from serkit.core.scores import mean_ccc
from serkit.results.folder import AUDIT_PLOT, RunFolder
from serkit.results.metrics import evaluate
from serkit.results.records import Corpus, FoldResult
from serkit.results.render import markdown_table, md_text, metric_unit, score_text
from serkit.run import stages
from serkit.run.planning import reload_plan
from serkit.run.reporter import Reporter


def _check_weights(path: Path) -> None:
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SerkitError(
            f"{path}: damaged per-epoch weights ({type(exc).__name__}: {first}); nothing was audited"
        ) from exc


@dataclass
class FoldAudit:
    """One fold's kept epochs scored on its test part (UAR, or a regression's mean CCC: ``metric``), and
    the epochs each selection picks."""

    fold: FoldResult
    epochs: list[int]
    test_scores: list[float]
    test_accuracy: list[float]  # a regression has none
    predictions: list[np.ndarray]  # classes, or a regression's values
    truth: np.ndarray
    metric: str = "uar"

    @property
    def honest(self) -> int:
        """The index of the epoch validation chose (the model the run reported)."""
        best = self.fold.best_epoch
        return self.epochs.index(best) if best in self.epochs else len(self.epochs) - 1

    @property
    def picked(self) -> int:
        """The index of the epoch a selection on the test part would pick."""
        return int(np.argmax(self.test_scores))

    def row(self) -> dict[str, Any]:
        honest, picked, metric = self.honest, self.picked, self.metric
        return {
            "fold": self.fold.id,
            "honest_epoch": self.epochs[honest],
            f"honest_test_{metric}": self.test_scores[honest],
            "test_selected_epoch": self.epochs[picked],
            f"test_selected_{metric}": self.test_scores[picked],
            "gap": self.test_scores[picked] - self.test_scores[honest],
        }

    def curve(self) -> dict[str, Any]:
        metric = self.metric
        validation = {int(r["epoch"]): r[f"val_{metric}"] for r in self.fold.history}
        accuracy = {"test_accuracy": self.test_accuracy} if metric == "uar" else {}
        return {
            "fold": self.fold.id,
            "epochs": self.epochs,
            f"test_{metric}": self.test_scores,
            **accuracy,
            f"val_{metric}": [validation.get(e, math.nan) for e in self.epochs],
        }


def audit_run(run_dir: str, reporter: Reporter | None = None) -> Path:
    """Score every kept epoch of every fold on its test part; write audit/ and return its folder."""
    reporter = reporter or Reporter()
    run = RunFolder(Path(run_dir))
    folds = _audited_folds(run)
    registry = get_registry()
    registry.raise_problems()
    recipe = load_recipe(run.recipe, [], registry, file_base=Path.cwd())
    if recipe.task.kind == "joint":
        raise SerkitError(f"{run}: the selection audit is {epoch_audit_blocker(run.path)}")
    require_writable(run.path, "the run folder")
    ctx = stages.Context(recipe, run, registry, reporter)
    corpus = stages.scan(ctx)
    audits = _score_epochs(ctx, corpus, folds)
    metric = "ccc" if recipe.task.kind == "regression" else "uar"
    name = metric.upper()
    for audit in audits:
        row = audit.row()
        reporter.say(
            f"  fold {row['fold']}: validation picks epoch {row['honest_epoch']} (test {name} "
            f"{score_text(row[f'honest_test_{metric}'], metric)}); the test part would pick epoch "
            f"{row['test_selected_epoch']} ({score_text(row[f'test_selected_{metric}'], metric)})"
        )
    truth = np.concatenate([a.truth for a in audits])
    honest = [a.predictions[a.honest] for a in audits]
    selected = [a.predictions[a.picked] for a in audits]
    pooled = {
        f"honest_{metric}": _pooled(truth, honest, corpus.labels, metric),
        f"test_selected_{metric}": _pooled(truth, selected, corpus.labels, metric),
    }
    pooled["gap"] = pooled[f"test_selected_{metric}"] - pooled[f"honest_{metric}"]
    refit = " The run refit its models (train.refit): the audit scores the trainings before refitting." * (
        recipe.train.refit
    )
    protocol = run.read_summary().protocol
    rows = [a.row() for a in audits]
    document, report, plot = run.audit_files
    write_json(document, {"protocol": protocol, "folds": rows, "pooled": pooled, "curves": [a.curve() for a in audits]})
    write_text(report, _markdown(protocol, rows, pooled, refit, metric))
    _plot([a.curve() for a in audits], rows, plot, metric)
    reporter.say(
        f"AUDIT (not a result): pooled test {name} {score_text(pooled[f'honest_{metric}'], metric)} with the epochs "
        f"validation chose, {score_text(pooled[f'test_selected_{metric}'], metric)} if each fold's epoch were "
        f"chosen on its test part: {score_text(pooled['gap'], metric, True)}{metric_unit(metric)} of selection; "
        f"{report}",
        "bold",
    )
    return run.audit


def _pooled(truth: np.ndarray, predictions: list[np.ndarray], labels: list[str], metric: str) -> float:
    """UAR (or mean CCC) of every fold's test predictions at once."""
    predicted = np.concatenate(predictions)
    return mean_ccc(truth, predicted) if metric == "ccc" else float(evaluate(truth, predicted, labels)["uar"])


def epoch_audit_blocker(run_dir: str | Path) -> str:
    """Why a run cannot have its epoch selection audited (it kept no per-epoch weights), or ""."""
    run = RunFolder(Path(run_dir))
    if not run.is_complete():
        return ""  # the audit names the problem
    summary = run.read_summary()
    if summary.metrics.get("dimensions"):
        return 'not yet for a joint task (task.kind = "joint"): its two heads would each need their own audit'
    for fold in summary.folds:
        if not run.fold(fold["id"]).epoch_weights():
            return (
                f"fold {fold['id']} kept no per-epoch weights; run the recipe again with "
                "--set train.keep_epoch_weights=true (torch models) to audit its epoch selection"
            )
    return ""


def _audited_folds(run: RunFolder) -> list[FoldResult]:
    """A complete run's folds, each with readable per-epoch weights (checked before any work)."""
    if not run.is_complete():
        raise SerkitError(f"{run}: not a finished run (no {run.metrics.name}); audit needs a complete run")
    folds = [run.fold(f["id"]).read_result() for f in run.read_summary().folds]
    for fold in folds:
        kept = run.fold(fold.id).epoch_weights().values()
        if not kept:
            raise SerkitError(
                f"{run}: fold {fold.id} kept no per-epoch weights; run the recipe again with "
                "--set train.keep_epoch_weights=true (torch models) to audit it"
            )
        for path in kept:  # every file readable before any work (and before audit/ exists)
            _check_weights(path)
    return folds


def _score_epochs(ctx: stages.Context, corpus: Corpus, folds: list[FoldResult]) -> list[FoldAudit]:
    """Each fold's kept epochs scored on its test part, normalised as the run normalised it."""
    recipe, run, labels = ctx.recipe, ctx.run, corpus.labels
    metric = "ccc" if recipe.task.kind == "regression" else "uar"
    plans = {plan.id: plan for plan in reload_plan(recipe, corpus.utterances, run.split)}
    audits = []
    with stages.features(ctx, corpus, list(plans.values())) as made:
        for fold in folds:
            parts = stages.fold_parts(plans[fold.id], len(recipe.augment))
            x, y, _, transform = stages.normalised_parts(ctx, made.store, corpus, parts)
            learner = stages.make_fold_learner(recipe, tuple(fold.input_shape), labels, fold.seed)
            audit = FoldAudit(fold, [], [], [], [], y["test"], metric)
            for epoch, path in run.fold(fold.id).epoch_weights().items():
                learner.loads(path.read_bytes())
                outputs = learner.predict_proba(x["test"], transform)
                audit.epochs.append(epoch)
                if metric == "ccc":  # the values themselves
                    audit.test_scores.append(mean_ccc(y["test"], outputs))
                    audit.predictions.append(outputs)
                    continue
                scores = evaluate(y["test"], outputs.argmax(1), labels)
                audit.test_scores.append(scores["uar"])
                audit.test_accuracy.append(scores["accuracy"])
                audit.predictions.append(outputs.argmax(1))
            audits.append(audit)
    return audits


def _markdown(protocol: str, rows: list[dict[str, Any]], pooled: dict[str, float], refit: str, metric: str) -> str:
    name, percent = ("CCC", "") if metric == "ccc" else ("UAR", " %")
    unit = "CCC" if metric == "ccc" else "points"
    header = ["fold", "validation's epoch", f"its test {name}{percent}", "test's epoch", f"its test {name}{percent}"]
    table = markdown_table(
        [*header, f"gap ({unit})"],
        [
            [
                md_text(r["fold"]),
                str(r["honest_epoch"]),
                score_text(r[f"honest_test_{metric}"], metric),
                str(r["test_selected_epoch"]),
                score_text(r[f"test_selected_{metric}"], metric),
                score_text(r["gap"], metric, True),
            ]
            for r in rows
        ],
    )
    return "\n".join(
        [
            "# AUDIT: selection on the test part (not a result)",
            "",
            f"This is an audit, not a result. It shows how much a test {name} would gain if each fold's epoch were "
            "chosen on its own test part, as some published numbers are. The run's result is the first column: "
            "the epoch its validation part chose.",
            "",
            f"- **Protocol:** {md_text(protocol)}",
            f"- **Pooled test {name}:** {score_text(pooled[f'honest_{metric}'], metric)}{percent} with validation's "
            f"epochs; {score_text(pooled[f'test_selected_{metric}'], metric)}{percent} with test-selected epochs; gap "
            f"{score_text(pooled['gap'], metric, True)}{metric_unit(metric)}.{refit}",
            "",
            table,
            "",
            f"`{AUDIT_PLOT}`: test and validation {name} per epoch, per fold.",
            "",
        ]
    )


def _plot(curves: list[dict[str, Any]], rows: list[dict[str, Any]], path: Path, metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, name, scale = len(curves), metric.upper(), 1.0 if metric == "ccc" else 100.0
    columns = min(n, 4)
    lines = math.ceil(n / columns)
    figure, grid = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.6 * lines), squeeze=False)
    for axes, curve, row in zip(grid.flat, curves, rows, strict=False):
        axes.plot(curve["epochs"], [scale * v for v in curve[f"val_{metric}"]], color="C1", label=f"validation {name}")
        axes.plot(
            curve["epochs"], [scale * v for v in curve[f"test_{metric}"]], color="C3", label=f"test {name} (audit)"
        )
        axes.axvline(row["honest_epoch"], color="C1", linestyle="--")
        axes.axvline(row["test_selected_epoch"], color="C3", linestyle=":")
        axes.set_title(f"fold {curve['fold']}", fontsize=9)
        axes.set_xlabel("epoch")
    for axes in list(grid.flat)[n:]:
        axes.axis("off")
    grid.flat[0].legend(fontsize=7)
    figure.suptitle("AUDIT, not a result: dashed = validation's epoch, dotted = the test part's", fontsize=10)
    write_figure(figure, path)
