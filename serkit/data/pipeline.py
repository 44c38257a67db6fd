"""The per-file pipeline: preprocess, augment and extract one utterance's features, each step checked
(:mod:`.compute` runs it over many files, cached and in parallel).

Each utterance is one task: load, run the preprocess chain once, extract the original's
features and those of each augmented copy it needs. Every augmented copy is seeded from the
run seed, the file's content hash and the augmenter's position, so results do not depend on
the number of workers or the order in which tasks finish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import numpy as np

from serkit.core.components import (
    SHAPE_NDIM,
    SHAPES,
    Augmenter,
    Component,
    FeatureExtractor,
    Preprocessor,
    installed_version,
)
from serkit.core.errors import SerkitError
from serkit.core.guard import describe, guarded
from serkit.core.policy import made_by
from serkit.data import audio
from serkit.data.cache import ArrayCache, digest

#: An item is an utterance's original (augmenter None) or its copy by augmenter i.
Item = tuple[int, int | None]

#: Marks an online draw's seed (beside the epoch), so that no epoch's draw is a fixed copy's.
ONLINE = 0x6F6E6C696E65

#: What serkit reads audio with (:mod:`serkit.data.audio`): part of every cached waveform's identity.
LOADER = {name: installed_version(name) for name in ("soundfile", "soxr")}


@dataclass(frozen=True)
class Pipeline:
    """The per-file stages of a recipe."""

    preprocess: list[Preprocessor]
    augment: list[Augmenter]
    features: FeatureExtractor
    seed: int
    origins: dict[str, str] = field(default_factory=dict)  # component key -> "dist version"
    #: What a broken plugin contract met at run time is: "error" stops the run, "warn" logs it once.
    plugin_checks: str = "error"

    def wave_key(self, file_hash: str) -> str:
        """A file's preprocessed waveform: read by serkit's loader (soundfile, soxr), then each preprocessor."""
        return digest("wave", file_hash, LOADER, self._preprocess_identities)

    @cached_property
    def _preprocess_identities(self) -> list[dict[str, Any]]:  # computed once: a key is made per item
        return [p.cache_identity() for p in self.preprocess]

    @cached_property
    def _features_identity(self) -> dict[str, Any]:
        return self.features.cache_identity()

    @cached_property
    def _slots(self) -> list[list[Any]]:
        identities = [a.identity() for a in self.augment]
        return [[identity, identities[:i].count(identity)] for i, identity in enumerate(identities)]

    def augment_slot(self, index: int) -> list[Any]:
        """What makes an augmented copy: the augmenter and its occurrence among identical entries.

        Not its position in the list, so an ablation variant that keeps one augmenter of the
        baseline reuses (and reproduces) exactly the copies the baseline made.
        """
        return self._slots[index]

    @cached_property
    def id(self) -> str:
        """Names the pipeline in the cache's records (its components, augmenter slots and seed)."""
        identities = [self._preprocess_identities, self._slots, self._features_identity]
        return digest("pipeline", [*identities, self._augmenters_computed_by, self.seed, LOADER])[:16]

    @cached_property
    def _augmenters_computed_by(self) -> list[Any]:
        return [made_by(a) for a in self.augment]

    def describe(self) -> str:
        names = [p.name for p in self.preprocess] + [a.name for a in self.augment] + [self.features.name]
        return " -> ".join(names) + f" (seed {self.seed})"

    def entries(self, hashes: list[str], items: list[Item]) -> list[tuple[str, str]]:
        """The cache entries (kind, key) that ``items`` of files with ``hashes`` read or write."""
        waves = {self.wave_key(h) for h in hashes}
        features = {self.feature_key(hashes[i], a) for i, a in items}
        return [("waves", k) for k in waves] + [("rates", k) for k in waves] + [("features", k) for k in features]

    def feature_key(self, file_hash: str, augmenter: int | None) -> str:
        """An item's features: of its preprocessed waveform, augmented copies by their slot (whose seed does not
        depend on library versions) and what computes the augmenter, then the feature extractor."""
        aug = None if augmenter is None else [self.augment_slot(augmenter), self.seed]
        maker = None if augmenter is None else self._augmenters_computed_by[augmenter]
        return digest("features", self.wave_key(file_hash), aug, maker, self._features_identity)

    def augment_rng(self, file_hash: str, augmenter: int, epoch: int | None = None) -> np.random.Generator:
        """The draws of entry ``augmenter`` on a file: its fixed copy's, or (online) those of ``epoch``."""
        slot = int(digest(self.augment_slot(augmenter))[:16], 16)
        online = [] if epoch is None else [ONLINE, epoch]
        return np.random.default_rng([self.seed, int(file_hash[:16], 16), slot, *online])

    def culprit(self, component: Component) -> str:
        return describe(component, self.origins.get(f"{component.kind}:{component.name}"))


