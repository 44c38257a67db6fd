"""What the features say, over every fold: the vector dimensions whose shuffling costs the most
validation UAR, or, for images, where occluding the input lowers each class's probability most."""

from __future__ import annotations

from typing import Any

import numpy as np

from serkit.results.records import FoldResult

#: The most important dimensions a report lists.
TOP = 15


def feature_report(
    results: list[FoldResult], columns: list[str] | None, labels: list[str], metric: str = "uar"
) -> dict[str, Any]:
    """metrics.json's ``features_say``: ``importance`` (the top dimensions by mean UAR drop over
    folds, or a regression's mean CCC drop (``metric``), named by the extractor's columns where it has
    them) and/or ``occlusion`` (each class's mean map over folds); empty where no fold explained anything."""
    report: dict[str, Any] = {}
    importances = [r.explanation["importance"] for r in results if r.explanation.get("importance")]
    if importances:
        means = np.mean([found["mean"] for found in importances], axis=0)
        spread = np.std([found["mean"] for found in importances], axis=0, ddof=1 if len(importances) > 1 else 0)
        names = columns if columns and len(columns) == len(means) else [f"dimension {k + 1}" for k in range(len(means))]
        score = "CCC (the mean over the targets)" if metric == "ccc" else "UAR"
        report["importance"] = {
            "method": f"permutation importance (scikit-learn): the drop in validation {score} when one dimension is "
            f"shuffled (5 shuffles), mean over {len(importances)} fold(s)' validation parts",
            "folds": len(importances),
            "metric": metric,
            "top": [
                {"feature": names[k], f"{metric}_drop": float(means[k]), "sd_over_folds": float(spread[k])}
                for k in np.argsort(-means)[:TOP]
            ],
        }
    maps = [r.explanation["occlusion"] for r in results if r.explanation.get("occlusion")]
    if maps:
        report["occlusion"] = {
            "method": "occlusion: the drop in each class's probability when a patch of (frequency, time) is set to "
            f"the normalised mean, averaged over up to 32 of its validation items, over {len(maps)} fold(s)",
            "folds": len(maps),
            "labels": labels,
            "map": np.mean(np.asarray(maps, dtype=np.float64), axis=0).tolist(),
        }
    return report
