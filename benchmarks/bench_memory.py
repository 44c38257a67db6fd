"""Training memory bounded by the batch: the feature store against in-memory arrays, at 1x and 10x RAVDESS.

    python benchmarks/bench_memory.py            # 1 440 and 14 400 items of (1, 64, 94) features

Each case runs in its own process: features for N items (a reduced front end's shape, random
values: the training stage does not care what they mean) are put into serkit's feature store,
a z-score is fitted on them, and one epoch of a narrow CRNN (recipes/tiny.toml's: the data path's
cost weighs more against a small model, so the throughput comparison is the harsher one) is
trained, reading batches from the store; the in-memory case stacks and normalises every item
in one array first, as serkit 0.1 did.
It prints the peak resident memory of the training stage (ru_maxrss after the store is filled
minus before) and samples/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

SHAPE = (1, 64, 94)  # 3 s at 16 kHz, hop 512, 64 mel bands (recipes/quickstart.toml)
RAVDESS = 1440


def child(items: int, path: str, epochs: int) -> dict[str, float]:
    import torch

    from serkit.builtin.models import CRNN
    from serkit.core.settings import TrainSettings
    from serkit.data.normalise import ZScore
    from serkit.data.store import FeatureStore
    from serkit.learn.trainer import Trainer

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    keys = [(i, None) for i in range(items)]
    store = FeatureStore(keys, [f"item{i}" for i in range(items)])
    for key in keys:
        store.put(key, rng.standard_normal(SHAPE).astype(np.float16))
    y = rng.integers(0, 8, items)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    x = store.view(keys)
    normaliser = ZScore.fit(x, "band")
    if path == "memory":  # serkit 0.1: every item stacked and normalised in RAM
        x = normaliser(np.asarray(x))
        transform = None
    else:
        transform = normaliser
    settings = TrainSettings(max_epochs=epochs, batch_size=16, precision="fp32", patience=epochs)
    torch.manual_seed(0)
    trainer = Trainer(settings, torch.device("cpu"), 0)
    start = time.perf_counter()
    model = CRNN(filters=[8, 8, 16, 16], lstm_units=16).build(SHAPE, 8)
    trainer.fit(model, x, y, x[:64], y[:64], transform=transform)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"training_rss_mb": (peak - before) / 1024, "peak_rss_mb": peak / 1024, "samples_per_s": items / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="1,10", help="corpus sizes in RAVDESS units")
    parser.add_argument("--child", nargs=2, metavar=("ITEMS", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], 1)))
        return
    print(f"one epoch of a narrow CRNN on {SHAPE} features, batch 16, fp32, each case in its own process")
    results = {}
    for scale in (float(s) for s in args.scales.split(",")):
        items = int(scale * RAVDESS)
        for path in ("store", "memory"):
            command = [sys.executable, __file__, "--child", str(items), path]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[(scale, path)] = r = json.loads(out.strip().splitlines()[-1])
            print(
                f"  {scale:>4g}x RAVDESS ({items:>6} items), {path:>6}: training stage +{r['training_rss_mb']:.0f} MB "
                f"(process peak {r['peak_rss_mb']:.0f} MB), {r['samples_per_s']:.1f} samples/s"
            )
    scales = sorted({s for s, _ in results})
    if len(scales) == 2:
        small, big = scales
        for path in ("store", "memory"):
            growth = results[(big, path)]["peak_rss_mb"] / results[(small, path)]["peak_rss_mb"]
            print(f"  {path}: peak RSS grows {growth:.2f}x while items grow {big / small:g}x")
        speed = results[(small, "store")]["samples_per_s"] / results[(small, "memory")]["samples_per_s"]
        print(f"  store throughput / in-memory throughput: {speed:.2f}")


if __name__ == "__main__":
    main()
