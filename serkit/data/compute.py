"""Features of many files: from the cache where present, computed otherwise, in worker processes
(:func:`~serkit.data.pipeline.process_file` per file) or, for an extractor that runs on batches, by
:mod:`serkit.data.batched`; cache entries that cannot be what the pipeline wrote are recomputed."""

from __future__ import annotations

import multiprocessing
import pickle
import sys
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np

from serkit.core.components import SHAPE_NDIM
from serkit.core.errors import SerkitError
from serkit.data.batched import compute_batched, quiet_on_interrupt
from serkit.data.cache import ArrayCache
from serkit.data.pipeline import PENDING, Item, Pipeline, process_file, take_warnings

_worker_state: dict[str, Any] = {}


def _init_worker(pipeline: Pipeline, cache: ArrayCache | None) -> None:
    from threadpoolctl import threadpool_limits

    quiet_on_interrupt()
    threadpool_limits(1)  # one BLAS/OpenMP thread per worker: the workers already fill the cores
    _worker_state.update(pipeline=pipeline, cache=cache)


def _worker_task(path: str, file_hash: str, augmenters: list[int | None]) -> tuple[list[np.ndarray], list[str]]:
    """A file's items, and the warnings the worker met making them (the main process says each once)."""
    arrays = process_file(_worker_state["pipeline"], path, file_hash, augmenters, _worker_state["cache"])
    return arrays, take_warnings()


def compute_features(
    pipeline: Pipeline,
    paths: list[str],
    hashes: list[str],
    items: list[Item],
    cache: ArrayCache | None,
    workers: int = 1,
    progress: Callable[[int], None] = lambda n: None,
    sink: Callable[[Item, np.ndarray], None] | None = None,
    notes: list[str] | None = None,
) -> dict[Item, np.ndarray]:
    """Features for every requested item, from the cache where present, computed otherwise.

    With a ``sink``, each item's array is handed to it as it arrives and not kept (the returned
    dict is empty): memory stays bounded by one file's items, whatever the corpus size. What the
    run should report (clips padded to an extractor's shortest input) is appended to ``notes``.
    """
    results: dict[Item, np.ndarray] = {}
    store = sink or results.__setitem__
    found, todo = _cached(pipeline, paths, hashes, items, cache, notes)
    for item, cached in found.items():
        store(item, cached)
    progress(len(found))
    if pipeline.features.batched:  # the model runs here, on batches; workers preprocess and augment
        compute_batched(pipeline, paths, hashes, todo, cache, workers, store, progress, notes)
    elif workers <= 1 or len(todo) <= 1:
        for utterance, augmenters in todo.items():
            arrays = process_file(pipeline, paths[utterance], hashes[utterance], augmenters, cache)
            _collect(store, utterance, augmenters, arrays, progress)
    else:
        PENDING.extend(_in_workers(pipeline, paths, hashes, todo, cache, workers, store, progress))
    if notes is not None:
        said = {_gist(m) for m in notes}
        for message in take_warnings():  # each once, however many workers met it (and on whichever file)
            if _gist(message) not in said:
                said.add(_gist(message))
                notes.append(message)
    return results


def _gist(message: str) -> str:
    """A warning without the file it names ("... on FILE ..."): what makes two workers' warnings one."""
    return message.split(" on ")[0].split(" (first on ")[0]


def _cached(
    pipeline: Pipeline,
    paths: list[str],
    hashes: list[str],
    items: list[Item],
    cache: ArrayCache | None,
    notes: list[str] | None,
) -> tuple[dict[Item, np.ndarray], dict[int, list[int | None]]]:
    """The items found in the cache, and what is left to compute per file (damaged entries are
    removed, recomputed and said so in ``notes``)."""
    todo: dict[int, list[int | None]] = {}
    found = {}
    for utterance, augmenter in items:
        cached = cache.get("features", pipeline.feature_key(hashes[utterance], augmenter)) if cache else None
        if cached is not None:
            found[(utterance, augmenter)] = cached
        else:
            todo.setdefault(utterance, []).append(augmenter)
    damaged = damaged_entries(pipeline, found)
    for item in damaged:
        del found[item]
        if cache:
            cache.remove("features", pipeline.feature_key(hashes[item[0]], item[1]))
        todo.setdefault(item[0], []).append(item[1])
    if damaged and notes is not None:
        notes.append(
            f"{len(damaged)} damaged feature-cache entr{'y was' if len(damaged) == 1 else 'ies were'} recomputed "
            f"(non-finite values, or a dtype or shape the pipeline does not write; e.g. {paths[damaged[0][0]]}'s)"
        )
    return found, todo


def _in_workers(
    pipeline: Pipeline,
    paths: list[str],
    hashes: list[str],
    todo: dict[int, list[int | None]],
    cache: ArrayCache | None,
    workers: int,
    store: Callable[[Item, np.ndarray], None],
    progress: Callable[[int], None],
) -> list[str]:
    """Each file's items computed in a pool of ``workers`` processes, stored as they arrive; the warnings the
    workers met."""
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    if context.get_start_method() != "fork":
        check_picklable(pipeline)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(pipeline, cache)) as pool:
        futures = {
            pool.submit(_worker_task, paths[u], hashes[u], augmenters): (u, augmenters)
            for u, augmenters in todo.items()
        }
        met: list[str] = []
        try:
            for future in as_completed(futures):
                utterance, augmenters = futures[future]
                arrays, warned = future.result()
                met += warned
                _collect(store, utterance, augmenters, arrays, progress)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return met


def check_picklable(pipeline: Pipeline) -> None:
    """Every component survives pickling, as worker processes started by spawning (macOS, Windows)
    receive them; otherwise one line naming the component, instead of pickle's own error."""
    for component in [*pipeline.preprocess, *pipeline.augment, pipeline.features]:
        try:
            pickle.dumps(component)
        except Exception as exc:
            raise SerkitError(
                f"{pipeline.culprit(component)} cannot be pickled ({type(exc).__name__}: {exc}); the worker "
                "processes that compute features receive every component by pickling it: keep its fields plain "
                "values and its class importable from its module, or set run.workers = 1"
            ) from exc


def damaged_entries(pipeline: Pipeline, found: dict[Item, np.ndarray]) -> list[Item]:
    """Cached features that cannot be what the pipeline wrote: non-finite, of another dtype or rank,
    or of a shape unlike that of most entries (the cache's fault, not the audio's)."""
    dtype = np.dtype(pipeline.features.storage_dtype())
    ranks = SHAPE_NDIM.get(pipeline.features.output_shape(), (1, 2, 3))
    bad = [i for i, a in found.items() if a.dtype != dtype or a.ndim not in ranks or not np.all(np.isfinite(a))]
    shapes = Counter(a.shape for i, a in found.items() if i not in bad)
    if len(shapes) > 1:
        common, count = shapes.most_common(1)[0]
        if 2 * count > sum(shapes.values()):
            bad += [i for i, a in found.items() if i not in bad and a.shape != common]
    return bad


def _collect(
    store: Callable[[Item, np.ndarray], None],
    utterance: int,
    augmenters: list[int | None],
    arrays: list[np.ndarray],
    progress: Callable[[int], None],
) -> None:
    for augmenter, array in zip(augmenters, arrays, strict=True):
        store((utterance, augmenter), array)
    progress(len(arrays))
