"""The trainer: device and precision choice, Adam, early stopping, resumable checkpoints."""

from __future__ import annotations

import ctypes
import io
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from serkit.core.errors import SerkitError
from serkit.core.faults import crash_point
from serkit.core.fileio import write_atomic
from serkit.core.learner import Features, Transform, class_weights
from serkit.core.settings import TrainSettings


def choose_device(setting: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if setting == "cuda" and not torch.cuda.is_available():
        raise SerkitError("run.device: 'cuda' was asked for but no CUDA device is available (use 'auto' or 'cpu')")
    if setting == "cpu" or (setting == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda")


def cpu_bf16() -> str:
    """How this CPU computes bf16: ``amx`` (AMX tiles: Intel Sapphire Rapids and later),
    ``avx512_bf16`` (AVX-512 BF16 without AMX, e.g. AMD Zen 4), ``arm_bf16`` (Arm's BF16 extension),
    ``emulated`` (oneDNN converts through float32: AVX-512 without BF16) or ``none`` (ATen's
    generic kernels: AVX2, or a torch without oneDNN)."""
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    if not onednn:
        return "none"
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return "arm_bf16"
    if _cpu_flag("_is_avx512_bf16_supported"):
        return "amx" if _cpu_flag("_is_amx_tile_supported") else "avx512_bf16"
    return "emulated"


def _cpu_flag(name: str) -> bool:
    """One of torch.cpu's private instruction-set checks; False where this torch lacks it."""
    check = getattr(torch.cpu, name, None)
    return bool(check()) if callable(check) else False


def cpu_prefers_bf16() -> bool:
    """Whether ``train.precision = "auto"`` trains in bf16 on this CPU: where bf16 was measured faster.
    The paper CRNN's training step in bf16 against float32 (benchmarks/README.md): 3.6x with AMX
    (Sapphire Rapids), 2.8x with AVX-512 BF16 (Zen 4, serkit 0.1), 0.4x where oneDNN converts through
    float32 (AVX-512 without BF16, which torch's own check counts as bf16 support). Arm's BF16 was
    not measured: fp32 there unless bf16 is asked for."""
    return cpu_bf16() in ("amx", "avx512_bf16")


def cuda_has_bf16(device: torch.device) -> bool:
    """Native bf16 (Ampere and later); older GPUs only emulate it, slower than fp16."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument
        return torch.cuda.get_device_capability(device)[0] >= 8


def choose_precision(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain float32."""
    if setting == "fp32":
        return None
    if setting == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if cuda_has_bf16(device) else torch.float16
        return torch.bfloat16 if cpu_prefers_bf16() else None
    if setting == "fp16" and device.type == "cpu":
        raise SerkitError("train.precision: fp16 autocast is for CUDA; use bf16 or fp32 on the CPU")
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[setting]


#: Keep freed memory in the process for reuse (see :func:`keep_freed_memory`). False restores
#: glibc's defaults, which ``benchmarks/bench_training.py`` measures side by side.
KEEP_FREED_MEMORY = True
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8


def keep_freed_memory() -> bool:
    """Stop glibc's malloc from unmapping large freed blocks and trimming the heap (Linux only).

    A training step allocates and frees the same large activations every batch; by default each
    is mmap-ed, freed with munmap and faulted in again next step (25-33 % of CPU time in the
    kernel on a 2-core EPYC). Served from one heap (one arena: the compute threads' blocks are
    reused too) that is never trimmed, they are reused. Process-wide and idempotent; True when
    it took effect. Results are bit-identical either way.
    """
    if not KEEP_FREED_MEMORY or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 64 << 20), (_M_ARENA_MAX, 1))
        return all(libc.mallopt(option, value) == 1 for option, value in settings)
    except (OSError, AttributeError):  # not glibc
        return False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
class _State:
    epoch: int = 0
    best_loss: float = float("inf")
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_weights: dict[str, torch.Tensor] | None = None


