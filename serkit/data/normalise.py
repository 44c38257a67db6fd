"""Feature normalisation fitted on the training part only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.fileio import JSONObject

#: A band whose standard deviation over the fitted items is below this is constant there: it is centred
#: and not scaled (scikit-learn's StandardScaler does the same), so an item that departs from it by a
#: little stays a little (a floor of 1e-8 made 0.01 into 1e6, infinite in float16 storage).
CONSTANT = 1e-6


@dataclass
class ZScore:
    """Subtract a mean and divide by a standard deviation, per band or globally."""

    mean: np.ndarray
    std: np.ndarray
    #: What the features are, for errors ("feature extractor 'log_mel'").
    source: str = "features"

    @classmethod
    def fit(cls, x: Any, scope: str, shape: str = "image", chunk: int = 256, source: str = "features") -> ZScore:
        """``x`` is (items, ...): an array, or a feature store's rows, of features of the given shape.

        Per band (``band`` and ``speaker`` scopes) keeps one statistic per band of an image (every
        axis but the items and the last, time), per dimension of a sequence (frames, dims) or of a
        vector; ``global`` keeps one.

        Sums are accumulated in float64, a chunk of items at a time, so no full-size copy is made.
        """
        axes = tuple(range(x.ndim)) if scope == "global" else _pooled_axes(shape, x.ndim)
        total: Any = 0.0
        squares: Any = 0.0
        for start in range(0, len(x), chunk):
            part = x[start : start + chunk].astype(np.float64)
            total = total + part.sum(axis=axes, keepdims=True)
            squares = squares + (part**2).sum(axis=axes, keepdims=True)
        count = x.size / np.asarray(total).size
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        scale = np.where(std[0] < CONSTANT, 1.0, std[0])
        return cls(mean[0].astype(np.float32), scale.astype(np.float32), source)

    @classmethod
    def identity(cls) -> ZScore:
        return cls(np.zeros(1, np.float32), np.ones(1, np.float32))

    def __call__(self, x: np.ndarray, chunk: int = 256) -> np.ndarray:
        """The normalised array, in ``x``'s own dtype (float16 storage stays float16); a value that is not
        finite there is an error naming the features and the band."""
        out = np.empty_like(x)
        for start in range(0, len(x), chunk):
            out[start : start + chunk] = (x[start : start + chunk].astype(np.float32) - self.mean) / self.std
            if not np.all(np.isfinite(out[start : start + chunk])):
                self._not_finite(x[start : start + chunk], out[start : start + chunk])
        return out

    def _not_finite(self, rows: np.ndarray, normalised: np.ndarray) -> None:
        item, *where = np.argwhere(~np.isfinite(normalised))[0]
        position = tuple(int(k) for k in where)
        mean = float(np.broadcast_to(self.mean, rows.shape[1:])[position])
        std = float(np.broadcast_to(self.std, rows.shape[1:])[position])
        raise SerkitError(
            f"{self.source}: band {position} is not finite after normalising in {normalised.dtype} (value "
            f"{float(rows[(item, *position)]):.6g}, fitted mean {mean:.6g}, std {std:.3g}): a value the features "
            f"or their {normalised.dtype} storage cannot hold"
        )

    def to_dict(self) -> JSONObject:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "shape": list(self.mean.shape)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object], source: str = "features") -> ZScore:
        """A saved normaliser; a constant band saved by serkit 0.2 (std floored at 1e-8) is centred, as now."""
        std = np.asarray(data["std"], np.float32)
        return cls(np.asarray(data["mean"], np.float32), np.where(std < CONSTANT, 1.0, std).astype(np.float32), source)


def _pooled_axes(shape: str, ndim: int) -> tuple[int, ...]:
    """The axes a per-band statistic pools over: the items, and time where there is time."""
    if shape == "vector":
        return (0,)
    if shape == "sequence":  # (items, frames, dims), or (items, layers, frames, dims): per layer and dim
        return (0, 1) if ndim <= 3 else (0, 2)
    return (0, ndim - 1) if ndim >= 3 else tuple(range(ndim))


def fit_normaliser(method: str, scope: str, x: Any, shape: str = "image", source: str = "features") -> ZScore:
    """The ``[normalise]`` setting fitted on training features: z-score, or the identity for ``none``."""
    return ZScore.fit(x, scope, shape, source=source) if method == "zscore" else ZScore.identity()


class GroupNormalised:
    """Rows normalised by their group's statistics (per-speaker normalisation), indexable like an array.

    ``stats`` maps each group to a z-score fitted on that group's own items (:func:`fit_groups`).
    """

    def __init__(self, x: Any, groups: Sequence[str], stats: dict[str, ZScore]) -> None:
        self.x = x
        self.groups = np.asarray(groups)
        self.stats = stats
        self.shape: tuple[int, ...] = tuple(x.shape)
        self.ndim = len(self.shape)
        self.dtype = x.dtype

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, selection: Any) -> np.ndarray:
        rows = np.asarray(self.x[selection])
        groups = self.groups[selection]
        out = np.empty_like(rows)
        for group in np.unique(groups):
            mask = groups == group
            out[mask] = self.stats[str(group)](rows[mask])
        return out


def fit_groups(
    x: Any, groups: Sequence[str], use: Sequence[bool], shape: str, source: str = "features"
) -> dict[str, ZScore]:
    """Per-band z-scores of each group, each fitted on that group's rows where ``use`` is true."""
    labels, chosen = np.asarray(groups), np.asarray(use, dtype=bool)
    stats = {}
    for group in np.unique(labels):
        rows = np.flatnonzero((labels == group) & chosen)
        if rows.size == 0:
            rows = np.flatnonzero(labels == group)
        stats[str(group)] = ZScore.fit(np.asarray(x[rows]), "band", shape, source=f"{source}, speaker group {group}")
    return stats


def saved_normaliser(data: Mapping[str, object], source: str = "features") -> ZScore:
    """The normaliser a run folder's model.json describes (method, and the fitted statistics)."""
    return ZScore.from_dict(data, source) if data.get("method", "zscore") == "zscore" else ZScore.identity()
