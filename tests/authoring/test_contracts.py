"""The contract suite of serkit.testing holds for every built-in component and catches broken ones."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

from serkit import Augmenter, FeatureAugmenter, Preprocessor, param
from serkit.builtin.augmenters import GaussianNoise, PitchShiftAugmenter, TimeStretchAugmenter
from serkit.builtin.features import LogMel
from serkit.builtin.models import CRNN
from serkit.builtin.preprocessors import FixLength, Resample, TrimSilence, Wiener
from serkit.builtin.protocols import LeaveOneSpeakerOut, RandomSplit, SpeakerKFold
from serkit.testing import check_component, check_dataset, speech_like

BUILTINS = [
    Resample(),
    TrimSilence(),
    Wiener(),
    FixLength(),
    GaussianNoise(),
    TimeStretchAugmenter(),
    PitchShiftAugmenter(),
    LogMel(n_mels=40),
    CRNN(filters=[8, 8, 16, 16], lstm_units=8),
    RandomSplit(),
    SpeakerKFold(folds=3),
    LeaveOneSpeakerOut(),
]


@pytest.mark.parametrize("component", BUILTINS, ids=lambda c: c.name)
def test_builtins_keep_the_contract(component):
    check_component(component)


def test_builtin_datasets_keep_the_contract(ravdess_root, emodb_root):
    from serkit.builtin.datasets import EmoDB, Ravdess

    check_dataset(Ravdess(root=str(ravdess_root)))
    check_dataset(EmoDB(root=str(emodb_root)))


def test_speech_like_signal_is_deterministic_and_bounded():
    wave = speech_like(16000)
    assert wave.dtype == np.float32 and wave.shape == (16000,) and np.max(np.abs(wave)) <= 0.3 + 1e-6
    assert np.array_equal(wave, speech_like(16000))


@dataclass(frozen=True, kw_only=True)
class GlobalNoise(Augmenter):
    """Adds noise drawn from numpy's global generator (wrong)."""

    name = "global_noise"
    level: float = param(0.1, "noise level", gt=0)

    def __call__(self, wave, sample_rate, rng):
        return wave + self.level * np.random.randn(wave.size).astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class InPlace(Augmenter):
    """Scales its input in place (wrong)."""

    name = "in_place"
    gain: float = param(0.5, "gain", gt=0)

    def __call__(self, wave, sample_rate, rng):
        wave *= self.gain
        return wave


@dataclass(frozen=True, kw_only=True)
class Unchecked(Augmenter):
    """Declares a range it does not enforce (wrong: no bounds)."""

    name = "unchecked"
    gain: float = param(0.5, "")

    def __call__(self, wave, sample_rate, rng):
        return wave * self.gain


@dataclass(frozen=True, kw_only=True)
class ShapeChanging(FeatureAugmenter):
    """Drops a frame (wrong: a feature augmenter keeps the shape)."""

    name = "shape_changing"

    def __call__(self, features, rng):
        return features[..., 1:]


@dataclass(frozen=True, kw_only=True)
class Normalising(Augmenter):
    """Scales to unit peak (wrong: silence divides by zero)."""

    name = "normalising"

    def __call__(self, wave, sample_rate, rng):
        with np.errstate(all="ignore"):
            return (wave / np.max(np.abs(wave))).astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Float64(Augmenter):
    """Returns float64 (wrong)."""

    name = "float64"

    def __call__(self, wave, sample_rate, rng):
        return wave.astype(np.float64)


@dataclass(frozen=True, kw_only=True)
class BadDefault(Augmenter):
    """Declares a default outside its own range (wrong)."""

    name = "bad_default"
    gain: float = param(2.0, "gain", le=1)

    def __call__(self, wave, sample_rate, rng):
        return wave * self.gain


class NotADataclass(Augmenter):
    """Uses param() without @dataclass (wrong: its parameter does not exist)."""

    name = "not_a_dataclass"
    gain: float = param(0.5, "gain", gt=0)

    def __call__(self, wave, sample_rate, rng):
        return wave


@dataclass(frozen=True, kw_only=True)
class Framed(Preprocessor):
    """Needs at least a 25 ms frame (wrong: a short clip breaks it)."""

    name = "framed"

    def __call__(self, wave, sample_rate):
        frames = wave[: wave.size // 400 * 400].reshape(-1, 400)
        return frames.mean(axis=1).repeat(400).astype(np.float32), sample_rate


@pytest.mark.parametrize(
    ("component", "message"),
    [
        (GlobalNoise(), "changed the global random state"),
        (InPlace(), "changed its input in place"),
        (Unchecked(), "unchecked.gain has no help text"),
        (ShapeChanging(), "expected shape"),
        (Normalising(), "'normalising' on 16000 samples of silence returned non-finite samples"),
        (Float64(), "returned dtype float64, expected float32"),
        (BadDefault(), r"bad_default.gain: its default: 2.0 is out of range \(must be <= 1\)"),
        (NotADataclass(), "declares gain with param\\(\\) but is not decorated with @dataclass"),
        (Framed(), "'framed' on 16 samples of silence returned shape \\(0,\\)"),
    ],
    ids=lambda x: getattr(x, "name", ""),
)
def test_the_contract_catches_broken_components(component, message):
    random.seed(0)
    with pytest.raises(AssertionError, match=message):
        check_component(component)
