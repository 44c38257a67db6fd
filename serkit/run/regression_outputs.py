"""The last stage of a regression run: predictions, figures and the summary, by CCC per target."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from serkit.core.recipe import Recipe
from serkit.core.scores import mean_ccc
from serkit.data.leakage import SplitAudit
from serkit.results.features import feature_report
from serkit.results.records import Corpus, FoldResult, RunSummary
from serkit.results.regression import constant_warning, regression_metrics, regression_spread
from serkit.results.stats import ccc_interval
from serkit.run.planning import report_groups
from serkit.run.stages import fold_targets
from serkit.run.summary import run_summary


def regression_predictions_csv(
    results: list[FoldResult], corpus: Corpus, root: str, targets: list[str], groups: Sequence[str] = ()
) -> str:
    """One row per test utterance: fold, file, speaker, its class, each target's true and predicted value, and the
    ``groups`` metadata (``[report] groups``) it records."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    pairs_head = [f"{k}_{t}" for t in targets for k in ("true", "predicted")]
    writer.writerow(["fold", "file", "speaker", "label", *pairs_head, *groups])
    for result in results:
        for index, values in zip(result.test, result.probabilities, strict=True):
            u = corpus.utterances[index]
            pairs = [x for t, v in zip(targets, values, strict=True) for x in (f"{float(u.meta[t]):.6f}", f"{v:.6f}")]
            recorded = [str(u.meta.get(key, "")) for key in groups]
            writer.writerow([result.id, os.path.relpath(u.path, root), u.speaker, u.label, *pairs, *recorded])
    return buffer.getvalue()


def ccc_by_group(
    truth: np.ndarray,
    predicted: np.ndarray,
    metas: list[dict[str, Any]],
    speakers: list[str],
    keys: list[str],
    seed: int,
) -> dict[str, Any]:
    """Per value of each metadata key (a corpus, a gender): the mean CCC over the targets with its 95 % bootstrap
    interval and the number of test utterances; a key some test utterance lacks, or with one value, is left out."""
    out: dict[str, Any] = {}
    for key in keys:
        values = [m.get(key) for m in metas]
        if None in values or len(set(map(str, values))) < 2:
            continue
        found = {}
        for value in sorted(set(map(str, values))):
            mask = np.array([str(v) == value for v in values])
            chosen = [s for s, m in zip(speakers, mask, strict=True) if m]
            interval = ccc_interval(truth[mask], predicted[mask], chosen, seed)
            found[value] = {
                "ccc": mean_ccc(truth[mask], predicted[mask]),
                "ccc_ci": interval["ccc"],
                "n": int(mask.sum()),
            }
        out[key] = {"groups": found}
    return out


def summarise_regression(
    recipe: Recipe,
    results: list[FoldResult],
    corpus: Corpus,
    texts: dict[str, str],
    timings: dict[str, float],
    audit: SplitAudit | None = None,
    pooled_over_folds: tuple[list[int], np.ndarray, np.ndarray] | None = None,
) -> RunSummary:
    """The run's figures pooled over every fold's test predictions, with mean ± sd over folds; ``texts``:
    the protocol, start time, pipeline and training in words; ``pooled_over_folds``: :func:`pooled_values`
    where the caller has them."""
    targets, audit = recipe.task.targets, audit or SplitAudit()
    indices, truth, predicted = pooled_over_folds or pooled_values(recipe, results, corpus)
    speakers = [corpus.utterances[i].speaker for i in indices]
    pooled = regression_metrics(truth, predicted, speakers, targets)
    pooled["loss"] = recipe.task.loss
    pooled["intervals"] = ccc_interval(truth, predicted, speakers, recipe.run.seed)
    metas = [corpus.utterances[i].meta for i in indices]
    pooled["groups"] = ccc_by_group(truth, predicted, metas, speakers, report_groups(recipe), recipe.run.seed)
    pooled["features_say"] = feature_report(results, recipe.features.columns(), [], "ccc")
    warnings = [warning] if (warning := constant_warning(pooled)) else []
    collapsed = [r.id for r in results if len(results) > 1 and constant_warning(r.metrics)]
    if collapsed:
        warnings.append(f"{len(collapsed)} of {len(results)} folds predicted one value: {', '.join(collapsed)}")
    figures = {"metrics": pooled, "mean": regression_spread([r.metrics for r in results]), "warnings": warnings}
    return run_summary(recipe, results, corpus, texts, figures, audit, timings)


def pooled_values(
    recipe: Recipe, results: list[FoldResult], corpus: Corpus
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Every fold's test utterances, their true values and the predicted ones, (items, targets)."""
    indices = [i for r in results for i in r.test]
    truth = fold_targets(recipe, corpus, indices)
    predicted = np.concatenate([r.probabilities for r in results]).reshape(len(indices), len(recipe.task.targets))
    return indices, truth, predicted


def plot_regression(truth: np.ndarray, predicted: np.ndarray, metrics: dict[str, Any], path: Any) -> None:
    """Predicted against true values, one panel per target (titled with the summary's CCC), with the
    identity line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from serkit.core.fileio import write_figure

    targets = metrics["targets"]
    figure, axes = plt.subplots(1, len(targets), figsize=(3.6 * len(targets), 3.4), squeeze=False)
    for k, (axis, target) in enumerate(zip(axes[0], targets, strict=True)):
        low, high = (
            float(min(truth[:, k].min(), predicted[:, k].min())),
            float(max(truth[:, k].max(), predicted[:, k].max())),
        )
        axis.plot([low, high], [low, high], color="0.6", linewidth=1)
        axis.scatter(truth[:, k], predicted[:, k], s=8, alpha=0.6)
        axis.set_title(f"{target}: CCC {metrics['per_target'][target]['ccc']:.3f}")
        axis.set_xlabel("true")
        axis.set_ylabel("predicted")
    write_figure(figure, path, dpi=110)
