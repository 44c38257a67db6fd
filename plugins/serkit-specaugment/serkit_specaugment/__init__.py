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

    def masks(self, shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, list[tuple[int, int]]]:
        """The (start, width) of each frequency mask and each time mask of features of ``shape``, drawn from ``rng``."""
        bins, frames = shape[-2] if len(shape) == 3 else 1, shape[-1]
        drawn: dict[str, list[tuple[int, int]]] = {"freq": [], "time": []}
        for axis, count, widest, size in (
            ("freq", self.freq_masks if len(shape) == 3 else 0, self.freq_width, bins),
            ("time", self.time_masks, self.time_width, frames),
        ):
            for _ in range(count):
                width = int(rng.integers(0, min(widest, size) + 1))
                drawn[axis].append((int(rng.integers(0, size - width + 1)), width))
        return drawn

    def __call__(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = features.copy()
        value = float(features.mean()) if self.fill == "mean" else 0.0
        drawn = self.masks(features.shape, rng)
        for start, width in drawn["freq"]:
            out[..., start : start + width, :] = value
        for start, width in drawn["time"]:
            out[..., start : start + width] = value
        return out

    def device(self) -> DeviceMasks:
        return DeviceMasks(self)


class DeviceMasks:
    """SpecAugment on the training device: the masks drawn on the CPU as the NumPy call draws them, filled on a
    batch (equal to the NumPy call up to the mean's float rounding)."""

    def __init__(self, augmenter: SpecAugment) -> None:
        self.augmenter = augmenter

    def draw(self, rng: np.random.Generator, sample_rate: int, shape: tuple[int, ...]) -> dict:
        return self.augmenter.masks(shape, rng)

    def apply(self, batch, sample_rate: int, draws: list[dict]):
        out = batch.clone()
        for row, drawn in enumerate(draws):
            value = batch[row].mean() if self.augmenter.fill == "mean" else 0.0
            for start, width in drawn["freq"]:
                out[row, ..., start : start + width, :] = value
            for start, width in drawn["time"]:
                out[row, ..., start : start + width] = value
        return out


@hookimpl
def register_augmenters(register):
    register(SpecAugment)
