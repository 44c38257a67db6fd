"""Online augmentation on the training device: each epoch's examples made where the model trains, a batch at
a time, so a GPU does not wait for CPU loader processes.

For each batch: the fit utterances' preprocessed waveforms (from the feature cache) go to the device; each
``[[augment]]`` entry's draws are made on the CPU from the example's (seed, file, entry, epoch) generator,
consuming it as the NumPy path does (:func:`serkit.core.policy.plan`), and applied batched, the examples that
drew the same augmenter together; the preprocessors that re-apply after augmenting, the features (a torch
module equal to the extractor within its stated tolerance), the feature entries and the normaliser follow on
the device. What differs from the loader path is stated by each torch implementation
(:mod:`serkit.builtin.device`): noise is drawn on the device (the same distribution, not the same samples),
and features agree within the extractor's tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from serkit.core.components import Augmenter
from serkit.core.device import DeviceAugment, DeviceStep
from serkit.core.learner import Features
from serkit.core.policy import leaves, plan
from serkit.data.cache import ArrayCache
from serkit.data.normalise import ZScore
from serkit.data.pipeline import Pipeline, preprocessed


@lru_cache(maxsize=256)
def device_of(augmenter: Augmenter) -> DeviceAugment | None:
    """An augmenter's torch implementation, built once per augmenter (and values drawn for it)."""
    return augmenter.device()


def why_not_on_device(pipeline: Pipeline) -> str:
    """Why the device path cannot make this pipeline's examples ("" when it can), for the run's log."""
    without = [leaf.name for leaf in leaves(pipeline.augment) if device_of(leaf) is None]
    if without:
        return f"augmenter(s) {', '.join(dict.fromkeys(without))} have no torch implementation"
    steps = [p for p in pipeline.preprocess if p.reapply_after_augment]
    if any(p.device() is None for p in steps):
        return f"preprocessor(s) {', '.join(p.name for p in steps if p.device() is None)} have no batch version"
    if not any(p.fixed_duration() for p in pipeline.preprocess):
        return "the clips differ in length (no fix_length preprocessor): a batch needs one length"
    if pipeline.features.device(16000) is None:
        return f"feature extractor '{pipeline.features.name}' has no torch implementation"
    return ""


class DeviceFeatures:
    """The fit part in online mode, made on the training device: indexing reads the originals' features (what the
    normaliser is fitted on); :meth:`device_batches` makes each batch's examples for an epoch, normalised."""

    def __init__(
        self,
        originals: Features,
        paths: Sequence[str],
        hashes: Sequence[str],
        pipeline: Pipeline,
        cache: ArrayCache | None,
        normaliser: ZScore,
    ) -> None:
        self.originals, self.paths, self.hashes = originals, list(paths), list(hashes)
        self.pipeline, self.cache, self.normaliser = pipeline, cache, normaliser
        self.shape: tuple[int, ...] = tuple(originals.shape)
        self.dtype = getattr(originals, "dtype", np.float16)
        self.steps: list[DeviceStep] = [
            step for p in pipeline.preprocess if p.reapply_after_augment and (step := p.device()) is not None
        ]
        self._extractors: dict[tuple[int, str], torch.nn.Module] = {}
        self._statistics: dict[tuple[int, str], torch.Tensor] = {}
        #: Seconds spent making examples (for the benchmark's share of an epoch spent waiting for data).
        self.seconds = 0.0

    def __len__(self) -> int:
        return len(self.originals)

    def __getitem__(self, selection: Any) -> np.ndarray:
        return self.originals[selection]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = np.asarray(self.originals)
        return array if dtype is None else array.astype(dtype)

    def device_batches(self, epoch: int, batches: list[np.ndarray], device: torch.device) -> Iterator[torch.Tensor]:
        """Each batch's examples for ``epoch`` (0-based), normalised, on ``device``."""
        for index in batches:
            yield self.make(epoch, index, device)

    @torch.no_grad()
    def make(self, epoch: int, index: np.ndarray, device: torch.device) -> torch.Tensor:
        """One batch of examples: waveforms through the entries, the re-applied preprocessors, the features, the
        feature entries and the normaliser, on ``device``."""
        import time

        start = time.perf_counter()
        rows = index.tolist()
        waves, rates = zip(
            *(preprocessed(self.pipeline, self.paths[i], self.hashes[i], self.cache) for i in rows), strict=True
        )
        rate = int(rates[0])
        batch = torch.from_numpy(np.stack(waves)).to(device)
        entries = list(enumerate(self.pipeline.augment))
        for slot, entry in entries:
            if entry.stage != "features":
                batch = self._apply(entry, slot, rows, epoch, batch, rate)
        for step in self.steps:
            batch = step(batch, rate)
        features = self._extractor(rate, device)(batch)
        features = self._stored(features)
        for slot, entry in entries:
            if entry.stage == "features":
                features = self._stored(self._apply(entry, slot, rows, epoch, features, rate))
        out = (features - self._tensor(self.normaliser.mean, device)) / self._tensor(self.normaliser.std, device)
        self.seconds += time.perf_counter() - start
        return self._stored(out)

    def _apply(
        self, entry: Augmenter, slot: int, rows: list[int], epoch: int, batch: torch.Tensor, rate: int
    ) -> torch.Tensor:
        """One entry on a batch: each example's plan drawn on the CPU, then each step applied to the examples
        that drew the same augmenter, together."""
        shape = tuple(batch.shape[1:]) if entry.stage == "features" else (batch.shape[-1],)

        def draw(leaf: Augmenter, rng: np.random.Generator) -> Any:
            found = device_of(leaf)
            assert found is not None  # why_not_on_device checked every leaf
            return found.draw(rng, rate, shape)

        plans = [plan(entry, self.pipeline.augment_rng(self.hashes[i], slot, epoch), draw) for i in rows]
        for depth in range(max((len(p) for p in plans), default=0)):
            groups: dict[Augmenter, list[int]] = {}  # by the augmenter (with any values drawn for it)
            for position, steps in enumerate(plans):
                if depth < len(steps):
                    groups.setdefault(steps[depth][0], []).append(position)
            for members in groups.values():
                leaf = plans[members[0]][depth][0]
                implementation = device_of(leaf)
                assert implementation is not None
                chosen = torch.tensor(members, device=batch.device)
                draws = [plans[m][depth][1] for m in members]
                batch[chosen] = implementation.apply(batch[chosen], rate, draws)
        return batch

    def _extractor(self, rate: int, device: torch.device) -> torch.nn.Module:
        key = (rate, str(device))
        if key not in self._extractors:
            module = self.pipeline.features.device(rate)
            assert module is not None  # why_not_on_device checked it
            self._extractors[key] = module.to(device)
        return self._extractors[key]

    def _stored(self, features: torch.Tensor) -> torch.Tensor:
        """Rounded as the loader path stores its examples (float16 for most extractors), then float32."""
        return features.half().float() if self.pipeline.features.storage_dtype() == "float16" else features.float()

    def _tensor(self, array: np.ndarray, device: torch.device) -> torch.Tensor:
        """A normaliser statistic on the device (moved once)."""
        key = (id(array), str(device))
        if key not in self._statistics:
            self._statistics[key] = torch.from_numpy(np.asarray(array, np.float32)).to(device)
        return self._statistics[key]
