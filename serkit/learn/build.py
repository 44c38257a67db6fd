"""A model's learner, for training or for loading its weights: the model's own (a scikit-learn estimator's: torch is
never imported for it), or serkit's trainer around the torch module the model builds."""

from __future__ import annotations

from serkit.core.components import Model
from serkit.core.learner import Learner


def make_learner(
    model: Model,
    input_shape: tuple[int, ...],
    n_classes: int,
    seed: int,
    task: str = "classification",
    loss: str = "ccc",
    classes: int = 0,
    weights: tuple[float, float] = (1.0, 1.0),
) -> Learner:
    """The model's own learner, or serkit's trainer around the torch module its ``build`` returns; a regression's
    ``n_classes`` is its number of targets, a joint task's its ``classes`` and then its targets (``weights``: of
    the two heads' losses)."""
    own = model.learner(input_shape, n_classes, seed)
    if own is not None:
        return own
    from serkit.learn.torch_learner import torch_learner

    return torch_learner(model, input_shape, n_classes, task, loss, classes, weights)
