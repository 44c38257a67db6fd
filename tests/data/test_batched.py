"""Feature extraction in the main process, in batches (for neural extractors)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from serkit.builtin.augmenters import GaussianNoise, TimeStretchAugmenter
from serkit.builtin.features import LogMel
from serkit.builtin.preprocessors import FixLength, Resample
from serkit.core.components import FeatureAugmenter
from serkit.data.cache import ArrayCache, file_digest
from serkit.data.compute import compute_features
from serkit.data.pipeline import Pipeline

CALLS: list[int] = []


@dataclass(frozen=True, kw_only=True)
class BatchedLogMel(LogMel):
    """The log-mel, extracted in the main process a batch at a time."""

    name = "batched_log_mel"
    batched = True

    def extract_batch(self, waves, sample_rate):
        CALLS.append(len(waves))
        return [LogMel.__call__(self, wave, sample_rate) for wave in waves]

    def batch_items(self):
        return 4


@dataclass(frozen=True, kw_only=True)
class PaddedLogMel(LogMel):
    """The log-mel of clips of at least 1.2 s."""

    name = "padded_log_mel"

    def min_seconds(self):
        return 1.2


@dataclass(frozen=True, kw_only=True)
class BatchedPaddedLogMel(BatchedLogMel):
    name = "batched_padded_log_mel"

    def min_seconds(self):
        return 1.2


@dataclass(frozen=True, kw_only=True)
class Offset(FeatureAugmenter):
    """Adds a random constant to the features."""

    name = "offset"

    def __call__(self, features, rng):
        return (features + rng.normal()).astype(np.float32)


PARAMS = {"n_fft": 512, "hop_length": 256, "n_mels": 32}
ITEMS = [(i, a) for i in range(5) for a in (None, 0, 1, 2)]


def _features(extractor, ravdess_root, workers=1, cache=None, notes=None):
    paths = sorted(str(p) for p in ravdess_root.rglob("*.wav"))[:5]
    augment = [GaussianNoise(), TimeStretchAugmenter(rate=0.8, method="signalsmith"), Offset()]
    pipeline = Pipeline([Resample(sample_rate=16000), FixLength(seconds=1.0)], augment, extractor, seed=5)
    hashes = [file_digest(p) for p in paths]
    return compute_features(pipeline, paths, hashes, ITEMS, cache, workers=workers, notes=notes)


@pytest.mark.parametrize("workers", [1, 2])
def test_batched_extraction_gives_the_per_file_features(ravdess_root, tmp_path, workers):
    per_file = _features(LogMel(**PARAMS), ravdess_root)
    CALLS.clear()
    batched = _features(BatchedLogMel(**PARAMS), ravdess_root, workers, ArrayCache(tmp_path))
    assert sum(CALLS) == 15 and len(CALLS) == 3  # originals and two waveform copies: 3 per file, 4+ per batch
    assert all(np.array_equal(batched[item], per_file[item]) for item in ITEMS)
    CALLS.clear()
    cached = _features(BatchedLogMel(**PARAMS), ravdess_root, workers, ArrayCache(tmp_path))
    assert not CALLS and all(np.array_equal(batched[item], cached[item]) for item in ITEMS)


def test_clips_shorter_than_the_extractor_accepts_are_padded_and_reported(ravdess_root):
    notes: list[str] = []
    batched = _features(BatchedPaddedLogMel(**PARAMS), ravdess_root, notes=notes)
    per_file = _features(PaddedLogMel(**PARAMS), ravdess_root)
    plain = _features(LogMel(**PARAMS), ravdess_root)
    assert len(notes) == 1 and notes[0].startswith("15 clip(s) shorter than 1.2 s")
    for item in ITEMS:
        assert np.array_equal(batched[item], per_file[item])
        assert batched[item].shape[-1] > plain[item].shape[-1]  # 1.2 s of frames instead of 1.0 s
