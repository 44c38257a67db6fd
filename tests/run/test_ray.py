"""The Ray executor on real Ray (2 CPUs): the local executor's results on a cluster joined with
--address; on a local instance, failures named with the rest finished, a lost worker and a killed
driver resumed, execution settings that never rerun a finished variant; a node that cannot see the
cache."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import RAVDESS, ROOT, need, tiny_run_args

from serkit.core.errors import SerkitError

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'serkit[ray]'")

#: Three repeats (three trainings, two at a time on 2 CPUs), one augmenter, one torch thread each.
SMALL = (
    "augment=[{name = 'gaussian_noise'}]",
    "train.max_epochs=3",
    "train.patience=5",
    "run.repeats=3",
    "run.threads=1",
    "run.workers=1",
)


def serkit(
    *args: str, env: dict[str, str] | None = None, wait: bool = True, cwd: Path | None = None
) -> subprocess.Popen | subprocess.CompletedProcess:
    command = [sys.executable, "-m", "serkit.cli", *args]
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    if not wait:
        return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=400, cwd=cwd)


def run_args(tmp: Path, *more: str) -> list[str]:
    return tiny_run_args(need(RAVDESS), tmp, *SMALL, *more)


def only_run(tmp: Path) -> Path:
    (run,) = (tmp / "runs").iterdir()
    return run


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    """The local executor's predictions, one torch thread per training."""
    tmp = tmp_path_factory.mktemp("local")
    done = serkit(*run_args(tmp))
    assert done.returncode == 0, done.stdout + done.stderr
    return (only_run(tmp) / "predictions.csv").read_text()


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_failing_training_is_named_and_the_others_finish(tmp_path, reference, executor):
    failed = serkit(*run_args(tmp_path), "--executor", executor, env={"SERKIT_FAULT": "fail-fold:random-repeat2"})
    assert failed.returncode == 1, failed.stdout + failed.stderr
    output = " ".join((failed.stdout + failed.stderr).split())
    assert "1 of 3 trainings failed" in output
    assert "fold random-repeat2: RuntimeError: injected failure" in output
    run = only_run(tmp_path)
    assert (run / "folds" / "random" / "result.json").is_file()
    assert (run / "folds" / "random-repeat3" / "result.json").is_file()
    assert not (run / "metrics.json").exists()
    assert "Traceback" in (run / "run.log").read_text()  # the details are kept in the log

    resumed = serkit("resume", str(run), "--executor", "local")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.count("finished in an earlier attempt") == 2
    assert (run / "predictions.csv").read_text() == reference


