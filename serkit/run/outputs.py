"""The last stage of a run: predictions, the model, metrics, the report, plots and the environment."""

from __future__ import annotations

import csv
import io
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from serkit.core.faults import crash_point
from serkit.core.fileio import write_text
from serkit.core.policy import Chance, Group, leaves, words
from serkit.core.recipe import Recipe, component_sections
from serkit.core.union import licence_of
from serkit.core.version import __version__
from serkit.data.leakage import SplitAudit
from serkit.results.calibration import calibration_report
from serkit.results.features import feature_report
from serkit.results.folder import Environment, ModelCard, RunFolder
from serkit.results.groups import group_report, group_value
from serkit.results.html import run_page
from serkit.results.metrics import collapse_warning, evaluate, spread
from serkit.results.records import Corpus, FoldResult, RunSummary
from serkit.results.regression import constant_warning, regression_metrics, regression_spread
from serkit.results.render import plot_confusion, plot_occlusion, plot_reliability, plot_training
from serkit.results.report import report_markdown
from serkit.results.stats import ccc_interval, headline_intervals
from serkit.run.planning import as_number, report_groups
from serkit.run.regression_outputs import (
    ccc_by_group,
    plot_regression,
    pooled_values,
    regression_predictions_csv,
    summarise_regression,
)
from serkit.run.stages import Context, fold_targets
from serkit.run.summary import run_summary

PACKAGES = ("torch", "numpy", "scipy", "librosa", "audiomentations", "soundfile", "soxr", "scikit-learn", "pluggy")


def write_outputs(
    ctx: Context, results: list[FoldResult], corpus: Corpus, description: str, started: str, cache: dict[str, str]
) -> RunSummary:
    """Write every top-level file of the run folder; metrics.json last, as it marks the run complete.
    ``cache``: the cache folder and pipeline the features came from (environment.json keeps them)."""
    recipe, run = ctx.recipe, ctx.run
    first = results[0]
    with ctx.timer("report"):
        run.copy_weights(run.fold(first.id).model(first), run.weights_file(first.model_file))
        run.write_model_card(model_card(recipe, results, corpus.labels, run))
        audit = SplitAudit.from_json(run.read_split().audit) if run.split.is_file() else None
        texts = {"protocol": description, "started": started}
        if recipe.task.kind == "regression":
            summary = _regression_outputs(ctx, results, corpus, texts, audit)
        elif recipe.task.kind == "joint":
            summary = _joint_outputs(ctx, results, corpus, texts, audit)
        else:
            summary = _classification_outputs(ctx, results, corpus, texts, audit)
        run.write_history([r.history for r in results])
        plot_training([r.history for r in results], [r.best_epoch for r in results], run.training_plot)
        run.write_environment(environment(ctx, first.device, first.precision, cache))
    crash_point("outputs")
    summary = replace(summary, timings=dict(ctx.timer.seconds))
    run.write_report(report_markdown(summary))
    run.write_html_report(run_page(summary, run))
    run.write_summary(summary)
    return summary


def per_speaker_csv(speakers: dict[str, dict[str, Any]]) -> str:
    """Every test speaker's utterances, accuracy and UAR, worst UAR first."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["speaker", "test_utterances", "accuracy", "uar"])
    for name, row in sorted(speakers.items(), key=lambda item: (item[1]["uar"], item[0])):
        writer.writerow([name, row["n"], f"{row['accuracy']:.6f}", f"{row['uar']:.6f}"])
    return buffer.getvalue()


def _classification_outputs(
    ctx: Context,
    results: list[FoldResult],
    corpus: Corpus,
    texts: dict[str, str],
    audit: SplitAudit | None,
    predictions: str = "",
) -> RunSummary:
    """A classification's predictions (``predictions``: predictions.csv's text where the caller made it), summary
    and figures (confusion matrix, reliability, occlusion)."""
    recipe, run = ctx.recipe, ctx.run
    groups = report_groups(recipe)
    run.write_predictions(predictions or predictions_csv(results, corpus, recipe.dataset.location(), groups))
    summary = summarise(recipe, results, corpus, texts["protocol"], texts["started"], ctx.timer.seconds, audit)
    write_text(run.per_speaker_table, per_speaker_csv(summary.metrics["per_speaker"]))
    scope = results[0].name if len(results) == 1 else f"pooled over {len(results)} folds"
    plot_confusion(summary.metrics, run.confusion_plot, f"{recipe.run.name} ({scope})")
    plot_reliability(summary.metrics, run.reliability_plot, f"{recipe.run.name} ({scope})")
    if "occlusion" in summary.metrics["features_say"]:
        plot_occlusion(summary.metrics["features_say"]["occlusion"], run.occlusion_plot)
    return summary


def _regression_outputs(
    ctx: Context, results: list[FoldResult], corpus: Corpus, texts: dict[str, str], audit: SplitAudit | None
) -> RunSummary:
    """A regression's predictions (true and predicted values), summary (CCC per target) and scatter plot."""
    recipe, run = ctx.recipe, ctx.run
    targets = recipe.task.targets
    run.write_predictions(
        regression_predictions_csv(results, corpus, recipe.dataset.location(), targets, report_groups(recipe))
    )
    texts |= {"pipeline": pipeline_text(recipe), "training": training_text(recipe, results)}
    pooled = pooled_values(recipe, results, corpus)
    summary = summarise_regression(recipe, results, corpus, texts, ctx.timer.seconds, audit, pooled)
    plot_regression(pooled[1], pooled[2], summary.metrics, run.regression_plot)
    return summary


