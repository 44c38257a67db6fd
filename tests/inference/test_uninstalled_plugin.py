"""A run made with a plugin that is no longer installed says which package it needs (environment.json
records who provided each component) when it is predicted, exported, loaded or resumed."""

from __future__ import annotations

import sys

import pytest
from helpers import RAVDESS, install_fake_distribution, need, tiny_run_args

import serkit
from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.registry import reset_plugin_manager

SOURCE = '''
from dataclasses import dataclass

import numpy as np

from serkit import Preprocessor, hookimpl, param


@dataclass(frozen=True, kw_only=True)
class Gainer(Preprocessor):
    """Scales the waveform."""

    name = "gainer"
    gain: float = param(0.5, "factor", gt=0)

    def __call__(self, wave, sample_rate):
        return (wave * self.gain).astype(np.float32), sample_rate


@hookimpl
def register_preprocessors(register):
    register(Gainer)
'''
NEEDS = "this run needs serkit-gainer 1.2.3 (pip install serkit-gainer), which provided preprocess 'gainer'"


@pytest.fixture(scope="module")
def run_with_gainer(tmp_path_factory):
    """A finished tiny run whose preprocessing starts with the plugin's component; the plugin is then gone."""
    tmp = tmp_path_factory.mktemp("uninstalled")
    site = tmp / "site"
    site.mkdir()
    install_fake_distribution(site, "serkit-gainer", "serkit_gainer", SOURCE)
    sys.path.insert(0, str(site))
    reset_plugin_manager()
    from click.testing import CliRunner

    try:
        chain = "preprocess=[{name='gainer'}, {name='resample', sample_rate=16000}, {name='fix_length', seconds=1.0}]"
        args = tiny_run_args(need(RAVDESS), tmp, chain, "augment=[]", "train.max_epochs=1", "run.workers=1")
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("serkit_gainer", None)
        reset_plugin_manager()
    (run,) = (tmp / "runs").iterdir()
    return run


def test_predict_export_and_load_name_the_missing_package(run_with_gainer, cli_runner, tmp_path):
    clip = str(next(need(RAVDESS).rglob("*.wav")))
    predicted = cli_runner.invoke(cli, ["predict", str(run_with_gainer), clip])
    assert predicted.exit_code == 1 and NEEDS in predicted.output
    exported = cli_runner.invoke(
        cli, ["export", str(run_with_gainer), "--format", "torchscript", "--out", str(tmp_path / "m.pt")]
    )
    assert exported.exit_code == 1 and NEEDS in exported.output
    with pytest.raises(SerkitError, match="pip install serkit-gainer"):
        serkit.load(run_with_gainer)


def test_resume_names_the_missing_package(run_with_gainer, cli_runner, tmp_path):
    import shutil

    copy = shutil.copytree(run_with_gainer, tmp_path / "copy")
    (copy / "metrics.json").unlink()
    resumed = cli_runner.invoke(cli, ["resume", str(copy)])
    assert resumed.exit_code == 1 and NEEDS in resumed.output