def test_a_lost_worker_is_rerun_from_its_checkpoint(tmp_path, reference):
    marker = tmp_path / "killed-once"
    env = {"SERKIT_FAULT": "epoch", "SERKIT_FAULT_ONCE": str(marker)}
    done = serkit(*run_args(tmp_path), "--executor", "ray", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert marker.is_file()  # a worker was killed in its second epoch, and Ray ran its training again
    assert (only_run(tmp_path) / "predictions.csv").read_text() == reference


def test_a_killed_driver_resumes_to_the_same_predictions(tmp_path, reference):
    process = serkit(*run_args(tmp_path), "--executor", "ray", wait=False)
    assert isinstance(process, subprocess.Popen)
    deadline = time.time() + 300
    while time.time() < deadline and not list((tmp_path / "runs").glob("*/folds/*/result.json")):
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    run = only_run(tmp_path)
    assert not (run / "metrics.json").exists()
    resumed = serkit("resume", str(run), "--executor", "ray")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "finished in an earlier attempt" in resumed.stdout
    assert (run / "predictions.csv").read_text() == reference


def test_execution_settings_never_rerun_a_finished_variant(tmp_path):
    sweep = tmp_path / "sweep.toml"
    common = ", ".join(f'"{o}"' for o in (*SMALL[1:], "run.repeats=1", "augment=[]", f"dataset.root={need(RAVDESS)}"))
    sweep.write_text(
        f'[sweep]\nname = "s"\nbase = "{ROOT / "recipes" / "tiny.toml"}"\nset = [{common}]\n'
        '[[variant]]\nname = "smaller"\nset = ["model.lstm_units=8"]\n'
    )
    where = ["--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}"]
    first = serkit("ablate", str(sweep), *where)
    assert first.returncode == 0, first.stdout + first.stderr
    again = serkit(
        "ablate", str(sweep), *where, "--executor", "ray", "--set", "ray.num_cpus=2", "--set", "run.workers=2"
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("finished earlier, reusing") == 2
    assert "ray:" not in again.stdout  # nothing to run: Ray was not even started


def test_resume_changes_execution_settings_only(tmp_path):
    from serkit.run.runner import resume_run

    (tmp_path / "recipe.toml").write_text("")
    with pytest.raises(SerkitError, match=r"resume changes execution settings only, not train\.max_epochs"):
        resume_run(str(tmp_path), execution=["train.max_epochs=3"])
    with pytest.raises(SerkitError, match=r"not ray\.train_workers"):  # the worker count changes the model
        resume_run(str(tmp_path), execution=["ray.train_workers=2"])


def test_the_training_worker_count_is_part_of_a_results_identity(tmp_path):
    from serkit.core.recipe import load_recipe
    from serkit.studies.ablate import content_key

    recipe = ROOT / "recipes" / "tiny.toml"
    key = content_key(load_recipe(recipe))
    assert content_key(load_recipe(recipe, ["ray.address=auto", "ray.num_cpus=4"])) == key  # execution only
    assert content_key(load_recipe(recipe, ["ray.train_workers=2"])) != key


def test_ray_missing_is_one_line(monkeypatch):
    from serkit.core.settings import RaySettings
    from serkit.run.executors import create_executor
    from serkit.run.reporter import Reporter

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SerkitError, match=r"needs Ray, which is not installed: pip install 'serkit\[ray\]'"):
        create_executor("ray", 0, RaySettings(), Reporter())


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_nothing_answers_is_one_line_at_once(tmp_path, scheme):
    import ray
    from click.testing import CliRunner

    from serkit.cli import cli

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("ray.init was called")  # its minute of retries: the probe must refuse first

    address = f"{scheme}127.0.0.1:{free_port()}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray, "init", never)
        result = CliRunner().invoke(cli, [*run_args(tmp_path), "--executor", "ray", "--address", address])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: ray.address: nothing answers at {address} (connection refused within 5 s)")
    assert not (tmp_path / "runs").exists()  # no empty run folder left
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(f'[sweep]\nbase = "{ROOT / "recipes" / "tiny.toml"}"\n[[variant]]\nname = "b"\nset = []\n')
    where = ["--set", f"dataset.root={need(RAVDESS)}", "--set", f"run.output={tmp_path / 'runs'}"]
    result = CliRunner().invoke(cli, ["ablate", str(sweep), *where, "--executor", "ray", "--address", address])
    assert result.exit_code == 1 and "nothing answers at" in result.output and not (tmp_path / "runs").exists()


def test_ray_address_from_the_environment_is_honoured(tmp_path, monkeypatch):
    """RAY_ADDRESS (what Ray users set) is the cluster when ray.address is empty: probed like it, and
    named as the source when nothing answers there."""
    from click.testing import CliRunner

    from serkit.cli import cli

    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    result = CliRunner().invoke(cli, [*run_args(tmp_path), "--executor", "ray"])
    assert result.exit_code == 1
    assert f"RAY_ADDRESS (ray.address is empty): nothing answers at {address}" in result.output
    assert not (tmp_path / "runs").exists()


def test_sigterm_during_ray_start_up_stops_the_run(tmp_path):
    """SIGTERM while a local Ray instance starts: the run stops as Ctrl-C stops it, saying how to resume
    (a process killed by the default handler, before serkit's own is installed, would not say it)."""
    process = serkit(*run_args(tmp_path), "--executor", "ray", wait=False)
    assert isinstance(process, subprocess.Popen)
    runs, waited = tmp_path / "runs", 0.0
    while not (runs.is_dir() and any(runs.iterdir())):  # the run folder exists just before Ray starts
        assert process.poll() is None and waited < 120, process.communicate()[0]
        time.sleep(0.05)
        waited += 0.05
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1, output
    assert f"interrupted; continue with: serkit resume {only_run(tmp_path)}" in " ".join(output.split())


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


RAY_BIN = str(Path(sys.executable).parent / "ray")
NO_TOKEN = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # one machine: no cluster token to hand around


def start_head(num_cpus: int, cwd: Path | None = None) -> str:
    """``ray start --head`` (in ``cwd``); returns its address. Stop it with ``stop_ray()``."""
    port = free_port()
    head = subprocess.run(
        [RAY_BIN, "start", "--head", f"--port={port}", f"--num-cpus={num_cpus}", "--include-dashboard=false"],
        capture_output=True,
        text=True,
        env=NO_TOKEN,
        cwd=cwd,
    )
    assert head.returncode == 0, head.stdout + head.stderr
    return f"127.0.0.1:{port}"


def stop_ray() -> None:
    subprocess.run([RAY_BIN, "stop", "--force"], capture_output=True, env=NO_TOKEN)


def test_ray_gives_the_local_executors_predictions(tmp_path, reference):
    """On a cluster joined with --address, from an empty cache (features computed by Ray tasks). Its
    workers run in the folder `ray start` ran in, not the driver's: relative run and cache folders must
    still be the driver's."""
    elsewhere, work = tmp_path / "elsewhere", tmp_path / "work"
    elsewhere.mkdir()
    work.mkdir()
    address = start_head(2, cwd=elsewhere)
    try:
        args = ["run", str(ROOT / "recipes" / "tiny.toml"), "--set", f"dataset.root={need(RAVDESS)}"]
        for override in (*SMALL, "run.output=runs", "run.cache_dir=cache"):
            args += ["--set", override]
        done = serkit(*args, "--executor", "ray", "--address", address, env={"RAY_AUTH_MODE": "disabled"}, cwd=work)
    finally:
        stop_ray()
    assert done.returncode == 0, done.stdout + done.stderr
    run = only_run(work)
    assert (run / "predictions.csv").read_text() == reference
    assert "features on ray" in done.stdout  # a fresh cache: features were computed by Ray tasks
    assert list((work / "cache").iterdir()) and not list(elsewhere.iterdir())
    execution = json.loads((run / "environment.json").read_text())["execution"]
    assert execution["executor"] == "ray" and execution["threads_per_training"] == 1
    assert sorted(p.name for p in (run / "folds").iterdir()) == ["random", "random-repeat2", "random-repeat3"]


def test_a_node_that_cannot_see_the_cache_stops_the_run_in_one_line(tmp_path):
    """A real two-node cluster whose worker node runs in its own mount namespace, where the cache
    folder is an empty tmpfs: the storage a Ray node does not share."""
    cache = tmp_path / "cache"
    cache.mkdir()
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", f"mount -t tmpfs none {cache}"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private mount namespace here (unshare/mount: {probe.stderr.decode().strip()})")
    address = start_head(0)
    hidden = f"mount -t tmpfs none {cache} && exec {RAY_BIN} start --address={address} --num-cpus=1 --block"
    worker = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", hidden], env=NO_TOKEN)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(1)
            status = subprocess.run(
                [RAY_BIN, "status", f"--address={address}"], capture_output=True, text=True, env=NO_TOKEN
            )
            if status.stdout.count("node_") >= 2:
                break
        done = serkit(*run_args(tmp_path), "--executor", "ray", "--address", address, env={"RAY_AUTH_MODE": "disabled"})
    finally:
        worker.terminate()
        stop_ray()
    assert done.returncode == 1, done.stdout + done.stderr
    error = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and f"cannot see {cache}" in error[0], done.stdout + done.stderr


