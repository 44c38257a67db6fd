"""The cached, parallel feature pipeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from serkit import Augmenter, SerkitError
from serkit.builtin.augmenters import GaussianNoise, PitchShiftAugmenter, TimeStretchAugmenter
from serkit.builtin.features import LogMel
from serkit.builtin.preprocessors import FixLength, Resample, TrimSilence, Wiener
from serkit.data.cache import ArrayCache, file_digest
from serkit.data.compute import compute_features
from serkit.data.pipeline import Pipeline


@pytest.fixture
def files(ravdess_root):
    paths = sorted(str(p) for p in ravdess_root.rglob("*.wav"))[:6]
    return paths, [file_digest(p) for p in paths]


def make_pipeline(seconds: float = 1.0, n_mels: int = 32) -> Pipeline:
    return Pipeline(
        preprocess=[Resample(sample_rate=16000), TrimSilence(), Wiener(), FixLength(seconds=seconds)],
        augment=[GaussianNoise(), TimeStretchAugmenter(rate=0.8), PitchShiftAugmenter(semitones=1.5)],
        features=LogMel(n_fft=512, hop_length=256, n_mels=n_mels),
        seed=11,
    )


def all_items(n: int, n_aug: int) -> list:
    return [(i, None) for i in range(n)] + [(i, a) for i in range(n) for a in range(n_aug)]


def test_results_do_not_depend_on_worker_count(files):
    paths, hashes = files
    pipeline = make_pipeline()
    items = all_items(len(paths), 3)
    one = compute_features(pipeline, paths, hashes, items, cache=None, workers=1)
    two = compute_features(pipeline, paths, hashes, items, cache=None, workers=2)
    assert set(one) == set(items)
    for item in items:
        assert np.array_equal(one[item], two[item]), item
        assert one[item].shape == (1, 32, 63)
    assert not np.array_equal(one[(0, None)], one[(0, 0)])


def count(cache: Path, kind: str) -> int:
    return len(list((cache / kind).rglob("*.npy")))


def test_cache_is_reused_and_only_changed_stages_recompute(files, tmp_path):
    paths, hashes = files
    cache = ArrayCache(tmp_path)
    items = all_items(len(paths), 3)
    first = compute_features(make_pipeline(), paths, hashes, items, cache)
    assert count(tmp_path, "features") == len(items) and count(tmp_path, "waves") == len(paths)
    seen = []
    again = compute_features(make_pipeline(), paths, hashes, items, cache, progress=seen.append)
    assert seen == [len(items)]  # everything came from the cache at once
    assert all(np.array_equal(first[i], again[i]) for i in items)
    # A feature-only change reuses the preprocessed waveforms and adds new features.
    compute_features(make_pipeline(n_mels=40), paths, hashes, items, cache)
    assert count(tmp_path, "waves") == len(paths) and count(tmp_path, "features") == 2 * len(items)
    # A preprocessing change recomputes the waveforms too.
    compute_features(make_pipeline(seconds=1.2), paths, hashes, items, cache)
    assert count(tmp_path, "waves") == 2 * len(paths)


def test_a_damaged_cache_entry_is_recomputed(files, tmp_path):
    paths, hashes = files
    cache = ArrayCache(tmp_path)
    pipeline = make_pipeline()
    first = compute_features(pipeline, paths[:1], hashes[:1], [(0, None)], cache)
    entry = cache.path("features", pipeline.feature_key(hashes[0], None))
    entry.write_bytes(b"garbage")
    again = compute_features(pipeline, paths[:1], hashes[:1], [(0, None)], cache)
    assert np.array_equal(first[(0, None)], again[(0, None)])


def test_a_failing_component_is_named_with_the_file(files):
    paths, hashes = files

    class Exploding(GaussianNoise):
        name = "exploding"

        def __call__(self, wave, sample_rate, rng):
            raise ValueError("bad day")

    pipeline = make_pipeline()
    pipeline = Pipeline(
        pipeline.preprocess, [Exploding()], pipeline.features, 0, {"augmenter:exploding": "serkit-exploding 0.1"}
    )
    with pytest.raises(SerkitError) as error:
        compute_features(pipeline, paths[:1], hashes[:1], [(0, 0)], None)
    assert str(error.value) == (
        f"augmenter 'exploding' (serkit-exploding 0.1) failed on {paths[0]}: ValueError: bad day"
    )


def test_a_component_returning_the_wrong_thing_is_named(files):
    paths, hashes = files

    class Wrong(GaussianNoise):
        name = "wrong"

        def __call__(self, wave, sample_rate, rng):
            return np.stack([wave, wave])

    pipeline = make_pipeline()
    pipeline = Pipeline(pipeline.preprocess, [Wrong()], pipeline.features, 0)
    with pytest.raises(SerkitError, match=r"augmenter 'wrong' returned \(2, 16000\) on .*expected a 1-D float array"):
        compute_features(pipeline, paths[:1], hashes[:1], [(0, 0)], None)


def test_an_augmenter_kept_by_a_variant_reuses_the_baselines_copies(files, tmp_path):
    paths, hashes = files
    cache = ArrayCache(tmp_path)
    baseline = make_pipeline()  # noise, stretch 0.8, pitch 1.5
    both = compute_features(baseline, paths, hashes, [(i, 1) for i in range(len(paths))], cache)
    alone = Pipeline(baseline.preprocess, [baseline.augment[1]], baseline.features, baseline.seed)
    seen = []
    only = compute_features(alone, paths, hashes, [(i, 0) for i in range(len(paths))], cache, progress=seen.append)
    assert seen == [len(paths)]  # all from the cache
    assert all(np.array_equal(both[(i, 1)], only[(i, 0)]) for i in range(len(paths)))
    twice = Pipeline(baseline.preprocess, [baseline.augment[0], baseline.augment[0]], baseline.features, 1)
    first, second = (compute_features(twice, paths[:1], hashes[:1], [(0, a)], None)[(0, a)] for a in (0, 1))
    assert not np.array_equal(first, second)  # a repeated augmenter draws a new copy


def test_spawned_workers_get_a_picklable_pipeline_or_one_line_naming_the_component(files, monkeypatch):
    """Where workers are spawned (macOS, Windows) the pipeline is pickled to them: the default
    pipeline computes the same features there, and a component that cannot be pickled is named."""
    from dataclasses import dataclass

    from serkit import Augmenter
    from serkit.data import compute

    paths, hashes = files
    items = [(i, a) for i in range(3) for a in (None, 0)]
    forked = compute_features(make_pipeline(), paths[:3], hashes[:3], items, None, workers=2)
    monkeypatch.setattr(compute.sys, "platform", "darwin")  # the start method macOS and Windows use: spawn
    spawned = compute_features(make_pipeline(), paths[:3], hashes[:3], items, None, workers=2)
    assert all(np.array_equal(forked[item], spawned[item]) for item in items)

    @dataclass(frozen=True, kw_only=True)
    class Local(Augmenter):  # defined in a function: no worker can import it
        """Passes the clip through."""

        name = "local_pass"

        def __call__(self, wave, sample_rate, rng):
            return wave

    pipeline = Pipeline(make_pipeline().preprocess, [Local()], make_pipeline().features, seed=1)
    with pytest.raises(SerkitError, match=r"augmenter 'local_pass' cannot be pickled .* set run.workers = 1"):
        compute_features(pipeline, paths[:3], hashes[:3], items, None, workers=2)


@dataclass(frozen=True, kw_only=True)
class GlobalNoise(Augmenter):
    """Adds noise drawn from NumPy's global random state (the mistake the contract kit names)."""

    name = "global_noise"

    def __call__(self, wave, sample_rate, rng):
        return (wave + 0.01 * np.random.standard_normal(wave.shape)).astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Doubled(Augmenter):
    """Returns float64."""

    name = "doubled"

    def __call__(self, wave, sample_rate, rng):
        return wave.astype(np.float64)


