"""The learner of a torch model: serkit's trainer around its module."""

from __future__ import annotations

import io

import numpy as np
import torch

from serkit.core.components import Model
from serkit.core.learner import Features, FitContext, FitOutcome, Learner, Transform
from serkit.core.settings import TrainSettings
from serkit.learn.callbacks import state_dict_bytes
from serkit.learn.hardware import choose_device
from serkit.learn.objectives import Objective, objective
from serkit.learn.trainer import Trainer


def torch_learner(
    model: Model,
    input_shape: tuple[int, ...],
    n_classes: int,
    task: str = "classification",
    loss: str = "ccc",
    classes: int = 0,
    weights: tuple[float, float] = (1.0, 1.0),
) -> TorchLearner:
    """serkit's trainer around the torch module ``model.build`` returns, probed once
    (:func:`serkit.learn.build.make_learner` gives a model's own learner first)."""
    module = model.build(input_shape, n_classes)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"build returned {type(module).__name__}, not a torch module (or override learner())")
    learner = TorchLearner(module, n_classes, objective(task, loss, classes, weights))
    learner.note = probe_outputs(module, input_shape, n_classes, task)
    return learner


@torch.no_grad()
def probe_outputs(module: torch.nn.Module, input_shape: tuple[int, ...], outputs: int, task: str) -> str:
    """One forward pass of a batch of two (in eval mode, from a generator of its own: no state of the module or of
    torch's changes): the output must be (batch, ``outputs``), else a TypeError before any training; outputs that
    already sum to one over the classes are returned as a warning (serkit's loss takes logits)."""
    training = module.training
    module.eval()
    try:
        probe = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
        found = module(probe)
    finally:
        module.train(training)
    shape = tuple(getattr(found, "shape", ()))
    if shape != (2, outputs):
        what = {
            "regression": f"{outputs} value(s), one per target",
            "joint": f"{outputs} output(s), the classes' logits then one value per target",
        }.get(task, f"{outputs} logit(s), one per class")
        raise TypeError(
            f"returned outputs of shape {shape} for a batch of 2 inputs; it must return (batch, {outputs}): {what}"
        )
    probabilities = bool((found >= 0).all()) and torch.allclose(found.float().sum(dim=1), torch.ones(2), atol=1e-3)
    if task == "classification" and outputs > 1 and probabilities:
        return (
            "its outputs already sum to one over the classes, as a softmax's do: serkit's cross-entropy takes "
            "logits (it applies the softmax itself), so training is slower and worse; drop the final softmax"
        )
    return ""


class TorchLearner(Learner):
    """A torch module trained by :class:`~serkit.learn.trainer.Trainer` (Adam, early stopping)."""

    suffix = ".pt"

    def __init__(self, module: torch.nn.Module, n_classes: int, goal: Objective | None = None) -> None:
        self.module = module
        self.n_classes = n_classes
        self.objective = goal or objective("classification")
        self.trainer: Trainer | None = None
        #: What the build's probe found worth a warning ("": nothing).
        self.note = ""

    def fit(
        self, x_fit: Features, y_fit: np.ndarray, x_val: Features, y_val: np.ndarray, context: FitContext
    ) -> FitOutcome:
        self.trainer = Trainer(
            context.settings,
            choose_device(context.device),
            context.seed,
            context.checkpoint,
            context.keep_last_epoch,
            context.epoch_weights,
            objective=self.objective,
        )
        if context.workers > 1:
            from serkit.learn.distributed import fit_on_ray

            result = fit_on_ray(self.module, x_fit, y_fit, x_val, y_val, context, self.n_classes)
        else:
            result = self.trainer.fit(
                self.module,
                x_fit,
                y_fit,
                x_val,
                y_val,
                context.on_epoch,
                context.transform,
                self.n_classes,
                context.strata,
            )
        self.module = result.model
        settings = context.settings
        extras = [f"{settings.class_weights} class weights"] * (settings.class_weights != "none")
        extras += [f"{settings.sampler} sampling"] * (settings.sampler != "shuffle")
        extras += [f"data parallel over {context.workers} Ray Train workers"] * (context.workers > 1)
        method = f"Adam lr {settings.learning_rate:g}, batch {settings.batch_size}" + "".join(f", {e}" for e in extras)
        return FitOutcome(
            result.history,
            result.best_epoch,
            result.stopped_early,
            result.device,
            result.precision,
            method,
            result.resumed_from,
        )

    @property
    def precision(self) -> str:
        """What training will use, before it starts (fp32, bf16 or fp16)."""
        return self.trainer.precision if self.trainer else "fp32"

    def predict_proba(self, x: Features, transform: Transform | None = None) -> np.ndarray:
        trainer = self.trainer or Trainer(
            TrainSettings(precision="fp32"), torch.device("cpu"), 0, objective=self.objective
        )
        return trainer.predict_proba(self.module, x, transform)

    def dumps(self) -> bytes:
        return state_dict_bytes(self.module)

    def loads(self, data: bytes) -> None:
        self.module.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
        self.module.eval()
