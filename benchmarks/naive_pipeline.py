"""The naive reference: the paper notebook's per-file loop, one file at a time.

librosa.load at 44.1 kHz, trim, scipy's Wiener filter, pad or crop to 3 s, a 128-band log-mel
spectrogram, and four audiomentations transforms (noise, time stretch 1.1 and 0.8, pitch shift
1.5), each followed by its own log-mel spectrogram: the original plus four augmented copies.

    python benchmarks/naive_pipeline.py ../shared/datasets/emodb/wav --limit 40
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import librosa
import numpy as np
import scipy.signal
from audiomentations import AddGaussianNoise, PitchShift, TimeStretch

#: The paper notebook's stretching (librosa's phase vocoder; audiomentations >= 0.43 defaults to signalsmith).
PAPER = "librosa_phase_vocoder"

SR, SECONDS = 44100, 3.0


def fix(y: np.ndarray) -> np.ndarray:
    n = int(SR * SECONDS)
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def log_mel(y: np.ndarray) -> np.ndarray:
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=2048, hop_length=512, n_mels=128)
    return librosa.power_to_db(mel, ref=1.0)


def process(path: str) -> list[np.ndarray]:
    y, _ = librosa.load(path, sr=SR)
    y, _ = librosa.effects.trim(y, top_db=60)
    y = np.nan_to_num(scipy.signal.wiener(y)).astype(np.float32)
    y = fix(y)
    out = [log_mel(y)]
    for transform in (
        AddGaussianNoise(min_amplitude=0.001, max_amplitude=0.015, p=1.0),
        TimeStretch(min_rate=1.1, max_rate=1.1, leave_length_unchanged=False, method=PAPER, p=1.0),
        TimeStretch(min_rate=0.8, max_rate=0.8, leave_length_unchanged=False, method=PAPER, p=1.0),
        PitchShift(min_semitones=1.5, max_semitones=1.5, method=PAPER, p=1.0),
    ):
        out.append(log_mel(fix(transform(samples=y, sample_rate=SR))))
    return out


def run(files: list[str]) -> tuple[float, list[list[np.ndarray]]]:
    start = time.perf_counter()
    results = [process(path) for path in files]
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.folder, "*.wav")))[: args.limit]
    seconds, _ = run(files)
    print(f"naive: {len(files)} files in {seconds:.1f} s = {len(files) / seconds:.1f} files/s")


if __name__ == "__main__":
    main()
