"""Results per test speaker and per group of speakers (gender, where the dataset records it): models
are often fair across sexes but not across individual speakers, and a pooled figure hides both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from serkit.results.metrics import mean_sd
from serkit.results.stats import bootstrap_ci, uar

#: Utterance metadata reported as groups where every test utterance has it.
GROUP_KEYS = ("gender",)


def by_group(truth: Sequence[str], predicted: Sequence[str], groups: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Accuracy, UAR (over the classes present in the group) and the number of test utterances per group."""
    t, p, g = np.asarray(truth), np.asarray(predicted), np.asarray(groups)
    out = {}
    for group in sorted(set(g.tolist())):
        mask = g == group
        out[str(group)] = {
            "accuracy": float(np.mean(t[mask] == p[mask])),
            "uar": uar(t[mask], p[mask]),
            "n": int(mask.sum()),
        }
    return out


def spread_of(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The worst group by UAR, the mean and standard deviation of the groups' UARs, and the gap
    between the best and the worst."""
    uars = {name: r["uar"] for name, r in results.items()}
    worst, best = min(uars, key=uars.__getitem__), max(uars, key=uars.__getitem__)
    spread = mean_sd(list(uars.values()))
    return {
        "worst": worst,
        "worst_uar": uars[worst],
        "mean_uar": spread["mean"],
        "sd_uar": spread["sd"],
        "gap_uar": uars[best] - uars[worst],
    }


def group_report(
    truth: Sequence[str],
    predicted: Sequence[str],
    speakers: Sequence[str],
    meta: Sequence[dict[str, Any]],
    seed: int = 0,
) -> dict[str, Any]:
    """Per speaker (figures, the worst, the spread) and, for each metadata key every test utterance
    has (gender), per group with a 95 % bootstrap interval of its UAR (resampling its speakers, or its
    utterances below five speakers: the ``unit`` says which) and the gap between the groups."""
    speaker = by_group(truth, predicted, speakers)
    report: dict[str, Any] = {"per_speaker": speaker, "speakers": spread_of(speaker)}
    groups: dict[str, Any] = {}
    for key in GROUP_KEYS:
        if not all(key in m for m in meta):
            continue
        values = [str(m[key]) for m in meta]
        results = by_group(truth, predicted, values)
        if len(results) < 2:
            continue
        t, p, s, v = (np.asarray(a) for a in (truth, predicted, speakers, values))
        for name, result in results.items():
            mask = v == name
            interval = bootstrap_ci(t[mask].tolist(), p[mask].tolist(), s[mask].tolist(), "uar", seed=seed)
            result |= {"uar_ci": [interval.low, interval.high], "resampled_by": interval.unit}
        groups[key] = {"groups": results, **spread_of(results)}
    report["groups"] = groups
    return report
