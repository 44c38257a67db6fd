"""Parameters that name files: resolved from the file that wrote them, checked, keyed by content."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from serkit import Augmenter, SerkitError, hookimpl, param
from serkit.cli import cli
from serkit.core.recipe import load_recipe


@dataclass(frozen=True, kw_only=True)
class FileGain(Augmenter):
    """Scales by the number written in a file."""

    name = "file_gain"
    gain_file: str = param("", "file holding the gain", path=True)

    def __call__(self, wave, sample_rate, rng):
        return (wave * float(Path(self.gain_file).read_text())).astype(np.float32)


class Plugin:
    @hookimpl
    def register_augmenters(self, register):
        register(FileGain)


RECIPE = """
[dataset]
name = "ravdess"
root = "corpus"

[[augment]]
name = "file_gain"
gain_file = "gains/half.txt"

[features]
name = "log_mel"

[model]
name = "crnn"
"""


@pytest.fixture
def layout(tmp_path, register_plugin):
    register_plugin(Plugin(), "file-gain-test")
    recipes = tmp_path / "recipes"
    (recipes / "gains").mkdir(parents=True)
    (recipes / "gains" / "half.txt").write_text("0.5")
    (recipes / "recipe.toml").write_text(RECIPE)
    return tmp_path


def test_relative_paths_are_read_from_the_recipes_folder_or_the_working_directory(layout, monkeypatch):
    recipe = load_recipe(layout / "recipes" / "recipe.toml")
    assert recipe.augment[0].gain_file == str(layout / "recipes" / "gains" / "half.txt")
    assert recipe.dataset.root == str(layout / "recipes" / "corpus")  # datasets check theirs when scanning
    (layout / "mine.txt").write_text("2")
    monkeypatch.chdir(layout)
    recipe = load_recipe(layout / "recipes" / "recipe.toml", ["augment[0].gain_file=mine.txt"])
    assert recipe.augment[0].gain_file == str(layout / "mine.txt")


def test_a_missing_file_is_a_recipe_error_naming_the_key(layout):
    with pytest.raises(SerkitError, match=r"augment\[0\]\.gain_file: '.*nowhere\.txt' does not exist"):
        load_recipe(layout / "recipes" / "recipe.toml", ["augment[0].gain_file=/nowhere.txt"])


def test_the_cache_identity_holds_the_files_content_not_its_place(layout, tmp_path):
    here = layout / "recipes" / "gains" / "half.txt"
    there = shutil.copy(here, tmp_path / "moved.txt")
    identity = FileGain(gain_file=str(here)).identity()
    assert identity == FileGain(gain_file=str(there)).identity()
    Path(there).write_text("0.25")
    assert FileGain(gain_file=str(there)).identity() != identity


def test_a_moved_corpus_does_not_rerun_an_ablation_but_a_changed_one_does(small_ravdess, tmp_path, cli_runner):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        f'[sweep]\nname = "moved"\nbase = "{ROOT / "recipes" / "tiny.toml"}"\n'
        'set = ["augment=[]", "train.max_epochs=1", "protocol.test_size=0.4"]\n'
    )
    common = ["--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}"]
    first = cli_runner.invoke(cli, ["ablate", str(sweep), "--set", f"dataset.root={small_ravdess}", *common])
    assert first.exit_code == 0, first.output
    moved = shutil.move(small_ravdess, tmp_path / "elsewhere")
    again = cli_runner.invoke(cli, ["ablate", str(sweep), "--set", f"dataset.root={moved}", *common])
    assert again.exit_code == 0 and "finished earlier, reusing" in " ".join(again.output.split())
    next(Path(moved).glob("*.wav")).unlink()
    changed = cli_runner.invoke(cli, ["ablate", str(sweep), "--set", f"dataset.root={moved}", *common])
    assert changed.exit_code == 0 and "changed since its last run" in " ".join(changed.output.split())
