"""metrics.json's record of a run (:class:`RunSummary`), whatever its task."""

from __future__ import annotations

from typing import Any

from serkit.core.policy import policy_words
from serkit.core.recipe import Recipe
from serkit.core.version import __version__
from serkit.data.leakage import SplitAudit
from serkit.results.records import Corpus, FoldResult, RunSummary


def run_summary(
    recipe: Recipe,
    results: list[FoldResult],
    corpus: Corpus,
    texts: dict[str, str],
    figures: dict[str, Any],
    audit: SplitAudit,
    timings: dict[str, float],
) -> RunSummary:
    """The summary of a run: ``texts`` the protocol, start, pipeline and training in words; ``figures`` its
    pooled ``metrics``, the ``mean`` ± sd over folds and the result ``warnings`` (the split audit's join them)."""
    first = results[0]
    dataset = {
        "name": recipe.dataset.name,
        "root": recipe.dataset.location(),
        "utterances": len(corpus.utterances),
        "speakers": corpus.speakers,
        "labels": corpus.labels,
    }
    if recipe.task.kind != "classification":
        dataset["targets"] = list(recipe.task.targets)
    leaks = recipe.leaks.words(recipe.train.refit)
    return RunSummary(
        run_name=recipe.run.name,
        protocol=texts["protocol"],
        started=texts["started"],
        serkit_version=__version__,
        dataset=dataset,
        fold=first.summary()["sizes"],
        metrics=figures["metrics"],
        pooled_over_folds=len(results) > 1,
        mean=figures["mean"],
        folds=[r.summary() for r in results],
        device=first.device,
        precision=first.precision,
        pipeline=texts["pipeline"],
        training=texts["training"],
        notes=corpus.notes,
        timings=dict(timings),
        warnings=[leak_warning(leaks)] * bool(leaks) + figures["warnings"] + audit.warnings,
        split_audit=audit.to_json(),
        augmentation=augmentation_record(recipe),
        leaks=leaks,
    )


def augmentation_record(recipe: Recipe) -> dict[str, str]:
    """How training examples were augmented: the mode, the policy in words, and online where the examples were
    made (on the training device, or by loader processes and why)."""
    record = {"mode": recipe.augmentation.mode, "words": policy_words(recipe.augment, recipe.augmentation.mode)}
    if recipe.augmentation.mode == "online" and recipe.augment:
        from serkit.data.pipeline import Pipeline
        from serkit.run.stages import why_not_on_device

        pipeline = Pipeline(recipe.preprocess, recipe.augment, recipe.features, recipe.run.seed)
        why = why_not_on_device(recipe, pipeline)
        record["made"] = f"by loader processes ({why})" if why else "on the training device"
    return record


def leak_warning(leaks: list[str]) -> str:
    """The first warning of a run made with deliberate leaks: its figures are not results."""
    return f"LEAK, not a result: {'; '.join(leaks)}; this run measures how much that inflates the figure (serkit leaks)"
