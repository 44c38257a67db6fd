"""SpecAugment-style time and frequency masking, as a serkit feature-stage augmenter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serkit import FeatureAugmenter, hookimpl, param


@dataclass(frozen=True, kw_only=True)
class SpecAugment(FeatureAugmenter):
    """Mask random frequency bands and time spans of the features (Park et al. 2019)."""

    name = "spec_augment"
    freq_masks: int = param(2, "number of frequency masks", ge=0, le=10)
    freq_width: int = param(8, "largest mask width in frequency bins", ge=1)
    time_masks: int = param(2, "number of time masks", ge=0, le=20)
    time_width: int = param(20, "largest mask width in frames", ge=1)
    fill: str = param("mean", "value under the masks: the utterance's mean, or zero", choices=("mean", "zero"))

    def validate(self) -> None:
        if self.freq_masks == 0 and self.time_masks == 0:
            raise ValueError("at least one of freq_masks and time_masks must be positive")

    def __call__(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = features.copy()
        value = float(features.mean()) if self.fill == "mean" else 0.0
        bins, frames = out.shape[-2] if out.ndim == 3 else 1, out.shape[-1]
        for _ in range(self.freq_masks if out.ndim == 3 else 0):
            width = int(rng.integers(0, min(self.freq_width, bins) + 1))
            start = int(rng.integers(0, bins - width + 1))
            out[..., start : start + width, :] = value
        for _ in range(self.time_masks):
            width = int(rng.integers(0, min(self.time_width, frames) + 1))
            start = int(rng.integers(0, frames - width + 1))
            out[..., start : start + width] = value
        return out


@hookimpl
def register_augmenters(register):
    register(SpecAugment)