class Trainer:
    """Trains one model, a batch at a time; validation data comes from the training part.

    Features are read one batch at a time from ``x`` (an array, or a feature store's rows) and
    passed through ``transform`` (the fitted normaliser) on the way, so memory stays bounded by
    the batch; on a GPU they are moved to the device once when they fit.

    The batch order comes from a generator seeded with ``seed``; the caller seeds torch's global
    state once, before building the model (:func:`seed_everything`), so initial weights and any
    dropout draws follow the seed too.
    """

    def __init__(
        self,
        settings: TrainSettings,
        device: torch.device,
        seed: int,
        checkpoint: Path | None = None,
        keep_last_epoch: bool = False,
        epoch_weights: Callable[[int], Path] | None = None,
    ) -> None:
        self.settings = settings
        self.epoch_weights = epoch_weights
        self.keep_last_epoch = keep_last_epoch
        self.device = device
        self.seed = seed
        self.checkpoint = checkpoint
        self.autocast_dtype = choose_precision(settings.precision, device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        else:
            keep_freed_memory()

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None)

    def _prepare(self, model: nn.Module) -> nn.Module:
        model = model.to(self.device)
        if self.autocast_dtype is not None:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        if tensor.dim() == 4 and self.autocast_dtype is not None:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor.float()  # stored as float16

    def _source(self, x: Features, transform: Transform | None) -> Callable[[np.ndarray], torch.Tensor]:
        """Batches by index: on a GPU, everything moved there once (when it fits); else read per batch."""
        if self.device.type == "cuda" and _fits_on_device(x, self.device):
            whole = self._tensor(transform(x[np.arange(len(x))]) if transform else x[np.arange(len(x))])
            return lambda index: whole[torch.from_numpy(index).to(self.device)]
        return lambda index: self._tensor(transform(x[index]) if transform else x[index])

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
    ) -> TrainResult:
        """Train ``model``; ``n_classes`` (for class weights and balanced sampling) defaults to the labels seen."""
        settings = self.settings
        model = self._prepare(model)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.autocast_dtype == torch.float16)
        n_classes = n_classes or int(max(y_fit.max(), y_val.max())) + 1
        weights = torch.from_numpy(class_weights(y_fit, n_classes)).float().to(self.device)
        train_loss_fn = nn.CrossEntropyLoss(weight=weights if settings.class_weights == "balanced" else None)
        loss_fn = nn.CrossEntropyLoss()
        draw = self._sampler(y_fit, n_classes)
        batches = self._source(x_fit, transform)
        y_train = torch.from_numpy(y_fit).long().to(self.device)
        y_check = torch.from_numpy(y_val).long().to(self.device)
        state = self._resume(model, optimizer)
        resumed_from = state.epoch
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(state.epoch):  # replay the shuffles of finished epochs
            draw(generator)
        start = time.perf_counter()
        while state.epoch < settings.max_epochs and state.bad_epochs < settings.patience:
            tick = time.perf_counter()
            model.train()
            order = draw(generator).numpy()
            total_loss, correct = 0.0, 0
            for first in range(0, len(order), settings.batch_size):
                batch = order[first : first + settings.batch_size]
                inputs, targets = batches(batch), y_train[torch.from_numpy(batch).to(self.device)]
                optimizer.zero_grad(set_to_none=True)
                with self._autocast():
                    logits = model(inputs)
                    loss = train_loss_fn(logits.float(), targets)
                if not torch.isfinite(loss):
                    raise self._diverged(state.epoch + 1, f"the training loss became {loss.item()}")
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total_loss += loss.item() * len(batch)
                if state.epoch == 1 and first == 0:
                    crash_point("epoch")
                correct += int((logits.argmax(1) == targets).sum())
            val_loss, val_acc, val_uar = self._score(model, x_val, y_check, loss_fn, transform)
            if not (np.isfinite(val_loss) and all(bool(torch.isfinite(p).all()) for p in model.parameters())):
                what = f"the weights or the validation loss ({val_loss}) became non-finite"
                raise self._diverged(state.epoch + 1, what)
            state.epoch += 1
            row = {
                "epoch": state.epoch,
                "train_loss": total_loss / len(x_fit),
                "train_accuracy": correct / len(x_fit),
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "val_uar": val_uar,
                "seconds": time.perf_counter() - tick,
            }
            state.history.append(row)
            if val_loss < state.best_loss - 1e-6:
                state.best_loss, state.best_epoch, state.bad_epochs = val_loss, state.epoch, 0
                state.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                state.bad_epochs += 1
            self._save(model, optimizer, state)
            self._keep_epoch(model, state.epoch)
            on_epoch(row)
        if self.keep_last_epoch:
            state.best_epoch, state.bad_epochs = state.epoch, 0
        elif state.best_weights is not None:
            model.load_state_dict(state.best_weights)
        return TrainResult(
            model=model,
            history=state.history,
            best_epoch=state.best_epoch,
            stopped_early=state.bad_epochs >= settings.patience,
            device=str(self.device),
            precision=self.precision,
            seconds=time.perf_counter() - start,
            resumed_from=resumed_from,
        )

    def _diverged(self, epoch: int, what: str) -> SerkitError:
        """The error that stops a diverging run; the checkpoint of the last finite epoch stays."""
        kept = f"; the checkpoint of epoch {epoch - 1} is kept" if epoch > 1 and self.checkpoint else ""
        return SerkitError(
            f"training diverged in epoch {epoch}: {what} (likely cause: train.learning_rate = "
            f"{self.settings.learning_rate:g} is too high, or unnormalised features){kept}; no result was reported"
        )

    def _sampler(self, y_fit: np.ndarray, n_classes: int) -> Callable[[torch.Generator], torch.Tensor]:
        """One epoch's order of fit items: a permutation, or draws with equal chance per class."""
        if self.settings.sampler == "shuffle":
            return lambda generator: torch.randperm(len(y_fit), generator=generator)
        chance = torch.from_numpy(class_weights(y_fit, n_classes)[y_fit])
        return lambda generator: torch.multinomial(chance, len(y_fit), replacement=True, generator=generator)

    def _score(
        self, model: nn.Module, x: Features, y: torch.Tensor, loss_fn: nn.Module, transform: Transform | None
    ) -> tuple[float, float, float]:
        """Loss, accuracy and UAR (mean recall over the classes present) on held-out data."""
        logits = self.logits(model, x, transform)
        hits = (logits.argmax(1) == y).float()
        recalls = [hits[y == c].mean() for c in torch.unique(y)]
        return float(loss_fn(logits, y)), float(hits.mean()), float(torch.stack(recalls).mean())

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
        return torch.softmax(self.logits(model, x, transform), dim=1).cpu().numpy()

    def _keep_epoch(self, model: nn.Module, epoch: int) -> None:
        """With train.keep_epoch_weights, this epoch's weights where the run keeps them (for serkit audit)."""
        if not self.settings.keep_epoch_weights or self.epoch_weights is None:
            return
        data = state_dict_bytes(model)
        write_atomic(self.epoch_weights(epoch), lambda out: out.write(data), binary=True)

    def _save(self, model: nn.Module, optimizer: torch.optim.Optimizer, state: _State) -> None:
        if self.checkpoint is None:
            return
        payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": vars(state)}
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        write_atomic(self.checkpoint, lambda out: out.write(buffer.getvalue()), binary=True)

    def _resume(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> _State:
        if self.checkpoint is None or not self.checkpoint.exists():
            return _State()
        try:
            payload = torch.load(self.checkpoint, map_location=self.device, weights_only=True)
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            return _State(**payload["state"])
        except RuntimeError as exc:
            if "size mismatch" in str(exc) or "Missing key" in str(exc) or "Unexpected key" in str(exc):
                raise SerkitError(
                    f"{self.checkpoint}: written by a model of another shape than the recipe's [model] and "
                    "[features] now describe; resume with the recipe the run started with"
                ) from exc
            raise SerkitError(f"{self.checkpoint}: cannot resume from it ({str(exc).splitlines()[0]})") from exc
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SerkitError(f"{self.checkpoint}: cannot resume from this checkpoint ({first})") from exc


def _fits_on_device(x: Features, device: torch.device, share: float = 0.5) -> bool:
    """Whether ``x`` as float32 takes at most ``share`` of the device's free memory."""
    free, _ = torch.cuda.mem_get_info(device)
    return 4 * int(np.prod(x.shape)) <= share * free


def state_dict_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def describe_device(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {"type": "cuda", "name": torch.cuda.get_device_name(device), "torch_cuda": torch.version.cuda}
    return {"type": "cpu", "threads": torch.get_num_threads(), "bf16": cpu_bf16()}
