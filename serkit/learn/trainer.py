"""The trainer: Adam over batches read from a feature store, in the chosen precision, with what
happens between epochs (early stopping, checkpoints, kept weights, reporting) as callbacks."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from serkit.core.errors import SerkitError
from serkit.core.faults import crash_point
from serkit.core.learner import EpochFeatures, Features, Transform, class_weights
from serkit.core.settings import TrainSettings
from serkit.learn.callbacks import Callback, Checkpoint, EarlyStopping, FitState, KeepEpochWeights, Loop, ReportEpochs
from serkit.learn.hardware import choose_precision, keep_freed_memory
from serkit.learn.objectives import Classification, Joint, Objective, Regression, class_labels


@dataclass
class TrainResult:
    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    stopped_early: bool
    device: str
    precision: str
    seconds: float = 0.0
    resumed_from: int = 0


@dataclass
class _Step:
    """What one epoch's batches need: the optimiser, loss and scaler, the rows and targets."""

    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    #: The inputs of each non-empty batch of an epoch, in order, given (epochs done before it, batches).
    batches: Callable[[int, list[np.ndarray]], Iterator[torch.Tensor]]
    targets: torch.Tensor

    def apply(self, model: nn.Module, settings: TrainSettings, index: int, per_epoch: int, world: int) -> None:
        """Optimiser step ``index``: the workers' gradients summed, the scheduled rate, the step, and the first
        worker's buffers everywhere."""
        if world > 1:
            _average_gradients(model)
        set_learning_rate(settings, self.optimizer, index, per_epoch)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if world > 1:
            _share_buffers(model)


