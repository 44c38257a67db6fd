"""Audio loading (soundfile), mono mix-down and resampling (soxr)."""

from __future__ import annotations

import os
import stat

import numpy as np
import soundfile as sf
import soxr

from serkit.core.errors import SerkitError


def load(path: str) -> tuple[np.ndarray, int]:
    """Read ``path`` as float32 mono; multi-channel files are averaged to one channel."""
    wave, sample_rate, _ = read(path)
    return wave, sample_rate


def read(path: str) -> tuple[np.ndarray, int, int]:
    """Like :func:`load`, and also the file's channel count (before the mix-down)."""
    check_regular_file(path)
    try:
        data, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for bad files
        raise SerkitError(f"{path}: cannot read audio ({_short(exc)})") from exc
    if data.shape[0] == 0:
        raise SerkitError(f"{path}: audio file is empty (0 samples)")
    wave = mono(data)
    if not np.all(np.isfinite(wave)):
        raise SerkitError(f"{path}: audio contains NaN or infinite samples")
    return np.ascontiguousarray(wave, dtype=np.float32), int(sample_rate), int(data.shape[1])


def check_regular_file(path: str) -> None:
    """A dangling symlink, a symlink loop, a pipe or a device is an error naming it (a pipe would block a read)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if os.path.islink(path):
            raise SerkitError(f"{path}: broken symbolic link (its target does not exist, or links loop)") from exc
        raise SerkitError(f"{path}: cannot read audio ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "a pipe, socket or device"
        raise SerkitError(f"{path}: not an audio file but {what}")


def mono(data: np.ndarray) -> np.ndarray:
    """One channel: (frames,) as it is; (frames, channels) or (channels, frames) averaged over the channels.

    A 2-D array with at most 8 columns is read as (frames, channels), as soundfile returns it.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2:
        return data
    if data.shape[1] == 1:
        return data[:, 0]
    return data.mean(axis=1 if data.shape[1] <= 8 else 0)


def probe(path: str) -> tuple[int, int, int]:
    """(frames, sample rate, channels) from the header, raising a SerkitError naming the file."""
    check_regular_file(path)
    try:
        info = sf.info(path)
    except Exception as exc:
        raise SerkitError(f"{path}: cannot read audio ({_short(exc)})") from exc
    if info.frames <= 0:
        raise SerkitError(f"{path}: audio file is empty (0 samples)")
    return int(info.frames), int(info.samplerate), int(info.channels)


def resample(wave: np.ndarray, source_rate: int, target_rate: int, quality: str = "HQ") -> np.ndarray:
    if source_rate == target_rate:
        return wave
    return soxr.resample(wave, source_rate, target_rate, quality=quality).astype(np.float32, copy=False)


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
