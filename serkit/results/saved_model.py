"""A finished run's model, ready to load: its model card, inference recipe and an empty learner."""

from __future__ import annotations

from serkit.core.learner import Learner
from serkit.core.recipe import InferenceRecipe, load_inference_recipe
from serkit.core.registry import Registry
from serkit.learn.torch_learner import make_learner
from serkit.results.folder import ModelCard, RunFolder


def run_learner(run: RunFolder, registry: Registry | None = None) -> tuple[ModelCard, InferenceRecipe, Learner]:
    """A finished run's model card (checked), its inference recipe (training-only plugins may be
    gone) and an empty learner of its model, ready for the weights."""
    card = run.read_model_card()
    recipe = load_inference_recipe(run.recipe, registry)
    return card, recipe, make_learner(recipe.model, tuple(card.input_shape), len(card.labels), recipe.run.seed)
