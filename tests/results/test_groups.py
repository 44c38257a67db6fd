"""Results per speaker and per gender on known answers (a real run's: tests/e2e/test_run.py)."""

from __future__ import annotations

import pytest

from serkit.results.groups import by_group, group_report, paired_group_differences, spread_of


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


def test_paired_group_differences_on_a_known_answer():
    truth = ["a", "b"] * 6
    speakers = [f"s{k // 2}" for k in range(12)]
    groups = ["young"] * 6 + ["old"] * 6
    a = ["b", "a"] * 3 + ["a", "b"] * 3  # young all wrong, old all right
    b = ["a", "b"] * 6  # all right
    found = paired_group_differences(truth, a, b, speakers, groups)
    young, old = found["groups"]["young"], found["groups"]["old"]
    assert young["uar_a"] == 0.0 and young["uar_b"] == 1.0 and young["ci"] == [1.0, 1.0]
    assert old["difference"] == 0.0 and old["ci"] == [0.0, 0.0] and old["n"] == 6
    assert found["gap_a"] == 1.0 and found["gap_b"] == 0.0


def test_report_groups_name_a_column_some_utterance_lacks():
    truth, predicted, speakers = ["a", "b", "a", "b"], ["a", "b", "b", "b"], ["s1", "s1", "s2", "s2"]
    meta = [{"age_band": "young", "room": "1"}, {"age_band": "young", "room": ""}] + [{"age_band": "old"}] * 2
    report = group_report(truth, predicted, speakers, meta, keys=["age_band", "room", "gender"])
    assert set(report["groups"]) == {"age_band"}
    assert report["group_notes"] == [
        "report.groups: 3 of 4 test utterances record no 'room'; not reported",
        "report.groups: no test utterance records 'gender', not reported (they record: age_band, room)",
    ]
    typo = group_report(truth, predicted, speakers, meta, keys=["age-band"])["group_notes"]
    assert typo == [
        "report.groups: no test utterance records 'age-band', not reported; did you mean 'age_band'? (they record: "
        "age_band, room)"
    ]
