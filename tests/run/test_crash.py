"""Crashes and concurrent runs: a run killed anywhere resumes to the uninterrupted result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import RAVDESS, need, tiny_run_args

from serkit.core.faults import POINTS

FAST = ("augment=[]", "train.max_epochs=2", "train.patience=5", "run.workers=1")


def serkit(*args: str, fault: str = "", wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**os.environ, "SERKIT_FAULT": fault, "COLUMNS": "200"}
    command = [sys.executable, "-m", "serkit.cli", *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def run_args(tmp: Path, cache: Path | None = None) -> list[str]:
    args = tiny_run_args(need(RAVDESS), tmp, *FAST)
    return [*args, "--set", f"run.cache_dir={cache}"] if cache else args


def predictions(run_dir: Path) -> str:
    return (run_dir / "predictions.csv").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("reference")
    done = serkit(*run_args(tmp))
    assert done.returncode == 0, done.stdout + done.stderr
    return predictions(next((tmp / "runs").iterdir()))


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_any_stage_resumes_to_the_same_predictions(tmp_path, reference, point):
    killed = serkit(*run_args(tmp_path), fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    run = next((tmp_path / "runs").iterdir())
    assert not (run / "metrics.json").exists()
    resumed = serkit("resume", str(run))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert predictions(run) == reference


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path):
    process = serkit(*run_args(tmp_path), "--set", "train.max_epochs=50", "--set", "train.patience=50", wait=False)
    assert isinstance(process, subprocess.Popen)
    deadline = time.time() + 120
    while not list((tmp_path / "runs").glob("*/folds/*/checkpoint.pt")) and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    run = next((tmp_path / "runs").iterdir())
    assert "interrupted; continue with: serkit resume" in " ".join(output.split())
    assert "interrupted; continue with: serkit resume" in (run / "run.log").read_text()


def test_two_runs_sharing_a_cache_at_once_give_the_sequential_result(tmp_path, reference):
    cache = tmp_path / "cache"
    runs = [serkit(*run_args(tmp_path / name, cache), wait=False) for name in "ab"]
    for process in runs:
        assert isinstance(process, subprocess.Popen)
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output
    for name in "ab":
        assert predictions(next((tmp_path / name / "runs").iterdir())) == reference
    entries = list(cache.rglob("*.npy"))
    assert entries and all(np.load(entry).size for entry in entries)  # every entry whole
    assert not [p for p in cache.rglob("*") if p.is_file() and ".tmp" in p.name]


@pytest.mark.parametrize("stage", ["_train", "_finish"])
def test_the_feature_store_is_closed_however_the_run_ends(cli_runner, tmp_path, monkeypatch, stage):
    """Interrupted during training, or failing after it: every feature store the run opened is closed
    (its temporary file holds a copy of the features until then)."""
    from serkit.cli import cli
    from serkit.core.errors import SerkitError
    from serkit.data.store import FeatureStore
    from serkit.run import runner

    opened: list[FeatureStore] = []
    original = FeatureStore.__init__

    def tracked(self: FeatureStore, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(self)

    def stop(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt if stage == "_train" else SerkitError("a report that cannot be written")

    monkeypatch.setattr(FeatureStore, "__init__", tracked)
    monkeypatch.setattr(runner, stage, stop)
    result = cli_runner.invoke(cli, tiny_run_args(need(RAVDESS), tmp_path, *FAST))
    assert result.exit_code == 1
    assert ("interrupted; continue with" if stage == "_train" else "a report that cannot be written") in result.output
    assert opened and all(store._file.closed for store in opened)


def test_ctrl_c_to_the_process_group_during_parallel_features_prints_no_worker_traceback(tmp_path):
    """Ctrl-C in a terminal reaches every process of the group: the workers computing features say nothing,
    the run stops saying how to resume (sent while two workers are busy storing features)."""
    cache = tmp_path / "cache"
    command = [sys.executable, "-m", "serkit.cli", *run_args(tmp_path, cache), "--set", "run.workers=2"]
    process = subprocess.Popen(
        command,
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
        # as a terminal's job gets it, whatever started the tests (a shell's background job ignores Ctrl-C,
        # and a Python started with it ignored never installs its KeyboardInterrupt handler)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    waited = 0.0
    while len(list(cache.glob("features/*/*.npy"))) < 4:  # the workers are storing features
        assert process.poll() is None and waited < 180, process.communicate()[0]
        time.sleep(0.05)
        waited += 0.05
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert "interrupted; continue with: serkit resume" in " ".join(output.split())
    assert len(list(cache.glob("features/*/*.npy"))) < 120  # it stopped during the feature stage
