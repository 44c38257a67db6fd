"""How far a model's probabilities can be trusted: expected calibration error (top class and
classwise), the Brier score and the log loss of the test predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import log_loss

#: Equal-width bins of predicted probability for the calibration errors (the usual choice, stated).
BINS = 15


def reliability_bins(correct: np.ndarray, confidence: np.ndarray, bins: int = BINS) -> dict[str, list[float]]:
    """Per non-empty equal-width bin of confidence: its mean confidence, its accuracy and its size
    (scikit-learn's ``calibration_curve`` gives the first two; the sizes weight the ECE)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    curve: dict[str, list[float]] = {"confidence": [], "accuracy": [], "count": []}
    for b in range(bins):
        members = which == b
        if members.any():
            curve["confidence"].append(float(confidence[members].mean()))
            curve["accuracy"].append(float(correct[members].mean()))
            curve["count"].append(int(members.sum()))
    return curve


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray, bins: int = BINS) -> float:
    """Σ over equal-width confidence bins of (bin size / N) · |accuracy in the bin − mean confidence in it|."""
    curve = reliability_bins(correct, confidence, bins)
    n = max(1, len(confidence))
    return float(
        sum(c / n * abs(a - m) for m, a, c in zip(curve["confidence"], curve["accuracy"], curve["count"], strict=True))
    )


def calibration_report(truth: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """ECE of the top class, classwise ECE (the mean over classes of each class's ECE), the Brier
    score (mean over utterances of Σ_k (p_k − y_k)²) and the log loss, of pooled test predictions."""
    truth = np.asarray(truth, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    onehot = np.eye(p.shape[1])[truth]
    top = p.argmax(axis=1)
    classwise = [expected_calibration_error(onehot[:, k], p[:, k]) for k in range(p.shape[1])]
    correct, confidence = (top == truth).astype(float), p.max(axis=1)
    return {
        "ece": expected_calibration_error(correct, confidence),
        "classwise_ece": float(np.mean(classwise)),
        "brier": float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        "log_loss": float(log_loss(truth, _normalised(p), labels=list(range(p.shape[1])))),
        "bins": BINS,
        "reliability": reliability_bins(correct, confidence),
    }


def _normalised(p: np.ndarray) -> np.ndarray:
    """Rows that sum to one in float64 (probabilities stored as float32 miss by ~1e-7; log loss checks)."""
    p = np.clip(p, 1e-12, 1.0)
    return p / p.sum(axis=1, keepdims=True)
