"""[calibrate] on real runs: fitted on the validation part only (changing the test part leaves it
unchanged), reported before and after, kept in the model so predict gives calibrated probabilities
and an uncertainty per file; refused where there is no validation part or the method does not fit."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import RAVDESS, need, tiny_run_args

from serkit.cli import cli
from serkit.inference.predictor import normalised_entropy

pytestmark = pytest.mark.slow

SVM = ("augment=[]", 'features={name = "five_spectral", n_mels = 64}', 'model={name = "svm"}')


def _run(cli_runner, tmp: Path, *overrides: str, split: Path | None = None) -> Path:
    args = tiny_run_args(need(RAVDESS), tmp, "train.max_epochs=2", "train.precision=fp32", *overrides)
    result = cli_runner.invoke(cli, args + (["--split", str(split)] if split else []))
    assert result.exit_code == 0, result.output
    return max((tmp / "runs").iterdir())


def test_temperature_is_fitted_on_validation_only_and_reported_before_and_after(cli_runner, tmp_path):
    first = _run(cli_runner, tmp_path / "a", "calibrate.method=temperature")
    metrics = json.loads((first / "metrics.json").read_text())["metrics"]
    card = json.loads((first / "model.json").read_text())
    assert card["calibration"]["method"] == "temperature" and card["calibration"]["temperature"] > 0
    assert metrics["calibrated"]["folds"]["random"] == card["calibration"]
    assert set(metrics["calibration_before"]) == set(metrics["calibration"])
    assert metrics["calibration_before"]["log_loss"] != metrics["calibration"]["log_loss"]
    # temperature scaling never changes the predicted class
    assert metrics["calibrated"]["before"] == {"accuracy": metrics["accuracy"], "uar": metrics["uar"]}
    report = (first / "report.md").read_text()
    assert "| before calibration |" in report and "| after calibration |" in report
    assert (first / "reliability.png").stat().st_size > 1000

    # The same fit and validation parts with half the test part gone: the same calibration.
    split = json.loads((first / "split.json").read_text())
    fold = split["folds"][0]
    fold["test"] = fold["test"][::2]
    changed = tmp_path / "split.json"
    changed.write_text(json.dumps(split))
    second = _run(cli_runner, tmp_path / "b", "calibrate.method=temperature", split=changed)
    again = json.loads((second / "model.json").read_text())["calibration"]
    assert again == card["calibration"]
    assert json.loads((second / "metrics.json").read_text())["metrics"]["n_test"] == len(fold["test"])


def test_a_calibrated_svm_predicts_calibrated_probabilities_with_an_uncertainty(cli_runner, tmp_path):
    run = _run(cli_runner, tmp_path, *SVM, "calibrate.method=sigmoid")
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics["calibrated"]["method"] == "sigmoid"
    assert "already sigmoid-calibrated by cross-validation inside the fit part" in (run / "report.md").read_text()
    with (run / "predictions.csv").open() as handle:
        row = next(csv.DictReader(handle))
    labels = metrics["labels"]
    audio = need(RAVDESS) / row["file"]
    result = cli_runner.invoke(cli, ["predict", str(run), str(audio), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    predicted = document["predictions"][0]
    assert document["calibration"]["method"] == "sigmoid"
    # predict's probabilities are the calibrated ones the run tested with
    assert [predicted["probabilities"][k] for k in labels] == pytest.approx(
        [float(row[f"p_{k}"]) for k in labels], abs=1e-5
    )
    expected = normalised_entropy(np.array([float(row[f"p_{k}"]) for k in labels]))
    assert predicted["uncertainty"] == pytest.approx(expected, abs=1e-4) and 0 < expected < 1
    table = cli_runner.invoke(cli, ["predict", str(run), str(audio)], terminal_width=200)
    assert "uncertainty" in table.output and "probabilities calibrated: scikit-learn sigmoid" in table.output


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("calibrate.method=temperature", "train.refit=true"), "which train.refit = true trains on; set one of them"),
        (("calibrate.method=isotonic",), "model 'crnn' is not one (use \"temperature\")"),
    ],
)
def test_calibration_without_its_conditions_is_refused_in_one_line(cli_runner, tmp_path, overrides, message):
    result = cli_runner.invoke(cli, tiny_run_args(need(RAVDESS), tmp_path, *overrides))
    assert result.exit_code != 0 and message in result.output
    assert "Error: " in result.output and "Traceback" not in result.output