def run_step(pipeline: Pipeline, component: Component, path: str, call: Callable[[], object]) -> object:
    return guarded(pipeline.culprit(component), call, f" on {path}")


def _check_wave(pipeline: Pipeline, component: Component, path: str, wave: object) -> np.ndarray:
    if not isinstance(wave, np.ndarray) or wave.ndim != 1 or not np.issubdtype(wave.dtype, np.floating):
        shape = getattr(wave, "shape", type(wave).__name__)
        raise SerkitError(f"{pipeline.culprit(component)} returned {shape} on {path}, expected a 1-D float array")
    if wave.size == 0 or not np.all(np.isfinite(wave)):
        raise SerkitError(f"{pipeline.culprit(component)} returned an empty or non-finite waveform on {path}")
    if wave.dtype != np.float32:
        _warn_once(
            pipeline,
            component,
            f"{pipeline.culprit(component)} returns {wave.dtype} waveforms (first on {path}); serkit casts them "
            "to float32: return float32 to skip the copy",
        )
    return wave.astype(np.float32, copy=False)


#: Calls of each augmenter (per process) whose use of the global random state is checked.
GLOBAL_RNG_CHECKS = 3
_checked: dict[str, int] = {}
_warned: set[str] = set()


def run_augmenter(
    pipeline: Pipeline,
    augmenter: Component,
    path: str,
    call: Callable[[], object],
    given: np.ndarray | None = None,
    original: np.ndarray | None = None,
) -> object:
    """An augmenter's call; its first calls are watched for what the contract kit checks: draws from
    the global random state (NumPy's, Python's), which make copies depend on worker count and order
    instead of the seed, and changes to ``given`` (its input, a copy of ``original``) in place."""
    key = f"{augmenter.kind}:{augmenter.name}"
    if _checked.get(key, 0) >= GLOBAL_RNG_CHECKS:
        return run_step(pipeline, augmenter, path, call)
    _checked[key] = _checked.get(key, 0) + 1
    before = _global_random_state()
    result = run_step(pipeline, augmenter, path, call)
    if _global_random_state() != before:
        _broken(
            pipeline,
            augmenter,
            f"{pipeline.culprit(augmenter)} drew from the global random state on {path}: its copies would depend "
            "on worker count and order, not on the run's seed; draw from the rng serkit passes",
        )
    if given is not None and original is not None and not np.array_equal(given, original.astype(given.dtype)):
        _broken(
            pipeline,
            augmenter,
            f"{pipeline.culprit(augmenter)} changed its input in place on {path}; return a new array instead",
        )
    return result


def _broken(pipeline: Pipeline, component: Component, message: str) -> None:
    """A plugin contract broken at run time: an error, or with run.plugin_checks = "warn" a warning."""
    if pipeline.plugin_checks != "warn":
        raise SerkitError(f'{message} (or set run.plugin_checks = "warn" to go on)')
    _warn_once(pipeline, component, message)


def _global_random_state() -> str:
    import random

    return digest("global random state", repr(np.random.get_state(legacy=False)), repr(random.getstate()))


#: What :func:`_warn_once` met in this process and no one has taken yet (:func:`take_warnings`): a feature worker
#: hands its own to the main process with its results, which says each once.
PENDING: list[str] = []


def _warn_once(pipeline: Pipeline, component: Component, message: str) -> None:
    """A broken contract serkit can live with: logged once per component and process, one line, and kept for the
    run's notes (:func:`take_warnings`)."""
    key = f"{component.kind}:{component.name}:{message.split(' on ')[0]}"
    if key in _warned:
        return
    _warned.add(key)
    logging.getLogger("serkit").warning("%s", message)
    PENDING.append(message)


def take_warnings() -> list[str]:
    """The warnings met since the last call, emptied."""
    taken = PENDING[:]
    PENDING.clear()
    return taken