def test_an_augmenter_drawing_from_the_global_random_state_stops_the_run_or_warns(files, caplog):
    """What the contract kit checks is checked at run time too, on each augmenter's first calls:
    a draw from the global random state is an error naming the component, or with
    run.plugin_checks = "warn" one logged line, and the run goes on."""
    from serkit.data import pipeline as module

    paths, hashes = files
    base = make_pipeline()
    items = [(i, 0) for i in range(2)]
    module._checked.clear()
    strict = Pipeline(base.preprocess, [GlobalNoise()], base.features, seed=1)
    with pytest.raises(SerkitError, match=r"augmenter 'global_noise' drew from the global random state on .*\.wav"):
        compute_features(strict, paths[:2], hashes[:2], items, None)
    module._checked.clear()
    lenient = Pipeline(base.preprocess, [GlobalNoise()], base.features, seed=1, plugin_checks="warn")
    notes: list[str] = []
    found = compute_features(lenient, paths[:2], hashes[:2], items, None, notes=notes)
    assert len(found) == 2 and "drew from the global random state" in caplog.text
    assert len(notes) == 1 and "drew from the global random state" in notes[0]


@pytest.mark.parametrize("workers", [1, 2])
def test_float64_waveforms_are_one_line_once_not_an_error(files, caplog, recwarn, workers):
    """Said once in the run's notes however many worker processes met it, and no Python warning beside it."""
    import serkit.data.pipeline as module

    module._warned.clear()
    paths, hashes = files
    base = make_pipeline()
    pipeline = Pipeline(base.preprocess, [Doubled()], base.features, seed=1)
    notes: list[str] = []
    found = compute_features(pipeline, paths[:4], hashes[:4], [(i, 0) for i in range(4)], None, workers, notes=notes)
    assert len(found) == 4 and len(notes) == 1
    assert re.search(r"augmenter 'doubled' returns float64 waveforms .* casts them to float32", notes[0])
    assert not [w for w in recwarn if "float64" in str(w.message)]


@dataclass(frozen=True, kw_only=True)
class HalveInPlace(Augmenter):
    """Halves the clip in place (the contract says: return a new array)."""

    name = "halve_in_place"

    def __call__(self, wave, sample_rate, rng):
        wave *= 0.5
        return wave


def test_an_augmenter_changing_its_input_in_place_is_named(files):
    from serkit.data import pipeline as module

    paths, hashes = files
    base = make_pipeline()
    module._checked.clear()
    pipeline = Pipeline(base.preprocess, [HalveInPlace()], base.features, seed=1)
    with pytest.raises(SerkitError, match=r"augmenter 'halve_in_place' changed its input in place on .*\.wav"):
        compute_features(pipeline, paths[:1], hashes[:1], [(0, 0)], None)