class Trainer:
    """Trains one model, a batch at a time; validation data comes from the training part.

    Features are read one batch at a time from ``x`` (an array, or a feature store's rows) and
    passed through ``transform`` (the fitted normaliser) on the way, so memory stays bounded by
    the batch; on a GPU they are moved to the device once when they fit.

    The batch order comes from a generator seeded with ``seed``; the caller seeds torch's global
    state once, before building the model (:func:`~serkit.learn.hardware.seed_everything`), so
    initial weights and any dropout draws follow the seed too.
    """

    def __init__(
        self,
        settings: TrainSettings,
        device: torch.device,
        seed: int,
        checkpoint: Path | None = None,
        keep_last_epoch: bool = False,
        epoch_weights: Callable[[int], Path] | None = None,
        shard: tuple[int, int] = (0, 1),
        objective: Objective | None = None,
    ) -> None:
        self.settings = settings
        self.objective = objective or Classification()
        self.device = device
        self.seed = seed
        self.checkpoint = checkpoint
        #: (rank, world size) of data-parallel training: each worker takes every world-th item of a batch.
        self.rank, self.world = shard
        self.early_stopping = EarlyStopping(settings.patience, keep_last_epoch, self.objective.monitor)
        self.callbacks: list[Callback] = [self.early_stopping]
        if checkpoint is not None:
            self.callbacks.append(Checkpoint(checkpoint, device, save=self.rank == 0))
        if settings.keep_epoch_weights and epoch_weights is not None and self.rank == 0:
            self.callbacks.append(KeepEpochWeights(epoch_weights))
        self.autocast_dtype = choose_precision(settings.precision, device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        else:
            keep_freed_memory()

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]

    def _autocast(self) -> AbstractContextManager[None]:
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None)

    def _prepare(self, model: nn.Module) -> nn.Module:
        channels_last = torch.channels_last if self.autocast_dtype is not None else torch.contiguous_format
        return model.to(self.device).to(memory_format=channels_last)  # type: ignore[call-overload]

    def _tensor(self, array: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Rows on the device as the model takes them (a tensor made there already, by the device path, as it is)."""
        if isinstance(array, torch.Tensor):
            tensor = array.to(self.device)
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        if tensor.dim() == 4 and self.autocast_dtype is not None:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor.float()  # stored as float16

    def fit(
        self,
        model: nn.Module,
        x_fit: Features,
        y_fit: np.ndarray,
        x_val: Features,
        y_val: np.ndarray,
        on_epoch: Callable[[dict[str, float]], None] = lambda row: None,
        transform: Transform | None = None,
        n_classes: int = 0,
        strata: np.ndarray | None = None,
    ) -> TrainResult:
        """Train ``model``; ``n_classes`` (for class weights and balanced sampling) defaults to the labels seen;
        a regression's ``y`` are (items, targets) values; ``strata``, each fit item's corpus, for by_corpus sampling."""
        settings = self.settings
        model = self._prepare(model)
        lr = settings.learning_rate
        optimizer = torch.optim.Adam(_parameter_groups(model, lr), lr=lr, weight_decay=settings.weight_decay)
        n_classes = class_count(self.objective, n_classes, y_fit, y_val)
        self.objective.prepare(y_fit, n_classes, settings, self.device)
        step = _Step(
            optimizer,
            torch.amp.GradScaler(self.device.type, enabled=self.autocast_dtype == torch.float16),
            epoch_source(x_fit, transform, self._tensor, self.device),
            self.objective.targets(y_fit, self.device),
        )
        y_check = self.objective.targets(y_val, self.device)
        callbacks = [*self.callbacks, ReportEpochs(on_epoch)]
        loop = Loop(model, optimizer, FitState())
        for callback in callbacks:
            callback.on_fit_start(loop)
        resumed_from = loop.state.epoch
        by = class_labels(y_fit) if isinstance(self.objective, Joint) else y_fit  # what balanced sampling draws by
        draw = epoch_order(settings, by, n_classes, x_fit, strata)
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(loop.state.epoch):  # replay the shuffles of finished epochs
            draw(generator)
        start = time.perf_counter()
        while loop.state.epoch < settings.max_epochs and not self.early_stopping.done(loop.state):
            order = draw(generator).numpy()
            row = self._epoch(model, step, order, loop.state.epoch, (x_val, y_check, transform))
            loop.state.epoch += 1
            loop.state.history.append(row)
            for callback in callbacks:
                callback.on_epoch_end(loop, row)
        for callback in callbacks:
            callback.on_fit_end(loop)
        state = loop.state
        return TrainResult(
            model=model,
            history=state.history,
            best_epoch=state.best_epoch,
            stopped_early=self.early_stopping.done(state),
            device=str(self.device),
            precision=self.precision,
            seconds=time.perf_counter() - start,
            resumed_from=resumed_from,
        )

    def _epoch(
        self,
        model: nn.Module,
        step: _Step,
        order: np.ndarray,
        done: int,
        validation: tuple[Features, torch.Tensor, Transform | None],
    ) -> dict[str, float]:
        """One pass over the fit items in ``order`` (``done`` epochs before it), then the validation
        part scored: the epoch's row of the history."""
        tick = time.perf_counter()
        fail = functools.partial(diverged, self.settings, self.checkpoint is not None, done + 1)
        model.train()
        total_loss, hits, data_seconds = 0.0, 0, 0.0
        size, accumulate = self.settings.batch_size, self.settings.accumulate
        starts = range(0, len(order), size)
        per_epoch = math.ceil(len(starts) / accumulate)  # optimiser steps
        step.optimizer.zero_grad(set_to_none=True)
        combine = _all_reduce_with_gradient() if self.world > 1 and self.objective.spans_batch else None
        shares = [order[first : first + size][self.rank :: self.world] for first in starts]  # this worker's
        inputs_of = step.batches(done, [share for share in shares if len(share)])
        for k, first in enumerate(starts):
            whole, batch = order[first : first + size], shares[k]
            group = min(accumulate, len(starts) - (k - k % accumulate))  # batches in this optimiser step
            # A mean over items is each worker's share weighted by its size; a loss of the whole batch (combined
            # over workers, identical on each) counts once: every worker's gradients are summed after.
            share = 1 / (self.world * group) if combine else len(batch) / (len(whole) * group)
            if len(batch) or combine is not None:  # a worker with no share still joins the batch's collective
                if len(batch):
                    waited = time.perf_counter()
                    inputs = next(inputs_of)  # read, drawn by loaders, or made on the device
                    data_seconds += time.perf_counter() - waited
                    targets = step.targets[torch.from_numpy(batch).to(self.device)]
                    with self._autocast():
                        outputs = model(inputs)
                        loss = self.objective.loss(outputs, targets, combine)
                else:
                    assert isinstance(self.objective, Regression) and combine is not None
                    loss = self.objective.empty_share_loss(step.targets.shape[1], combine, self.device)
                if not torch.isfinite(loss):  # the same on every worker when combined: all stop together
                    raise fail(f"the training loss became {loss.item()}")
                step.scaler.scale(loss * share).backward()
                if len(batch):
                    total_loss += loss.item() * len(batch)
                    hits += self.objective.hits(outputs, targets)
            if (k + 1) % accumulate == 0 or k + 1 == len(starts):
                step.apply(model, self.settings, done * per_epoch + k // accumulate, per_epoch, self.world)
            if done == 1 and first == 0:
                crash_point("epoch")
        if self.world > 1:
            total_loss, hits = _summed(total_loss, hits, self.device)
        x_val, y_val, transform = validation
        scores = self.objective.scores(self.logits(model, x_val, transform), y_val)
        val_loss = scores["val_loss"]
        if not (np.isfinite(val_loss) and all(bool(torch.isfinite(p).all()) for p in model.parameters())):
            raise fail(f"the weights or the validation loss ({val_loss}) became non-finite")
        row = {"epoch": done + 1, **self.objective.train_row(total_loss, hits, len(order)), **scores}
        # data_seconds: the host's time getting the epoch's batches (waiting for loaders, or making examples on the
        # device: asynchronous on a GPU, so its host-side part)
        return row | {"seconds": time.perf_counter() - tick, "data_seconds": data_seconds}

    @torch.no_grad()
    def logits(self, model: nn.Module, x: Features, transform: Transform | None = None) -> torch.Tensor:
        """Evaluation runs in float32 whatever the training precision, so a run's validation and test
        figures are those of the saved weights as ``serkit predict`` and the exports compute them."""
        model.eval()
        batch = max(self.settings.batch_size, 64)
        parts = []
        for first in range(0, len(x), batch):
            chunk = x[first : first + batch]
            parts.append(model(self._tensor(transform(chunk) if transform else chunk)).float())
        return torch.cat(parts)

    def predict_proba(self, model: nn.Module, x: Features, transform: Transform | None = None) -> np.ndarray:
        """Class probabilities, or a regression's values (the objective's predictions)."""
        return self.objective.predictions(self.logits(model, x, transform)).cpu().numpy()


def class_count(objective: Objective, given: int, y_fit: np.ndarray, y_val: np.ndarray) -> int:
    """The class count: a joint task's class head's, else ``given``, else the labels seen (a classification)."""
    if isinstance(objective, Joint):
        return objective.classes
    if objective.kind == "classification":
        return given or int(max(y_fit.max(), y_val.max())) + 1
    return given


def epoch_source(
    x: Features, transform: Transform | None, tensor_of: Callable[[Any], torch.Tensor], device: torch.device
) -> Callable[[int, list[np.ndarray]], Iterator[torch.Tensor]]:
    """An epoch's batches by index: made afresh each epoch where ``x`` makes them (online augmentation, on the
    device or by :class:`EpochFeatures`' loaders); on a GPU, everything moved there once (when it fits); else
    read per batch."""

    def tensor(rows: np.ndarray) -> torch.Tensor:
        return tensor_of(transform(rows) if transform else rows)

    made_on_device = getattr(x, "device_batches", None)
    if made_on_device is not None:  # online examples made on the device, normalised there
        return lambda epoch, batches: (tensor_of(rows) for rows in made_on_device(epoch, batches, device))
    if isinstance(x, EpochFeatures):
        return lambda epoch, batches: (tensor(rows) for rows in x.batches(epoch, batches))
    if device.type == "cuda" and _fits_on_device(x, device):
        whole = tensor(x[np.arange(len(x))])
        return lambda epoch, batches: (whole[torch.from_numpy(b).to(device)] for b in batches)
    return lambda epoch, batches: (tensor(x[b]) for b in batches)


def epoch_order(
    settings: TrainSettings, y_fit: np.ndarray, n_classes: int, x_fit: Features, strata: np.ndarray | None = None
) -> Callable[[torch.Generator], torch.Tensor]:
    """One epoch's order of fit items: a permutation, draws with equal chance per class (per corpus, per corpus and
    class: ``strata`` names each item's corpus), or a permutation grouped into batches of similar length."""
    if settings.sampler == "shuffle":
        return lambda generator: torch.randperm(len(y_fit), generator=generator)
    if settings.sampler == "by_length":
        return functools.partial(_by_length, torch.from_numpy(unpadded_lengths(x_fit)), settings.batch_size)
    if settings.sampler == "balanced":
        chance = torch.from_numpy(class_weights(y_fit, n_classes)[y_fit])
    else:
        chance = torch.from_numpy(stratum_chances(settings.sampler, y_fit, strata))
    return lambda generator: torch.multinomial(chance, len(y_fit), replacement=True, generator=generator)


def stratum_chances(sampler: str, y_fit: np.ndarray, strata: np.ndarray | None) -> np.ndarray:
    """Each fit item's chance of a draw under by_corpus (every corpus alike) or by_corpus_class (every corpus and
    class alike; a regression's by corpus alone): one over its stratum's size, summed to one."""
    if strata is None or len(strata) != len(y_fit):
        raise SerkitError(f'train.sampler: "{sampler}" needs the corpus of every fit item ([[dataset]] tables)')
    keys = [str(s) for s in strata]
    if sampler == "by_corpus_class" and y_fit.ndim == 1:
        keys = [f"{key}|{label}" for key, label in zip(keys, y_fit, strict=True)]
    _, index, counts = np.unique(np.array(keys), return_inverse=True, return_counts=True)
    chance = 1.0 / counts[index]
    return chance / chance.sum()


def unpadded_lengths(x: Features, chunk: int = 256) -> np.ndarray:
    """Each waveform's length before its padding (its trailing run of one value: zeros, or what z-scoring made
    of them), read a chunk at a time."""
    lengths = []
    for first in range(0, len(x), chunk):
        rows = np.asarray(x[first : first + chunk]).reshape(min(chunk, len(x) - first), -1)
        varying = rows != rows[:, -1:]
        lengths.append(np.where(varying.any(1), varying.shape[1] - varying[:, ::-1].argmax(1), 0))
    return np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)


def _by_length(lengths: torch.Tensor, batch_size: int, generator: torch.Generator, pool: int = 50) -> torch.Tensor:
    """A permutation cut into pools of ``pool`` batches, each pool sorted by length (longest first) and cut
    into batches, and the batches shuffled: batches of similar length, in a new order every epoch. A short
    batch stays last, so the trainer's slices of ``batch_size`` are these batches."""
    order = torch.randperm(len(lengths), generator=generator)
    batches = []
    for first in range(0, len(order), pool * batch_size):
        part = order[first : first + pool * batch_size]
        part = part[torch.argsort(lengths[part], descending=True, stable=True)]
        batches += list(part.split(batch_size))
    short = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    shuffled = torch.randperm(len(batches), generator=generator)
    return torch.cat([batches[k] for k in shuffled] + short) if batches or short else order


def set_learning_rate(settings: TrainSettings, optimizer: torch.optim.Optimizer, index: int, per_epoch: int) -> None:
    """Each group's learning rate for optimiser step ``index`` (from the start of training, so a resumed
    run continues the schedule): its base rate, or under ``schedule = "cosine"`` a linear warm-up then
    a cosine decay to zero at ``max_epochs``."""
    for group in optimizer.param_groups:
        group.setdefault("base_lr", group["lr"])
    if settings.schedule == "constant":
        return
    warmup = settings.warmup_epochs * per_epoch
    total = settings.max_epochs * per_epoch
    if index < warmup:
        factor = (index + 1) / warmup
    else:
        factor = 0.5 * (1 + math.cos(math.pi * min(1.0, (index - warmup) / max(1.0, total - warmup))))
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def diverged(settings: TrainSettings, checkpointed: bool, epoch: int, what: str) -> SerkitError:
    """The error that stops a diverging run; the checkpoint of the last finite epoch stays."""
    kept = f"; the checkpoint of epoch {epoch - 1} is kept" if epoch > 1 and checkpointed else ""
    return SerkitError(
        f"training diverged in epoch {epoch}: {what} (likely cause: train.learning_rate = "
        f"{settings.learning_rate:g} is too high, or unnormalised features){kept}; no result was reported"
    )


class _SumOverWorkers(torch.autograd.Function):
    """The sum of a tensor over the workers; its gradient, likewise summed, flows back to each."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        total = gradient.clone()
        dist.all_reduce(total)
        return total


def _all_reduce_with_gradient() -> Callable[[torch.Tensor], torch.Tensor]:
    """The sum of a tensor over the workers, differentiable (:class:`_SumOverWorkers`)."""
    return _SumOverWorkers.apply


def _average_gradients(model: nn.Module) -> None:
    """Data parallelism's step: every worker's gradients summed (each was scaled by its share of the batch)."""
    import torch.distributed as dist

    for parameter in model.parameters():
        if parameter.requires_grad:
            if parameter.grad is None:  # a worker whose share of the last batch was empty
                parameter.grad = torch.zeros_like(parameter)
            dist.all_reduce(parameter.grad)


def _share_buffers(model: nn.Module) -> None:
    """The first worker's buffers (batch-norm statistics) everywhere, as DDP does, so workers never drift."""
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer, 0)


def _summed(loss: float, correct: int, device: torch.device) -> tuple[float, int]:
    """The epoch's loss and hits added over the workers (on the device: NCCL reduces GPU tensors only)."""
    import torch.distributed as dist

    both = torch.tensor([loss, float(correct)], dtype=torch.float64, device=device)
    dist.all_reduce(both)
    return float(both[0]), int(both[1])


def _parameter_groups(model: nn.Module, learning_rate: float) -> Any:
    """What the optimiser trains: the model's own parameter groups where it declares them (a
    ``parameter_groups(learning_rate)`` method: per-group learning rates, frozen parts left out), else
    every parameter that requires a gradient."""
    declared = getattr(model, "parameter_groups", None)
    if callable(declared):
        return declared(learning_rate)
    return [p for p in model.parameters() if p.requires_grad]


def _fits_on_device(x: Features, device: torch.device, share: float = 0.5) -> bool:
    """Whether ``x`` as float32 takes at most ``share`` of the device's free memory."""
    free, _ = torch.cuda.mem_get_info(device)
    return 4 * int(np.prod(x.shape)) <= share * free
