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
from serkit.results.folder import AUDIT_PLOT, RunFolder
from serkit.results.metrics import evaluate
from serkit.results.records import Corpus, FoldResult
from serkit.results.render import markdown_table
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
    """One fold's kept epochs scored on its test part, and the epochs each selection picks."""

    fold: FoldResult
    epochs: list[int]
    test_uar: list[float]
    test_accuracy: list[float]
    predictions: list[np.ndarray]
    truth: np.ndarray

    @property
    def honest(self) -> int:
        """The index of the epoch validation chose (the model the run reported)."""
        best = self.fold.best_epoch
        return self.epochs.index(best) if best in self.epochs else len(self.epochs) - 1

    @property
    def picked(self) -> int:
        """The index of the epoch a selection on the test part would pick."""
        return int(np.argmax(self.test_uar))

    def row(self) -> dict[str, Any]:
        honest, picked = self.honest, self.picked
        return {
            "fold": self.fold.id,
            "honest_epoch": self.epochs[honest],
            "honest_test_uar": self.test_uar[honest],
            "test_selected_epoch": self.epochs[picked],
            "test_selected_uar": self.test_uar[picked],
            "gap": self.test_uar[picked] - self.test_uar[honest],
        }

    def curve(self) -> dict[str, Any]:
        val_uar = {int(r["epoch"]): r["val_uar"] for r in self.fold.history}
        return {
            "fold": self.fold.id,
            "epochs": self.epochs,
            "test_uar": self.test_uar,
            "test_accuracy": self.test_accuracy,
            "val_uar": [val_uar.get(e, math.nan) for e in self.epochs],
        }


def audit_run(run_dir: str, reporter: Reporter | None = None) -> Path:
    """Score every kept epoch of every fold on its test part; write audit/ and return its folder."""
    reporter = reporter or Reporter()
    run = RunFolder(Path(run_dir))
    folds = _audited_folds(run)
    registry = get_registry()
    registry.raise_problems()
    recipe = load_recipe(run.recipe, [], registry, file_base=Path.cwd())
    if recipe.task.kind == "regression":
        raise SerkitError(f"{run}: a regression run; serkit audit scores kept epochs by UAR (not yet by CCC)")
    require_writable(run.path, "the run folder")
    ctx = stages.Context(recipe, run, registry, reporter)
    corpus = stages.scan(ctx)
    audits = _score_epochs(ctx, corpus, folds)
    for audit in audits:
        row = audit.row()
        reporter.say(
            f"  fold {row['fold']}: validation picks epoch {row['honest_epoch']} (test UAR "
            f"{100 * row['honest_test_uar']:.2f} %); the test part would pick epoch {row['test_selected_epoch']} "
            f"({100 * row['test_selected_uar']:.2f} %)"
        )
    truth = np.concatenate([a.truth for a in audits])
    pooled = {
        "honest_uar": evaluate(truth, np.concatenate([a.predictions[a.honest] for a in audits]), corpus.labels)["uar"],
        "test_selected_uar": evaluate(truth, np.concatenate([a.predictions[a.picked] for a in audits]), corpus.labels)[
            "uar"
        ],
    }
    pooled["gap"] = pooled["test_selected_uar"] - pooled["honest_uar"]
    refit = " The run refit its models (train.refit): the audit scores the trainings before refitting." * (
        recipe.train.refit
    )
    protocol = run.read_summary().protocol
    rows = [a.row() for a in audits]
    document, report, plot = run.audit_files
    write_json(document, {"protocol": protocol, "folds": rows, "pooled": pooled, "curves": [a.curve() for a in audits]})
    write_text(report, _markdown(protocol, rows, pooled, refit))
    _plot([a.curve() for a in audits], rows, plot)
    reporter.say(
        f"AUDIT (not a result): pooled test UAR {100 * pooled['honest_uar']:.2f} % with the epochs validation chose, "
        f"{100 * pooled['test_selected_uar']:.2f} % if each fold's epoch were chosen on its test part: "
        f"{100 * pooled['gap']:+.2f} points of selection; {report}",
        "bold",
    )
    return run.audit


