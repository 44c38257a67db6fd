"""How far a model's probabilities can be trusted: expected calibration error (top class and
classwise), the Brier score and the log loss of the test predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import log_loss

#: Equal-width bins of predicted probability for the calibration errors (the usual choice, stated).
BINS = 15


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray, bins: int = BINS) -> float:
    """Σ over equal-width confidence bins of (bin size / N) · |accuracy in the bin − mean confidence in it|."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.mean() * abs(float(correct[members].mean()) - float(confidence[members].mean()))
    return float(total)


def calibration_report(truth: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """ECE of the top class, classwise ECE (the mean over classes of each class's ECE), the Brier
    score (mean over utterances of Σ_k (p_k − y_k)²) and the log loss, of pooled test predictions."""
    truth = np.asarray(truth, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    onehot = np.eye(p.shape[1])[truth]
    top = p.argmax(axis=1)
    classwise = [expected_calibration_error(onehot[:, k], p[:, k]) for k in range(p.shape[1])]
    return {
        "ece": expected_calibration_error((top == truth).astype(float), p.max(axis=1)),
        "classwise_ece": float(np.mean(classwise)),
        "brier": float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        "log_loss": float(log_loss(truth, _normalised(p), labels=list(range(p.shape[1])))),
        "bins": BINS,
    }


def _normalised(p: np.ndarray) -> np.ndarray:
    """Rows that sum to one in float64 (probabilities stored as float32 miss by ~1e-7; log loss checks)."""
    p = np.clip(p, 1e-12, 1.0)
    return p / p.sum(axis=1, keepdims=True)