def test_a_cross_corpus_matrix_on_ray_equals_the_local_one(tmp_path):
    """EMO-DB (five speakers) x the RAVDESS sample, eGeMAPS and an SVM: every run a Ray task, the same matrix."""
    pytest.importorskip("opensmile", reason="the openSMILE plugin (plugins/serkit-opensmile) is not installed")
    from helpers import emodb_subset

    spec = tmp_path / "cc.toml"
    spec.write_text(
        f'[crosscorpus]\nname = "cc"\nbase = "{ROOT / "recipes" / "egemaps-svm.toml"}"\n'
        'set = ["report.explain=false"]\n'
        f'[[corpus]]\nname = "emodb"\nroot = "{emodb_subset(tmp_path / "emodb", ("03", "09", "10", "11", "12"))}"\n'
        f'[[corpus]]\nname = "ravdess"\nroot = "{need(RAVDESS)}"\n'
    )
    matrices = []
    for executor in ("local", "ray"):
        where = ["--set", f"run.output={tmp_path / executor}", "--set", f"run.cache_dir={tmp_path / 'cache'}"]
        done = serkit("crosscorpus", str(spec), *where, "--executor", executor, "--set", "run.workers=1")
        assert done.returncode == 0, done.stdout + done.stderr
        matrices.append((tmp_path / executor / "cc" / "matrix.csv").read_text())
    assert matrices[0] == matrices[1]
    environment = json.loads((tmp_path / "ray" / "cc" / "01-emodb-to-ravdess" / "environment.json").read_text())
    assert environment["execution"]["executor"] == "ray"


