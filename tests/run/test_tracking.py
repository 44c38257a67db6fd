"""MLflow tracking against a real SQLite store, read back with MlflowClient: curves, parameters,
tags, artefacts; a resumed run continues its MLflow run; an ablation is a parent with children;
a broken store never stops or stalls a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import RAVDESS, ROOT, need, tiny_run_args

from serkit.cli import cli

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed: pip install 'serkit[mlflow]'")
from mlflow.tracking import MlflowClient  # noqa: E402

FAST = ("augment=[]", "train.max_epochs=2", "train.patience=5", "run.workers=1")


@pytest.fixture(autouse=True)
def no_tracking_uri_from_outside(monkeypatch):
    """These tests read the default store: a developer's MLFLOW_TRACKING_URI must not redirect them."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def store(tmp: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{tmp / 'runs' / 'mlflow.db'}")


def only_run(tmp: Path) -> Path:
    (run,) = [p for p in (tmp / "runs").iterdir() if p.is_dir() and p.name.startswith("tiny")]
    return run


def test_a_tracked_run_shows_up_in_mlflow_with_its_curves(cli_runner, tmp_path):
    result = cli_runner.invoke(cli, [*tiny_run_args(need(RAVDESS), tmp_path, *FAST), "--track", "mlflow"])
    assert result.exit_code == 0, result.output
    client = store(tmp_path)
    experiment = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "crnn" and run.data.params["train.max_epochs"] == "2"
    assert run.data.tags["serkit.protocol"].startswith("speaker-dependent")
    assert run.data.tags["serkit.dataset"] == "ravdess" and run.data.tags["serkit.executor"] == "local"
    curve = client.get_metric_history(run.info.run_id, "random/val_uar")
    assert [m.step for m in curve] == [1, 2]
    metrics = json.loads((only_run(tmp_path) / "metrics.json").read_text())
    assert run.data.metrics["test_uar"] == pytest.approx(metrics["metrics"]["uar"])
    assert run.data.metrics["random/test_accuracy"] == pytest.approx(metrics["folds"][0]["metrics"]["accuracy"])
    artefacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "predictions.csv", "report.md", "recipe.toml"} <= artefacts
    assert "folds" in artefacts  # the fold folders too (model weights; never the resume checkpoint)
    assert "checkpoint.pt" not in {
        a.path.split("/")[-1] for a in client.list_artifacts(run.info.run_id, "folds/random")
    }


def test_a_resumed_run_continues_its_mlflow_run(tmp_path):
    args = [*tiny_run_args(need(RAVDESS), tmp_path, *FAST), "--track", "mlflow"]
    env = {**os.environ, "SERKIT_FAULT": "outputs", "COLUMNS": "200"}
    killed = subprocess.run([sys.executable, "-m", "serkit.cli", *args], env=env, capture_output=True, text=True)
    assert killed.returncode != 0
    run_dir = only_run(tmp_path)
    resumed = subprocess.run(
        [sys.executable, "-m", "serkit.cli", "resume", str(run_dir)], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    client = store(tmp_path)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])  # not a duplicate
    assert run.info.status == "FINISHED" and run.data.tags["serkit.resumed"] == "true"
    assert len(client.get_metric_history(run.info.run_id, "random/val_loss")) == 2  # logged once


def test_an_ablation_is_a_parent_run_with_a_child_per_variant(cli_runner, tmp_path):
    sweep = tmp_path / "sweep.toml"
    common = ", ".join(f'"{o}"' for o in (*FAST, f"dataset.root={need(RAVDESS)}"))
    sweep.write_text(
        f'[sweep]\nname = "tracked"\nbase = "{ROOT / "recipes" / "tiny.toml"}"\nset = [{common}]\n'
        '[[variant]]\nname = "smaller"\nset = ["model.lstm_units=8"]\n'
    )
    where = ["--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}"]
    result = cli_runner.invoke(cli, ["ablate", str(sweep), *where, "--track", "mlflow"])
    assert result.exit_code == 0, result.output
    client = store(tmp_path)
    runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    (parent,) = [r for r in runs if "serkit.sweep" in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == ["variant 'baseline'", "variant 'smaller'"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert "ablation.md" in {a.path for a in client.list_artifacts(parent.info.run_id)}


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9", "sqlite:///{tmp}/not-a-database.db"])
def test_a_broken_store_never_stops_or_stalls_the_run(cli_runner, tmp_path, uri):
    uri = uri.format(tmp=tmp_path)
    if uri.startswith("sqlite"):
        (tmp_path / "not-a-database.db").write_bytes(b"this is not SQLite" * 100)
    args = [*tiny_run_args(need(RAVDESS), tmp_path, *FAST), "--track", "mlflow", "--set", f"track.uri={uri}"]
    result = cli_runner.invoke(cli, [*args, "--set", "track.timeout_s=5"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # however wrapped
    assert said.count("tracking is off for this run") == 1  # one warning
    assert said.index("tracking is off for this run") < said.index(": training ")  # given up before training
    assert (only_run(tmp_path) / "metrics.json").is_file()


@pytest.mark.parametrize("store_in", ["a new folder under a read-only one", "a read-only folder"])
def test_a_store_that_cannot_be_written_is_one_warning_at_once(cli_runner, tmp_path, read_only, store_in):
    locked = tmp_path / "locked"
    locked.mkdir()
    folder = locked / "stores" if store_in.startswith("a new") else locked
    read_only(locked)
    args = [*tiny_run_args(need(RAVDESS), tmp_path, *FAST), "--track", "mlflow"]
    result = cli_runner.invoke(cli, [*args, "--set", f"track.uri=sqlite:///{folder / 'mlflow.db'}"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert said.count("tracking is off for this run") == 1
    assert f"{folder}: the MLflow store's folder is not writable" in said
    assert "sqlalchemy" not in said.lower() and (only_run(tmp_path) / "metrics.json").is_file()
    assert said.index("tracking is off for this run") < said.index("dataset: ")  # at once: before the scan


@pytest.mark.parametrize(
    ("uri", "folder"),
    [
        ("sqlite:////data/mlflow.db", "/data"),
        ("file:///data/mlruns", "/data/mlruns"),
        ("mlruns", "mlruns"),
        ("http://127.0.0.1:5000", None),
        ("databricks", None),
        ("databricks-uc", None),
    ],
)
def test_only_local_stores_are_probed_for_writing(uri, folder):
    from serkit.run.tracking import _local_store_folder

    found = _local_store_folder(uri)
    assert (str(found) if found else None) == folder


def test_mlflow_tracking_uri_is_honoured_and_the_recipe_wins(cli_runner, tmp_path, monkeypatch):
    """Every MLflow user points MLFLOW_TRACKING_URI at their store: a run logs there (0.2 ignored it),
    and a recipe's track.uri still wins over it."""
    elsewhere = tmp_path / "team" / "mlflow.db"
    elsewhere.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{elsewhere}")
    result = cli_runner.invoke(cli, [*tiny_run_args(need(RAVDESS), tmp_path, *FAST), "--track", "mlflow"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "runs" / "mlflow.db").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{elsewhere}")
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.status == "FINISHED"

    from serkit.core.settings import TrackSettings
    from serkit.run.reporter import Reporter
    from serkit.run.tracking import tracking_for

    chosen = tracking_for(
        TrackSettings(backend="mlflow", uri=f"sqlite:///{tmp_path / 'mine.db'}"), "runs", "x", Reporter()
    )
    assert chosen is not None and chosen.uri == f"sqlite:///{tmp_path / 'mine.db'}"