def predictions_csv(
    results: list[FoldResult], corpus: Corpus, root: str, groups: Sequence[str] = (), targets: Sequence[str] = ()
) -> str:
    """One row per test prediction: fold, file (relative to the dataset), speaker, truth, prediction,
    probabilities, a joint task's true and predicted value of each of its ``targets`` (the true one empty where
    the utterance has none), and a column per ``[report] groups`` key (for per-group comparisons of runs)."""
    labels = corpus.labels
    values = [f"{k}_{t}" for t in targets for k in ("true", "predicted")]
    fixed = ["fold", "file", "speaker", "true", "predicted", *[f"p_{label}" for label in labels], *values]
    groups = [key for key in groups if key not in fixed]  # a column of its own already
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*fixed, *groups])
    for result in results:
        for index, outputs in zip(result.test, result.probabilities, strict=True):
            u = corpus.utterances[index]
            probs = outputs[: len(labels)]
            predicted = labels[int(np.argmax(probs))]
            row = [result.id, os.path.relpath(u.path, root), u.speaker, u.label, predicted]
            row += [f"{p:.6f}" for p in probs]
            for k, target in enumerate(targets):
                true = as_number(u.meta.get(target))
                row += ["" if not np.isfinite(true) else f"{true:.6f}", f"{outputs[len(labels) + k]:.6f}"]
            writer.writerow(row + [group_value(u.meta, key) for key in groups])
    return buffer.getvalue()


def _joint_outputs(
    ctx: Context, results: list[FoldResult], corpus: Corpus, texts: dict[str, str], audit: SplitAudit | None
) -> RunSummary:
    """A joint task's: the class head's outputs as a classification's (predictions, summary, confusion and
    reliability), and its regression head's figures under ``metrics["dimensions"]`` with their scatter plot."""
    recipe, run = ctx.recipe, ctx.run
    classes, targets = len(corpus.labels), recipe.task.targets
    by_class = [
        replace(r, probabilities=r.probabilities[:, :classes], metrics=_without(r.metrics, "dimensions"))
        for r in results
    ]
    groups = report_groups(recipe)
    both = predictions_csv(results, corpus, recipe.dataset.location(), groups, targets)  # classes and values
    summary = _classification_outputs(ctx, by_class, corpus, texts, audit, both)
    indices = [i for r in results for i in r.test]
    truth = fold_targets(recipe, corpus, indices)[:, 1:].astype(np.float64)
    predicted = np.concatenate([r.probabilities[:, classes:] for r in results]).astype(np.float64)
    complete = np.asarray(np.isfinite(truth).all(axis=1))
    if complete.sum() < 2:
        warning = "dimensions: fewer than two test utterances have every target: no CCC is computed"
        return replace(summary, warnings=[*summary.warnings, warning])
    chosen = [i for i, ok in zip(indices, list(complete), strict=True) if ok]
    speakers = [corpus.utterances[i].speaker for i in chosen]
    dimensions = regression_metrics(truth[complete], predicted[complete], speakers, targets)
    dimensions["loss"] = recipe.task.loss
    dimensions["weights"] = list(recipe.task.weights)
    dimensions["intervals"] = ccc_interval(truth[complete], predicted[complete], speakers, recipe.run.seed)
    metas = [corpus.utterances[i].meta for i in chosen]
    dimensions["groups"] = ccc_by_group(truth[complete], predicted[complete], metas, speakers, groups, recipe.run.seed)
    dimensions["mean"] = regression_spread([r.metrics["dimensions"] for r in results if "dimensions" in r.metrics])
    dimensions["without_values"] = int((~complete).sum())
    plot_regression(truth[complete], predicted[complete], dimensions, run.regression_plot)
    warnings = [f"dimensions: {warning}"] if (warning := constant_warning(dimensions)) else []
    notes = ["report.explain: what the features say is not computed for a joint task yet"] * recipe.report.explain
    metrics = {**summary.metrics, "dimensions": dimensions}
    return replace(summary, metrics=metrics, warnings=[*summary.warnings, *warnings], notes=[*summary.notes, *notes])


