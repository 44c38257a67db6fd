"""The one place that plans a run's folds and their seeds (used by run, resume and ablate)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from serkit.core.components import Component, Dataset, Scan, Utterance
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
    if recipe.task.kind == "classification":
        require_shared_labels(dataset, found, relabel is not None)
    if relabel is not None:
        mapped = relabel.apply(found, f"dataset '{dataset.name}'")
        if isinstance(dataset, Corpora):  # what the map left out, said per corpus
            mapped = replace(mapped, warnings=[*found.warnings, *dropped_per_corpus(found, mapped)])
        found = mapped
    prepared = run(protocol, lambda: protocol.prepare(found, dataset))
    return on_one_scale(recipe, prepared) if recipe.task.kind == "regression" else prepared


def corpus_datasets(recipe: Recipe) -> dict[str, Dataset]:
    """Each corpus of a run by the mark its utterances carry (``meta["corpus"]``; "" where they carry none)."""
    dataset, protocol = recipe.dataset, recipe.protocol
    if isinstance(dataset, Corpora):
        return dict(zip(dataset.corpus_names(), dataset.members, strict=True))
    test_corpus = getattr(protocol, "test_corpus", None)
    if callable(test_corpus):  # cross_corpus: the recipe's dataset is "train", the other corpus "test"
        return {"train": dataset, "test": test_corpus()}
    return {"": dataset}


def on_one_scale(recipe: Recipe, scan: Scan) -> Scan:
    """A regression's targets on one scale: ``task.rescale = "declared"`` maps each corpus's values linearly from
    its documented scale onto -1 to 1 (said in the notes); without it, corpora whose documented scales differ
    are refused (CCC is scale-sensitive: their values would not mean the same)."""
    corpora = corpus_datasets(recipe)
    scales = {mark: member.documented_scale() for mark, member in corpora.items()}
    if recipe.task.rescale == "none":
        named = {f"{corpora[mark].name} {low:g} to {high:g}" for mark, (low, high) in _known(scales).items()}
        if len(corpora) > 1 and (len(named) > 1 or (named and len(_known(scales)) < len(scales))):
            raise SerkitError(
                f"task.rescale: the corpora's targets are on different scales ({', '.join(sorted(named))}, or "
                'undocumented): set task.rescale = "declared" to map each onto -1 to 1'
            )
        return scan
    lacking = [corpora[mark].name for mark, scale in scales.items() if scale is None]
    if lacking:
        raise SerkitError(
            f"task.rescale: dataset {', '.join(lacking)} documents no scale for its targets (a manifest: "
            "dataset.scale = [lowest, highest])"
        )
    targets, known = recipe.task.targets, _known(scales)
    utterances = []
    for u in scan.utterances:  # one corpus: its scale, whatever a "corpus" column of its own says
        low, high = next(iter(known.values())) if len(known) == 1 else known[str(u.meta.get("corpus", ""))]
        values = {t: 2 * (as_number(u.meta.get(t)) - low) / (high - low) - 1 for t in targets if t in u.meta}
        utterances.append(replace(u, meta={**u.meta, **values}))
    said = ", ".join(f"{corpora[mark].name} {low:g} to {high:g}" for mark, (low, high) in known.items())
    note = f"task.rescale: {', '.join(targets)} mapped linearly onto -1 to 1 from each corpus's scale ({said})"
    return replace(scan, utterances=utterances, notes=[*scan.notes, note])


def _known(scales: dict[str, tuple[float, float] | None]) -> dict[str, tuple[float, float]]:
    return {mark: scale for mark, scale in scales.items() if scale is not None}


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
