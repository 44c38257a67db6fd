"""Each optional extra forced missing, whatever this machine has installed: one line naming the
extra to install, through the command a user runs, before anything is written. (Ray missing:
tests/run/test_ray.py.)"""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner
from helpers import RAVDESS, need, tiny_run_args

from serkit.cli import cli


def _one_line(result) -> str:
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    return line


def test_tracking_without_mlflow_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    result = CliRunner().invoke(
        cli, [*tiny_run_args(need(RAVDESS), tmp_path, "train.max_epochs=1"), "--track", "mlflow"]
    )
    assert "track.backend: 'mlflow' needs MLflow, which is not installed: pip install 'serkit[mlflow]'" in _one_line(
        result
    )


def test_an_optuna_search_without_optuna_is_one_line_before_any_folder(monkeypatch, tmp_path):
    pytest.importorskip("ray.tune", reason="serkit tune says first that it needs Ray: tests/run/test_ray.py")
    from helpers import write_search

    monkeypatch.setitem(sys.modules, "optuna", None)
    search = write_search(tmp_path, tmp_path)
    result = CliRunner().invoke(cli, ["tune", str(search), "--set", f"run.output={tmp_path / 'runs'}"])
    assert "tune.search: 'optuna' needs Optuna, which is not installed" in _one_line(result)
    assert not (tmp_path / "runs").exists()


def test_onnx_export_without_onnx_is_one_line(monkeypatch, tmp_path):
    args = tiny_run_args(need(RAVDESS), tmp_path, "augment=[]", "train.max_epochs=1")
    assert CliRunner().invoke(cli, args).exit_code == 0
    (run,) = (tmp_path / "runs").iterdir()
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = CliRunner().invoke(cli, ["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    assert "ONNX export needs the onnx package: pip install 'serkit[export]'" in _one_line(result)
    assert not (tmp_path / "m.onnx").exists()


def test_ray_train_workers_without_ray_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    args = tiny_run_args(need(RAVDESS), tmp_path, "augment=[]", "train.max_epochs=1", "ray.train_workers=2")
    line = _one_line(CliRunner().invoke(cli, args))
    assert "ray.train_workers needs Ray, which is not installed: pip install 'serkit[ray]'" in line


@pytest.mark.parametrize(
    ("engine", "module", "package"),
    [("silero", "silero_vad", "silero-vad"), ("webrtc", "webrtcvad", "webrtcvad-wheels")],
)
def test_voice_activity_detection_without_its_package_is_one_line(monkeypatch, tmp_path, engine, module, package):
    monkeypatch.setitem(sys.modules, module, None)
    vad = f'preprocess=[{{name = "vad", engine = "{engine}"}}]'
    line = _one_line(CliRunner().invoke(cli, tiny_run_args(need(RAVDESS), tmp_path, vad)))
    assert f"vad engine '{engine}' needs {package}, which is not installed: pip install 'serkit[vad]'" in line
    assert not (tmp_path / "runs").exists()
    result = CliRunner().invoke(cli, ["predict", str(tmp_path), "x.wav", "--segments", "vad", "--vad-engine", engine])
    assert f"needs {package}, which is not installed" in _one_line(result)
