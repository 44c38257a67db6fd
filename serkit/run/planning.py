"""The one place that plans a run's folds and their seeds (used by run, resume and ablate)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from serkit.core.components import Component, Scan, Utterance
from serkit.core.errors import SerkitError
from serkit.core.guard import guarded
from serkit.core.recipe import Recipe, relabel_of
from serkit.core.union import Corpora, dropped_per_corpus, require_shared_labels
from serkit.data.split import FoldPlan, load_split, plan_folds


def fold_seed(run_seed: int, repeat: int) -> int:
    """The seed of every fold of one repeat: its split, validation part, initial weights and batch order."""
    return run_seed + repeat


def prepared_scan(recipe: Recipe, guard: Callable[[Component, Callable[[], Scan]], Scan] | None = None) -> Scan:
    """The utterances a run uses: the dataset's scan, relabelled by ``[labels]``, adjusted by the protocol
    (``guard`` runs each component's code, naming it if it fails)."""
    dataset, protocol = recipe.dataset, recipe.protocol
    run = guard or (lambda component, action: guarded(f"{component.kind} '{component.name}'", action))
    found = run(dataset, dataset.scan)
    problems = found.problems()
    if problems:
        from serkit.core.registry import get_registry

        more = (
            f" (and {len(problems) - 1} more; serkit data check {dataset.name} ROOT lists them)"
            if len(problems) > 1
            else ""
        )
        raise SerkitError(f"{get_registry().culprit(dataset)} read a corpus serkit cannot use: {problems[0]}{more}")
    relabel = relabel_of(recipe)
    require_shared_labels(dataset, found, relabel is not None)
    if relabel is not None:
        mapped = relabel.apply(found, f"dataset '{dataset.name}'")
        if isinstance(dataset, Corpora):  # what the map left out, said per corpus
            mapped = replace(mapped, warnings=[*found.warnings, *dropped_per_corpus(found, mapped)])
        found = mapped
    return run(protocol, lambda: protocol.prepare(found, dataset))


def report_groups(recipe: Recipe) -> list[str]:
    """What results are broken down by: ``[report] groups``, and ``corpus`` for a union of corpora."""
    groups = list(recipe.report.groups)
    return [*groups, "corpus"] if isinstance(recipe.dataset, Corpora) and "corpus" not in groups else groups


#: A regression's folds and validation parts are stratified by the quartiles of its first target.
QUANTILES = 4


def strata(recipe: Recipe, utterances: list[Utterance]) -> list[Utterance]:
    """The utterances as the protocol and the validation split see them: labelled by class, or, for a
    regression, by the quartile of its first target ("arousal q3"; "no value" where there is none), so
    a stratified split balances the values it is scored on."""
    if recipe.task.kind != "regression":
        return utterances
    target = recipe.task.targets[0]
    values = np.array([as_number(u.meta.get(target)) for u in utterances])
    finite = np.isfinite(values)
    edges = np.quantile(values[finite], np.linspace(0, 1, QUANTILES + 1)[1:-1]) if finite.any() else []
    bins = np.searchsorted(edges, np.where(finite, values, 0), side="right") + 1
    return [
        replace(u, label=f"{target} q{k}" if ok else "no value")
        for u, k, ok in zip(utterances, bins, finite, strict=True)
    ]


def protocol_words(recipe: Recipe, utterances: list[Utterance]) -> str:
    """The protocol in words, with what a regression's strata are."""
    return recipe.protocol.describe(utterances) + _strata_text(recipe)


def _strata_text(recipe: Recipe) -> str:
    if recipe.task.kind != "regression":
        return ""
    return f" (a regression: where it stratifies, by the quartiles of {recipe.task.targets[0]}, not by class)"


def as_number(value: object) -> float:
    """A metadata value as a number; NaN where it is none."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def plan_run(recipe: Recipe, utterances: list[Utterance], who: str = "") -> tuple[list[FoldPlan], list[str]]:
    """Every fold of every repeat, with its validation part and seed, and warnings for the report (a
    regression's folds stratified by :func:`strata`)."""
    protocol = recipe.protocol
    utterances = strata(recipe, utterances)
    plans: list[FoldPlan] = []
    warnings: list[str] = []
    for repeat in range(recipe.run.repeats):
        seed = fold_seed(recipe.run.seed, repeat)
        folds = guarded(who or f"protocol '{protocol.name}'", lambda s=seed: protocol.split(utterances, s))  # type: ignore[misc]
        found, found_warnings = plan_folds(
            folds, utterances, recipe.train.validation_size, seed, protocol, classes=recipe.task.kind != "regression"
        )
        plans += [replace(plan, repeat=repeat, seed=seed) for plan in found]
        warnings += [w for w in found_warnings if w not in warnings]
    return plans, warnings


def reload_plan(recipe: Recipe, utterances: list[Utterance], split_file: str | Path) -> list[FoldPlan]:
    """The folds of a saved split.json, with the seeds it recorded (or, where it recorded none, the recipe's)."""
    return load_split(
        split_file, utterances, recipe.dataset.location(), lambda repeat: fold_seed(recipe.run.seed, repeat)
    )
