"""The other features of the paper's Table 6 (librosa): linear spectrogram, chroma, spectral
contrast, tonnetz, and the 193-value vector of Issa et al. (2020) that averages five of them.

Chromagrams use A440 tuning (``tuning=0``) rather than librosa's per-clip estimate: speech has no
tuning to estimate, and the estimator (numba) crashes the process on some builds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import librosa
import numpy as np

from serkit.core.components import FeatureExtractor
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param


def _power(wave: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    spectrum = librosa.stft(wave.astype(np.float32, copy=False), n_fft=n_fft, hop_length=hop_length, window="hann")
    return np.abs(spectrum) ** 2


@dataclass(frozen=True, kw_only=True)
class LinearSpectrogram(FeatureExtractor):
    """Linear-frequency power spectrogram in dB (STFT, Hann window): (1, n_fft/2 + 1, frames)."""

    name = "linear_spectrogram"
    computes_with = ("librosa",)
    n_fft: int = param(1024, "FFT size and Hann window length in samples", ge=16)
    hop_length: int = param(512, "hop between frames in samples", ge=1)
    ref: float = param(1.0, "dB reference power", gt=0)
    top_db: float = param(80.0, "clip to this many dB below the peak; 0 disables clipping", ge=0)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        db = librosa.power_to_db(_power(wave, self.n_fft, self.hop_length), ref=self.ref, top_db=self.top_db or None)
        return db[np.newaxis].astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Chroma(FeatureExtractor):
    """Chromagram of the power spectrogram (librosa.feature.chroma_stft, A440 tuning): (1, 12, frames)."""

    name = "chroma"
    computes_with = ("librosa",)
    n_fft: int = param(2048, "FFT size in samples", ge=16)
    hop_length: int = param(512, "hop between frames in samples", ge=1)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        power = _power(wave, self.n_fft, self.hop_length)
        chroma = librosa.feature.chroma_stft(S=power, sr=sample_rate, n_fft=self.n_fft, tuning=0.0)
        return chroma[np.newaxis].astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class SpectralContrast(FeatureExtractor):
    """Spectral contrast in dB (librosa.feature.spectral_contrast): (1, n_bands + 1, frames)."""

    name = "spectral_contrast"
    computes_with = ("librosa",)
    n_fft: int = param(2048, "FFT size in samples", ge=16)
    hop_length: int = param(512, "hop between frames in samples", ge=1)
    n_bands: int = param(6, "octave bands above the lowest (librosa's default)", ge=1)
    fmin: float = param(200.0, "upper edge of the lowest band in Hz", gt=0)

    def validate(self) -> None:
        if self.fmin * 2.0**self.n_bands >= 96000:
            raise ValueError(f"fmin x 2^n_bands = {self.fmin * 2.0**self.n_bands:g} Hz is above any sample rate")

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        magnitude = np.sqrt(_power(wave, self.n_fft, self.hop_length))
        contrast = librosa.feature.spectral_contrast(
            S=magnitude, sr=sample_rate, n_fft=self.n_fft, n_bands=self.n_bands, fmin=self.fmin
        )
        return contrast[np.newaxis].astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Tonnetz(FeatureExtractor):
    """Tonal centroids of the harmonic part (librosa.feature.tonnetz on a CQT chromagram): (1, 6, frames)."""

    name = "tonnetz"
    computes_with = ("librosa",)
    hop_length: int = param(512, "hop between frames in samples", ge=64)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        return _tonnetz(wave, sample_rate, self.hop_length)[np.newaxis].astype(np.float32)


def _tonnetz(wave: np.ndarray, sample_rate: int, hop_length: int) -> np.ndarray:
    harmonic = librosa.effects.harmonic(wave.astype(np.float32, copy=False))
    with warnings.catch_warnings():  # the CQT's lowest octaves warn that their FFT outgrows a short clip
        warnings.simplefilter("ignore", UserWarning)
        chroma = librosa.feature.chroma_cqt(y=harmonic, sr=sample_rate, hop_length=hop_length, tuning=0.0)
    return np.nan_to_num(librosa.feature.tonnetz(sr=sample_rate, chroma=chroma))  # silence: 0/0


@dataclass(frozen=True, kw_only=True)
class FiveSpectral(FeatureExtractor):
    """Issa et al. (2020): MFCC, chroma, mel, contrast and tonnetz, each averaged over time (193 values)."""

    name = "five_spectral"
    computes_with = ("librosa",)
    shape = "vector"
    storage = "float32"
    n_mfcc: int = param(40, "MFCCs", ge=1)
    n_mels: int = param(128, "mel bands (averaged mel power, as published)", ge=1)
    n_fft: int = param(2048, "FFT size in samples", ge=16)
    hop_length: int = param(512, "hop between frames in samples", ge=64)
    mel_in_db: bool = param(False, "average the mel spectrogram in dB instead of power (Issa et al.: power)")

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        wave = wave.astype(np.float32, copy=False)
        power = _power(wave, self.n_fft, self.hop_length)
        magnitude = np.sqrt(power)  # Issa et al. pass the magnitude to chroma and contrast
        mel = librosa.feature.melspectrogram(S=power, sr=sample_rate, n_fft=self.n_fft, n_mels=self.n_mels)
        parts = [
            librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=self.n_mfcc),
            librosa.feature.chroma_stft(S=magnitude, sr=sample_rate, n_fft=self.n_fft, tuning=0.0),
            librosa.power_to_db(mel) if self.mel_in_db else mel,
            librosa.feature.spectral_contrast(S=magnitude, sr=sample_rate, n_fft=self.n_fft),
            _tonnetz(wave, sample_rate, self.hop_length),
        ]
        return np.concatenate([part.mean(axis=1) for part in parts]).astype(np.float32)

    def columns(self) -> list[str]:
        pitch = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
        return (
            [f"mfcc {k + 1}" for k in range(self.n_mfcc)]
            + [f"chroma {name}" for name in pitch]
            + [f"mel {k + 1}" for k in range(self.n_mels)]
            + [f"contrast {k + 1}" for k in range(7)]
            + [f"tonnetz {k + 1}" for k in range(6)]
        )


@hookimpl
def register_feature_extractors(register):
    for extractor in (LinearSpectrogram, Chroma, SpectralContrast, Tonnetz, FiveSpectral):
        register(extractor)
