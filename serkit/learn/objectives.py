"""What a torch model is trained to do: classify (cross-entropy, accuracy and UAR) or regress
dimensional targets (1 - CCC or mean squared error, and the validation CCC).

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


Objective = Classification | Regression


def objective(task: str, loss: str = "ccc") -> Objective:
    return Regression(loss) if task == "regression" else Classification()
