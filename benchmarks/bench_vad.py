"""`serkit predict --segments vad` on a one-hour recording: time and peak memory, against a one-minute one.

    python benchmarks/bench_vad.py                      # trains the tiny recipe for one epoch first
    python benchmarks/bench_vad.py --run runs/tiny-...  # or uses a run folder

The recordings are EMO-DB utterances (../shared/datasets) between 1-3 s of noise at -60 dBFS, written at
22.05 kHz. Each `serkit predict` runs in its own process, one after another, and its peak resident set
size is read from the kernel (os.wait4 of that child): if the file were read whole, the hour
would need 60 times the minute's audio in memory; read in blocks, both peaks should be about the same.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SERKIT_SHARED", ROOT.parent / "shared"))


def cpu_name() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in text]
    return f"{name or platform.processor()} ({', '.join(flags)}; {os.cpu_count()} cores)"


def recording(path: Path, minutes: float, seed: int = 0) -> int:
    """Utterances and gaps written block by block (the hour is never held whole here either); returns how many."""
    files = sorted((SHARED / "datasets" / "emodb" / "wav").glob("*.wav"))
    if not files:
        sys.exit(f"EMO-DB not found under {SHARED / 'datasets'} (set SERKIT_SHARED)")
    rng = np.random.default_rng(seed)
    written, count = 0, 0
    with soundfile.SoundFile(path, "w", 22050, 1, "PCM_16") as out:
        while written < minutes * 60 * 22050:
            gap = rng.normal(0, 1e-3, round(rng.uniform(1.0, 3.0) * 22050)).astype(np.float32)
            wave, _ = soundfile.read(files[count % len(files)], dtype="float32")
            out.write(gap)
            out.write(wave)
            written += gap.size + wave.size
            count += 1
    return count


def serkit(*args: str) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB (the kernel's figure for that process alone: os.wait4) and the output of
    ``serkit ARGS`` in a fresh process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen([sys.executable, "-m", "serkit.cli", *args], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if child.returncode != 0:
        sys.exit(f"serkit {' '.join(args)} failed:\n{text}")
    return seconds, usage.ru_maxrss / 1024, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder (default: train recipes/tiny.toml for one epoch)")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--engines", default="silero,webrtc")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run = args.run
        if not run:
            ravdess = SHARED / "datasets" / "ravdess-sample"
            sets = [f"dataset.root={ravdess}", "augment=[]", "train.max_epochs=1", f"run.output={folder / 'runs'}"]
            serkit("run", str(ROOT / "recipes" / "tiny.toml"), *[x for s in sets for x in ("--set", s)])
            run = str(next((folder / "runs").iterdir()))
        short, long = folder / "minute.wav", folder / "hour.wav"
        counts = {short: recording(short, 1.0), long: recording(long, args.minutes)}
        for engine in args.engines.split(","):
            for path in (short, long):
                seconds, peak, out = serkit(
                    "predict", run, str(path), "--segments", "vad", "--vad-engine", engine, "--csv"
                )
                segments = sum(1 for line in out.splitlines()[2:] if line.split(",")[1])
                audio = soundfile.info(path).duration
                print(
                    f"{engine}: {audio / 60:.0f} min ({counts[path]} utterances) -> {segments} segments in "
                    f"{seconds:.1f} s ({audio / seconds:.0f}x real time), peak RSS {peak:.0f} MB"
                )


if __name__ == "__main__":
    main()
