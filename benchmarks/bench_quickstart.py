"""The README's main job end to end, from an empty cache: today's quickstart against serkit 0.1's.

    python benchmarks/bench_quickstart.py            # both, side by side (the baseline takes ~15 min on 2 AVX2 cores)
    python benchmarks/bench_quickstart.py --no-baseline

Each run is `serkit run` in its own process with its own empty cache (synthesis included), in
float32 (train.precision = "fp32": what CPUs without bf16 run; forced so that the figure means
the same on any machine). The baseline is benchmarks/quickstart-0.1.toml run with serkit 0.1's
training path (glibc's default allocator behaviour, oneDNN's own single-channel gradient).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = (
    "import serkit.builtin.crnn as c, serkit.experiment.train as t; "
    "c.FAST_SINGLE_CHANNEL_GRAD = False; t.KEEP_FREED_MEMORY = False; "
    "from serkit.cli import main; main()"
)
TODAY = "from serkit.cli import main; main()"


def run(recipe: Path, code: str, folder: Path) -> dict[str, object]:
    command = [sys.executable, "-c", code, "run", str(recipe), "--set", "train.precision=fp32"]
    command += ["--set", f"run.cache_dir={folder / 'cache'}", "--set", f"run.output={folder / 'runs'}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (run_dir,) = (folder / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "seconds": seconds,
        "accuracy": metrics["metrics"]["accuracy"],
        "uar": metrics["metrics"]["uar"],
        "timings": metrics["timings"],
        "epochs": metrics["folds"][0]["epochs"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-baseline", action="store_true", help="only today's quickstart")
    args = parser.parse_args()
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
