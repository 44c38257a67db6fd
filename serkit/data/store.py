"""A run's features in one file on disk, read a batch at a time: memory bounded by the batch.

The feature stage writes each item's array into its row as it arrives (from the cache or a
worker) and keeps nothing else; training reads the rows of one batch at a time with plain file
reads, so the process's resident memory does not grow with the corpus (the operating system's
page cache, which it may drop at any time, holds what fits).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.data.pipeline import Item


class FeatureStore:
    """Fixed-shape float16 rows, one per item, in an anonymous temporary file."""

    def __init__(
        self,
        items: Sequence[Item],
        paths: Sequence[str],
        folder: str | Path | None = None,
        *,
        hashes: Sequence[str] = (),
        cache: str | Path = "",
    ) -> None:
        self.rows = {item: row for row, item in enumerate(items)}
        self.paths = paths  # per utterance index, for error messages
        #: Per utterance index, its file's content digest; and the feature cache the rows came from (online
        #: augmentation draws its examples from there).
        self.hashes, self.cache = list(hashes), str(cache)
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (held until close(); removed by the system)
        self.shape: tuple[int, ...] | None = None
        self.dtype: np.dtype[Any] | None = None
        self._first: Item | None = None

    def put(self, item: Item, array: np.ndarray) -> None:
        if self.shape is None:
            self.shape, self.dtype, self._first = tuple(array.shape), array.dtype, item
        elif tuple(array.shape) != self.shape:
            assert self._first is not None
            raise SerkitError(
                f"features differ in shape ({self.shape} for {self.paths[self._first[0]]}, {tuple(array.shape)} "
                f"for {self.paths[item[0]]}): add a fix_length preprocessor so every clip has the same duration"
            )
        data = np.ascontiguousarray(array, dtype=self.dtype).tobytes()
        os.pwrite(self._file.fileno(), data, self.rows[item] * len(data))

    def view(self, items: Sequence[Item]) -> Rows:
        """The rows of ``items``, in that order, as an array-like read on demand."""
        if self.shape is None or self.dtype is None:
            raise SerkitError("no features were computed")
        return Rows(self, np.array([self.rows[item] for item in items], dtype=np.int64))

    def read(self, rows: np.ndarray) -> np.ndarray:
        assert self.shape is not None and self.dtype is not None
        size = int(np.prod(self.shape)) * self.dtype.itemsize
        out = np.empty((len(rows), *self.shape), dtype=self.dtype)
        fd = self._file.fileno()
        for k, row in enumerate(rows.tolist()):
            out[k] = np.frombuffer(os.pread(fd, size, row * size), dtype=self.dtype).reshape(self.shape)
        return out

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Rows:
    """Some rows of a :class:`FeatureStore`, indexable like an array of shape (n, *item shape)."""

    def __init__(self, store: FeatureStore, rows: np.ndarray) -> None:
        self.store, self.rows = store, rows
        assert store.shape is not None and store.dtype is not None
        self.shape: tuple[int, ...] = (len(rows), *store.shape)
        self.dtype = store.dtype

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, selection: slice | np.ndarray | list[int]) -> np.ndarray:
        return self.store.read(self.rows[selection])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.store.read(self.rows)
        return array if dtype is None else array.astype(dtype)