def preprocess(
    pipeline: Pipeline,
    path: str,
    chain: list[Preprocessor] | None = None,
    wave: np.ndarray | None = None,
    sample_rate: int = 0,
) -> tuple[np.ndarray, int]:
    """Run a preprocess chain (the recipe's by default) on a file or on a given waveform."""
    if wave is None:
        wave, sample_rate = audio.load(path)
    for step in pipeline.preprocess if chain is None else chain:
        result = run_step(pipeline, step, path, partial(step, wave, sample_rate))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise SerkitError(f"{pipeline.culprit(step)} must return (wave, sample_rate), got {type(result).__name__}")
        wave, sample_rate = _check_wave(pipeline, step, path, result[0]), int(result[1])
    return wave, sample_rate


def extract(pipeline: Pipeline, path: str, wave: np.ndarray, sample_rate: int) -> np.ndarray:
    extractor = pipeline.features
    wave, _ = padded(extractor, wave, sample_rate)
    features = run_step(pipeline, extractor, path, lambda: extractor(wave, sample_rate))
    return check_features(pipeline, extractor, path, features)


def padded(extractor: FeatureExtractor, wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, bool]:
    """The clip padded with silence to the extractor's shortest input, and whether it was."""
    shortest = int(np.ceil(extractor.min_seconds() * sample_rate))
    if wave.size >= shortest:
        return wave, False
    return np.pad(wave, (0, shortest - wave.size)), True


def stored(pipeline: Pipeline, path: str, features: np.ndarray) -> np.ndarray:
    """Features in the extractor's storage dtype; values that overflow it are an error naming the extractor."""
    dtype = pipeline.features.storage_dtype()
    with np.errstate(over="ignore"):
        out = features.astype(dtype, copy=False)
    if out.dtype != features.dtype and not np.all(np.isfinite(out)):
        largest = float(np.max(np.abs(features)))
        raise SerkitError(
            f"{pipeline.culprit(pipeline.features)} gives values beyond {dtype}'s range on {path} "
            f'(|value| up to {largest:.3g}): it should declare storage = "float32"'
        )
    return out


