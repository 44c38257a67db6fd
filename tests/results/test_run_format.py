"""Run folders written by an older serkit keep working: predict, export and resume a format-0 folder
(tests/fixtures/run-format-0, written by serkit 0.1.0) and a format-1 folder (run-format-1, written
by serkit 0.2.0), also after a component renamed a parameter."""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from helpers import RAVDESS, need

from serkit import Model, hookimpl, param
from serkit.builtin import models
from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.params import validate_params
from serkit.core.registry import get_plugin_manager
from serkit.core.version import RUN_FORMAT
from serkit.results.folder import RunFolder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "run-format-0"
CLIP = "Actor_02/03-01-05-02-01-01-02.wav"


@dataclass(frozen=True, kw_only=True)
class RenamedCRNN(Model):
    """The CRNN as a later serkit might declare it: ``lstm_units`` renamed ``lstm_size``."""

    name = "crnn"
    kernels: list[int] = param([9, 7, 5, 3], "square kernel size of each conv block", ge=1)
    filters: list[int] = param([64, 64, 128, 128], "output channels of each conv block", ge=1)
    pools: list[int] = param([2, 4, 4, 4], "max-pool size of each conv block", ge=1)
    lstm_size: int = param(128, "hidden units per direction of the BiLSTM", ge=1, renamed_from="lstm_units")
    dropout: float = param(0.0, "dropout before the dense layer", ge=0, lt=1)

    def build(self, input_shape: tuple[int, ...], n_classes: int):  # type: ignore[no-untyped-def]
        from serkit.builtin.crnn import CRNNModule

        return CRNNModule(input_shape, n_classes, self.kernels, self.filters, self.pools, self.lstm_size, self.dropout)


class RenamedModels:
    @hookimpl
    def register_models(self, register):  # type: ignore[no-untyped-def]
        register(RenamedCRNN)


@pytest.fixture
def renamed(register_plugin):
    """Built-in models replaced by a CRNN whose recipe parameter has a new name."""
    manager = get_plugin_manager()
    manager.unregister(models, name="serkit.builtin.models")
    register_plugin(RenamedModels(), "renamed-models")
    yield
    manager.register(models, name="serkit.builtin.models")


@pytest.fixture(params=["run-format-0", "run-format-1"])
def fixture_dir(request) -> Path:
    """A run folder as serkit 0.1.0 (format 0) and serkit 0.2.0 (format 1) wrote it."""
    return FIXTURES / request.param


@pytest.fixture
def old_run(tmp_path, fixture_dir) -> Path:
    """A copy of an old run folder with its dataset root pointed at this machine's RAVDESS sample."""
    folder = tmp_path / "old-run"
    shutil.copytree(fixture_dir, folder)
    weights = {
        name: torch.tensor(t["values"], dtype=getattr(torch, t["dtype"])).reshape(t["shape"])
        for name, t in json.loads((folder / "weights.json").read_text()).items()
    }
    for path in (folder / "model.pt", folder / "folds" / "random" / "model.pt"):
        torch.save(weights, path)
    recipe = folder / "recipe.toml"
    text = re.sub(r'(?m)^root = ".*"$', f'root = "{need(RAVDESS)}"', recipe.read_text())
    text = re.sub(r'(?m)^cache_dir = ".*"$', f'cache_dir = "{tmp_path / "cache"}"', text)
    recipe.write_text(text)
    return folder


def test_renamed_from_moves_an_old_name_and_refuses_both():
    assert validate_params(RenamedCRNN, {"lstm_units": 8}, "model")["lstm_size"] == 8
    with pytest.raises(SerkitError, match=r"model\.lstm_units: renamed to 'lstm_size'; give only 'lstm_size'"):
        validate_params(RenamedCRNN, {"lstm_units": 8, "lstm_size": 8}, "model")


def test_the_fixtures_are_formats_0_and_1():
    for name in ("metrics.json", "model.json", "split.json"):
        assert "format_version" not in json.loads((FIXTURE / name).read_text())
    assert RunFolder(FIXTURE).read_summary().format_version == RUN_FORMAT  # read as today's record
    written_by_0_2 = FIXTURES / "run-format-1"
    for name in ("metrics.json", "model.json"):
        assert json.loads((written_by_0_2 / name).read_text())["format_version"] == 1
    assert json.loads((written_by_0_2 / "environment.json").read_text())["serkit"] == "0.2.0"


@pytest.mark.parametrize("rename", [False, True])
def test_old_run_predicts_as_it_did(request, cli_runner, old_run, fixture_dir, rename):
    if rename:
        request.getfixturevalue("renamed")
    result = cli_runner.invoke(cli, ["predict", str(old_run), str(need(RAVDESS) / CLIP), "--json"])
    assert result.exit_code == 0, result.output
    expected = json.loads((fixture_dir / "expected-predict.json").read_text())["predictions"][0]["probabilities"]
    got = json.loads(result.stdout)["predictions"][0]["probabilities"]
    assert got == pytest.approx(expected, abs=2e-6)


def test_old_run_exports_after_a_rename(cli_runner, old_run, renamed, tmp_path):
    result = cli_runner.invoke(
        cli, ["export", str(old_run), "--format", "torchscript", "--out", str(tmp_path / "m.pt")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.pt.json").read_text())["output"]["labels"][0] == "neutral"


def test_old_run_resumes_after_a_rename(cli_runner, old_run, fixture_dir, renamed):
    (old_run / "metrics.json").unlink()  # as if interrupted after its only fold finished
    result = cli_runner.invoke(cli, ["resume", str(old_run)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "finished in an earlier attempt" in result.output
    summary = json.loads((old_run / "metrics.json").read_text())
    assert summary["format_version"] == RUN_FORMAT
    # The same predictions, and (new since the fixture was made) the [report] groups column, gender, at the end
    resumed = list(csv.reader((old_run / "predictions.csv").open()))
    written = list(csv.reader((fixture_dir / "predictions.csv").open()))
    assert [row[:-1] for row in resumed] == written and resumed[0][-1] == "gender"
    assert {row[-1] for row in resumed[1:]} == {"male", "female"}
    assert json.loads((old_run / "model.json").read_text())["format_version"] == RUN_FORMAT
    assert "lstm_size = 8" in (old_run / "recipe.toml").read_text()  # the resolved recipe uses the new name


def test_newer_formats_are_refused(cli_runner, old_run):
    info = json.loads((old_run / "model.json").read_text())
    (old_run / "model.json").write_text(json.dumps(info | {"format_version": RUN_FORMAT + 1}))
    result = cli_runner.invoke(cli, ["predict", str(old_run), str(need(RAVDESS) / CLIP)])
    assert result.exit_code == 1 and "written by a newer serkit" in result.output
