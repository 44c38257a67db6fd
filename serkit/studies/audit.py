"""`serkit audit RUN_DIR`: how much of a result could be selection on the test part.

Many published SER numbers pick the checkpoint (or stop early) on the test part. With
``train.keep_epoch_weights = true`` a run keeps every epoch's weights; the audit scores each
epoch on the test part and compares the honest pick (the epoch validation chose, the model the
run reported) with the pick a test-set selection would make. It writes ``audit/`` in the run
folder, labelled as an audit: its test-selected figure is never a result.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.fileio import require_writable, write_figure, write_json, write_text
from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry
from serkit.results.folder import AUDIT_PLOT, RunFolder
from serkit.results.metrics import evaluate
from serkit.results.report import markdown_table
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


def audit_run(run_dir: str, reporter: Reporter | None = None) -> Path:
    """Score every kept epoch of every fold on its test part; write audit/ and return its folder."""
    from serkit.learn.torch_learner import make_learner

    run = RunFolder(Path(run_dir))
    folder = run.path
    reporter = reporter or Reporter()
    if not run.is_complete():
        raise SerkitError(f"{folder}: not a finished run (no {run.metrics.name}); audit needs a complete run")
    summary = run.read_summary()
    registry = get_registry()
    registry.raise_problems()
    recipe = load_recipe(run.recipe, [], registry, file_base=Path.cwd())
    folds = [run.fold(f["id"]).read_result() for f in summary.folds]
    for fold in folds:
        kept = run.fold(fold.id).epoch_weights().values()
        if not kept:
            raise SerkitError(
                f"{folder}: fold {fold.id} kept no per-epoch weights; run the recipe again with "
                "--set train.keep_epoch_weights=true (torch models) to audit it"
            )
        for path in kept:  # every file readable before any work (and before audit/ exists)
            _check_weights(path)
    require_writable(folder, "the run folder")
    ctx = stages.Context(recipe, run, registry, reporter)
    corpus = stages.scan(ctx)
    plans = {plan.id: plan for plan in reload_plan(recipe, corpus.utterances, run.split)}
    labels = corpus.labels
    rows, curves = [], []
    honest_truth, honest_pred, picked_pred = [], [], []
    with stages.features(ctx, corpus, list(plans.values())) as made:
        for fold in folds:
            parts = stages.fold_parts(plans[fold.id], len(recipe.augment))
            x, y, _, transform = stages.normalised_parts(ctx, made.store, corpus, parts)
            learner = make_learner(recipe.model, tuple(fold.input_shape), len(labels), fold.seed)
            epochs, test_uar, test_acc, predictions = [], [], [], []
            for epoch, path in run.fold(fold.id).epoch_weights().items():
                learner.loads(path.read_bytes())
                predicted = learner.predict_proba(x["test"], transform).argmax(1)
                scores = evaluate(y["test"], predicted, labels)
                epochs.append(epoch)
                test_uar.append(scores["uar"])
                test_acc.append(scores["accuracy"])
                predictions.append(predicted)
            honest = epochs.index(fold.best_epoch) if fold.best_epoch in epochs else len(epochs) - 1
            picked = int(np.argmax(test_uar))
            honest_truth.append(y["test"])
            honest_pred.append(predictions[honest])
            picked_pred.append(predictions[picked])
            val_uar = {int(r["epoch"]): r["val_uar"] for r in fold.history}
            rows.append(
                {
                    "fold": fold.id,
                    "honest_epoch": epochs[honest],
                    "honest_test_uar": test_uar[honest],
                    "test_selected_epoch": epochs[picked],
                    "test_selected_uar": test_uar[picked],
                    "gap": test_uar[picked] - test_uar[honest],
                }
            )
            curves.append(
                {
                    "fold": fold.id,
                    "epochs": epochs,
                    "test_uar": test_uar,
                    "test_accuracy": test_acc,
                    "val_uar": [val_uar.get(e, math.nan) for e in epochs],
                }
            )
            reporter.say(
                f"  fold {fold.id}: validation picks epoch {epochs[honest]} (test UAR {100 * test_uar[honest]:.2f} %); "
                f"the test part would pick epoch {epochs[picked]} ({100 * test_uar[picked]:.2f} %)"
            )
    truth = np.concatenate(honest_truth)
    pooled = {
        "honest_uar": evaluate(truth, np.concatenate(honest_pred), labels)["uar"],
        "test_selected_uar": evaluate(truth, np.concatenate(picked_pred), labels)["uar"],
    }
    pooled["gap"] = pooled["test_selected_uar"] - pooled["honest_uar"]
    refit = " The run refit its models (train.refit): the audit scores the trainings before refitting." * (
        recipe.train.refit
    )
    out = run.audit
    document, report, plot = run.audit_files
    write_json(document, {"protocol": summary.protocol, "folds": rows, "pooled": pooled, "curves": curves})
    write_text(report, _markdown(summary.protocol, rows, pooled, refit))
    _plot(curves, rows, plot)
    reporter.say(
        f"AUDIT (not a result): pooled test UAR {100 * pooled['honest_uar']:.2f} % with the epochs validation chose, "
        f"{100 * pooled['test_selected_uar']:.2f} % if each fold's epoch were chosen on its test part: "
        f"{100 * pooled['gap']:+.2f} points of selection; {report}",
        "bold",
    )
    return out


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
