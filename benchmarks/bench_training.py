"""CRNN training speed and accuracy: plain float32 against serkit's precision settings, in one run.

    python benchmarks/bench_training.py ../shared/datasets/emodb/wav --epochs 6

1. fp32 training through serkit's Trainer, today's path against the reference (glibc's default
   allocator behaviour, oneDNN's own single-input-channel weight gradient and ReLU before pooling, as serkit 0.1 ran),
   each in its own process (allocator settings are process-wide), alternating, with the
   achieved GFLOP/s against the CPU's peak and the difference in losses.
2. Train-step throughput of the paper's CRNN at batch 16 on (1, 128, 259) inputs: plain float32
   against bfloat16 autocast with channels-last memory (what precision = "auto" picks on a CPU
   with AMX), with oneDNN's weight gradient and with serkit's fast one. Run it under
   ``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16`` (no AMX) or ``AVX512_CORE`` (no bf16 instructions) with
   ``--force-bf16`` to see what other CPUs get. On CUDA it also measures automatic mixed
   precision and the largest batch that fits.
3. Accuracy on a fixed seed: the same EMO-DB split trained for a few epochs both ways.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from serkit.builtin.models import CRNN
from serkit.core.recipe import load_recipe
from serkit.learn.hardware import choose_device
from serkit.learn.trainer import Trainer
from serkit.results.metrics import evaluate

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


INPUT = (1, 128, 259)  # 3 s at 44.1 kHz, hop 512, 128 mel bands: the paper's input


def fp32_epoch(variant: str, items: int, epochs: int) -> dict[str, float]:
    """One process's measurement: fp32 epochs of the paper CRNN through the Trainer on random features."""
    import serkit.builtin.crnn as crnn
    import serkit.learn.hardware as train
    from serkit.core.settings import TrainSettings

    if variant == "reference":
        train.KEEP_FREED_MEMORY = False
        crnn.FAST_SINGLE_CHANNEL_GRAD = False
        crnn.POOL_BEFORE_RELU = False
    rng = np.random.default_rng(0)
    x = rng.standard_normal((items, *INPUT)).astype(np.float16)  # stored as serkit stores features
    y = rng.integers(0, 8, items)
    settings = TrainSettings(max_epochs=epochs, batch_size=16, learning_rate=1e-4, patience=epochs, precision="fp32")
    torch.manual_seed(0)
    model = CRNN().build(INPUT, 8)
    trainer = Trainer(settings, torch.device("cpu"), 0)
    start = time.perf_counter()
    result = trainer.fit(model, x, y, x[:16], y[:16])
    seconds = time.perf_counter() - start
    return {
        "samples_per_s": epochs * items / seconds,
        "losses": [row["train_loss"] for row in result.history],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "kernel_share": _kernel_share(),
        "page_faults_per_sample": resource.getrusage(resource.RUSAGE_SELF).ru_minflt / (epochs * items),
    }


def _kernel_share() -> float:
    times = os.times()
    return times.system / max(times.user + times.system, 1e-9)


