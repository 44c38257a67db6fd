"""What a torch model is trained to do: classify (cross-entropy, accuracy and UAR) or regress
dimensional targets (1 - CCC or mean squared error, and the validation CCC).

The trainer asks its objective for the loss of a batch, the epoch's training figures and the
validation part's scores; everything else (batches, precision, early stopping on ``val_loss``,
checkpoints) is the same for both.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from serkit.core.learner import class_weights
from serkit.core.settings import TrainSettings


def concordance(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lin's concordance correlation coefficient of each column: 2 cov / (var_p + var_t + (mean_p - mean_t)^2),
    population moments; 0 where both columns are constant."""
    mean_p, mean_t = predicted.mean(0), target.mean(0)
    covariance = ((predicted - mean_p) * (target - mean_t)).mean(0)
    denominator = predicted.var(0, unbiased=False) + target.var(0, unbiased=False) + (mean_p - mean_t) ** 2
    return 2 * covariance / denominator.clamp(min=1e-12)


class Classification:
    """Cross-entropy over the classes (weighted by ``train.class_weights``); softmax probabilities out."""

    kind = "classification"

    def __init__(self) -> None:
        self.loss_fn: nn.Module = nn.CrossEntropyLoss()

    def prepare(self, y_fit: np.ndarray, n_classes: int, settings: TrainSettings, device: torch.device) -> None:
        if settings.class_weights == "balanced":
            weights = torch.from_numpy(class_weights(y_fit, n_classes)).float().to(device)
            self.loss_fn = nn.CrossEntropyLoss(weight=weights)

    def targets(self, y: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.from_numpy(y).long().to(device)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(outputs.float(), targets)

    def hits(self, outputs: torch.Tensor, targets: torch.Tensor) -> int:
        return int((outputs.argmax(1) == targets).sum())

    def train_row(self, loss: float, hits: int, n: int) -> dict[str, float]:
        return {"train_loss": loss / n, "train_accuracy": hits / n}

    def scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Unweighted cross-entropy, accuracy and UAR (mean recall over the classes present)."""
        hits = (outputs.argmax(1) == targets).float()
        recalls = torch.stack([hits[targets == c].mean() for c in torch.unique(targets)])
        loss = float(nn.functional.cross_entropy(outputs, targets))
        return {"val_loss": loss, "val_accuracy": float(hits.mean()), "val_uar": float(recalls.mean())}

    def predictions(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(outputs, dim=1)


class Regression:
    """One output per target: 1 - CCC averaged over the targets (``loss = "ccc"``, the field's usual
    choice) or their mean squared error; the values themselves out."""

    kind = "regression"

    def __init__(self, loss: str = "ccc") -> None:
        self.kind_of_loss = loss

    def prepare(self, y_fit: np.ndarray, n_classes: int, settings: TrainSettings, device: torch.device) -> None:
        return None

    def targets(self, y: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.float32)).to(device)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        outputs = outputs.float()
        if self.kind_of_loss == "mse":
            return nn.functional.mse_loss(outputs, targets)
        return 1 - concordance(outputs, targets).mean()

    def hits(self, outputs: torch.Tensor, targets: torch.Tensor) -> int:
        return 0

    def train_row(self, loss: float, hits: int, n: int) -> dict[str, float]:
        return {"train_loss": loss / n}

    def scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """The loss over the whole part (early stopping watches it) and the mean CCC over the targets."""
        return {"val_loss": float(self.loss(outputs, targets)), "val_ccc": float(concordance(outputs, targets).mean())}

    def predictions(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs


Objective = Classification | Regression


def objective(task: str, loss: str = "ccc") -> Objective:
    return Regression(loss) if task == "regression" else Classification()