def test_one_training_over_two_ray_train_workers_and_a_killed_worker(tmp_path):
    """ray.train_workers = 2 (an MLP without dropout, fp32): the predictions of a single process with the
    same global batch within 1e-5, the world size in the report; a worker killed at the start of epoch 2
    makes Ray Train restart the group, which continues from the fold's checkpoint to the same model."""
    common = [
        "--set", "dataset.name=ravdess", "--set", f"dataset.root={need(RAVDESS)}",
        "--set", 'dataset.emotions=["angry", "calm", "sad"]', "--set", "protocol={name = 'random'}",
        "--set", "features={name = 'five_spectral'}", "--set", "model={name = 'mlp', hidden = [16], dropout = 0.0}",
        "--set", "normalise.scope=band", "--set", "calibrate.method=none", "--set", "report.explain=false",
        "--set", "train.max_epochs=3", "--set", "train.batch_size=8", "--set", "train.learning_rate=1e-2",
        "--set", "train.precision=fp32", "--set", "run.threads=1", "--set", f"run.cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    predictions = {}
    for name, workers, env in [
        ("one", 1, {}),
        ("two", 2, {}),
        ("killed", 2, {"SERKIT_FAULT": "epoch", "SERKIT_FAULT_ONCE": str(tmp_path / "killed-once")}),
    ]:
        where = ["--set", f"run.output={tmp_path / name / 'runs'}", "--set", f"ray.train_workers={workers}"]
        done = serkit("run", str(ROOT / "recipes" / "egemaps-svm.toml"), *common, *where, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        run = only_run(tmp_path / name)
        with (run / "predictions.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        predictions[name] = np.array([[float(v) for k, v in row.items() if k.startswith("p_")] for row in rows])
        if workers == 2:
            assert "data parallel over 2 Ray Train workers" in (run / "metrics.json").read_text()
        if env:
            assert "resumed training from the checkpoint after epoch 1" in done.stdout
    assert (tmp_path / "killed-once").exists()  # a worker did die
    assert np.abs(predictions["two"] - predictions["one"]).max() < 1e-5
    assert np.abs(predictions["killed"] - predictions["two"]).max() < 1e-5
