"""`serkit augment preview`: the examples training makes, heard (FLAC) and seen (a page checked in Chromium)."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from helpers import RAVDESS, ROOT, need, not_blank, render_in_chromium

from serkit.cli import cli
from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry
from serkit.data.cache import file_digest
from serkit.data.pipeline import process_file
from serkit.run.stages import run_pipeline

TINY = ROOT / "recipes" / "tiny.toml"


def test_copies_are_the_examples_training_makes_and_the_page_plays_them(cli_runner, tmp_path):
    sets = [f"dataset.root={need(RAVDESS)}", f"run.cache_dir={tmp_path / 'cache'}"]
    args = ["augment", "preview", str(TINY), "--files", "2", "--out", str(tmp_path / "out")]
    result = cli_runner.invoke(cli, args + [x for s in sets for x in ("--set", s)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "draws.json").read_text())
    assert record["mode"] == "copies" and len(record["files"]) == 2
    assert len({f["label"] for f in record["files"]}) == 2  # two emotions
    recipe = load_recipe(TINY, sets)
    pipeline = run_pipeline(recipe, get_registry())
    first = record["files"][0]
    assert [e["label"] for e in first["examples"]] == [
        "original (preprocessed)",
        "copy 1: gaussian_noise",
        "copy 2: time_stretch",
    ]
    assert first["examples"][1]["draws"][0].startswith("AddGaussianNoise: amplitude = ")
    # Each copy's sound gives the features training stores for that copy (up to the FLAC's 16 bits).
    for k in (1, 2):
        wave, rate = sf.read(tmp_path / "out" / first["examples"][k]["audio"], dtype="float32")
        heard = recipe.features(wave, rate)
        trained = process_file(pipeline, first["file"], file_digest(first["file"]), [k - 1], None)[0]
        assert heard.shape == trained.shape
        assert np.corrcoef(heard.ravel(), trained.ravel())[0, 1] > 0.999
    shown = render_in_chromium(tmp_path / "out" / "preview.html", tmp_path / "page.png")
    assert shown["errors"] == [] and shown["sections"][0] == "warnings"
    assert len(shown["audio"]) == 6 and all(1.4 < d < 1.6 for d in shown["audio"])  # 1.5 s clips, decoded
    assert len(shown["images"]) == 2 and all(width > 100 for _, width in shown["images"])
    assert not_blank(tmp_path / "page.png")


def test_online_previews_the_policy_drawn_each_epoch_with_what_it_drew(cli_runner, tmp_path):
    policy = (
        "augment=[{name = 'gain', p = 0.5}, {one_of = [{name = 'time_stretch', rate = [0.8, 1.25]}, "
        "{name = 'band_pass_filter'}]}]"
    )
    sets = [f"dataset.root={need(RAVDESS)}", f"run.cache_dir={tmp_path / 'cache'}", policy, "augmentation.mode=online"]
    args = ["augment", "preview", str(TINY), "--files", "1", "--draws", "4", "--out", str(tmp_path / "out")]
    result = cli_runner.invoke(cli, args + [x for s in sets for x in ("--set", s)])
    assert result.exit_code == 0, result.output
    (found,) = json.loads((tmp_path / "out" / "draws.json").read_text())["files"]
    epochs = found["examples"][1:]
    assert [e["label"].split(" (")[0] for e in epochs] == ["epoch 1", "epoch 2", "epoch 3", "epoch 4"]
    assert all(any(d.startswith("one_of: picked ") for d in e["draws"]) for e in epochs)
    assert len({tuple(e["draws"]) for e in epochs}) > 1  # drawn anew each epoch
    waves = [sf.read(tmp_path / "out" / e["audio"])[0] for e in epochs]
    assert not np.array_equal(waves[0], waves[1])
