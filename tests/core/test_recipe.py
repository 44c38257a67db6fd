"""Recipes: validation errors name the key, overrides, the resolved recipe."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from serkit import SerkitError
from serkit.core.recipe import apply_override, load_recipe, parse_value

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


MINIMAL = """
[dataset]
name = "emodb"
root = "somewhere"

[features]
name = "log_mel"

[model]
name = "crnn"
"""


@pytest.mark.parametrize("name", ["paper.toml", "paper-emodb.toml", "tiny.toml"])
def test_shipped_recipes_validate(name):
    recipe = load_recipe(RECIPES / name)
    assert recipe.features.name == "log_mel"
    assert recipe.model.name == "crnn"


def test_paper_recipes_hold_the_papers_settings():
    for name, dataset in (("paper.toml", "ravdess"), ("paper-emodb.toml", "emodb")):
        recipe = load_recipe(RECIPES / name)
        assert recipe.dataset.name == dataset
        assert [p.name for p in recipe.preprocess] == ["resample", "trim_silence", "wiener", "fix_length"]
        assert recipe.preprocess[0].sample_rate == 44100 and recipe.preprocess[3].seconds == 3.0
        assert [(a.name, a.to_params()) for a in recipe.augment][1:] == [
            ("time_stretch", {"rate": 1.1, "method": "librosa"}),  # the paper's phase vocoder
            ("time_stretch", {"rate": 0.8, "method": "librosa"}),
            ("pitch_shift", {"semitones": 1.5, "method": "librosa"}),
        ]
        assert (recipe.features.n_fft, recipe.features.hop_length, recipe.features.n_mels) == (2048, 512, 128)
        assert recipe.model.kernels == [9, 7, 5, 3] and recipe.model.pools == [2, 4, 4, 4]
        assert (recipe.train.learning_rate, recipe.train.batch_size) == (1e-4, 16)
        assert recipe.protocol.test_size == 0.2


def test_minimal_recipe_gets_defaults(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    assert recipe.protocol.name == "random" and recipe.preprocess == [] and recipe.augment == []
    assert recipe.train.batch_size == 16 and recipe.run.device == "auto"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[augment]]\nname = "time_strech"\n',
            "augment[0].name: unknown augmenter 'time_strech'; did you mean 'time_stretch'?",
        ),
        (
            '[[preprocess]]\nname = "trim_silence"\ntopdb = 30\n',
            "preprocess[0].topdb: unknown parameter; did you mean 'top_db'?",
        ),
        ('[train]\nmax_epochs = "many"\n', "train.max_epochs: expected int, got str 'many'"),
        ("[train]\nlearning_rate = -1.0\n", "train.learning_rate: -1.0 is out of range (must be > 0)"),
        ("[traning]\nmax_epochs = 3\n", "traning: unknown section; did you mean 'train'?"),
        ("[[augment]]\nrate = 1.1\n", "augment[0].name: missing"),
        ('[run]\ndevice = "tpu"\n', "run.device: 'tpu' is not allowed"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path, extra, message):
    path = write(tmp_path, MINIMAL + extra)
    with pytest.raises(SerkitError) as error:
        load_recipe(path)
    assert str(error.value).startswith(f"recipe '{path}': ")
    assert message in str(error.value)


def test_invalid_toml_and_missing_file_are_reported(tmp_path):
    with pytest.raises(SerkitError, match="file not found"):
        load_recipe(tmp_path / "nope.toml")
    with pytest.raises(SerkitError, match="invalid TOML"):
        load_recipe(write(tmp_path, "[run\nname = 1"))


def test_missing_required_section_and_parameter(tmp_path):
    with pytest.raises(SerkitError, match="model: section is missing"):
        load_recipe(write(tmp_path, MINIMAL.replace('[model]\nname = "crnn"\n', "")))
    with pytest.raises(SerkitError, match=r"dataset\.root: required parameter is missing"):
        load_recipe(write(tmp_path, MINIMAL.replace('root = "somewhere"\n', "")))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("1e-4", 1e-4),
        ("true", True),
        ("[1, 2]", [1, 2]),
        ('"quoted"', "quoted"),
        ("/data/ravdess", "/data/ravdess"),
        ("ravdess", "ravdess"),
        ("__import__('os')", "__import__('os')"),
    ],
)
def test_override_values_are_toml_or_plain_strings(text, value):
    assert parse_value(text) == value


def test_overrides_reach_any_key(tmp_path):
    overrides = ["train.max_epochs=3", "dataset.root=/data/emodb", "run.name=ablation", "preprocess=[]", "augment=[]"]
    recipe = load_recipe(RECIPES / "paper-emodb.toml", overrides)
    assert recipe.train.max_epochs == 3 and recipe.dataset.root == "/data/emodb"
    assert recipe.run.name == "ablation" and recipe.preprocess == [] and recipe.augment == []
    recipe = load_recipe(RECIPES / "paper-emodb.toml", ["preprocess[3].seconds=2.5", "augment.1.rate=1.2"])
    assert recipe.preprocess[3].seconds == 2.5 and recipe.augment[1].rate == 1.2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.max_epochs", "expected KEY=VALUE"),
        ("augment[9].rate=1", "augment[9] does not exist"),
        ("trian.max_epochs=3", "unknown recipe section 'trian'; did you mean 'train'?"),
        ("train.max_epoch=3", "train.max_epoch: unknown parameter; did you mean 'max_epochs'?"),
    ],
)
def test_bad_overrides_are_reported(override, message):
    with pytest.raises(SerkitError, match=message.replace("[", r"\[").replace("?", r"\?")):
        load_recipe(RECIPES / "paper-emodb.toml", [override])


def test_override_of_a_list_entry_that_is_not_a_table():
    raw = {"augment": [{"name": "x"}]}
    apply_override(raw, "augment[0].rate=1.5")
    assert raw == {"augment": [{"name": "x", "rate": 1.5}]}


def test_resolved_recipe_round_trips_with_defaults(tmp_path):
    recipe = load_recipe(RECIPES / "paper.toml", ["train.max_epochs=2"])
    data = tomllib.loads(recipe.to_toml())
    assert data["train"]["max_epochs"] == 2
    assert data["features"]["top_db"] == 80.0  # a default the recipe did not state
    assert data["preprocess"][1] == {"name": "trim_silence", "top_db": 60.0, "frame_length": 2048, "hop_length": 512}
    again = load_recipe(write(tmp_path, recipe.to_toml()))
    assert again.to_dict() == recipe.to_dict()