def _without(metrics: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != key}


def model_card(recipe: Recipe, results: list[FoldResult], labels: list[str], run: RunFolder) -> ModelCard:
    """model.json: what predict and export need besides the recipe and the weights (the first fold's
    model is the run's); each fold's weights are named relative to the run folder. A regression's labels
    are its targets, in output order."""
    first = results[0]
    return ModelCard(
        serkit_version=__version__,
        model=recipe.model.identity(),
        labels=list(recipe.task.targets) if recipe.task.kind == "regression" else labels,
        input_shape=first.input_shape,
        normaliser={"method": recipe.normalise.method, "scope": recipe.normalise.scope, **first.normaliser},
        weights=f"{first.model_file} (fold {first.id})",
        weights_file=first.model_file,
        fold_weights={r.id: run.relative(run.fold(r.id).model(r)) for r in results},
        calibration=first.calibration,
        task=asdict(recipe.task) if recipe.task.kind != "classification" else {},
    )


def summarise(
    recipe: Recipe,
    results: list[FoldResult],
    corpus: Corpus,
    description: str,
    started: str,
    timings: dict[str, float],
    audit: SplitAudit | None = None,
) -> RunSummary:
    """The run's results: pooled over folds where there are several, with mean ± sd and each fold;
    ``audit`` is the split audit (its warnings join the results')."""
    first, labels = results[0], corpus.labels
    audit = audit or SplitAudit()
    targets = {label: k for k, label in enumerate(labels)}
    y_true = np.array([targets[corpus.utterances[i].label] for r in results for i in r.test], dtype=np.int64)
    y_pred = np.concatenate([r.probabilities.argmax(1) for r in results])
    pooled = first.metrics if len(results) == 1 else evaluate(y_true, y_pred, labels)
    tested = [corpus.utterances[i] for r in results for i in r.test]
    probabilities = np.concatenate([r.probabilities for r in results])
    pooled = {
        **pooled,
        "intervals": headline_intervals(
            [labels[k] for k in y_true], [labels[k] for k in y_pred], [u.speaker for u in tested], recipe.run.seed
        ),
        **group_report(
            [labels[k] for k in y_true],
            [labels[k] for k in y_pred],
            [u.speaker for u in tested],
            [u.meta for u in tested],
            recipe.run.seed,
            report_groups(recipe),
        ),
        "calibration": calibration_report(y_true, probabilities),
        **calibration_change(results, y_true, labels),
        "features_say": feature_report(results, recipe.features.columns(), labels),
    }
    texts = {"protocol": description, "started": started}
    texts |= {"pipeline": pipeline_text(recipe), "training": training_text(recipe, results)}
    figures = {
        "metrics": pooled,
        "mean": spread([r.metrics for r in results]),
        "warnings": result_warnings(pooled, results),
    }
    return run_summary(recipe, results, corpus, texts, figures, audit, timings)


