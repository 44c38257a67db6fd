"""Figures of a regression of dimensional targets: the concordance correlation coefficient (CCC),
Pearson's r and the mean absolute error, per target, pooled over utterances and per speaker.

CCC (Lin 1989) = 2 cov(y, p) / (var(y) + var(p) + (mean(y) - mean(p))^2), population moments: 1 is
perfect agreement, 0 no agreement (a constant prediction, such as the training mean, scores 0 by
definition). The pooled figure is computed over every test utterance at once (as the field reports
it); the per-speaker figure is the mean of each test speaker's own CCC (speakers with two or more
utterances), which says whether the model ranks one speaker's utterances, not only the speakers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.scores import ccc
from serkit.results.metrics import mean_sd


def pearson(y: np.ndarray, p: np.ndarray) -> float:
    """Pearson's r; 0 where either array is constant (no linear relation can be measured)."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if y.std() == 0 or p.std() == 0:
        return 0.0
    return float(np.corrcoef(y, p)[0, 1])


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, speakers: list[str], targets: list[str]
) -> dict[str, Any]:
    """Every figure of a regression's report, per target and averaged over the targets."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if not np.isfinite(y_pred).all():
        raise SerkitError("the model predicted non-finite values: no figure can be computed from them")
    speaker = np.asarray(speakers)
    groups = [speaker == s for s in sorted(set(speakers)) if np.count_nonzero(speaker == s) >= 2]
    per_target, counted = {}, []
    for k, name in enumerate(targets):
        y, p = y_true[:, k], y_pred[:, k]
        varied = [m for m in groups if np.ptp(y[m]) > 0]  # a speaker with one true value has no CCC to speak of
        counted.append(len(varied))
        per_target[name] = {
            "ccc": ccc(y, p),
            "pearson": pearson(y, p),
            "mae": float(np.mean(np.abs(y - p))),
            "ccc_per_speaker": float(np.mean([ccc(y[m], p[m]) for m in varied])) if varied else None,
            "constant": bool(p.std() <= 1e-3 * max(float(y.std()), 1e-12)),  # one value, up to rounding
        }
    means = {key: float(np.mean([per_target[t][key] for t in targets])) for key in ("ccc", "pearson", "mae")}
    by_speaker = [per_target[t]["ccc_per_speaker"] for t in targets]
    return {
        "task": "regression",
        "targets": list(targets),
        **means,
        "ccc_per_speaker": None if None in by_speaker else float(np.mean([v for v in by_speaker if v is not None])),
        "per_target": per_target,
        "speakers": min(counted),
        "n_test": len(y_true),
    }


def regression_spread(fold_metrics: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean CCC and each target's CCC as mean ± sd over folds (and repeats)."""
    targets = fold_metrics[0]["targets"]
    spread = {"ccc": mean_sd([m["ccc"] for m in fold_metrics])}
    return spread | {f"ccc_{t}": mean_sd([m["per_target"][t]["ccc"] for m in fold_metrics]) for t in targets}


def per_speaker_text(value: float | None) -> str:
    """The per-speaker CCC for a report: n/a where no test speaker had two different true values."""
    return "n/a" if value is None else f"{value:.3f}"


def constant_warning(metrics: dict[str, Any]) -> str:
    """A regression that predicts one value (up to a thousandth of the truth's spread) for every test
    utterance says nothing (its CCC is about 0 by construction)."""
    constant = [t for t, figures in metrics["per_target"].items() if figures["constant"]]
    if not constant:
        return ""
    return (
        f"collapsed: the model predicted one value of {', '.join(constant)} for all {metrics['n_test']} test "
        "utterances (up to a thousandth of the true values' spread); its CCC is about 0 by construction and says "
        "nothing about the features or the model"
    )
