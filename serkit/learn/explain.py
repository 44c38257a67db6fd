"""What the features say: permutation importance of vector features (scikit-learn's
``permutation_importance``) and occlusion maps of image features, both on a fold's validation part
(never its test part), with the model as tested."""

from __future__ import annotations

import numpy as np

from serkit.core.learner import Features, Learner, Transform
from serkit.core.scores import mean_ccc, uar

#: Vectors longer than this are not permuted (a report says so): each dimension costs repeats predictions.
MAX_DIMENSIONS = 1024
#: Permutations of each dimension.
REPEATS = 5
#: Occlusion patches along frequency and time, and the validation items occluded at most.
GRID, MAX_ITEMS = (8, 8), 32


def _rows(x: Features, transform: Transform | None) -> np.ndarray:
    rows = x[np.arange(len(x))]
    return np.asarray(transform(rows) if transform else rows, dtype=np.float32)


def shuffles(n: int, seed: int, repeats: int = REPEATS) -> list[np.ndarray]:
    """The row order of a shuffled column in each repeat, exactly as scikit-learn's
    ``permutation_importance(random_state=seed)`` draws them (the same for every column; each repeat
    shuffles the previous repeat's column again)."""
    rng = np.random.RandomState(np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1))
    index, order, orders = np.arange(n), np.arange(n), []
    for _ in range(repeats):
        rng.shuffle(index)
        order = order[index]
        orders.append(order.copy())
    return orders


def permutation_importance_of(
    learner: Learner, x: Features, y: np.ndarray, transform: Transform | None, seed: int, metric: str = "uar"
) -> dict[str, list[float]]:
    """The drop in validation UAR (``metric = "ccc"``: a regression's mean CCC over its targets) when each
    dimension of a vector is shuffled (mean and sd over :data:`REPEATS` shuffles): scikit-learn's
    ``permutation_importance`` with that scorer, the same shuffles and figures (tested equal), computed in a
    few large predictions instead of one per dimension and shuffle. Empty where the vectors are longer than
    :data:`MAX_DIMENSIONS` or the validation part has one class (one value)."""
    rows = _rows(x, transform)
    varied = len(np.unique(y)) > 1 if metric == "uar" else bool(np.all(np.ptp(y, axis=0) > 0))
    if rows.ndim != 2 or rows.shape[1] > MAX_DIMENSIONS or not varied:
        return {}
    n, dims = rows.shape
    score = mean_ccc if metric == "ccc" else _uar_score
    baseline = score(y, learner.predict_proba(rows))
    orders = shuffles(n, seed)
    drops = np.zeros((dims, len(orders)))
    per_call = max(1, 2_000_000 // max(1, n * dims * len(orders)))  # columns per prediction: ~8 MB of rows
    for start in range(0, dims, per_call):
        columns = range(start, min(dims, start + per_call))
        copies = np.repeat(rows[np.newaxis], len(columns) * len(orders), axis=0)
        for k, (column, order) in enumerate((c, o) for c in columns for o in orders):
            copies[k, :, column] = rows[order, column]
        predicted = learner.predict_proba(copies.reshape(-1, dims)).reshape(len(copies), n, -1)
        for k, (column, r) in enumerate((c, r) for c in columns for r in range(len(orders))):
            drops[column, r] = baseline - score(y, predicted[k])
    return {"mean": drops.mean(axis=1).tolist(), "sd": drops.std(axis=1).tolist()}


def _uar_score(y: np.ndarray, outputs: np.ndarray) -> float:
    return uar(y, outputs.argmax(1))


def occlusion_map(
    learner: Learner, x: Features, y: np.ndarray, transform: Transform | None, n_classes: int, seed: int
) -> list[list[list[float]]]:
    """Per class, the mean drop in that class's probability over its validation items (at most
    :data:`MAX_ITEMS`) when each patch of a :data:`GRID` over (frequency, time) is set to zero, the
    normalised mean; empty for features that are not images."""
    rows = _rows(x, transform)
    if rows.ndim != 4 or len(rows) == 0:
        return []
    chosen = np.sort(np.random.default_rng(seed).permutation(len(rows))[:MAX_ITEMS])
    rows, y = rows[chosen], y[chosen]
    base = learner.predict_proba(rows)
    bands, frames = rows.shape[2], rows.shape[3]
    f_edges = np.linspace(0, bands, GRID[0] + 1).astype(int)
    t_edges = np.linspace(0, frames, GRID[1] + 1).astype(int)
    drops = np.zeros((n_classes, GRID[0], GRID[1]))
    for i in range(GRID[0]):  # one prediction per frequency band of patches (GRID[1] copies of the items)
        hidden = np.repeat(rows[np.newaxis], GRID[1], axis=0)
        for j in range(GRID[1]):
            hidden[j, :, :, f_edges[i] : f_edges[i + 1], t_edges[j] : t_edges[j + 1]] = 0.0
        after = learner.predict_proba(hidden.reshape(-1, *rows.shape[1:])).reshape(GRID[1], len(rows), -1)
        for k in range(n_classes):
            members = y == k
            if members.any():
                drops[k, i] = np.mean(base[members, k][np.newaxis] - after[:, members, k], axis=1)
    return drops.tolist()
