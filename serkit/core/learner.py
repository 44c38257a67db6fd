"""What trains and applies a model, whatever it is built on (torch, scikit-learn, ...).

The runner and the predictor talk to a :class:`Learner` only: a torch model's learner is serkit's
trainer around the module its ``build`` returns; an :class:`~serkit.core.estimator.EstimatorModel`'s
is a scikit-learn estimator. Neither the runner nor ``serkit predict`` asks which.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.scores import uar
from serkit.core.settings import TrainSettings

#: Applied to each batch of stored features on the way to the model (the fitted normaliser).
Transform = Callable[[np.ndarray], np.ndarray]


class Features(Protocol):
    """What a learner reads features from: an array, or rows of a feature store read on demand."""

    shape: tuple[int, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, selection: Any) -> np.ndarray: ...


@runtime_checkable
class EpochFeatures(Features, Protocol):
    """Features whose training examples change every epoch (online augmentation): indexing reads the
    originals; :meth:`batches` makes an epoch's examples, a pure function of the epoch and the items."""

    def batches(self, epoch: int, batches: list[np.ndarray]) -> Iterator[np.ndarray]:
        """The rows of each batch of items (indices into these features) as drawn for ``epoch`` (0-based)."""
        ...


@dataclass
class FitContext:
    """How one fold's model is trained: the recipe's [train] settings and the run's circumstances."""

    settings: TrainSettings
    device: str = "cpu"
    seed: int = 0
    #: Where a resumable learner keeps its progress between epochs.
    checkpoint: Path | None = None
    on_epoch: Callable[[dict[str, float]], None] = lambda row: None
    transform: Transform | None = None
    #: Refitting (``train.refit``): train exactly ``settings.max_epochs`` epochs, no early stopping, and
    #: keep the last epoch's weights (the validation part is inside the training data then).
    keep_last_epoch: bool = False
    #: Where epoch N's weights go when ``settings.keep_epoch_weights`` asks to keep them (for ``serkit audit``).
    epoch_weights: Callable[[int], Path] | None = None
    #: Ray Train workers one torch training is spread over (``ray.train_workers``), and where Ray runs.
    workers: int = 1
    ray_address: str = ""
    #: ``task.kind`` and, for a regression, ``task.loss``.
    task: str = "classification"
    loss: str = "ccc"
    #: Each fit item's corpus, where ``train.sampler`` balances corpora (a ``[[dataset]]`` union).
    strata: np.ndarray | None = None


@dataclass
class FitOutcome:
    """What training produced besides the fitted model: per-epoch rows and how it ended."""

    history: list[dict[str, float]]
    best_epoch: int
    stopped_early: bool
    device: str
    precision: str
    #: How it was trained, in words, for the report ("Adam lr 0.0001, batch 16", "SVC fitted once").
    method: str = ""
    resumed_from: int = 0


class Learner(ABC):
    """A model being trained on one fold, or restored from a run folder to predict."""

    #: Suffix of the saved model's file name in a run folder (``model.pt``, ``model.skops``).
    suffix: ClassVar[str] = ".bin"

    @abstractmethod
    def fit(
        self, x_fit: Features, y_fit: np.ndarray, x_val: Features, y_val: np.ndarray, context: FitContext
    ) -> FitOutcome:
        """Fit on the fit part; score the validation part (never the test part) after each epoch."""

    @abstractmethod
    def predict_proba(self, x: Features, transform: Transform | None = None) -> np.ndarray:
        """Class probabilities, shape (items, classes); a regression's values, shape (items, targets)."""

    @abstractmethod
    def dumps(self) -> bytes:
        """The fitted model as bytes (written atomically to ``model<suffix>``)."""

    @abstractmethod
    def loads(self, data: bytes) -> None:
        """Restore a fitted model saved by :meth:`dumps` (raise an exception if it does not fit)."""

    def calibrate(self, method: str, x_val: Features, y_val: np.ndarray, transform: Transform | None) -> str:
        """Calibrate the fitted model on the validation part by ``method`` (sigmoid, isotonic), inside the
        model that :meth:`dumps` saves; returns a note for the report ("" if none). Temperature scaling
        needs nothing of a learner."""
        raise SerkitError(f"calibrate.method: '{method}' calibrates scikit-learn models only (use \"temperature\")")


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Weights inversely proportional to each class's count (scikit-learn's "balanced"); absent classes 0."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = int(np.count_nonzero(counts))
    return np.where(counts > 0, len(y) / (present * np.maximum(counts, 1)), 0.0)


def validation_scores(probabilities: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Cross-entropy, accuracy and UAR (mean recall over the classes present) of held-out predictions."""
    picked = probabilities[np.arange(len(y)), y]
    loss = float(-np.mean(np.log(np.clip(picked, 1e-12, None))))
    predicted = probabilities.argmax(1)
    return loss, float(np.mean(predicted == y)), uar(y, predicted)
