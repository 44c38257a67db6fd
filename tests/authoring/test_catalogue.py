"""audiomentations' catalogue as serkit components: the table matches the installed audiomentations, every
transform keeps the contract kit, file parameters and missing extras are one line naming the key, and a
recipe of several trains in both augmentation modes on RAVDESS speech."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import RAVDESS, ROOT, need

from serkit.authoring.catalogue import COVERED, LEFT_OUT, snake, table_text
from serkit.builtin import catalogue
from serkit.builtin.catalogue import COMPONENTS, TABLE
from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry
from serkit.testing import check_component

PATHS = ("sounds_path", "ir_path")


@pytest.fixture(scope="module")
def sounds(tmp_path_factory) -> dict[str, str]:
    """A folder of noise clips and one of impulse responses (decaying noise tails), at 16 kHz."""
    root = tmp_path_factory.mktemp("sounds")
    rng = np.random.default_rng(0)
    for folder in ("noise", "ir"):
        (root / folder).mkdir()
    for k in range(3):
        sf.write(root / "noise" / f"n{k}.wav", (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
        tail = 0.05 * rng.standard_normal(3000) * np.exp(-np.arange(3000) / 400)
        sf.write(root / "ir" / f"ir{k}.wav", np.concatenate([[1.0], tail]).astype(np.float32), 16000)
    return {"sounds_path": str(root / "noise"), "ir_path": str(root / "ir")}


def test_the_table_is_what_the_installed_audiomentations_gives():
    assert TABLE.read_text(encoding="utf-8") == table_text(), "run python -m serkit.authoring.catalogue"


def test_every_waveform_transform_is_a_component_covered_by_a_builtin_or_left_out_with_a_reason():
    import inspect

    import audiomentations
    from audiomentations.core.transforms_interface import BaseWaveformTransform

    shipped = {
        name
        for name in dir(audiomentations)
        if inspect.isclass(cls := getattr(audiomentations, name))
        and issubclass(cls, BaseWaveformTransform)
        and cls is not BaseWaveformTransform
    }
    made = {cls.transform_class for cls in COMPONENTS}
    assert made | set(COVERED) | set(LEFT_OUT) == shipped and not made & (set(COVERED) | set(LEFT_OUT))
    registered = get_registry().entries["augmenters"]
    assert all(snake(name) in registered for name in made) and "band_pass_filter" in registered
    assert registered["apply_impulse_response"].cls.params()[0].path  # a folder, checked like any path


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda cls: cls.name)
def test_each_transform_keeps_the_contract(cls, sounds):
    check_component(cls(**{spec.name: sounds[spec.name] for spec in cls.params() if spec.name in PATHS}))


def test_a_folder_without_audio_and_a_missing_extra_are_one_line_naming_the_key(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("no audio here")
    with pytest.raises(SerkitError, match=r"augment\[0\]: sounds_path: '.*' holds no audio file"):
        load_recipe(
            ROOT / "recipes" / "tiny.toml",
            ["dataset.root=.", f"augment=[{{name = 'add_background_noise', sounds_path = '{tmp_path}'}}]"],
        )
    monkeypatch.setattr(catalogue, "installed_version", lambda distribution: None)
    with pytest.raises(
        SerkitError,
        match=r"augment\[0\]: needs fast-mp3-augment, which is not installed: pip install 'serkit\[augment\]'",
    ):
        load_recipe(ROOT / "recipes" / "tiny.toml", ["dataset.root=.", "augment=[{name = 'mp3_compression'}]"])


def test_parameters_audiomentations_refuses_together_are_refused_at_the_recipe():
    with pytest.raises(SerkitError, match=r"augment\[0\]: min_center_freq must not be greater than max_center_freq"):
        load_recipe(
            ROOT / "recipes" / "tiny.toml",
            [
                "dataset.root=.",
                "augment=[{name = 'band_pass_filter', min_center_freq = 5000.0, max_center_freq = 100.0}]",
            ],
        )


@pytest.mark.parametrize("mode", ["copies", "online"])
def test_a_recipe_of_several_transforms_trains_in_both_modes_on_ravdess(cli_runner, tmp_path, sounds, mode):
    policy = (
        "augment=[{name = 'band_pass_filter', p = 0.5}, {one_of = [{name = 'gain'}, "
        f"{{name = 'add_background_noise', sounds_path = '{sounds['sounds_path']}'}}, "
        f"{{name = 'apply_impulse_response', ir_path = '{sounds['ir_path']}'}}, {{name = 'trim'}}]}}]"
    )
    args = ["run", str(ROOT / "recipes" / "tiny.toml"), "--set", f"dataset.root={need(RAVDESS)}"]
    for override in (
        policy,
        f"augmentation.mode={mode}",
        "train.max_epochs=1",
        "report.explain=false",
        f"run.output={tmp_path / 'runs'}",
        f"run.cache_dir={tmp_path / 'cache'}",
    ):
        args += ["--set", override]
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["augmentation"]["mode"] == mode
    words = metrics["augmentation"]["words"]
    assert all(name in words for name in ("band_pass_filter", "gain", "add_background_noise", "apply_impulse_response"))
    sizes = metrics["folds"][0]["sizes"]
    assert sizes["augmented"] == (2 * sizes["fit"] if mode == "copies" else 0)
    assert Path(run / "report.md").is_file()
