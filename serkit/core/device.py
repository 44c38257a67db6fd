"""What a component offers to run on the training device, on a batch (online augmentation's device path).

An augmenter may offer, beside its NumPy call, a torch implementation (:meth:`Augmenter.device`): its draws
are made on the CPU from the example's generator, consuming it exactly as the NumPy call does, so both paths
draw the same parameters from the same (seed, file, entry, epoch) seed; the batch is then transformed on the
training device. A feature extractor may offer a torch module (:meth:`FeatureExtractor.device`), and a
preprocessor that re-applies after augmenting (``fix_length``) a batch version. Nothing here imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

#: What a device augmenter drew for one example (its parameters, and a seed for any noise it makes).
Draw = dict[str, Any]


class DeviceAugment(Protocol):
    """An augmenter's torch implementation, run on a batch on the training device."""

    def draw(self, rng: np.random.Generator, sample_rate: int, shape: tuple[int, ...]) -> Draw:
        """One example's draws, consuming ``rng`` exactly as the NumPy call does; ``shape`` is the example's
        (a waveform's (samples,), a feature augmenter's features')."""
        ...

    def apply(self, batch: torch.Tensor, sample_rate: int, draws: list[Draw]) -> torch.Tensor:
        """The batch (a row per example, each with its draws) transformed, in the batch's shape."""
        ...


class DeviceStep(Protocol):
    """A preprocessor's batch version (one that re-applies after augmenting): a batch in, a batch out."""

    def __call__(self, batch: torch.Tensor, sample_rate: int) -> torch.Tensor: ...
