"""MFCCs with delta channels as a serkit feature extractor."""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from serkit import FeatureExtractor, hookimpl, param


@dataclass(frozen=True, kw_only=True)
class MFCC(FeatureExtractor):
    """Mel-frequency cepstral coefficients, with delta and delta-delta channels."""

    name = "mfcc"
    computes_with = ("librosa",)
    n_mfcc: int = param(40, "coefficients per frame", ge=1, le=128)
    n_mels: int = param(128, "mel bands before the DCT", ge=1)
    n_fft: int = param(2048, "FFT size and Hann window length in samples", ge=16)
    hop_length: int = param(512, "hop between frames in samples", ge=1)
    deltas: int = param(2, "0: MFCCs only; 1: add deltas; 2: add deltas and delta-deltas", ge=0, le=2)

    def validate(self) -> None:
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) cannot exceed n_mels ({self.n_mels})")

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        coefficients = librosa.feature.mfcc(
            y=wave,
            sr=sample_rate,
            n_mfcc=self.n_mfcc,
            n_mels=self.n_mels,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window="hann",
        )
        channels = [coefficients]
        frames = coefficients.shape[1]
        width = min(9, frames if frames % 2 else frames - 1)
        for order in range(1, self.deltas + 1):
            channels.append(
                librosa.feature.delta(coefficients, order=order, width=width, mode="nearest")
                if width >= 3
                else np.zeros_like(coefficients)
            )
        return np.stack(channels).astype(np.float32)


@hookimpl
def register_feature_extractors(register):
    register(MFCC)
