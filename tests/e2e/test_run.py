"""End to end: `serkit run` on real RAVDESS audio produces every artefact of a run folder."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_run_args

from serkit.cli import cli
from serkit.core.recipe import load_recipe
from serkit.data.normalise import ZScore
from serkit.data.pipeline import Pipeline, extract, preprocess

pytestmark = pytest.mark.slow
ARTEFACTS = [
    "recipe.toml",
    "split.json",
    "metrics.json",
    "report.md",
    "confusion_matrix.png",
    "training_curves.png",
    "predictions.csv",
    "model.pt",
    "model.json",
    "environment.json",
    "run.log",
    "history.json",
]


def run_tiny(cli_runner, ravdess_root: Path, tmp: Path, *extra: str) -> tuple[Path, str]:
    """Run the tiny recipe for two epochs with its runs and cache under ``tmp``; return the new run folder."""
    runs = tmp / "runs"
    before = set(runs.iterdir()) if runs.exists() else set()
    args = tiny_run_args(ravdess_root, tmp, "train.max_epochs=2") + list(extra)
    result = cli_runner.invoke(cli, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (run_dir,) = set(runs.iterdir()) - before
    return run_dir, result.output


@pytest.fixture(scope="module")
def ravdess_root_module():
    from helpers import RAVDESS, need

    return need(RAVDESS)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, ravdess_root_module):
    from click.testing import CliRunner

    tmp = tmp_path_factory.mktemp("e2e")
    run_dir, output = run_tiny(CliRunner(), ravdess_root_module, tmp)
    return run_dir, output, tmp


def test_run_folder_holds_every_artefact(finished_run):
    run_dir, output, _ = finished_run
    for name in ARTEFACTS:
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    for image in ("confusion_matrix.png", "training_curves.png"):
        assert (run_dir / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "accuracy" in output and "UAR" in output and "features" in output


def test_resolved_recipe_split_and_metrics_agree(finished_run):
    run_dir, _, _ = finished_run
    recipe = tomllib.loads((run_dir / "recipe.toml").read_text())
    assert recipe["train"]["max_epochs"] == 2 and recipe["features"]["top_db"] == 80.0
    split = json.loads((run_dir / "split.json").read_text())
    (fold,) = split["folds"]
    train, validation, test = (set(fold[k]) for k in ("train", "validation", "test"))
    assert not train & test and not validation & test and not train & validation
    assert len(train | validation | test) == 120 and len(test) == 30
    assert "speaker-dependent" in split["protocol"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    m = metrics["metrics"]
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["uar"] <= 1
    assert np.array(m["confusion_matrix"]).sum() == 30
    assert set(m["per_class"]) == set(m["labels"]) and len(m["labels"]) == 8
    assert metrics["fold"]["augmented"] == 2 * len(train)
    assert metrics["protocol"] == split["protocol"]
    assert {"features", "train", "evaluate"} <= set(metrics["timings"])
    report = (run_dir / "report.md").read_text()
    for heading in (
        "**Protocol:** speaker-dependent",
        "## Confusion matrix",
        "## Recognition report",
        "weighted avg",
        "macro avg",
        "validation taken from the training part only",
    ):
        assert heading in report
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["device"]["type"] == "cpu" and env["packages"]["torch"]
    assert env["components"]["augment:gaussian_noise"].startswith("serkit ")
    assert "epoch 2 train_loss" in (run_dir / "run.log").read_text()


def test_predictions_match_the_saved_model(finished_run, ravdess_root_module):
    run_dir, _, _ = finished_run
    with open(run_dir / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30
    info = json.loads((run_dir / "model.json").read_text())
    labels = info["labels"]
    for row in rows:
        probs = [float(row[f"p_{label}"]) for label in labels]
        assert sum(probs) == pytest.approx(1, abs=1e-4)
        assert row["predicted"] == labels[int(np.argmax(probs))]
    recipe = load_recipe(run_dir / "recipe.toml")
    model = recipe.model.build(tuple(info["input_shape"]), len(labels))
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    model.eval()
    normaliser = ZScore.from_dict(info["normaliser"])
    pipeline = Pipeline(recipe.preprocess, [], recipe.features, 0)
    for row in rows[:4]:
        path = str(ravdess_root_module / row["file"])
        features = normaliser(extract(pipeline, path, *preprocess(pipeline, path)))
        with torch.no_grad():
            probs = torch.softmax(model(torch.from_numpy(features[None])), 1)[0].numpy()
        expected = [float(row[f"p_{label}"]) for label in labels]
        assert np.allclose(probs, expected, atol=1e-4)  # evaluated in float32 whatever the training precision


def test_rerun_is_identical_and_uses_the_cache(finished_run, ravdess_root_module, cli_runner):
    run_dir, _, tmp = finished_run
    again, _ = run_tiny(cli_runner, ravdess_root_module, tmp)
    assert again != run_dir
    first = json.loads((run_dir / "metrics.json").read_text())
    second = json.loads((again / "metrics.json").read_text())
    assert first["metrics"] == second["metrics"]
    assert second["timings"]["features"] < first["timings"]["features"]
    assert (run_dir / "predictions.csv").read_text() == (again / "predictions.csv").read_text()


def test_reused_split_and_resume(finished_run, ravdess_root_module, cli_runner):
    run_dir, _, tmp = finished_run
    resumed, _ = run_tiny(cli_runner, ravdess_root_module, tmp, "--split", str(run_dir / "split.json"))
    assert json.loads((resumed / "split.json").read_text()) == json.loads((run_dir / "split.json").read_text())
    # Pretend the run stopped while training, after epoch 2 of 3, then continue it.
    (resumed / "metrics.json").unlink()
    (resumed / "folds" / "random" / "result.json").unlink()
    recipe = (resumed / "recipe.toml").read_text().replace("max_epochs = 2", "max_epochs = 3")
    (resumed / "recipe.toml").write_text(recipe)
    result = cli_runner.invoke(cli, ["resume", str(resumed)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "resumed training from the checkpoint after epoch 2" in result.output
    (history,) = json.loads((resumed / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    again = cli_runner.invoke(cli, ["resume", str(resumed)])
    assert again.exit_code == 1 and "already complete (metrics.json exists and its model loads)" in again.output
    # A complete run whose top-level model was damaged: restored from the fold it was copied from.
    intact = (resumed / "model.pt").read_bytes()
    (resumed / "model.pt").write_bytes(intact[:100])
    restored = cli_runner.invoke(cli, ["resume", str(resumed)], env={"COLUMNS": "300"})
    assert restored.exit_code == 0, restored.output
    assert f"{resumed / 'model.pt'} does not load" in " ".join(restored.output.split())
    assert (resumed / "model.pt").read_bytes() == intact
    for copy in (resumed / "model.pt", resumed / "folds" / "random" / "model.pt"):
        copy.write_bytes(intact[:100])
    both = cli_runner.invoke(cli, ["resume", str(resumed)], env={"COLUMNS": "300"})
    assert both.exit_code == 1 and "its fold copy" in both.output and "is damaged too" in both.output


def test_a_runs_report_and_metrics_hold_per_speaker_and_gender_results(finished_run):
    run_dir, _, _ = finished_run
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert set(metrics["per_speaker"]) == {"01", "02"}  # the RAVDESS sample's two actors
    assert set(metrics["groups"]["gender"]["groups"]) == {"female", "male"}
    report = (run_dir / "report.md").read_text()
    assert "## Per speaker and group" in report and "By gender: the gap in UAR is" in report
    calibration = metrics["calibration"]
    assert 0 <= calibration["ece"] <= 1 and calibration["log_loss"] > 0 and calibration["bins"] == 15
    assert "## Calibration" in report and "expected calibration error of the top class (15 equal-width bins" in report
    assert "| the model's own (no calibration fitted) |" in report
    assert (run_dir / "reliability.png").stat().st_size > 1000
