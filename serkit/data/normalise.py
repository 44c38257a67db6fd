"""Feature normalisation fitted on the training part only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class ZScore:
    """Subtract a mean and divide by a standard deviation, per band or globally."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: Any, scope: str, chunk: int = 256) -> ZScore:
        """``x`` is (items, channels, ...): an array, or a feature store's rows.

        Per band keeps every axis but the items and the last (time).

        Sums are accumulated in float64, a chunk of items at a time, so no full-size copy is made.
        """
        axes = (0, x.ndim - 1) if scope == "band" and x.ndim >= 3 else tuple(range(x.ndim))
        total: Any = 0.0
        squares: Any = 0.0
        for start in range(0, len(x), chunk):
            part = x[start : start + chunk].astype(np.float64)
            total = total + part.sum(axis=axes, keepdims=True)
            squares = squares + (part**2).sum(axis=axes, keepdims=True)
        count = x.size / np.asarray(total).size
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        return cls(mean[0].astype(np.float32), np.maximum(std[0], 1e-8).astype(np.float32))

    @classmethod
    def identity(cls) -> ZScore:
        return cls(np.zeros(1, np.float32), np.ones(1, np.float32))

    def __call__(self, x: np.ndarray, chunk: int = 256) -> np.ndarray:
        """The normalised array, in ``x``'s own dtype (float16 storage stays float16)."""
        out = np.empty_like(x)
        for start in range(0, len(x), chunk):
            out[start : start + chunk] = (x[start : start + chunk].astype(np.float32) - self.mean) / self.std
        return out

    def to_dict(self) -> dict[str, object]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "shape": list(self.mean.shape)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ZScore:
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["std"], np.float32))


def fit_normaliser(method: str, scope: str, x: Any) -> ZScore:
    """The ``[normalise]`` setting fitted on training features: z-score, or the identity for ``none``."""
    return ZScore.fit(x, scope) if method == "zscore" else ZScore.identity()


def saved_normaliser(data: dict[str, object]) -> ZScore:
    """The normaliser a run folder's model.json describes (method, and the fitted statistics)."""
    return ZScore.from_dict(data) if data.get("method", "zscore") == "zscore" else ZScore.identity()
