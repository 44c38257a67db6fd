"""`serkit tune` on a real local Ray instance: a small search on the EMO-DB copy, early-stopped trials,
selection on validation parts only, the best recipe run once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EMODB, ROOT, need, write_search

from serkit.core.errors import SerkitError
from serkit.core.registry import get_registry

pytest.importorskip("ray.tune", reason="Ray Tune is not installed: pip install 'serkit[ray]'")


def test_a_small_search_stops_poor_trials_and_runs_the_best_once(tmp_path):
    """Run as a user runs the shipped search file: from a working folder, with relative paths (the base
    recipe beside the search file, the corpus from the search file's folder, run folders and a --set
    cache from the working folder), although each trial runs in a Ray worker inside its trial folder."""
    folder = tmp_path / "searches"
    folder.mkdir()
    search = write_search(folder, need(EMODB))
    assert "run.cache_dir" not in search.read_text() and not Path(search.read_text().split('"')[1]).is_absolute()
    command = [sys.executable, "-m", "serkit.cli", "tune", "searches/search.toml"]
    command += ["--set", "run.output=runs", "--set", "run.cache_dir=cache"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((tmp_path / "cache").iterdir()), "the trials' cache is the --set folder, read from the working folder"
    output = tmp_path / "runs" / "small"
    assert not list((output / "ray").rglob("cache")), "no trial made a cache of its own in its trial folder"
    trials = json.loads((output / "trials.json").read_text())["trials"]
    assert len(trials) == 4
    statuses = [t["status"] for t in trials]
    assert "stopped early" in statuses and "complete" in statuses  # ASHA stopped at least one trial
    for trial in (output / "trials").iterdir():  # validation-only: no trial scored or predicted its test part
        assert not list(trial.glob("folds/*/result.json")) and not (trial / "predictions.csv").exists()
    complete = [t for t in trials if t["status"] == "complete"]
    best = min(complete, key=lambda t: t["score"])
    report = (output / "tune.md").read_text()
    assert "The test parts played no part in the selection" in report
    assert f"Trial {best['trial']}" in report
    best_recipe = (output / "best.toml").read_text()
    assert f"learning_rate = {best['config']['train.learning_rate']}" in best_recipe
    (final,) = output.glob("small-best-*")
    metrics = json.loads((final / "metrics.json").read_text())
    assert 0 <= metrics["metrics"]["uar"] <= 1


def test_a_test_metric_can_never_select(tmp_path):
    from serkit.studies.tune import load_search

    with pytest.raises(SerkitError, match="a test metric can never select"):
        load_search(write_search(tmp_path, tmp_path, metric="test_uar"), [], get_registry())


def test_every_value_of_the_space_is_checked_before_any_trial(tmp_path):
    from serkit.studies.tune import load_search

    path = write_search(tmp_path, tmp_path)
    path.write_text(path.read_text().replace("choice = [8, 16]", 'choice = [8, "wide"]'))
    with pytest.raises(SerkitError, match=r'space\."model\.lstm_units" = \'wide\''):
        load_search(path, [], get_registry())


def test_the_shipped_search_file_validates():
    from serkit.studies.tune import load_search

    search = load_search(ROOT / "recipes" / "tune-quickstart.toml", [], get_registry())
    assert [d.key for d in search.space] == [
        "train.learning_rate",
        "model.lstm_units",
        "model.dropout",
        "train.batch_size",
    ]
    assert search.metric == "val_uar" and search.mode == "max" and search.table.scheduler == "asha"


def test_a_failed_trial_is_named_by_its_own_error():
    """Ray hands back a trial's exception wrapped in a RayTaskError whose text is a traceback."""
    from ray.exceptions import RayTaskError

    from serkit.studies.tune import _failure

    wrapped = RayTaskError(
        "ImplicitFunc.train",
        "Traceback (most recent call last):\n  ...",
        SerkitError("recipe 'x.toml': file not found"),
    )
    assert _failure(wrapped.as_instanceof_cause()) == "recipe 'x.toml': file not found"
    assert _failure(RayTaskError("f", "Traceback:\n  ...", ValueError("bad\nvalue"))) == "ValueError: bad"


def test_zero_trials_is_refused_not_read_as_one(tmp_path):
    from serkit.studies.tune import load_search

    path = write_search(tmp_path, tmp_path)
    path.write_text(path.read_text().replace("trials = 4", "trials = 0\ntime_budget_s = 60"))
    with pytest.raises(SerkitError, match=r"tune\.trials: 0 is out of range \(must be >= 1\)"):
        load_search(path, [], get_registry())


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('schedular = "fifo"', "tune.schedular: unknown parameter; did you mean 'scheduler'?"),
        ('time_budget_s = "soon"', "tune.time_budget_s:"),
        ("reduction_factor = 0", "tune.reduction_factor: 0 is out of range (must be >= 2)"),
        ('baseline = "x"', "tune.baseline: unknown parameter"),
    ],
)
def test_the_tune_table_is_declared_and_checked_like_train(tmp_path, line, says):
    """[tune] is a param()-declared table: unknown keys, choices, ranges and override strings named."""
    from serkit.core.params import param_specs
    from serkit.studies.tables import TuneTable
    from serkit.studies.tune import load_search

    assert {"base", "metric", "trials", "scheduler", "set"} <= {spec.name for spec in param_specs(TuneTable)}
    path = write_search(tmp_path, tmp_path)
    path.write_text(path.read_text().replace("trials = 4", f"trials = 4\n{line}"))
    with pytest.raises(SerkitError) as error:
        load_search(path, [], get_registry())
    assert says in str(error.value)
