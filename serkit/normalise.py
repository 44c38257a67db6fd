"""Feature normalisation fitted on the training part only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ZScore:
    """Subtract a mean and divide by a standard deviation, per band or globally."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, scope: str) -> ZScore:
        """``x`` is (items, channels, ...); per band keeps every axis but the items and the last (time)."""
        axes = (0, x.ndim - 1) if scope == "band" and x.ndim >= 3 else tuple(range(x.ndim))
        mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
        std = x.std(axis=axes, keepdims=True, dtype=np.float64)
        return cls(mean[0].astype(np.float32), np.maximum(std[0], 1e-8).astype(np.float32))

    @classmethod
    def identity(cls) -> ZScore:
        return cls(np.zeros(1, np.float32), np.ones(1, np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, object]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "shape": list(self.mean.shape)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ZScore:
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["std"], np.float32))
