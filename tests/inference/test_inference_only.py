"""A run folder does not depend on training-only components: predict and export without them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from helpers import RAVDESS, install_fake_distribution, need, tiny_run_args

NOISE_PLUGIN = """
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit import Augmenter, hookimpl, param


@dataclass(frozen=True, kw_only=True)
class FolderNoise(Augmenter):
    '''Adds noise at the level written in <noise_dir>/level.txt.'''

    name = "folder_noise"
    noise_dir: str = param("", "folder holding level.txt")

    def validate(self):
        if not Path(self.noise_dir, "level.txt").is_file():
            raise ValueError(f"noise_dir '{self.noise_dir}' does not exist")

    def __call__(self, wave, sample_rate, rng):
        level = float(Path(self.noise_dir, "level.txt").read_text())
        return (wave + level * rng.standard_normal(wave.size)).astype(np.float32)


@hookimpl
def register_augmenters(register):
    register(FolderNoise)
"""


def serkit(*args: str, path: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "250"}
    env.pop("SERKIT_LOAD_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "serkit.cli", *args], env=env, capture_output=True, text=True)


def test_predict_and_export_without_the_training_only_plugin_or_its_data(tmp_path):
    site, noise = tmp_path / "site", tmp_path / "noise"
    site.mkdir()
    noise.mkdir()
    (noise / "level.txt").write_text("0.01")
    install_fake_distribution(site, "serkit-folder-noise", "serkit_folder_noise", NOISE_PLUGIN)
    augment = f'augment=[{{name = "folder_noise", noise_dir = "{noise}"}}]'
    args = tiny_run_args(need(RAVDESS), tmp_path, augment, "train.max_epochs=1")
    trained = serkit(*args, path=str(site))
    assert trained.returncode == 0, trained.stdout + trained.stderr
    run = next((tmp_path / "runs").iterdir())
    shutil.rmtree(site)
    shutil.rmtree(noise)
    clip = str(sorted(RAVDESS.rglob("*.wav"))[0])
    predicted = serkit("predict", str(run), clip, "--json")
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    assert json.loads(predicted.stdout)["predictions"][0]["label"]
    exported = serkit("export", str(run), "--format", "torchscript")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    resumed = serkit("resume", str(run))  # complete: nothing to resume, said before any plugin is needed
    assert resumed.returncode == 1 and "already complete" in resumed.stderr


def test_predict_warns_when_an_inference_component_changed_version(tmp_path):
    args = tiny_run_args(need(RAVDESS), tmp_path, "augment=[]", "train.max_epochs=1")
    assert serkit(*args).returncode == 0
    run = next((tmp_path / "runs").iterdir())
    environment = json.loads((run / "environment.json").read_text())
    environment["components"]["features:log_mel"] = "serkit 0.0.1"
    (run / "environment.json").write_text(json.dumps(environment))
    predicted = serkit("predict", str(run), str(sorted(RAVDESS.rglob("*.wav"))[0]), "--json")
    assert predicted.returncode == 0, predicted.stderr
    notes = json.loads(predicted.stdout)["notes"]
    assert any("features 'log_mel' from serkit 0.0.1, now serkit" in note for note in notes)
