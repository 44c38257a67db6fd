"""What a torch model is trained to do: classify (cross-entropy, accuracy and UAR), regress dimensional
targets (1 - CCC or mean squared error, and the validation CCC), or both at once from one model (a joint task).

The trainer asks its objective for the loss of a batch, the epoch's training figures and the
validation part's scores and what early stopping watches (``val_loss``; a regression's ``val_ccc``);
everything else (batches, precision, checkpoints) is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from serkit.core.learner import class_weights
from serkit.core.scores import accuracy, mean_ccc, uar
from serkit.core.settings import TrainSettings


def concordance(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lin's concordance correlation coefficient of each column, differentiable: :func:`serkit.core.scores.ccc`
    in torch (tested equal to it), 0 where both columns are constant."""
    mean_p, mean_t = predicted.mean(0), target.mean(0)
    covariance = ((predicted - mean_p) * (target - mean_t)).mean(0)
    denominator = predicted.var(0, unbiased=False) + target.var(0, unbiased=False) + (mean_p - mean_t) ** 2
    return 2 * covariance / denominator.clamp(min=1e-12)


#: Sums that make a CCC: (count, sum p, sum t, sum p^2, sum t^2, sum p t) per column.
MOMENTS = 6


def moments(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The sums :func:`concordance_of_moments` needs, (MOMENTS, columns) in float64: workers add theirs to
    get the CCC of the whole batch."""
    p, t = predicted.double(), target.double()
    count = torch.full_like(p[0], float(len(p)))
    return torch.stack([count, p.sum(0), t.sum(0), (p * p).sum(0), (t * t).sum(0), (p * t).sum(0)])


def concordance_of_moments(sums: torch.Tensor) -> torch.Tensor:
    """Lin's CCC of each column from :func:`moments` (added over workers), as :func:`concordance` computes it."""
    count, sum_p, sum_t, sum_pp, sum_tt, sum_pt = sums
    mean_p, mean_t = sum_p / count, sum_t / count
    covariance = sum_pt / count - mean_p * mean_t
    denominator = sum_pp / count - mean_p**2 + sum_tt / count - mean_t**2 + (mean_p - mean_t) ** 2
    return (2 * covariance / denominator.clamp(min=1e-12)).float()


#: Adds a tensor over the workers of a data-parallel training, with its gradient (None: one process).
Combine = Callable[[torch.Tensor], torch.Tensor] | None


class Classification:
    """Cross-entropy over the classes (weighted by ``train.class_weights``); softmax probabilities out."""

    kind = "classification"
    #: What early stopping watches on the validation part.
    monitor = "val_loss"
    #: Whether the loss is of the whole batch, not a mean over its items (workers must combine it).
    spans_batch = False

    def __init__(self) -> None:
        self.loss_fn: nn.Module = nn.CrossEntropyLoss()

    def prepare(self, y_fit: np.ndarray, n_classes: int, settings: TrainSettings, device: torch.device) -> None:
        if settings.class_weights == "balanced":
            weights = torch.from_numpy(class_weights(y_fit, n_classes)).float().to(device)
            self.loss_fn = nn.CrossEntropyLoss(weight=weights)

    def targets(self, y: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.from_numpy(y).long().to(device)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, combine: Combine = None) -> torch.Tensor:
        return self.loss_fn(outputs.float(), targets)

    def hits(self, outputs: torch.Tensor, targets: torch.Tensor) -> int:
        return int((outputs.argmax(1) == targets).sum())

    def train_row(self, loss: float, hits: int, n: int) -> dict[str, float]:
        return {"train_loss": loss / n, "train_accuracy": hits / n}

    def scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Unweighted cross-entropy, accuracy and UAR (mean recall over the classes present)."""
        loss = float(nn.functional.cross_entropy(outputs, targets))
        truth, predicted = targets.cpu().numpy(), outputs.argmax(1).cpu().numpy()
        return {"val_loss": loss, "val_accuracy": accuracy(truth, predicted), "val_uar": uar(truth, predicted)}

    def predictions(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(outputs, dim=1)


class Regression:
    """One output per target: 1 - CCC averaged over the targets (``loss = "ccc"``, the field's usual
    choice) or their mean squared error; the values themselves out."""

    kind = "regression"
    #: Early stopping watches the validation CCC (with loss = "ccc", 1 - it is the validation loss).
    monitor = "val_ccc"

    def __init__(self, loss: str = "ccc") -> None:
        self.kind_of_loss = loss
        #: 1 - CCC is of the whole batch: data-parallel workers add their shares' moments before it.
        self.spans_batch = loss == "ccc"

    def prepare(self, y_fit: np.ndarray, n_classes: int, settings: TrainSettings, device: torch.device) -> None:
        return None

    def targets(self, y: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.float32)).to(device)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, combine: Combine = None) -> torch.Tensor:
        """MSE, or 1 - CCC of the batch: with ``combine`` (several workers), of the whole batch across them."""
        outputs = outputs.float()
        if self.kind_of_loss == "mse":
            return nn.functional.mse_loss(outputs, targets)
        if combine is None:
            return 1 - concordance(outputs, targets).mean()
        return 1 - concordance_of_moments(combine(moments(outputs, targets))).mean()

    def empty_share_loss(
        self, columns: int, combine: Callable[[torch.Tensor], torch.Tensor], device: torch.device
    ) -> torch.Tensor:
        """A worker with no item of the batch still adds (zero) moments, so the others' sums complete."""
        zeros = torch.zeros(MOMENTS, columns, dtype=torch.float64, device=device, requires_grad=True)
        return 1 - concordance_of_moments(combine(zeros)).mean()

    def hits(self, outputs: torch.Tensor, targets: torch.Tensor) -> int:
        return 0

    def train_row(self, loss: float, hits: int, n: int) -> dict[str, float]:
        return {"train_loss": loss / n}

    def scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """The loss over the whole part and the mean CCC over the targets (early stopping watches it)."""
        truth, predicted = targets.double().cpu().numpy(), outputs.double().cpu().numpy()
        return {"val_loss": float(self.loss(outputs, targets)), "val_ccc": mean_ccc(truth, predicted)}

    def predictions(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs


class Joint:
    """Classes and dimensions from one model: its first ``classes`` outputs are the class head's logits, the rest
    the regression head's values, one per target. The loss is ``weights[0]`` x the cross-entropy of the utterances
    with a class plus ``weights[1]`` x the regression loss of the values present (a target without a number, NaN,
    trains nothing: its utterance moves the class head alone). Out: the class probabilities, then the values.

    Targets are (items, 1 + targets): the class index first (-1: none), then the values."""

    kind = "joint"
    #: Early stopping watches the same weighted loss on the validation part.
    monitor = "val_loss"
    spans_batch = False

    def __init__(self, classes: int, loss: str = "ccc", weights: tuple[float, float] = (1.0, 1.0)) -> None:
        self.classes = classes
        self.kind_of_loss = loss
        self.weights = weights
        self.class_loss: nn.Module = nn.CrossEntropyLoss()

    def prepare(self, y_fit: np.ndarray, n_classes: int, settings: TrainSettings, device: torch.device) -> None:
        if settings.class_weights == "balanced":
            labels = class_labels(y_fit)
            weights = torch.from_numpy(class_weights(labels[labels >= 0], self.classes)).float().to(device)
            self.class_loss = nn.CrossEntropyLoss(weight=weights)

    def targets(self, y: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.float32)).to(device)

    def parts(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The class head's loss and the regression head's (0 where the batch has nothing for one)."""
        outputs = outputs.float()
        labels = targets[:, 0].long()
        has_class = labels >= 0
        zero = outputs.sum() * 0  # keeps the graph where a head has nothing in this batch
        class_part = self.class_loss(outputs[has_class, : self.classes], labels[has_class]) if has_class.any() else zero
        values, truth = outputs[:, self.classes :], targets[:, 1:]
        terms = []
        for k in range(truth.shape[1]):
            present = torch.isfinite(truth[:, k])
            if self.kind_of_loss == "mse" and present.any():
                terms.append(nn.functional.mse_loss(values[present, k], truth[present, k]))
            elif int(present.sum()) >= 2:
                terms.append(1 - concordance(values[present, k : k + 1], truth[present, k : k + 1])[0])
        return class_part, torch.stack(terms).mean() if terms else zero

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, combine: Combine = None) -> torch.Tensor:
        class_part, value_part = self.parts(outputs, targets)
        return self.weights[0] * class_part + self.weights[1] * value_part

    def hits(self, outputs: torch.Tensor, targets: torch.Tensor) -> int:
        labels = targets[:, 0].long()
        return int(((outputs[:, : self.classes].argmax(1) == labels) & (labels >= 0)).sum())

    def train_row(self, loss: float, hits: int, n: int) -> dict[str, float]:
        return {"train_loss": loss / n, "train_accuracy": hits / n}

    def scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """The weighted loss (early stopping watches it), each head's loss, accuracy and UAR of the utterances
        with a class, and the mean CCC over the targets of those with every value."""
        class_part, value_part = self.parts(outputs, targets)
        labels = targets[:, 0].long().cpu().numpy()
        predicted = outputs[:, : self.classes].argmax(1).cpu().numpy()
        has_class = labels >= 0
        truth = targets[:, 1:].double().cpu().numpy()
        complete = np.isfinite(truth).all(axis=1)
        values = outputs[:, self.classes :].double().cpu().numpy()
        return {
            "val_loss": float(self.weights[0] * class_part + self.weights[1] * value_part),
            "val_class_loss": float(class_part),
            "val_value_loss": float(value_part),
            "val_accuracy": accuracy(labels[has_class], predicted[has_class]) if has_class.any() else float("nan"),
            "val_uar": uar(labels[has_class], predicted[has_class]) if has_class.any() else float("nan"),
            "val_ccc": mean_ccc(truth[complete], values[complete]) if complete.sum() >= 2 else float("nan"),
        }

    def predictions(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.softmax(outputs[:, : self.classes], dim=1), outputs[:, self.classes :]], dim=1)


def class_labels(y: np.ndarray) -> np.ndarray:
    """The class indices of a task's targets: a classification's as they are, a joint task's first column."""
    return y.astype(np.int64) if y.ndim == 1 else y[:, 0].astype(np.int64)


Objective = Classification | Regression | Joint


def objective(task: str, loss: str = "ccc", classes: int = 0, weights: tuple[float, float] = (1.0, 1.0)) -> Objective:
    """The objective of ``task.kind``; a joint task's ``classes`` are its class head's outputs."""
    if task == "joint":
        return Joint(classes, loss, weights)
    return Regression(loss) if task == "regression" else Classification()
