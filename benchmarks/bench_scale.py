"""The driver at scale: every stage of ``serkit run`` on a simulated corpus of N short utterances from thousands of
speakers, and the split audit's near-identical check alone at 10^4 and 10^5 rows, with times and peak memory.

    python benchmarks/bench_scale.py --utterances 10000 100000 --audit-rows 10000 100000 --out /tmp/scale

The corpus: N clips of 0.5 s at 16 kHz (a voiced tone with a speaker's pitch and an emotion's tilt, and noise:
distinct audio, so the cache and the audit see N different files), a manifest CSV of path, label, speaker and
gender, 20 utterances per speaker. The run: the manifest dataset, 5 speaker folds, the ``log_mel_stats``
features (a vector per clip, about a millisecond each) and a logistic regression, so the driver's stages
dominate, not a network. Each
stage's seconds come from the run's own timings; the peak memory after each stage from ``ru_maxrss`` (the peak
so far: the stage where it rises is the one that needed it). Then ``serkit runs list`` and ``runs compare`` on
the runs, and ``serkit predict`` over 10,000 of the files. Everything is written under ``--out`` (the corpus is
kept between invocations); nothing in the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

SPEAKERS_PER = 20  # utterances per speaker
EMOTIONS = ("anger", "happiness", "neutral", "sadness")


def make_corpus(folder: Path, count: int) -> Path:
    """``count`` distinct 0.5 s clips and their manifest (made once; a second call reuses them)."""
    import soundfile as sf

    manifest = folder / "manifest.csv"
    if manifest.is_file() and sum(1 for _ in manifest.open()) == count + 1:
        return manifest
    rng = np.random.default_rng(0)
    rate, t = 16000, np.arange(8000) / 16000
    rows = []
    for k in range(count):
        speaker, emotion = f"s{k // SPEAKERS_PER:05d}", EMOTIONS[k % len(EMOTIONS)]
        pitch = 100 + (k // SPEAKERS_PER) % 150 + 40 * (k % len(EMOTIONS)) + rng.uniform(-10, 10)
        wave = sum(np.sin(2 * np.pi * h * pitch * t) / h for h in range(1, 6)) * np.hanning(t.size)
        wave = 0.2 * wave / np.abs(wave).max() + 0.01 * rng.standard_normal(t.size)
        path = folder / "clips" / speaker / f"{k:06d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wave.astype(np.float32), rate, subtype="PCM_16")
        rows.append((str(path), emotion, speaker, "fm"[(k // SPEAKERS_PER) % 2]))
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "speaker", "gender"])
        writer.writerows(rows)
    return manifest


def run_stages(manifest: Path, out: Path, name: str) -> dict[str, object]:
    """One ``serkit run`` in this process: each stage's seconds and the peak memory after it."""
    from serkit.run import stages
    from serkit.run.reporter import Reporter
    from serkit.run.runner import run_recipe

    peaks: dict[str, float] = {}
    original = stages.StageTimer.__call__

    def timed(self, stage):  # the peak resident memory so far, when each stage ends
        context = original(self, stage)

        class Wrapped:
            def __enter__(self_inner):
                return context.__enter__()

            def __exit__(self_inner, *exc):
                result = context.__exit__(*exc)
                peaks[stage] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                return result

        return Wrapped()

    stages.StageTimer.__call__ = timed  # type: ignore[method-assign]
    sets = [
        f"dataset={{name = 'manifest', root = '{manifest}'}}",
        "protocol={name = 'speaker_kfold', folds = 5}",
        "preprocess=[]",
        "augment=[]",
        "features={name = 'log_mel_stats'}",
        "model={name = 'logistic_regression'}",
        "normalise.scope=band",
        "report.explain=false",
        f"run.output={out / 'runs'}",
        f"run.cache_dir={out / 'cache'}",
        f"run.name={name}",
    ]
    root = Path(__file__).resolve().parents[1]
    start = time.perf_counter()
    run = run_recipe(str(root / "recipes" / "egemaps-svm.toml"), sets, Reporter())
    wall = time.perf_counter() - start
    stages.StageTimer.__call__ = original  # type: ignore[method-assign]
    timings = json.loads((Path(run) / "metrics.json").read_text())["timings"]
    return {"wall_s": round(wall, 1), "seconds": {k: round(v, 1) for k, v in timings.items()}, "peak_mib_after": peaks}


