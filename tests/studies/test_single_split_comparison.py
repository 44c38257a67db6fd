"""The paper's design on real audio: one random split of an imbalanced two-class EMO-DB subset (anger 127,
disgust 46), where accuracy and UAR disagree. `serkit ablate` and `serkit runs compare` give a UAR
difference, a UAR interval and a UAR test (never accuracy's under UAR's name), and every run prints its
pooled figures with a 95 % speaker-bootstrap interval."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from helpers import EMODB, ROOT, need

from serkit.cli import cli
from serkit.core.scores import accuracy, uar
from serkit.results import stats

pytestmark = pytest.mark.slow


def test_a_single_split_ablation_tests_uar_and_every_run_gives_its_interval(cli_runner, tmp_path):
    common = [
        f"dataset.root={need(EMODB)}",
        "labels.keep=['anger', 'disgust']",
        "protocol={name = 'random', test_size = 0.3}",
        "features={name = 'five_spectral'}",
        "normalise.scope=band",
        "report.explain=false",
        f"run.output={tmp_path / 'runs'}",
        f"run.cache_dir={tmp_path / 'cache'}",
    ]
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        f'[sweep]\nname = "single"\nbase = "{ROOT / "recipes" / "egemaps-svm.toml"}"\nbaseline = "svm"\n'
        f"set = {json.dumps(common)}\n\n"
        '[[variant]]\nname = "logistic"\nset = ["model={name = \'logistic_regression\'}"]\n'
    )
    result = cli_runner.invoke(cli, ["ablate", str(sweep)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "single"
    base, other = folder / "00-svm", folder / "01-logistic"
    # Each run's headline: pooled UAR and accuracy with 95 % intervals over its ten test speakers.
    metrics = json.loads((base / "metrics.json").read_text())["metrics"]
    intervals = metrics["intervals"]
    assert intervals["resampled_by"] == "speaker" and intervals["speakers"] == 10 and intervals["rounds"] == 1000
    assert intervals["uar"][0] < metrics["uar"] < intervals["uar"][1]
    assert intervals["accuracy"][0] < metrics["accuracy"] < intervals["accuracy"][1]
    assert f"UAR {100 * metrics['uar']:.2f} % (95 % CI [{100 * intervals['uar'][0]:.2f}, " in result.output
    assert (
        "Pooled test accuracy" in (base / "report.md").read_text() and "95 % CI [" in (base / "report.html").read_text()
    )
    # The comparison: pooled UAR difference, its paired speaker-bootstrap CI, a permutation test of UAR.
    rows = {
        which: list(csv.DictReader((folder / which / "predictions.csv").open())) for which in ("00-svm", "01-logistic")
    }
    truth = np.array([r["true"] for r in rows["00-svm"]])
    by_file = {r["file"]: r["predicted"] for r in rows["01-logistic"]}
    a = np.array([r["predicted"] for r in rows["00-svm"]])
    b = np.array([by_file[r["file"]] for r in rows["00-svm"]])
    speakers = [r["speaker"] for r in rows["00-svm"]]
    assert accuracy(truth, b) - accuracy(truth, a) != pytest.approx(uar(truth, b) - uar(truth, a), abs=0.005)
    with open(folder / "ablation.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert table[1]["test"] == stats.PERMUTATION_UAR
    assert float(table[1]["delta_uar"]) == pytest.approx(uar(truth, b) - uar(truth, a))
    interval = stats.paired_bootstrap_ci(truth, a, b, speakers)
    assert (float(table[1]["delta_uar_ci_low"]), float(table[1]["delta_uar_ci_high"])) == pytest.approx(
        (interval.low, interval.high)
    )
    assert float(table[0]["uar_pooled"]) == pytest.approx(metrics["uar"])
    assert [float(table[0][f"uar_pooled_ci_{end}"]) for end in ("low", "high")] == pytest.approx(intervals["uar"])
    report = (folder / "ablation.md").read_text()
    assert (
        "Δ UAR (fold mean), its 95 % CI and p: all of UAR" in report
        and "paired permutation test of UAR (one test set)" in report
    )
    assert "| pooled UAR [95 % CI] |" in report and stats.TESTS[stats.MCNEMAR].p_of not in report
    assert "paired permutation test of the pooled UAR" in (folder / "ablation.html").read_text()
    compared = cli_runner.invoke(cli, ["runs", "compare", str(base), str(other), "--json"])
    found = json.loads(compared.output)
    assert found["metric"] == "uar" and found["comparison"]["test"] == stats.PERMUTATION_UAR
    assert found["comparison"]["difference"] == pytest.approx(float(table[1]["delta_uar"]))
    assert np.sign(found["comparison"]["difference"]) == np.sign(found["mean_b"] - found["mean_a"])
    listed = cli_runner.invoke(cli, ["runs", "list", str(folder), "--ci"], env={"COLUMNS": "250"})
    assert f"UAR {100 * metrics['uar']:.2f} [{100 * intervals['uar'][0]:.2f}, " in listed.output
