"""Online augmentation against cached copies: the paper CRNN's training samples/s both ways, in one run.

    python benchmarks/bench_online.py ../shared/datasets/emodb/wav --files 64

The paper's pipeline (recipes/paper-emodb.toml: 44.1 kHz, 3 s, 128-band log-mel, the paper's CRNN,
batch 16, the precision ``auto`` picks). Copies: the four augmenters' fixed copies are computed and
cached first (not timed), then one epoch over the originals and their copies reads them from the
feature store. Online: one epoch over the originals, each example drawn anew through the same four
transforms (one of them per example, p = 1) by loader processes working ahead of the trainer. Both
are epochs of training examples, so samples/s compare; the online side also pays for the
augmentation, resampling-free (the preprocessed waveforms are cached) but with the stretch, the shift
and the log-mel per example. Device: the same epoch with the examples made in the training process on the
training device (``[augmentation] where = "device"``; the CPU here), and the milliseconds one batch of
examples takes there. From the measured per-clip cost on one core, the cores per GPU the
online path needs to feed a GPU at ``--gpu-samples-per-s`` (an assumption: no GPU is measured here).
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry
from serkit.data.cache import ArrayCache, file_digest
from serkit.data.compute import compute_features
from serkit.data.normalise import ZScore
from serkit.data.online import OnlineFeatures
from serkit.data.pipeline import online_example
from serkit.data.store import FeatureStore
from serkit.learn.device_examples import DeviceFeatures
from serkit.learn.hardware import choose_device
from serkit.learn.torch_learner import make_learner
from serkit.run.stages import run_pipeline

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "paper-emodb.toml"
ONE_OF_FOUR = (
    'augment=[{one_of = [{name = "gaussian_noise", max_amplitude = 0.1}, {name = "time_stretch", rate = 1.1}, '
    '{name = "time_stretch", rate = 0.8}, {name = "pitch_shift", semitones = 1.5}]}]'
)


def cpu() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = re.search(r"model name\s*:\s*(.*)", text)
    flags = set(re.search(r"flags\s*:\s*(.*)", text).group(1).split()) if "flags" in text else set()  # type: ignore[union-attr]
    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model.group(1) if model else platform.processor()}, {os.cpu_count()} cores, flags {', '.join(shown)}"


def train_epoch(recipe, x, y, x_val, y_val, n_classes: int) -> float:
    """Seconds of a second training epoch (the first warms oneDNN and starts the loaders); the validation
    pass is 8 items."""
    from serkit.learn.trainer import Trainer

    learner = make_learner(recipe.model, tuple(x.shape[1:]), n_classes, 0)
    trainer = Trainer(replace(recipe.train, max_epochs=2, patience=5), choose_device("cpu"), 0)
    result = trainer.fit(learner.module, x, y, x_val, y_val, n_classes=n_classes)  # type: ignore[attr-defined]
    seconds = result.history[-1]["seconds"]
    print(f"    ({result.precision}, {len(x)} examples in {seconds:.1f} s, the second of two epochs)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder")
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--loaders", type=int, default=0, help="online loader processes (0: serkit's default)")
    parser.add_argument("--gpu-samples-per-s", type=float, default=2000.0)
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.folder, "*.wav")))[: args.files + 8]
    print(f"CPU: {cpu()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    registry = get_registry()
    copies_recipe = load_recipe(RECIPE, [f"dataset.root={args.folder}"])
    online_recipe = load_recipe(RECIPE, [f"dataset.root={args.folder}", ONE_OF_FOUR, "augmentation.mode=online"])
    # the same four transforms on the training device: librosa's phase vocoder and the noise have torch versions
    copies, online = run_pipeline(copies_recipe, registry), run_pipeline(online_recipe, registry)
    hashes = [file_digest(f) for f in files]
    labels = np.arange(len(files)) % 7
    fit, val = list(range(args.files)), list(range(args.files, len(files)))
    with tempfile.TemporaryDirectory() as folder:
        cache = ArrayCache(folder)
        items = [(i, None) for i in range(len(files))] + [(i, a) for a in range(4) for i in fit]
        store = FeatureStore(items, files, folder)
        start = time.perf_counter()
        compute_features(copies, files, hashes, items, cache, os.cpu_count() or 1, sink=store.put)
        print(f"  copies computed and cached (not timed below): {time.perf_counter() - start:.1f} s")
        x_val, y_val = store.view([(i, None) for i in val]), labels[val]
        fit_items = [(i, None) for i in fit] + [(i, a) for a in range(4) for i in fit]
        print("  copies: an epoch over the originals and their four copies, read from the store")
        x_copies = store.view(fit_items)
        copies_rate = len(fit_items) / train_epoch(
            copies_recipe, x_copies, labels[[i for i, _ in fit_items]], x_val, y_val, 7
        )
        originals = np.asarray(store.view([(i, None) for i in fit]))
        source = OnlineFeatures(
            originals, [files[i] for i in fit], [hashes[i] for i in fit], online, cache, args.loaders
        )
        print(f"  online: an epoch over the originals drawn anew, {source.loaders} loader process(es)")
        try:
            online_rate = len(fit) / train_epoch(online_recipe, source, labels[fit], x_val, y_val, 7)
        finally:
            source.close()
        start = time.perf_counter()
        for i in fit[:16]:
            online_example(online, files[i], hashes[i], 99, originals[i], cache)
        per_clip = (time.perf_counter() - start) / 16
        device = DeviceFeatures(
            originals, [files[i] for i in fit], [hashes[i] for i in fit], online, cache, ZScore.identity()
        )
        print("  device: an epoch over the originals drawn anew on the training device (here the CPU)")
        device_rate = len(fit) / train_epoch(online_recipe, device, labels[fit], x_val, y_val, 7)
        batch = np.arange(min(16, len(fit)))
        start = time.perf_counter()
        for epoch in range(3):
            device.make(100 + epoch, batch, torch.device("cpu"))
        per_batch = (time.perf_counter() - start) / 3
        store.close()
    print(
        f"copies {copies_rate:.1f} samples/s, online by loaders {online_rate:.1f} samples/s, online on the device "
        f"{device_rate:.1f} samples/s: loaders/copies {online_rate / copies_rate:.2f}, "
        f"device/copies {device_rate / copies_rate:.2f}"
    )
    print(f"the device path's examples for a batch of {len(batch)} on this CPU: {1000 * per_batch:.0f} ms")
    print(f"one online example (one of the four transforms, then the log-mel) on one core: {1000 * per_clip:.1f} ms")
    cores = args.gpu_samples_per_s * per_clip
    print(
        f"to feed a GPU training the paper CRNN at {args.gpu_samples_per_s:.0f} samples/s (assumed) the online path "
        f"needs {cores:.1f} loader cores per GPU at this per-clip cost"
    )


if __name__ == "__main__":
    main()
