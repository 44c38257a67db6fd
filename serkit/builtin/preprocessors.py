"""Waveform preprocessors: resample, trim silence, voice activity detection, Wiener filter, fix length."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np

from serkit.core.components import Preprocessor
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param
from serkit.data import audio
from serkit.data.vad import ENGINES, VadSettings, require_engine, speech_segments


@dataclass(frozen=True, kw_only=True)
class Resample(Preprocessor):
    """Resample to a fixed rate with soxr."""

    name = "resample"
    computes_with = ("soxr",)
    sample_rate: int = param(44100, "target sample rate in Hz", ge=1000, le=384000)
    quality: str = param("HQ", "soxr quality", choices=("QQ", "LQ", "MQ", "HQ", "VHQ"))

    def __call__(self, wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        return audio.resample(wave, sample_rate, self.sample_rate, self.quality), self.sample_rate


@dataclass(frozen=True, kw_only=True)
class TrimSilence(Preprocessor):
    """Trim leading and trailing silence (librosa.effects.trim)."""

    name = "trim_silence"
    computes_with = ("librosa",)
    top_db: float = param(60.0, "threshold in dB below the peak that counts as silence", gt=0)
    frame_length: int = param(2048, "analysis frame length in samples", ge=16)
    hop_length: int = param(512, "analysis hop in samples", ge=1)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        if not np.any(wave):
            return wave, sample_rate  # all digital silence: nothing to measure against
        trimmed, _ = librosa.effects.trim(
            wave, top_db=self.top_db, frame_length=self.frame_length, hop_length=self.hop_length
        )
        return (trimmed if trimmed.size else wave), sample_rate


@dataclass(frozen=True, kw_only=True)
class VoiceActivity(Preprocessor):
    """Cut silence by voice activity detection (Silero VAD or WebRTC's): the clip from its first speech to
    its last, or its speech segments joined; a clip with no speech found is kept whole."""

    name = "vad"
    computes_with = ("silero-vad", "webrtcvad-wheels", "torch")
    engine: str = param(
        VadSettings.engine, "silero (a small neural network) or webrtc (Google's GMM detector)", choices=ENGINES
    )
    threshold: float = param(
        VadSettings.threshold, "speech score a frame needs (silero: a probability; webrtc: 0 or 1)", gt=0, lt=1
    )
    min_speech_seconds: float = param(VadSettings.min_speech, "shorter bursts of speech are ignored", ge=0)
    min_silence_seconds: float = param(VadSettings.min_silence, "silence that ends a segment", gt=0)
    pad_seconds: float = param(
        VadSettings.pad, "kept on each side of a segment (at most half of min_silence_seconds)", ge=0
    )
    keep: str = param(
        "trim", "trim: first speech to last speech; speech: the segments joined", choices=("trim", "speech")
    )

    def validate(self) -> None:
        require_engine(self.engine)
        if self.pad_seconds > self.min_silence_seconds / 2:
            raise ValueError("pad_seconds: at most half of min_silence_seconds, or padded segments would overlap")

    def settings(self) -> VadSettings:
        return VadSettings(
            self.engine, self.threshold, self.min_speech_seconds, self.min_silence_seconds, self.pad_seconds
        )

    def __call__(self, wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        segments = [
            (round(a * sample_rate), round(b * sample_rate))
            for a, b in speech_segments(wave, sample_rate, self.settings())
        ]
        if not segments:
            return wave, sample_rate
        if self.keep == "trim":
            return wave[segments[0][0] : segments[-1][1]], sample_rate
        return np.concatenate([wave[a:b] for a, b in segments]), sample_rate


@dataclass(frozen=True, kw_only=True)
class Wiener(Preprocessor):
    """Wiener denoising filter (scipy.signal.wiener), finite on silent or constant input."""

    name = "wiener"
    computes_with = ("scipy",)
    window: int = param(3, "filter window in samples (odd)", ge=1)
    noise: float = param(0.0, "noise power; 0 estimates it as the mean local variance", ge=0)

    def validate(self) -> None:
        if self.window % 2 == 0:
            raise ValueError(f"window must be odd, got {self.window}")

    def __call__(self, wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        with np.errstate(divide="ignore", invalid="ignore"):
            import scipy.signal  # imported when used: listing plugins stays fast

            out = scipy.signal.wiener(wave.astype(np.float64), self.window, self.noise or None)
        # Zero local variance (digital silence, constant runs) gives 0/0: the local mean,
        # which is the input itself there, is the filter's limit.
        out = np.where(np.isfinite(out), out, wave)
        return out.astype(np.float32), sample_rate


@dataclass(frozen=True, kw_only=True)
class FixLength(Preprocessor):
    """Zero-pad at the end or crop to a fixed duration."""

    name = "fix_length"
    reapply_after_augment = True
    seconds: float = param(3.0, "target duration in seconds", gt=0)
    crop: str = param("start", "which part of a longer clip to keep", choices=("start", "center", "end"))

    def fixed_duration(self) -> float | None:
        return self.seconds

    def __call__(self, wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        target = round(self.seconds * sample_rate)
        excess = wave.size - target
        if excess > 0:
            start = {"start": 0, "center": excess // 2, "end": excess}[self.crop]
            return wave[start : start + target], sample_rate
        return np.pad(wave, (0, -excess)), sample_rate

    def device(self) -> Any:
        from serkit.builtin.device import FixLengthBatch

        return FixLengthBatch(self.seconds, self.crop)


@hookimpl
def register_preprocessors(register):
    for cls in (Resample, TrimSilence, VoiceActivity, Wiener, FixLength):
        register(cls)