def calibration_change(results: list[FoldResult], y_true: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Where the run was calibrated: how (each fold's record) and the test figures before calibration."""
    if not all(r.calibration and r.uncalibrated is not None for r in results):
        return {}
    before = np.concatenate([r.uncalibrated for r in results if r.uncalibrated is not None])
    plain = evaluate(y_true, before.argmax(1), labels)
    return {
        "calibration_before": calibration_report(y_true, before),
        "calibrated": {
            "method": results[0].calibration["method"],
            "fitted_where": "each fold's validation part (taken from its training part; never its test part)",
            "folds": {r.id: r.calibration for r in results},
            "before": {"accuracy": plain["accuracy"], "uar": plain["uar"]},
        },
    }


def result_warnings(pooled: dict[str, Any], results: list[FoldResult]) -> list[str]:
    """The collapse of the pooled predictions, or of single folds, in words."""
    warnings = [warning] if (warning := collapse_warning(pooled)) else []
    folds = [r.id for r in results if len(results) > 1 and collapse_warning(r.metrics).startswith("collapsed")]
    if folds:
        warnings.append(
            f"{len(folds)} of {len(results)} folds predicted one class for every test utterance: {', '.join(folds)}"
        )
    return warnings


def training_text(recipe: Recipe, results: list[FoldResult]) -> str:
    first, train = results[0], recipe.train
    epochs = [r.epochs for r in results]
    if len(results) == 1:
        ending = "stopped early" if first.stopped_early else "epoch limit reached"
        span = f"{first.epochs} epochs (best {first.best_epoch}, {ending}"
    else:
        span = f"{min(epochs)}-{max(epochs)} epochs per fold ("
    method = first.method or f"Adam lr {train.learning_rate:g}, batch {train.batch_size}"
    if "fitted once" in method:  # no epochs, no early stopping
        return f"{method}, {first.device} {first.precision}, seed {recipe.run.seed}"
    watched = ", early stopping on the test part (a leak)" if recipe.leaks.select_on_test else ""
    return (
        f"{method}, {span}, patience {train.patience}{watched}), {first.device} {first.precision}, "
        f"seed {recipe.run.seed}"
    )


def normalise_text(recipe: Recipe) -> str:
    settings = recipe.normalise
    if settings.method == "none":
        return "none"
    if settings.scope == "speaker":
        return (
            "zscore per speaker (each speaker's utterances by their own statistics in its part, each augmenter's "
            "copies of them by theirs; test speakers' from their own unlabelled test audio)"
        )
    fitted = "on the training part"
    if recipe.leaks.normalise_on_all:
        fitted = "on every part, the test part included (a leak)"
    return f"{settings.method} ({settings.scope}, fitted {fitted})"


def pipeline_text(recipe: Recipe) -> str:
    """The pipeline in one line, for the report."""

    def short(component: Any) -> str:
        params = ", ".join(f"{k}={v}" for k, v in component.to_params().items() if k != "root")
        return f"{component.name}({params})"

    return "; ".join(
        [
            "preprocess " + " -> ".join(short(p) for p in recipe.preprocess)
            if recipe.preprocess
            else "no preprocessing",
            "augment " + ", ".join(words(a) if isinstance(a, Chance | Group) else short(a) for a in recipe.augment)
            if recipe.augment
            else "no augmentation",
            "features " + short(recipe.features),
            "normalise " + normalise_text(recipe),
            "model " + short(recipe.model),
        ]
    )


def _device(device: str) -> dict[str, Any]:
    """The training device in environment.json's words; torch is not imported for a run that never used it."""
    if "torch" not in sys.modules and device == "cpu":
        return {"type": "cpu", "threads": None, "torch": "not used by this run's model"}
    import torch

    from serkit.learn.hardware import describe_device

    return describe_device(torch.device(device))


def environment(ctx: Context, device: str, precision: str, cache: dict[str, str]) -> Environment:
    """environment.json: versions of serkit, Python, the libraries and the distribution of every component; the
    training device as torch saw it (a run whose model did not use torch: the CPU, torch's threads unrecorded)."""
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    components = {}
    for section, kind in component_sections().items():
        value = ctx.recipe.section(section)
        for component in (leaves(value) if section == "augment" else value) if kind.many else [value]:
            entry = ctx.registry.entries[kind.key].get(component.name)
            components[f"{section}:{component.name}"] = str(entry.provider) if entry else "unknown"
    return Environment(
        serkit=__version__,
        python=platform.python_version(),
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        device=_device(device) | {"precision": precision},
        packages=packages,
        components=components,
        cache=dict(cache),
        execution=ctx.execution,
        dataset_licence=licence_of(ctx.recipe.dataset),
    )
