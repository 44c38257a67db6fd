"""Results per test speaker and per group of speakers (gender, where the dataset records it): models
are often fair across sexes but not across individual speakers, and a pooled figure hides both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from serkit.core.scores import uar
from serkit.core.suggest import did_you_mean
from serkit.results.metrics import mean_sd
from serkit.results.stats import bootstrap_ci, paired_bootstrap_ci

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
    keys: Sequence[str] = GROUP_KEYS,
) -> dict[str, Any]:
    """Per speaker (figures, the worst, the spread) and, for each metadata key in ``keys`` (``[report]
    groups``), per group with a 95 % bootstrap interval of its UAR (resampling its speakers, or its
    utterances below five speakers: the ``unit`` says which) and the gap between the groups. A key some
    test utterance lacks, or with one group only, is named in ``group_notes`` instead."""
    speaker = by_group(truth, predicted, speakers)
    report: dict[str, Any] = {"per_speaker": speaker, "speakers": spread_of(speaker)}
    groups: dict[str, Any] = {}
    notes: list[str] = []
    for key in keys:
        values = [group_value(m, key) for m in meta]
        lacking = values.count("")
        if lacking == len(values):  # no test utterance has it: a column the data lacks, or a typo
            recorded = sorted({k for m in meta for k, v in m.items() if group_value(m, k)})
            notes.append(
                f"report.groups: no test utterance records '{key}', not reported{did_you_mean(key, recorded, 0.75)}"
                + (f" (they record: {', '.join(recorded)})" if recorded else "")
            )
            continue
        if lacking:
            notes.append(f"report.groups: {lacking} of {len(values)} test utterances record no '{key}'; not reported")
            continue
        results = by_group(truth, predicted, values)
        if len(results) < 2:
            notes.append(f"report.groups: every test utterance has {key} '{values[0]}'; no groups to compare")
            continue
        t, p, s, v = (np.asarray(a) for a in (truth, predicted, speakers, values))
        for name, result in results.items():
            mask = v == name
            interval = bootstrap_ci(t[mask].tolist(), p[mask].tolist(), s[mask].tolist(), "uar", seed=seed)
            result |= {"uar_ci": [interval.low, interval.high], "resampled_by": interval.unit}
        groups[key] = {"groups": results, **spread_of(results)}
    report["groups"] = groups
    report["group_notes"] = notes
    return report


def group_value(meta: dict[str, Any], key: str) -> str:
    """An utterance's value of a metadata key as text ("" where it has none: absent or an empty cell)."""
    value = meta.get(key)
    return "" if value is None else str(value).strip()


def paired_group_differences(
    truth: Sequence[str],
    predicted_a: Sequence[str],
    predicted_b: Sequence[str],
    speakers: Sequence[str],
    groups: Sequence[str],
    seed: int = 0,
) -> dict[str, Any]:
    """Two runs on the same test utterances, per group: each run's UAR, the difference B − A with a
    paired bootstrap 95 % CI, and each run's gap between its best and worst group."""
    t, a, b, s, g = (np.asarray(x) for x in (truth, predicted_a, predicted_b, speakers, groups))
    rows: dict[str, dict[str, Any]] = {}
    for name in sorted(set(g.tolist())):
        mask = g == name
        ua, ub = uar(t[mask], a[mask]), uar(t[mask], b[mask])
        interval = paired_bootstrap_ci(t[mask], a[mask], b[mask], s[mask], seed=seed)
        rows[str(name)] = {
            "n": int(mask.sum()),
            "uar_a": ua,
            "uar_b": ub,
            "difference": ub - ua,
            "ci": [interval.low, interval.high],
            "resampled_by": interval.unit,
        }
    gap_a = max(r["uar_a"] for r in rows.values()) - min(r["uar_a"] for r in rows.values())
    gap_b = max(r["uar_b"] for r in rows.values()) - min(r["uar_b"] for r in rows.values())
    return {"groups": rows, "gap_a": gap_a, "gap_b": gap_b}
