"""Feature extractors."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import librosa
import numpy as np

from serkit.core.components import FeatureExtractor
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param


@dataclass(frozen=True, kw_only=True)
class LogMel(FeatureExtractor):
    """Log-mel spectrogram in dB (Hann window, power to dB with a fixed reference)."""

    name = "log_mel"
    computes_with = ("librosa",)
    n_fft: int = param(2048, "FFT size and Hann window length in samples", ge=16)
    hop_length: int = param(512, "hop between frames in samples", ge=1)
    n_mels: int = param(128, "number of mel bands", ge=1)
    fmin: float = param(0.0, "lowest band edge in Hz", ge=0)
    fmax: float = param(0.0, "highest band edge in Hz; 0 means half the sample rate", ge=0)
    ref: float = param(1.0, "dB reference power (paper: 1)", gt=0)
    top_db: float = param(80.0, "clip to this many dB below the peak; 0 disables clipping", ge=0)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        # librosa.feature.melspectrogram, with the filterbank built once and applied as one matrix product
        spectrum = librosa.stft(
            wave.astype(np.float32, copy=False), n_fft=self.n_fft, hop_length=self.hop_length, window="hann"
        )
        power = np.abs(spectrum) ** 2
        mel = _mel_filterbank(sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax or None) @ power
        db = librosa.power_to_db(mel, ref=self.ref, top_db=self.top_db or None)
        return db[np.newaxis].astype(np.float32)

    def device(self, sample_rate: int) -> Any:
        from serkit.builtin.device import TorchLogMel

        fmax = self.fmax or None
        return TorchLogMel(
            sample_rate, self.n_fft, self.hop_length, self.n_mels, self.fmin, fmax, self.ref, self.top_db
        )


@lru_cache(maxsize=16)
def _mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


@dataclass(frozen=True, kw_only=True)
class LogMelStats(FeatureExtractor):
    """Each log-mel band's mean and standard deviation over time: a vector of 2 x n_mels, the cheapest
    baseline (about a millisecond a clip), for scikit-learn models and large corpora."""

    name = "log_mel_stats"
    computes_with = ("librosa",)
    shape = "vector"
    n_fft: int = param(512, "FFT size and Hann window length in samples", ge=16)
    hop_length: int = param(256, "hop between frames in samples", ge=1)
    n_mels: int = param(40, "number of mel bands", ge=1)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        image = LogMel(n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels)(wave, sample_rate)[0]
        return np.concatenate([image.mean(axis=1), image.std(axis=1)]).astype(np.float32)

    def columns(self) -> list[str]:
        return [f"mel{k}_{stat}" for stat in ("mean", "sd") for k in range(self.n_mels)]


@dataclass(frozen=True, kw_only=True)
class Waveform(FeatureExtractor):
    """The preprocessed signal itself, at one sample rate, for models that learn from audio (ssl_finetune).
    Stored as float32 (float16 keeps only 11 bits): 4 bytes a sample, 192 kB for 3 s at 16 kHz."""

    name = "waveform"
    computes_with = ("soxr",)
    shape = "waveform"
    storage = "float32"
    sample_rate: int = param(16000, "the rate the model takes; other rates are resampled (soxr, HQ)", ge=1000)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        if sample_rate != self.sample_rate:
            import soxr

            wave = soxr.resample(wave, sample_rate, self.sample_rate, "HQ")
        return np.asarray(wave, dtype=np.float32)


@hookimpl
def register_feature_extractors(register):
    register(LogMel)
    register(LogMelStats)
    register(Waveform)
