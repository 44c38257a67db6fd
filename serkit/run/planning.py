"""The one place that plans a run's folds and their seeds (used by run, resume and ablate)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from serkit.core.components import Component, Scan, Utterance
from serkit.core.guard import guarded
from serkit.core.recipe import Recipe, relabel_of
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
    relabel = relabel_of(recipe)
    if relabel is not None:
        found = relabel.apply(found, f"dataset '{dataset.name}'")
    return run(protocol, lambda: protocol.prepare(found, dataset))


def plan_run(recipe: Recipe, utterances: list[Utterance], who: str = "") -> tuple[list[FoldPlan], list[str]]:
    """Every fold of every repeat, with its validation part and seed, and warnings for the report."""
    protocol = recipe.protocol
    plans: list[FoldPlan] = []
    warnings: list[str] = []
    for repeat in range(recipe.run.repeats):
        seed = fold_seed(recipe.run.seed, repeat)
        folds = guarded(who or f"protocol '{protocol.name}'", lambda s=seed: protocol.split(utterances, s))  # type: ignore[misc]
        found, found_warnings = plan_folds(folds, utterances, recipe.train.validation_size, seed, protocol)
        plans += [replace(plan, repeat=repeat, seed=seed) for plan in found]
        warnings += [w for w in found_warnings if w not in warnings]
    return plans, warnings


def reload_plan(recipe: Recipe, utterances: list[Utterance], split_file: str | Path) -> list[FoldPlan]:
    """The folds of a saved split.json, with the seeds it recorded (or, where it recorded none, the recipe's)."""
    return load_split(
        split_file, utterances, recipe.dataset.location(), lambda repeat: fold_seed(recipe.run.seed, repeat)
    )
