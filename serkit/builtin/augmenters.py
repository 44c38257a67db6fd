"""Waveform augmenters (audiomentations underneath), seeded per utterance."""

from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.components import Augmenter
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param
from serkit.core.policy import note_draw


@contextmanager
def global_seed(rng: np.random.Generator):
    """Seed ``random`` and ``numpy.random`` (which audiomentations draws from), then restore them."""
    seed = int(rng.integers(2**32))
    saved_random, saved_numpy = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(saved_random)
        np.random.set_state(saved_numpy)


def apply_transform(transform: Any, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """An audiomentations transform's output, seeded from ``rng``; what it drew is written down for a preview."""
    with global_seed(rng):
        out = transform(samples=wave, sample_rate=sample_rate)
    drawn = {k: v for k, v in getattr(transform, "parameters", {}).items() if k != "should_apply"}
    note_draw(f"{type(transform).__name__}: " + (", ".join(f"{k} = {_shown(v)}" for k, v in drawn.items()) or "acted"))
    return np.asarray(out, dtype=np.float32)


def _shown(value: Any) -> str:
    """A drawn value in a few characters: a number to four figures, a file by its name, a list by its length."""
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    if isinstance(value, str | Path):
        return Path(value).name if "/" in str(value) else str(value)
    if isinstance(value, list | tuple | np.ndarray):
        return f"{len(value)} values"
    return str(value)


@dataclass(frozen=True, kw_only=True)
class GaussianNoise(Augmenter):
    """Add Gaussian noise with an amplitude drawn relative to the clip's peak (or to full scale)."""

    name = "gaussian_noise"
    computes_with = ("audiomentations",)
    min_amplitude: float = param(0.001, "smallest noise amplitude (a fraction of what relative_to names)", gt=0)
    max_amplitude: float = param(
        0.1, "largest noise amplitude (a fraction of what relative_to names; paper: 'threshold 0.1')", gt=0
    )
    relative_to: str = param(
        "peak",
        "peak: the amplitudes are fractions of the clip's peak, so a quiet clip gets quiet noise; full_scale: "
        "fractions of digital full scale, on the waveform as it is (audiomentations' AddGaussianNoise, whose "
        "defaults are 0.001 to 0.015)",
        choices=("peak", "full_scale"),
        since="0.3",
    )

    def validate(self) -> None:
        if self.min_amplitude > self.max_amplitude:
            raise ValueError("min_amplitude must not exceed max_amplitude")

    def __call__(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        peak = (float(np.max(np.abs(wave))) or 1.0) if self.relative_to == "peak" else 1.0
        from audiomentations import AddGaussianNoise  # imported when used: listing plugins stays fast

        transform = AddGaussianNoise(min_amplitude=self.min_amplitude, max_amplitude=self.max_amplitude, p=1.0)
        return apply_transform(transform, wave / peak, sample_rate, rng) * np.float32(peak)

    def device(self) -> Any:
        from audiomentations import AddGaussianNoise

        from serkit.builtin.device import GaussianNoiseOfPeak

        transform = AddGaussianNoise(min_amplitude=self.min_amplitude, max_amplitude=self.max_amplitude, p=1.0)
        return GaussianNoiseOfPeak(transform, self.relative_to)


@dataclass(frozen=True, kw_only=True)
class SpeedAugmenter(Augmenter):
    """Speed perturbation: the clip played faster or slower, pitch with it (resampled, as Kaldi's recipes do)."""

    name = "speed"
    computes_with = ("torch",)
    factor: float = param(1.1, "speed factor (> 1 faster and higher; Kaldi's recipes: 0.9 and 1.1)", ge=0.5, le=2.0)

    def __call__(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        import torch

        from serkit.builtin.device import resample, speed_ratio

        with torch.no_grad():
            out = resample(torch.from_numpy(np.ascontiguousarray(wave, np.float32))[None], *speed_ratio(self.factor))
        return out[0].numpy()

    def device(self) -> Any:
        from serkit.builtin.device import Speed

        return Speed(self.factor)


METHODS = ("librosa", "signalsmith", "signalsmith_fast")
METHOD_HELP = (
    "librosa: the phase vocoder the paper used (librosa.effects); signalsmith: Signalsmith Stretch "
    "(python-stretch), fewer phasing artefacts, about as fast; signalsmith_fast: its cheaper preset, "
    "about 2x faster than either; the three give different augmented copies"
)


def signalsmith(
    wave: np.ndarray, sample_rate: int, rate: float = 1.0, semitones: float = 0.0, fast: bool = False
) -> np.ndarray:
    """Time-stretch by ``rate`` (> 1 is faster) and transpose by ``semitones`` with Signalsmith Stretch."""
    import python_stretch

    stretch = python_stretch.Signalsmith.Stretch()
    stretch.preset(1, sample_rate, fast)
    stretch.setTimeFactor(rate)
    stretch.setTransposeSemitones(semitones)
    out = np.asarray(stretch.process(np.ascontiguousarray(wave, dtype=np.float32)[np.newaxis]))
    return np.asarray(out[0], dtype=np.float32)


@dataclass(frozen=True, kw_only=True)
class TimeStretchAugmenter(Augmenter):
    """Change the speaking rate without changing pitch (rate > 1 is faster)."""

    name = "time_stretch"
    computes_with = ("audiomentations", "librosa", "python-stretch")
    rate: float = param(1.1, "stretch rate (paper: 1.1 and 0.8 as two entries)", ge=0.1, le=10)
    method: str = param("librosa", METHOD_HELP, choices=METHODS)

    def __call__(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if self.method != "librosa":
            return signalsmith(wave, sample_rate, rate=self.rate, fast=self.method == "signalsmith_fast")
        from audiomentations import TimeStretch

        transform = TimeStretch(
            min_rate=self.rate,
            max_rate=self.rate,
            leave_length_unchanged=False,
            method="librosa_phase_vocoder",
            p=1.0,
        )
        return apply_transform(transform, wave, sample_rate, rng)

    def device(self) -> Any:
        from serkit.builtin.device import TimeStretchBatch

        return TimeStretchBatch(self.rate) if self.method == "librosa" else None


@dataclass(frozen=True, kw_only=True)
class PitchShiftAugmenter(Augmenter):
    """Shift the pitch by a number of semitones without changing duration."""

    name = "pitch_shift"
    computes_with = ("audiomentations", "librosa", "python-stretch")
    semitones: float = param(1.5, "shift in semitones (paper: 1.5)", ge=-24, le=24)
    method: str = param("librosa", METHOD_HELP, choices=METHODS)

    def __call__(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if self.method != "librosa":
            return signalsmith(wave, sample_rate, semitones=self.semitones, fast=self.method == "signalsmith_fast")
        from audiomentations import PitchShift

        transform = PitchShift(
            min_semitones=self.semitones,
            max_semitones=self.semitones,
            method="librosa_phase_vocoder",
            p=1.0,
        )
        return apply_transform(transform, wave, sample_rate, rng)

    def device(self) -> Any:
        from serkit.builtin.device import PitchShiftBatch

        return PitchShiftBatch(self.semitones) if self.method == "librosa" else None


@hookimpl
def register_augmenters(register):
    for cls in (GaussianNoise, TimeStretchAugmenter, PitchShiftAugmenter, SpeedAugmenter):
        register(cls)
