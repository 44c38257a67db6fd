"""Accuracy, UAR, per-class precision / recall / F1 and the confusion matrix (scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from serkit.core.scores import accuracy, uar


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Every headline figure of a report, as plain JSON-ready data."""
    indices = list(range(len(labels)))
    report = classification_report(
        y_true, y_pred, labels=indices, target_names=labels, output_dict=True, zero_division=0
    )
    counts = confusion_matrix(y_true, y_pred, labels=indices)
    rows = counts.sum(axis=1, keepdims=True)
    percent = np.divide(100.0 * counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    return {
        "accuracy": accuracy(y_true, y_pred),
        "uar": uar(y_true, y_pred),  # the mean recall over the classes present in the test part
        "per_class": {
            label: {k: float(report[label][k]) for k in ("precision", "recall", "f1-score")}
            | {"support": int(report[label]["support"])}
            for label in labels
        },
        "macro_avg": {k: float(v) for k, v in report["macro avg"].items()},
        "weighted_avg": {k: float(v) for k, v in report["weighted avg"].items()},
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_percent": np.round(percent, 2).tolist(),
        "labels": labels,
        "n_test": len(y_true),
    }


def mean_sd(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if len(array) > 1 else 0.0, "n": len(array)}


def spread(fold_metrics: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Accuracy, UAR and macro F1 as mean ± sd over folds (and repeats)."""
    return {
        "accuracy": mean_sd([m["accuracy"] for m in fold_metrics]),
        "uar": mean_sd([m["uar"] for m in fold_metrics]),
        "macro_f1": mean_sd([m["macro_avg"]["f1-score"] for m in fold_metrics]),
    }


#: Predicted classes further than this from the test part's (total variation distance between the
#: two class distributions, 0 to 1) make a model "near collapse" in the report.
COLLAPSE_DISTANCE = 0.5


def collapse_warning(metrics: dict[str, Any]) -> str:
    """Why a model's predictions say nothing (one class for every test utterance, or predicted classes
    far from the test part's), from its confusion matrix; "" when they are not collapsed."""
    counts = np.asarray(metrics["confusion_matrix"])
    true, predicted, n = counts.sum(axis=1), counts.sum(axis=0), int(counts.sum())
    if n == 0 or np.count_nonzero(true) < 2:
        return ""
    labels, used = metrics["labels"], np.flatnonzero(predicted)
    if len(used) == 1:
        return (
            f"collapsed: the model predicted one class ('{labels[used[0]]}') for all {n} test utterances; its "
            "accuracy and UAR are chance figures and say nothing about the features or the model"
        )
    distance = 0.5 * float(np.abs(true - predicted).sum()) / n
    if distance > COLLAPSE_DISTANCE:
        top = int(predicted.argmax())
        return (
            f"near collapse: the predicted classes are far from the test part's (total variation distance "
            f"{distance:.2f} > {COLLAPSE_DISTANCE}; {100 * predicted[top] / n:.0f} % of predictions are "
            f"'{labels[top]}')"
        )
    return ""
