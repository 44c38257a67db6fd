"""CRNN training speed and accuracy: plain float32 against serkit's precision settings, in one run.

    python benchmarks/bench_training.py ../shared/datasets/emodb/wav --epochs 6

1. Train-step throughput of the paper's CRNN at batch 16 on (1, 128, 259) inputs: plain float32
   against bfloat16 autocast with channels-last memory (what precision = "auto" picks on a CPU
   with bf16 support). On CUDA it also measures automatic mixed precision and the largest batch
   that fits.
2. Accuracy on a fixed seed: the same EMO-DB split trained for a few epochs both ways.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from serkit.builtin.models import CRNN
from serkit.core.recipe import load_recipe
from serkit.experiment.metrics import evaluate
from serkit.experiment.train import Trainer, choose_device

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "paper-emodb.toml"


def samples_per_second(device: torch.device, dtype: torch.dtype | None, batch: int, steps: int = 12) -> float:
    torch.manual_seed(0)
    model = CRNN().build((1, 128, 259), 7).to(device)
    x = torch.randn(batch, 1, 128, 259, device=device)
    y = torch.randint(0, 7, (batch,), device=device)
    if dtype is not None:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(model(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def largest_batch(device: torch.device, dtype: torch.dtype | None) -> int:
    batch, best = 16, 16
    while batch <= 8192:
        try:
            samples_per_second(device, dtype, batch, steps=2)
            best, batch = batch, batch * 2
        except torch.OutOfMemoryError:
            break
        finally:
            torch.cuda.empty_cache()
    return best


def accuracy_both_ways(folder: str, epochs: int) -> None:
    from serkit.data.cache import ArrayCache, default_cache_dir, file_digest
    from serkit.data.normalise import ZScore
    from serkit.data.pipeline import Pipeline, compute_features
    from serkit.data.split import plan_folds

    recipe = load_recipe(RECIPE, [f"dataset.root={folder}", f"train.max_epochs={epochs}", "augment=[]"])
    utterances = recipe.dataset.scan().utterances
    labels = sorted({u.label for u in utterances})
    (plan,), _ = plan_folds(recipe.protocol.split(utterances, 42), utterances, 0.1, 42, recipe.protocol)
    pipeline = Pipeline(recipe.preprocess, [], recipe.features, 42)
    paths = [u.path for u in utterances]
    features = compute_features(
        pipeline,
        paths,
        [file_digest(p) for p in paths],
        [(i, None) for i in range(len(paths))],
        ArrayCache(default_cache_dir()),
        2,
    )
    y = np.array([labels.index(u.label) for u in utterances])

    def part(indices):
        return np.stack([features[(i, None)] for i in indices]), y[indices]

    (x_fit, y_fit), (x_val, y_val), (x_test, y_test) = part(plan.fit), part(plan.validation), part(plan.test)
    normaliser = ZScore.fit(x_fit, "band")
    x_fit, x_val, x_test = normaliser(x_fit), normaliser(x_val), normaliser(x_test)
    print(
        f"\naccuracy on a fixed seed: EMO-DB random split, no augmentation, {epochs} epochs, "
        f"{len(plan.fit)} fit / {len(plan.test)} test utterances"
    )
    for precision in ("fp32", "auto"):
        settings = type(recipe.train)(**{**recipe.train.__dict__, "precision": precision})
        trainer = Trainer(settings, choose_device("auto"), 42)
        torch.manual_seed(42)
        model = recipe.model.build(tuple(x_fit.shape[1:]), len(labels))
        start = time.perf_counter()
        result = trainer.fit(model, x_fit, y_fit, x_val, y_val)
        seconds = time.perf_counter() - start
        metrics = evaluate(y_test, trainer.predict_proba(result.model, x_test).argmax(1), labels)
        print(
            f"  {trainer.precision:>5}: accuracy {100 * metrics['accuracy']:.1f} %, UAR {100 * metrics['uar']:.1f} %,"
            f" {seconds:.0f} s for {len(result.history)} epochs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", nargs="?", help="EMO-DB wav folder for the accuracy comparison")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    cpu = torch.device("cpu")
    from serkit.experiment.train import cpu_supports_bf16

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, bf16 support: {cpu_supports_bf16()}")
    fp32 = samples_per_second(cpu, None, 16)
    bf16 = samples_per_second(cpu, torch.bfloat16, 16)
    print(
        f"CPU train step, batch 16: float32 {fp32:.1f} samples/s; bf16 autocast + channels-last {bf16:.1f} "
        f"samples/s; ratio {bf16 / fp32:.2f}x"
    )
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        print(
            f"CUDA {torch.cuda.get_device_name()}: batch 16 float32 {samples_per_second(gpu, None, 16):.0f}, "
            f"mixed precision {samples_per_second(gpu, amp, 16):.0f} samples/s"
        )
        biggest = largest_batch(gpu, amp)
        print(f"CUDA largest batch tried that fits: {biggest}: {samples_per_second(gpu, amp, biggest):.0f} samples/s")
    if args.folder:
        accuracy_both_ways(args.folder, args.epochs)


if __name__ == "__main__":
    main()
