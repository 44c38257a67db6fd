"""A finished run's model, ready to load: its model card, inference recipe and an empty learner;
and, where the recipe names a component no installed package provides, which package the run needs."""

from __future__ import annotations

from collections.abc import Iterable

from serkit.core.errors import SerkitError
from serkit.core.learner import Learner
from serkit.core.recipe import InferenceRecipe, component_sections, load_inference_recipe
from serkit.core.registry import Registry, get_registry
from serkit.learn.build import make_learner
from serkit.results.folder import ModelCard, RunFolder

#: The sections predict, export and serkit.load need (training-only plugins may be gone).
INFERENCE_SECTIONS = ("preprocess", "features", "model")


def run_learner(run: RunFolder, registry: Registry | None = None) -> tuple[ModelCard, InferenceRecipe, Learner]:
    """A finished run's model card (checked), its inference recipe (training-only plugins may be
    gone) and an empty learner of its model, ready for the weights."""
    card = run.read_model_card()
    try:
        recipe = load_inference_recipe(run.recipe, registry)
    except SerkitError as exc:
        raise needed_packages_error(run, registry, INFERENCE_SECTIONS) or exc from exc
    task, loss = str(card.task.get("kind", "classification")), str(card.task.get("loss", "ccc"))
    classes, outputs = len(card.labels), len(card.labels) + len(card.joint_targets)
    learner = make_learner(recipe.model, tuple(card.input_shape), outputs, recipe.run.seed, task, loss, classes)
    return card, recipe, learner


def needed_packages_error(
    run: RunFolder, registry: Registry | None, sections: Iterable[str] | None = None
) -> SerkitError | None:
    """The error to give when the run's components in ``sections`` (default: all) came from packages
    that are no longer installed (environment.json records who provided each), or None."""
    try:
        recorded = run.read_environment().components
    except SerkitError:
        return None
    registry = registry or get_registry()
    kinds = component_sections()
    wanted = set(sections) if sections is not None else set(kinds)
    needed: dict[str, list[str]] = {}
    for key, provider in recorded.items():
        section, _, name = key.partition(":")
        kind = kinds.get(section)
        if kind is None or section not in wanted or name in registry.entries[kind.key]:
            continue
        needed.setdefault(provider, []).append(f"{section} '{name}'")
    if not needed:
        return None
    parts = []
    for provider, components in needed.items():
        distribution = provider.split(" ")[0]
        parts.append(f"{provider} (pip install {distribution}), which provided {', '.join(components)}")
    return SerkitError(f"{run}: this run needs " + "; and ".join(parts) + ", not installed here")