def check_features(
    pipeline: Pipeline, component: Component, path: str, features: object, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    kind = pipeline.features.output_shape()
    if (
        not isinstance(features, np.ndarray)
        or features.ndim not in SHAPE_NDIM.get(kind, (1, 2, 3))
        or (shape and features.shape != shape)
    ):
        got = getattr(features, "shape", type(features).__name__)
        wanted = shape or f"{kind} features {SHAPES.get(kind, '')}".rstrip()
        raise SerkitError(f"{pipeline.culprit(component)} returned {got} on {path}, expected an array of {wanted}")
    if not np.all(np.isfinite(features)):
        raise SerkitError(f"{pipeline.culprit(component)} returned non-finite values on {path}")
    return features.astype(np.float32, copy=False)


#: Waveforms to extract features from, by augmenter index (None: the original), with their rates.
Waves = dict[int | None, tuple[np.ndarray, int]]


def process_file(
    pipeline: Pipeline, path: str, file_hash: str, augmenters: list[int | None], cache: ArrayCache | None
) -> list[np.ndarray]:
    """Features of one file's original (None) and augmented copies, in the order asked."""
    waves, original = waves_to_extract(pipeline, path, file_hash, augmenters, cache)
    extracted = {index: extract(pipeline, path, wave, rate) for index, (wave, rate) in waves.items()}
    return finish_items(pipeline, path, file_hash, augmenters, extracted, original, cache)


def waves_to_extract(
    pipeline: Pipeline, path: str, file_hash: str, augmenters: list[int | None], cache: ArrayCache | None
) -> tuple[Waves, np.ndarray | None]:
    """The waveforms whose features a file's requested items need (the original, unless its features
    are cached, and each waveform augmenter's copy), and the original's cached features if any."""
    needs_original = any(i is None or pipeline.augment[i].stage == "features" for i in augmenters)
    original = cache.get("features", pipeline.feature_key(file_hash, None)) if cache and needs_original else None
    copies = [i for i in augmenters if i is not None and pipeline.augment[i].stage != "features"]
    waves: Waves = {}
    if not copies and (original is not None or not needs_original):
        return waves, original
    wave, sample_rate = preprocessed(pipeline, path, file_hash, cache)
    if needs_original and original is None:
        waves[None] = (wave, sample_rate)
    for index in copies:
        waves[index] = copy_wave(pipeline, path, file_hash, index, wave, sample_rate)
    return waves, original


def copy_wave(
    pipeline: Pipeline, path: str, file_hash: str, index: int, wave: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, int]:
    """Waveform entry ``index``'s fixed copy of a preprocessed waveform (copies mode), then the preprocessors
    that re-apply after augmenting (``fix_length``)."""
    augmenter: Any = pipeline.augment[index]
    rng = pipeline.augment_rng(file_hash, index)
    given = wave.copy()
    copy = run_augmenter(pipeline, augmenter, path, partial(augmenter, given, sample_rate, rng), given, wave)
    reapply = [p for p in pipeline.preprocess if p.reapply_after_augment]
    return preprocess(pipeline, path, reapply, _check_wave(pipeline, augmenter, path, copy), sample_rate)


def online_wave(
    pipeline: Pipeline, path: str, file_hash: str, epoch: int, wave: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, int] | None:
    """A preprocessed waveform through the waveform entries in order, drawn from (seed, file, entry, epoch), then
    the preprocessors that re-apply after augmenting; None where no entry acted."""
    out = wave
    for index, augmenter in enumerate(pipeline.augment):
        if augmenter.stage == "features":
            continue
        given = out.copy()
        rng = pipeline.augment_rng(file_hash, index, epoch)
        call: Any = augmenter
        result = run_augmenter(pipeline, augmenter, path, partial(call, given, sample_rate, rng), given, out)
        if result is not given:  # it acted (an entry whose chance failed returns its input)
            out = _check_wave(pipeline, augmenter, path, result)
    if out is wave:
        return None
    reapply = [p for p in pipeline.preprocess if p.reapply_after_augment]
    return preprocess(pipeline, path, reapply, out, sample_rate)


def finish_items(
    pipeline: Pipeline,
    path: str,
    file_hash: str,
    augmenters: list[int | None],
    extracted: dict[int | None, np.ndarray],
    original: np.ndarray | None,
    cache: ArrayCache | None,
) -> list[np.ndarray]:
    """Each requested item's features in storage dtype, cached: extracted ones, and feature-stage
    copies made from the stored original (cached or just extracted)."""
    if original is None and None in extracted:
        original = stored(pipeline, path, extracted[None])
    out = []
    for index in augmenters:
        if index is None:
            assert original is not None
            features = original
        elif pipeline.augment[index].stage == "features":
            assert original is not None
            augmenter: Any = pipeline.augment[index]
            rng = pipeline.augment_rng(file_hash, index)
            given = original.astype(np.float32)
            masked = run_augmenter(pipeline, augmenter, path, partial(augmenter, given, rng), given, original)
            features = check_features(pipeline, augmenter, path, masked, original.shape)
        else:
            features = extracted[index]
        features = stored(pipeline, path, features)
        if cache:
            cache.put("features", pipeline.feature_key(file_hash, index), features)
        out.append(features)
    return out


def preprocessed(pipeline: Pipeline, path: str, file_hash: str, cache: ArrayCache | None) -> tuple[np.ndarray, int]:
    """The file after the preprocess chain, from the cache when it is there."""
    key = pipeline.wave_key(file_hash)
    wave = cache.get("waves", key) if cache else None
    rate = cache.get("rates", key) if cache and wave is not None else None
    if wave is not None and rate is not None:
        return wave, int(rate[0])
    wave, sample_rate = preprocess(pipeline, path)
    if cache:
        cache.put("waves", key, wave)
        cache.put("rates", key, np.array([sample_rate]))
    return wave, sample_rate


def online_example(
    pipeline: Pipeline, path: str, file_hash: str, epoch: int, original: np.ndarray, cache: ArrayCache | None
) -> np.ndarray:
    """A fit utterance's training example in ``epoch`` (online augmentation), in storage dtype: its
    preprocessed waveform through the waveform entries in order, the preprocessors that re-apply after
    augmenting, the features, then the feature entries; each entry drawn from (seed, file, entry, epoch).
    Where no waveform entry acted, the features are the original's (``original``)."""
    features = original
    if any(a.stage != "features" for a in pipeline.augment):
        wave, sample_rate = preprocessed(pipeline, path, file_hash, cache)
        drawn = online_wave(pipeline, path, file_hash, epoch, wave, sample_rate)
        if drawn is not None:
            features = stored(pipeline, path, extract(pipeline, path, *drawn))
    for index, entry in enumerate(pipeline.augment):
        if entry.stage == "features":
            augmenter: Any = entry  # a feature augmenter: (features, rng)
            given = features.astype(np.float32)
            rng = pipeline.augment_rng(file_hash, index, epoch)
            masked = run_augmenter(pipeline, augmenter, path, partial(augmenter, given, rng), given, features)
            if masked is not given:
                features = stored(pipeline, path, check_features(pipeline, augmenter, path, masked, original.shape))
    return features
