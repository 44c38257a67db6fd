"""Feature pipeline throughput: serkit (cold and warm cache) against the naive per-file loop, in one run.

    python benchmarks/bench_features.py ../shared/datasets/emodb/wav --files 60

Both sides do the paper's work per file: load, resample to 44.1 kHz, trim, Wiener, fix to 3 s, and
a 128-band log-mel spectrogram of the original and of four augmented copies. The naive loop
stretches and shifts with librosa's phase vocoder, as the paper did; serkit runs its cached,
parallel pipeline with one worker per core with that method, with Signalsmith Stretch
(method = "signalsmith") and with its cheaper preset ("signalsmith_fast"); "warm" reruns it, as
an ablation that changes only the model does.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import naive_pipeline

from serkit.core.recipe import load_recipe
from serkit.data.cache import ArrayCache, file_digest
from serkit.data.compute import compute_features
from serkit.data.pipeline import Pipeline, extract, preprocess

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "paper-emodb.toml"


def serkit_pass(pipeline: Pipeline, files: list[str], cache: ArrayCache, workers: int) -> float:
    start = time.perf_counter()
    hashes = [file_digest(path) for path in files]
    items = [(i, a) for i in range(len(files)) for a in (None, 0, 1, 2, 3)]
    compute_features(pipeline, files, hashes, items, cache, workers)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder")
    parser.add_argument("--files", type=int, default=60)
    args = parser.parse_args()
    every = sorted(glob.glob(os.path.join(args.folder, "*.wav")))
    warmup, files = every[:2], every[2 : 2 + args.files]
    recipe = load_recipe(RECIPE, [f"dataset.root={args.folder}"])
    pipeline = Pipeline(recipe.preprocess, recipe.augment, recipe.features, recipe.run.seed)
    others = {}
    for method in ("signalsmith", "signalsmith_fast"):
        other = load_recipe(
            RECIPE, [f"dataset.root={args.folder}", *[f'augment[{i}].method="{method}"' for i in (1, 2, 3)]]
        )
        others[method] = Pipeline(other.preprocess, other.augment, other.features, other.run.seed)
    workers = os.cpu_count() or 1

    naive_pipeline.run(warmup)  # librosa's and numba's first-call costs are not part of the comparison
    naive_seconds, _ = naive_pipeline.run(files)
    with tempfile.TemporaryDirectory() as folder:
        cache = ArrayCache(folder)
        serkit_pass(pipeline, warmup, ArrayCache(Path(folder) / "warmup"), 1)
        for other_pipeline in others.values():
            serkit_pass(other_pipeline, warmup, ArrayCache(Path(folder) / "warmup"), 1)
        cold = serkit_pass(pipeline, files, cache, workers)
        colds = {m: serkit_pass(o, files, ArrayCache(Path(folder) / m), workers) for m, o in others.items()}
        warm = serkit_pass(pipeline, files, cache, workers)
        stored = cache.get("features", pipeline.feature_key(file_digest(files[0]), None))
    exact = extract(pipeline, files[0], *preprocess(pipeline, files[0]))
    error = float(np.abs(stored.astype(np.float32) - exact).max())

    n = len(files)
    print(f"machine: {os.cpu_count()} cores; {n} EMO-DB files, each the original + 4 augmented copies")
    print(f"{'pipeline':<44}{'seconds':>9}{'files/s':>10}{'vs naive':>10}")
    for name, seconds in (
        ("naive loop (one file at a time)", naive_seconds),
        (f"serkit cold, librosa ({workers} workers)", cold),
        *[(f"serkit cold, {m} ({workers} workers)", s) for m, s in colds.items()],
        ("serkit warm cache", warm),
    ):
        print(f"{name:<44}{seconds:9.2f}{n / seconds:10.1f}{naive_seconds / seconds:9.1f}x")
    print(f"float16 storage: largest difference from float32 log-mel {error:.4f} dB")


if __name__ == "__main__":
    main()
