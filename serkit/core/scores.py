"""The scores serkit reports, each defined once in NumPy: accuracy, UAR and Lin's CCC.

Everything that scores predictions (the report, validation and early stopping, the bootstrap and the
tests that compare runs, feature importance) calls these; the differentiable torch losses of
:mod:`serkit.learn.objectives` are tested equal to :func:`ccc`.
"""

from __future__ import annotations

import numpy as np


def accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """The fraction of predictions equal to the truth."""
    return float(np.mean(np.asarray(truth) == np.asarray(predicted)))


def uar(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Unweighted average recall: the mean over the classes present in ``truth`` of the fraction of each
    class's items predicted as it (labels of any type: class indices or names)."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.dtype.kind in "iu" and truth.size and truth.min() >= 0:  # class indices: counted as they are
        index = truth.reshape(-1)
    else:
        index = np.unique(truth, return_inverse=True)[1].reshape(-1)
    counts = np.bincount(index)
    hits = np.bincount(index, weights=(truth == predicted).reshape(-1), minlength=len(counts))
    present = counts > 0
    return float(np.mean(hits[present] / counts[present]))


def ccc(y: np.ndarray, p: np.ndarray) -> float:
    """Lin's concordance correlation coefficient of two 1-D arrays, 2 cov / (var_y + var_p + (mean_y -
    mean_p)^2) with population moments; 0 where both are constant."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    covariance = np.mean((y - y.mean()) * (p - p.mean()))
    denominator = y.var() + p.var() + (y.mean() - p.mean()) ** 2
    return float(2 * covariance / denominator) if denominator > 0 else 0.0


def mean_ccc(truth: np.ndarray, predicted: np.ndarray) -> float:
    """:func:`ccc` of each target (columns of ``(items, targets)`` arrays), averaged over the targets."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    return float(np.mean([ccc(truth[:, k], predicted[:, k]) for k in range(truth.shape[1])]))
