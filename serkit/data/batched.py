"""Feature extraction in the main process, in batches: for extractors that run a neural model.

The forked workers still load, preprocess and augment each file (the per-file work); they hand
back waveforms, and the main process extracts features from batches of equal-length clips with
one copy of the model (on the GPU when the extractor uses one: CUDA does not survive a fork).
Results do not depend on the number of workers or on how clips fall into batches, since each
batch holds clips of one length (no padding between clips).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import partial
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.data.cache import ArrayCache
from serkit.data.pipeline import (
    Item,
    Pipeline,
    Waves,
    check_features,
    finish_items,
    padded,
    run_step,
    waves_to_extract,
)

#: One file's part of the work: its utterance index, the items asked, what to extract, the cached original.
Pending = tuple[int, list[int | None], Waves, np.ndarray | None]

_worker: dict[str, Any] = {}


def compute_batched(
    pipeline: Pipeline,
    paths: list[str],
    hashes: list[str],
    todo: dict[int, list[int | None]],
    cache: ArrayCache | None,
    workers: int,
    store: Callable[[Item, np.ndarray], None],
    progress: Callable[[int], None],
    notes: list[str] | None = None,
) -> None:
    """Features of the ``todo`` items, handed to ``store`` as each batch is done."""
    extractor = pipeline.features
    limit = max(1, extractor.batch_items())
    pending: list[Pending] = []
    short: list[str] = []

    def flush() -> None:
        jobs = [(u, index, wave, rate) for u, _, waves, _ in pending for index, (wave, rate) in waves.items()]
        extracted = _extract(pipeline, paths, jobs, short)
        for utterance, augmenters, waves, original in pending:
            mine = {index: extracted[(utterance, index)] for index in waves}
            path = paths[utterance]
            arrays = finish_items(pipeline, path, hashes[utterance], augmenters, mine, original, cache)
            for augmenter, array in zip(augmenters, arrays, strict=True):
                store((utterance, augmenter), array)
            progress(len(arrays))
        pending.clear()

    for part in _waves(pipeline, paths, hashes, todo, cache, workers):
        pending.append(part)
        if sum(len(p[2]) for p in pending) >= limit:
            flush()
    flush()
    if short and notes is not None:
        notes.append(
            f"{len(short)} clip(s) shorter than {extractor.min_seconds():g} s, the shortest '{extractor.name}' "
            f"accepts, were padded with silence (e.g. {short[0]})"
        )


def _extract(
    pipeline: Pipeline, paths: list[str], jobs: list[tuple[int, int | None, np.ndarray, int]], short: list[str]
) -> dict[tuple[int, int | None], np.ndarray]:
    """Features of each job, from batches of clips of equal rate and length."""
    extractor = pipeline.features
    groups: dict[tuple[int, int], list[tuple[int, int | None, np.ndarray]]] = {}
    for utterance, index, wave, rate in jobs:
        wave, was_short = padded(extractor, wave, rate)
        if was_short:
            short.append(paths[utterance])
        groups.setdefault((rate, wave.size), []).append((utterance, index, wave))
    out = {}
    for (rate, _), members in groups.items():
        where = paths[members[0][0]] + (f" and {len(members) - 1} other clip(s)" if len(members) > 1 else "")
        waves = [wave for _, _, wave in members]
        features = run_step(pipeline, extractor, where, partial(extractor.extract_batch, waves, rate))
        if not isinstance(features, list) or len(features) != len(members):
            raise SerkitError(f"{pipeline.culprit(extractor)}: extract_batch must return one array per clip")
        for (utterance, index, _), array in zip(members, features, strict=True):
            out[(utterance, index)] = check_features(pipeline, extractor, paths[utterance], array)
    return out


def _waves(
    pipeline: Pipeline,
    paths: list[str],
    hashes: list[str],
    todo: dict[int, list[int | None]],
    cache: ArrayCache | None,
    workers: int,
) -> Iterator[Pending]:
    """Each file's waveforms to extract, from worker processes when there are several."""
    if workers <= 1 or len(todo) <= 1:
        for utterance, augmenters in todo.items():
            waves, original = waves_to_extract(pipeline, paths[utterance], hashes[utterance], augmenters, cache)
            yield utterance, augmenters, waves, original
        return
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init, initargs=(pipeline, cache)) as pool:
        futures = {pool.submit(_task, paths[u], hashes[u], augs): (u, augs) for u, augs in todo.items()}
        try:
            for future in as_completed(futures):
                utterance, augmenters = futures[future]
                waves, original = future.result()
                yield utterance, augmenters, waves, original
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def quiet_on_interrupt() -> None:
    """In a worker process: ignore Ctrl-C, which the terminal sends to the whole process group. The main
    process alone stops the run (saying how to resume) and ends the pool; a worker interrupted mid-file
    would print its traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()


def _die_with_parent() -> None:
    """In a worker process: end when the main process does, even killed outright (SIGKILL: a power cut's
    or the OOM killer's shape), instead of lingering as an orphan that holds its pipes open. Linux tells a
    process when its parent dies; elsewhere a thread checks every second."""
    parent = os.getppid()
    if sys.platform == "linux":
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL) == 0 and os.getppid() == parent:  # PR_SET_PDEATHSIG
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="serkit-parent-watch", daemon=True).start()


def _init(pipeline: Pipeline, cache: ArrayCache | None) -> None:
    from threadpoolctl import threadpool_limits

    quiet_on_interrupt()
    threadpool_limits(1)
    _worker.update(pipeline=pipeline, cache=cache)


def _task(path: str, file_hash: str, augmenters: list[int | None]) -> tuple[Waves, np.ndarray | None]:
    return waves_to_extract(_worker["pipeline"], path, file_hash, augmenters, _worker["cache"])
