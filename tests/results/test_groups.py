"""Results per speaker and per gender on known answers (a real run's: tests/e2e/test_run.py)."""

from __future__ import annotations

import pytest

from serkit.results.groups import by_group, group_report, spread_of


def test_per_group_figures_on_a_known_answer():
    truth = ["a", "a", "b", "b", "a", "b"]
    predicted = ["a", "b", "b", "b", "a", "a"]
    speakers = ["s1", "s1", "s1", "s1", "s2", "s2"]
    found = by_group(truth, predicted, speakers)
    assert found["s1"] == {"accuracy": 0.75, "uar": 0.75, "n": 4}
    assert found["s2"] == {"accuracy": 0.5, "uar": 0.5, "n": 2}
    spread = spread_of(found)
    assert spread["worst"] == "s2" and spread["gap_uar"] == pytest.approx(0.25)
    assert spread["mean_uar"] == pytest.approx(0.625) and spread["sd_uar"] == pytest.approx(0.1767767)
    meta = [{"gender": "female"}] * 4 + [{"gender": "male"}] * 2
    report = group_report(truth, predicted, speakers, meta)
    gender = report["groups"]["gender"]
    assert gender["groups"]["female"]["uar"] == 0.75 and gender["groups"]["male"]["resampled_by"] == "utterance"
    assert gender["groups"]["female"]["uar_ci"][0] <= 0.75 <= gender["groups"]["female"]["uar_ci"][1]
    assert group_report(truth, predicted, speakers, [{}] * 6)["groups"] == {}  # no gender recorded: no group