#: Runs a serkit command and writes its own peak resident memory (VmHWM) to the file named first: ``ru_maxrss``
#: of a child is no measure here, since Linux carries the forking parent's peak across ``exec``.
CHILD = """import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    kib = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
    open(out, "w").write(kib)
atexit.register(peak)
sys.argv[0] = "serkit"
runpy.run_module("serkit.cli", run_name="__main__")
"""


def timed_command(*args: str) -> tuple[float, float]:
    """Seconds and peak resident MiB of a serkit command in its own process."""
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".kib") as peak:
        start = time.perf_counter()
        status = subprocess.call([sys.executable, "-c", CHILD, peak.name, *args], stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        if status:
            raise SystemExit(f"serkit {' '.join(args)} failed")
        return seconds, int(Path(peak.name).read_text()) / 1024


def audit_alone(rows: int) -> tuple[float, float, int]:
    """The near-identical check on ``rows`` descriptions of 384 values (a log-mel pooled): seconds, peak MiB
    (tracemalloc) and pairs found (two planted)."""
    from serkit.data.leakage import near_pairs

    rng = np.random.default_rng(1)
    base = rng.standard_normal((64, 384)).astype(np.float32)
    prints = base[rng.integers(0, 64, rows)] * rng.uniform(0.2, 1, (rows, 1)).astype(np.float32)
    prints += rng.standard_normal((rows, 384)).astype(np.float32)  # distinct rows around 64 "voices"
    prints[1] = prints[0] + 0.01 * rng.standard_normal(384).astype(np.float32)
    prints[3] = 2 * prints[2]
    tracemalloc.start()
    start = time.perf_counter()
    found = near_pairs(prints)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, nargs="*", default=[10000])
    parser.add_argument("--audit-rows", type=int, nargs="*", default=[10000, 100000])
    parser.add_argument("--out", type=Path, default=Path("/tmp/serkit-scale"))
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {Path('/proc/cpuinfo').read_text().split('model name')[1].split(chr(10))[0][3:]}")
    for rows in args.audit_rows:
        seconds, peak, found = audit_alone(rows)
        figures = f"{rows} rows in {seconds:.1f} s, peak {peak:.0f} MiB, {found} pair(s)"
        print(f"split audit, near-identical check alone: {figures}")
    for count in args.utterances:
        folder = args.out / f"corpus-{count}"
        start = time.perf_counter()
        manifest = make_corpus(folder, count)
        ready = time.perf_counter() - start
        print(f"\n{count} utterances, {count // SPEAKERS_PER} speakers (corpus ready in {ready:.0f} s)")
        for run in ("cold", "warm"):  # the second run reads the first's feature cache; runs compare needs two
            result = run_stages(manifest, args.out / f"out-{count}", f"scale-{count}-{run}")
            print(f"serkit run ({run} cache):", json.dumps(result, indent=1))
        runs = sorted((args.out / f"out-{count}" / "runs").iterdir())
        listed = timed_command("runs", "list", str(args.out / f"out-{count}" / "runs"), "--json")
        print(f"runs list: {listed[0]:.1f} s, peak {listed[1]:.0f} MiB")
        if len(runs) >= 2:
            compared = timed_command("runs", "compare", str(runs[-2]), str(runs[-1]))
            print(f"runs compare: {compared[0]:.1f} s, peak {compared[1]:.0f} MiB")
        few = folder / "predict-10000"
        if not few.is_dir():
            few.mkdir()
            for k, path in enumerate(sorted((folder / "clips").rglob("*.wav"))[:10000]):
                (few / f"{k:05d}.wav").symlink_to(path)
        predicted = timed_command("predict", str(runs[-1]), str(few), "--csv")
        print(f"predict over 10,000 files: {predicted[0]:.1f} s, peak {predicted[1]:.0f} MiB")


if __name__ == "__main__":
    main()
