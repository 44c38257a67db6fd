"""Online augmentation (``[augmentation] mode = "online"``): each epoch's training examples drawn anew,
computed ahead of the trainer by loader processes.

Each example is :func:`~serkit.data.pipeline.online_example`: a pure function of the run's seed, the
file, the entry and the epoch, so the number of loader processes, the order in which they finish, a
resumed run and a Ray task all see the same examples. The loaders are serkit's own process pool (the
feature stage's: forked where the platform allows, one BLAS thread each, Ctrl-C left to the main
process) rather than torch's ``DataLoader``: the trainer already owns the batch order (sharded over
data-parallel workers, replayed on resume), so what it needs is "these batches of this epoch, in
order", which a pool of per-batch tasks gives without a second sampler to keep in step. Only the
stages after the augmenter run per example: the preprocessed waveforms come from the feature cache.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from serkit.core.learner import Features
from serkit.data.batched import quiet_on_interrupt
from serkit.data.cache import ArrayCache
from serkit.data.pipeline import Pipeline, online_example

_loader: dict[str, Any] = {}


def _init_loader(pipeline: Pipeline, cache: ArrayCache | None) -> None:
    from threadpoolctl import threadpool_limits

    quiet_on_interrupt()
    threadpool_limits(1)
    _loader.update(pipeline=pipeline, cache=cache)


def _batch(paths: list[str], hashes: list[str], epoch: int, originals: np.ndarray) -> np.ndarray:
    return make_batch(_loader["pipeline"], paths, hashes, epoch, originals, _loader["cache"])


def make_batch(
    pipeline: Pipeline,
    paths: Sequence[str],
    hashes: Sequence[str],
    epoch: int,
    originals: np.ndarray,
    cache: ArrayCache | None,
) -> np.ndarray:
    """One batch's examples for ``epoch``, stacked in storage dtype."""
    rows = [online_example(pipeline, p, h, epoch, o, cache) for p, h, o in zip(paths, hashes, originals, strict=True)]
    return np.stack(rows).astype(originals.dtype, copy=False)


def default_loaders() -> int:
    """Half the cores, at least one: the other half trains."""
    return max(1, (os.cpu_count() or 2) // 2)


class OnlineFeatures:
    """The fit part in online mode: indexing reads its originals (what the normaliser is fitted on); each
    epoch's batches are drawn anew by ``loaders`` processes, ``prefetch`` batches each ahead of the trainer."""

    def __init__(
        self,
        originals: Features,
        paths: Sequence[str],
        hashes: Sequence[str],
        pipeline: Pipeline,
        cache: ArrayCache | None,
        loaders: int = 0,
        prefetch: int = 4,
    ) -> None:
        self.originals, self.paths, self.hashes = originals, list(paths), list(hashes)
        self.pipeline, self.cache = pipeline, cache
        self.loaders, self.prefetch = loaders or default_loaders(), prefetch
        self.shape: tuple[int, ...] = tuple(originals.shape)
        self.dtype = getattr(originals, "dtype", np.float16)
        self._pool: ProcessPoolExecutor | None = None

    def __len__(self) -> int:
        return len(self.originals)

    def __getitem__(self, selection: Any) -> np.ndarray:
        return self.originals[selection]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = np.asarray(self.originals)
        return array if dtype is None else array.astype(dtype)

    def batches(self, epoch: int, batches: list[np.ndarray]) -> Iterator[np.ndarray]:
        """Each batch's examples for ``epoch``, in order, computed ahead by the loader processes."""
        pool = self._started()
        ahead: deque[Future[np.ndarray]] = deque()
        todo = iter(batches)
        try:
            for index in todo:
                ahead.append(self._submit(pool, epoch, index))
                if len(ahead) >= self.loaders * self.prefetch:
                    break
            while ahead:
                done = ahead.popleft().result()
                following = next(todo, None)
                if following is not None:
                    ahead.append(self._submit(pool, epoch, following))
                yield done
        finally:
            for future in ahead:
                future.cancel()

    def _submit(self, pool: ProcessPoolExecutor, epoch: int, index: np.ndarray) -> Future[np.ndarray]:
        positions = index.tolist()
        paths = [self.paths[i] for i in positions]
        hashes = [self.hashes[i] for i in positions]
        return pool.submit(_batch, paths, hashes, epoch, np.asarray(self.originals[index]))

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            if context.get_start_method() != "fork":
                from serkit.data.compute import check_picklable

                check_picklable(self.pipeline)
            self._pool = ProcessPoolExecutor(
                self.loaders, mp_context=context, initializer=_init_loader, initargs=(self.pipeline, self.cache)
            )
        return self._pool

    def close(self) -> None:
        """Stop the loader processes (started again if more batches are asked for)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
