"""What happens around the epochs of a training, as callbacks (as Lightning does): early stopping,
the resumable checkpoint, each epoch's weights kept for the audit, and reporting each epoch.

The trainer's loop calls :meth:`Callback.on_fit_start` once (after a checkpoint is read, the state
is the resumed one), :meth:`Callback.on_epoch_end` after every epoch in the order the callbacks are
given, and :meth:`Callback.on_fit_end` last.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from serkit.core.errors import SerkitError
from serkit.core.fileio import write_atomic
from serkit.learn.hardware import random_states, restore_random_states


@dataclass
class FitState:
    """A training's progress: what a checkpoint saves and a resumed training continues from."""

    epoch: int = 0
    #: The best epoch's early-stopping score, lower being better (a CCC is kept negated).
    best_loss: float = float("inf")
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_weights: dict[str, torch.Tensor] | None = None


@dataclass
class Loop:
    """What the callbacks see of a training: the model, its optimiser and the state."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    state: FitState


class Callback:
    """Does nothing; subclasses override what they need."""

    def on_fit_start(self, loop: Loop) -> None:
        pass

    def on_epoch_end(self, loop: Loop, row: dict[str, float]) -> None:
        pass

    def on_fit_end(self, loop: Loop) -> None:
        pass


@dataclass
class EarlyStopping(Callback):
    """Stops after ``patience`` epochs without a better validation score and restores the best epoch's
    weights; with ``keep_last`` (refitting on fit + validation) the last epoch is the one kept. The score is
    ``monitor``: ``val_loss`` (lower is better) or a regression's ``val_ccc`` (higher is better)."""

    patience: int
    keep_last: bool = False
    monitor: str = "val_loss"

    def _lower_is_better(self, row: dict[str, float]) -> float:
        return row[self.monitor] if self.monitor.endswith("loss") else -row[self.monitor]

    def done(self, state: FitState) -> bool:
        return state.bad_epochs >= self.patience

    def on_epoch_end(self, loop: Loop, row: dict[str, float]) -> None:
        state = loop.state
        score = self._lower_is_better(row)
        if score < state.best_loss - 1e-6:
            state.best_loss, state.best_epoch, state.bad_epochs = score, state.epoch, 0
            state.best_weights = {k: v.detach().cpu().clone() for k, v in loop.model.state_dict().items()}
        else:
            state.bad_epochs += 1

    def on_fit_end(self, loop: Loop) -> None:
        state = loop.state
        if self.keep_last:
            state.best_epoch, state.bad_epochs = state.epoch, 0
        elif state.best_weights is not None:
            loop.model.load_state_dict(state.best_weights)


@dataclass
class Checkpoint(Callback):
    """After every epoch, the model, optimiser, state and the global random generators (dropout, crops) in
    ``path``; a training that finds one there continues from it as if never stopped (a file of another
    model's shape is named, not half-loaded)."""

    path: Path
    device: torch.device
    #: Whether this process writes it (one of several data-parallel workers reads it only).
    save: bool = True

    def on_fit_start(self, loop: Loop) -> None:
        if self.path.exists():
            loop.state = self._read(loop)

    def on_epoch_end(self, loop: Loop, row: dict[str, float]) -> None:
        if not self.save:
            return
        payload = {
            "model": loop.model.state_dict(),
            "optimizer": loop.optimizer.state_dict(),
            "state": vars(loop.state),
            "random": random_states(),
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        write_atomic(self.path, lambda out: out.write(buffer.getvalue()), binary=True)

    def _read(self, loop: Loop) -> FitState:
        try:
            payload = torch.load(self.path, map_location=self.device, weights_only=True)
            loop.model.load_state_dict(payload["model"])
            loop.optimizer.load_state_dict(payload["optimizer"])
            if "random" in payload:  # checkpoints of serkit 0.2 have none
                restore_random_states(payload["random"])
            return FitState(**payload["state"])
        except RuntimeError as exc:
            if "size mismatch" in str(exc) or "Missing key" in str(exc) or "Unexpected key" in str(exc):
                raise SerkitError(
                    f"{self.path}: written by a model of another shape than the recipe's [model] and "
                    "[features] now describe; resume with the recipe the run started with"
                ) from exc
            raise SerkitError(f"{self.path}: cannot resume from it ({str(exc).splitlines()[0]})") from exc
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SerkitError(f"{self.path}: cannot resume from this checkpoint ({first})") from exc


@dataclass
class KeepEpochWeights(Callback):
    """``train.keep_epoch_weights``: every epoch's weights where ``where(epoch)`` says (for serkit audit)."""

    where: Callable[[int], Path]

    def on_epoch_end(self, loop: Loop, row: dict[str, float]) -> None:
        data = state_dict_bytes(loop.model)
        write_atomic(self.where(loop.state.epoch), lambda out: out.write(data), binary=True)


@dataclass
class ReportEpochs(Callback):
    """Hands every epoch's row to ``report`` (the run's progress bar and log, a search's scheduler)."""

    report: Callable[[dict[str, float]], None]

    def on_epoch_end(self, loop: Loop, row: dict[str, float]) -> None:
        self.report(row)


def state_dict_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()
