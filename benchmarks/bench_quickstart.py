"""The README's main job end to end, from an empty cache: today's quickstart against serkit 0.1's.

    python benchmarks/bench_quickstart.py            # both, side by side (the baseline takes ~15 min on 2 AVX2 cores)
    python benchmarks/bench_quickstart.py --no-baseline
    python benchmarks/bench_quickstart.py --seeds 5 --precisions auto fp32   # what to expect on this CPU

Each run is `serkit run` in its own process with its own empty cache (synthesis included), in
float32 (train.precision = "fp32": what CPUs without bf16 run; forced so that the figure means
the same on any machine). The baseline is benchmarks/quickstart-0.1.toml run with serkit 0.1's
training path (glibc's default allocator behaviour, oneDNN's own single-channel gradient).

With --seeds N, today's quickstart runs N times per precision (run.seed 42, 43, ...: the split,
the initial weights and the batch order change), alternating precisions, the first run of each
precision from an empty cache and the others from the cache it left; it prints each run and the
mean and spread of accuracy, UAR and time per precision.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = (
    "import serkit.builtin.crnn as c, serkit.learn.hardware as t; "
    "c.FAST_SINGLE_CHANNEL_GRAD = False; t.KEEP_FREED_MEMORY = False; "
    "from serkit.cli import main; main()"
)
TODAY = "from serkit.cli import main; main()"


def run(
    recipe: Path, code: str, folder: Path, precision: str = "fp32", seed: int = 42, cache: Path | None = None
) -> dict[str, object]:
    output = folder / f"runs-{precision}-{seed}"
    command = [sys.executable, "-c", code, "run", str(recipe), "--set", f"train.precision={precision}"]
    command += ["--set", f"run.seed={seed}", "--set", f"run.output={output}"]
    command += ["--set", f"run.cache_dir={cache or folder / 'cache'}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (run_dir,) = output.iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "seconds": seconds,
        "accuracy": metrics["metrics"]["accuracy"],
        "uar": metrics["metrics"]["uar"],
        "timings": metrics["timings"],
        "epochs": metrics["folds"][0]["epochs"],
        "precision": metrics["precision"],
    }


def seeds(count: int, precisions: list[str]) -> None:
    """Today's quickstart over ``count`` seeds per precision, alternating; mean and spread."""
    recipe = HERE.parent / "recipes" / "quickstart.toml"
    rows: dict[str, list[dict[str, object]]] = {p: [] for p in precisions}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(42, 42 + count):
            for precision in precisions:
                cache = Path(folder) / f"cache-{precision}"  # empty for each precision's first run
                result = run(recipe, TODAY, Path(folder), precision, seed, cache)
                rows[precision].append(result)
                timings = result["timings"]
                print(
                    f"{precision:>5} ({result['precision']}) seed {seed}: {result['seconds']:.0f} s end to end, "
                    f"features {timings['features']:.0f} s, training {timings['train']:.0f} s, "  # type: ignore[index]
                    f"accuracy {100 * result['accuracy']:.1f} %, UAR {100 * result['uar']:.1f} %",  # type: ignore[operator]
                    flush=True,
                )
    for precision, results in rows.items():
        accuracy = _spread([100 * float(r["accuracy"]) for r in results])  # type: ignore[arg-type]
        uar = _spread([100 * float(r["uar"]) for r in results])  # type: ignore[arg-type]
        train = statistics.mean(float(r["timings"]["train"]) for r in results)  # type: ignore[index]
        print(
            f"{precision} over {len(results)} seeds: accuracy {accuracy}, UAR {uar}; "
            f"training {train:.0f} s (mean); first run end to end {results[0]['seconds']:.0f} s"
        )


def _spread(values: list[float]) -> str:
    return (
        f"{statistics.mean(values):.1f} % ± {statistics.stdev(values):.1f} (range {min(values):.1f}-{max(values):.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-baseline", action="store_true", help="only today's quickstart")
    parser.add_argument("--seeds", type=int, default=0, help="today's quickstart over this many seeds")
    parser.add_argument("--precisions", nargs="+", default=["auto", "fp32"], help="with --seeds")
    args = parser.parse_args()
    if args.seeds:
        seeds(args.seeds, args.precisions)
        return
    cases = [("today", HERE.parent / "recipes" / "quickstart.toml", TODAY)]
    if not args.no_baseline:
        cases.append(("serkit 0.1", HERE / "quickstart-0.1.toml", REFERENCE))
    results = {}
    for name, recipe, code in cases:
        with tempfile.TemporaryDirectory() as folder:
            results[name] = result = run(recipe, code, Path(folder))
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in result["timings"].items() if v >= 1)  # type: ignore[union-attr]
        print(
            f"{name:>10}: {result['seconds']:.0f} s end to end ({stages}; {result['epochs']} epochs), "
            f"accuracy {100 * result['accuracy']:.1f} %, UAR {100 * result['uar']:.1f} % (chance 12.5 %)"
        )
    if len(results) == 2:
        print(f"ratio {results['serkit 0.1']['seconds'] / results['today']['seconds']:.1f}x faster")  # type: ignore[operator]


if __name__ == "__main__":
    main()