def flops_per_sample() -> float:
    """Forward and backward FLOPs of one training sample, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    model = CRNN().build(INPUT, 8)
    x = torch.randn(4, *INPUT)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops() / 4


def cpu_peak_gflops() -> tuple[float, str]:
    """Cores x clock x fp32 FLOPs per cycle (two FMA units of the widest vector the CPU has)."""
    flags, mhz = set(), 0.0
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
        elif key.strip() == "cpu MHz":
            mhz = max(mhz, float(value))
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = 2 * 2 * lanes if "fma" in flags or lanes == 16 else 2 * lanes
    cores = torch.get_num_threads()
    peak = cores * mhz / 1000 * per_cycle
    vector = "AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE"
    return peak, f"{cores} threads x {mhz / 1000:.2f} GHz x {per_cycle} fp32 FLOP/cycle ({vector}, FMA)"


def compare_fp32(items: int, epochs: int, rounds: int) -> None:
    peak, how = cpu_peak_gflops()
    flops = flops_per_sample()
    print(f"fp32 training, paper CRNN, input {INPUT}, batch 16, {items} items x {epochs} epoch(s), {rounds} rounds")
    print(f"  {flops / 1e9:.1f} GFLOP per training sample; CPU peak {peak:.0f} GFLOP/s ({how})")
    results: dict[str, list[dict]] = {"reference": [], "serkit": []}
    for _ in range(rounds):
        for variant in ("reference", "serkit"):
            command = [sys.executable, __file__, "--child", variant, "--items", str(items), "--epochs", str(epochs)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[variant].append(json.loads(out.strip().splitlines()[-1]))
    best = {v: max(r["samples_per_s"] for r in runs) for v, runs in results.items()}
    for variant, runs in results.items():
        rate = best[variant]
        each = ", ".join(f"{r['samples_per_s']:.2f}" for r in runs)
        print(
            f"  {variant:>9}: {rate:.2f} samples/s (best of {rounds}: "
            f"{each}), {rate * flops / 1e9:.0f} GFLOP/s = "
            f"{100 * rate * flops / 1e9 / peak:.0f} % of peak, kernel time {100 * runs[0]['kernel_share']:.0f} %, "
            f"peak RSS {runs[0]['peak_rss_mb']:.0f} MB, {runs[0]['page_faults_per_sample']:.0f} page faults/sample"
        )
    a, b = results["reference"][0]["losses"], results["serkit"][0]["losses"]
    print(
        f"  ratio {best['serkit'] / best['reference']:.2f}x; training losses differ by at most "
        f"{max(abs(p - q) for p, q in zip(a, b, strict=True)):.2e} (reference {a[-1]:.6f}, serkit {b[-1]:.6f})"
    )


def compare_precisions(cpu: torch.device, rounds: int) -> None:
    """Train steps of the paper CRNN at batch 16 on the CPU: float32, and bf16 autocast with oneDNN's
    own weight gradient (serkit's choice) and with the fast single-channel one, alternating; best of
    ``rounds`` each."""
    import serkit.builtin.crnn as crnn

    variants = {
        "fp32": (None, False),
        "bf16, oneDNN's gradient": (torch.bfloat16, False),
        "bf16, fast gradient": (torch.bfloat16, True),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (dtype, fast) in variants.items():
            crnn.FAST_GRAD_UNDER_AUTOCAST = fast
            try:
                rates[name].append(samples_per_second(cpu, dtype, 16))
            finally:
                crnn.FAST_GRAD_UNDER_AUTOCAST = False
    best = {name: max(r) for name, r in rates.items()}
    print(f"CPU train step, paper CRNN {INPUT}, batch 16, best of {rounds} (samples/s):")
    for name, rate in best.items():
        each = ", ".join(f"{r:.2f}" for r in rates[name])
        print(f"  {name:>24}: {rate:6.2f} ({each}); {rate / best['fp32']:.2f}x fp32")


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
    from serkit.data.compute import compute_features
    from serkit.data.normalise import ZScore
    from serkit.data.pipeline import Pipeline
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
    parser.add_argument("--items", type=int, default=96, help="training items per epoch in the fp32 comparison")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each variant (best is kept)")
    parser.add_argument("--force-bf16", action="store_true", help="measure bf16 without native support too")
    parser.add_argument("--child", choices=("reference", "serkit"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(fp32_epoch(args.child, args.items, 1)))
        return
    compare_fp32(args.items, 1, args.rounds)
    cpu = torch.device("cpu")
    from serkit.learn.hardware import cpu_bf16

    bf16 = cpu_bf16()
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "the CPU's best")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, bf16: {bf16}, oneDNN ISA: {isa}")
    if bf16 in ("amx", "avx512_bf16", "arm_bf16") or args.force_bf16:
        compare_precisions(cpu, args.rounds)
    else:
        print(f"bf16 autocast: not measured (bf16 is {bf16} on this CPU; serkit trains in fp32 here; --force-bf16)")
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