def epoch_audit_blocker(run_dir: str | Path) -> str:
    """Why a run cannot have its epoch selection audited (it kept no per-epoch weights), or ""."""
    run = RunFolder(Path(run_dir))
    if not run.is_complete():
        return ""  # the audit names the problem
    for fold in run.read_summary().folds:
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
    from serkit.learn.torch_learner import make_learner

    recipe, run, labels = ctx.recipe, ctx.run, corpus.labels
    plans = {plan.id: plan for plan in reload_plan(recipe, corpus.utterances, run.split)}
    audits = []
    with stages.features(ctx, corpus, list(plans.values())) as made:
        for fold in folds:
            parts = stages.fold_parts(plans[fold.id], len(recipe.augment))
            x, y, _, transform = stages.normalised_parts(ctx, made.store, corpus, parts)
            learner = make_learner(recipe.model, tuple(fold.input_shape), len(labels), fold.seed)
            audit = FoldAudit(fold, [], [], [], [], y["test"])
            for epoch, path in run.fold(fold.id).epoch_weights().items():
                learner.loads(path.read_bytes())
                predicted = learner.predict_proba(x["test"], transform).argmax(1)
                scores = evaluate(y["test"], predicted, labels)
                audit.epochs.append(epoch)
                audit.test_uar.append(scores["uar"])
                audit.test_accuracy.append(scores["accuracy"])
                audit.predictions.append(predicted)
            audits.append(audit)
    return audits


def _markdown(protocol: str, rows: list[dict[str, Any]], pooled: dict[str, float], refit: str) -> str:
    table = markdown_table(
        ["fold", "validation's epoch", "its test UAR %", "test's epoch", "its test UAR %", "gap (points)"],
        [
            [
                r["fold"],
                str(r["honest_epoch"]),
                f"{100 * r['honest_test_uar']:.2f}",
                str(r["test_selected_epoch"]),
                f"{100 * r['test_selected_uar']:.2f}",
                f"{100 * r['gap']:+.2f}",
            ]
            for r in rows
        ],
    )
    return "\n".join(
        [
            "# AUDIT: selection on the test part (not a result)",
            "",
            "This is an audit, not a result. It shows how much a test UAR would gain if each fold's epoch were "
            "chosen on its own test part, as some published numbers are. The run's result is the first column: "
            "the epoch its validation part chose.",
            "",
            f"- **Protocol:** {protocol}",
            f"- **Pooled test UAR:** {100 * pooled['honest_uar']:.2f} % with validation's epochs; "
            f"{100 * pooled['test_selected_uar']:.2f} % with test-selected epochs; gap "
            f"{100 * pooled['gap']:+.2f} points.{refit}",
            "",
            table,
            "",
            f"`{AUDIT_PLOT}`: test and validation UAR per epoch, per fold.",
            "",
        ]
    )


def _plot(curves: list[dict[str, Any]], rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(curves)
    columns = min(n, 4)
    lines = math.ceil(n / columns)
    figure, grid = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.6 * lines), squeeze=False)
    for axes, curve, row in zip(grid.flat, curves, rows, strict=False):
        axes.plot(curve["epochs"], [100 * v for v in curve["val_uar"]], color="C1", label="validation UAR")
        axes.plot(curve["epochs"], [100 * v for v in curve["test_uar"]], color="C3", label="test UAR (audit)")
        axes.axvline(row["honest_epoch"], color="C1", linestyle="--")
        axes.axvline(row["test_selected_epoch"], color="C3", linestyle=":")
        axes.set_title(f"fold {curve['fold']}", fontsize=9)
        axes.set_xlabel("epoch")
    for axes in list(grid.flat)[n:]:
        axes.axis("off")
    grid.flat[0].legend(fontsize=7)
    figure.suptitle("AUDIT, not a result: dashed = validation's epoch, dotted = the test part's", fontsize=10)
    write_figure(figure, path)
