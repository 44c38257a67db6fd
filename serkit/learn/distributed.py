"""One torch training spread over several workers with Ray Train (``ray.train_workers``).

Every worker runs serkit's own :class:`~serkit.learn.trainer.Trainer` on the same model, seed and
batch order; each takes every N-th item of each batch, and the gradients are summed across workers
before each optimiser step (gloo on CPUs, NCCL on GPUs), so the model is the one a single process
with the same global batch would train, up to the order of floating-point sums. The first worker
writes the fold's checkpoint every epoch; Ray Train restarts a group whose worker died, and every
worker then continues from that checkpoint.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serkit.core.errors import SerkitError
from serkit.core.learner import Features, FitContext
from serkit.learn.objectives import objective
from serkit.learn.trainer import TrainResult

RESULT = "result.pt"


def fit_on_ray(
    module: torch.nn.Module,
    x_fit: Features,
    y_fit: np.ndarray,
    x_val: Features,
    y_val: np.ndarray,
    context: FitContext,
    n_classes: int,
) -> TrainResult:
    """Train ``module`` on ``context.workers`` Ray Train workers; returns what a single-process fit returns."""
    try:
        import ray
    except ImportError:
        raise SerkitError("ray.train_workers needs Ray, which is not installed: pip install 'serkit[ray]'") from None
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    started = not ray.is_initialized()
    if started:
        ray.init(
            address=context.ray_address or None, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
    gpu = context.device == "cuda" or (context.device == "auto" and torch.cuda.is_available())
    config = {
        "module": module,
        "data": ray.put((np.asarray(x_fit), y_fit, np.asarray(x_val), y_val)),
        "context": replace(context, on_epoch=_quiet),  # the driver replays the epochs to its own observer
        "n_classes": n_classes,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="serkit-train-") as storage:
            trainer = TorchTrainer(
                _worker_loop,
                train_loop_config=config,
                torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
                scaling_config=ScalingConfig(num_workers=context.workers, use_gpu=gpu),
                run_config=RunConfig(storage_path=storage, failure_config=FailureConfig(max_failures=2)),
            )
            result = trainer.fit()
            if result.error is not None or result.checkpoint is None:
                raise result.error or RuntimeError("no worker reported the trained model")
            with result.checkpoint.as_directory() as folder:
                payload = torch.load(Path(folder) / RESULT, map_location="cpu", weights_only=True)
    except SerkitError:
        raise
    except Exception as exc:
        message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise SerkitError(f"ray.train_workers: the distributed training failed ({message})") from exc
    finally:
        if started:
            ray.shutdown()
    module.load_state_dict(payload["model"])
    for row in payload["result"]["history"][payload["result"]["resumed_from"] :]:
        context.on_epoch(row)
    return TrainResult(module, **payload["result"])


def _quiet(row: dict[str, float]) -> None:
    """A worker's epoch observer: nothing (the driver reports the epochs once training is over)."""


def _worker_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: serkit's trainer on this worker's share of every batch."""
    import ray
    import ray.train
    from ray.train import Checkpoint

    from serkit.learn.hardware import choose_device, seed_everything
    from serkit.learn.trainer import Trainer

    context: FitContext = config["context"]
    rank, world = ray.train.get_context().get_world_rank(), ray.train.get_context().get_world_size()
    x_fit, y_fit, x_val, y_val = ray.get(config["data"])
    seed_everything(context.seed)
    device = choose_device(context.device)
    if device.type == "cuda":
        device = torch.device("cuda", ray.train.torch.get_device().index or 0)
    trainer = Trainer(
        context.settings,
        device,
        context.seed,
        context.checkpoint,
        context.keep_last_epoch,
        context.epoch_weights,
        shard=(rank, world),
        objective=objective(context.task, context.loss),
    )
    module, n_classes = config["module"], config["n_classes"]
    result = trainer.fit(module, x_fit, y_fit, x_val, y_val, _quiet, context.transform, n_classes, context.strata)
    summary = {
        "history": result.history,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "device": result.device,
        "precision": result.precision,
        "seconds": result.seconds,
        "resumed_from": result.resumed_from,
    }
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            buffer = io.BytesIO()
            torch.save({"model": result.model.state_dict(), "result": summary}, buffer)
            (Path(folder) / RESULT).write_bytes(buffer.getvalue())
            checkpoint = Checkpoint.from_directory(folder)
        ray.train.report({"epochs": len(result.history)}, checkpoint=checkpoint)
