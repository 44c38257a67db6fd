"""Label maps as data: the built-in maps, a plugin's own map from a TOML file, ``[labels]`` in a run
(unmapped classes named in one warning) and in a cross-corpus run, where it maps the test corpus too."""

from __future__ import annotations

import json

import pytest
from helpers import EMODB, RAVDESS, emodb_subset, need

from serkit.builtin.datasets import EmoDB
from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.hookspecs import hookimpl
from serkit.core.labels import LabelMap, Relabel
from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry


def test_builtin_maps_are_listed_and_put_every_corpus_on_one_vocabulary(cli_runner):
    registry = get_registry()
    assert {"basic", "ekman", "four-class", "boredom-as-calm"} <= set(registry.label_maps)
    basic = registry.label_map("basic", "labels.map")
    assert [basic.target(x) for x in ("angry", "anger", "pleasant_surprise", "other")] == [
        "anger", "anger", "surprise", None,
    ]  # fmt: skip
    four = registry.label_map("four-class", "labels.map")
    assert four.target("excitement") == "happiness" and four.target("fearful") is None
    listed = json.loads(cli_runner.invoke(cli, ["plugins", "--json"]).output)["label_maps"]
    assert {"name": "ekman", "classes": list(registry.label_map("ekman", "").classes)}.items() <= listed[2].items()
    with pytest.raises(SerkitError, match=r"labels\.map: unknown label map 'ekmann'; did you mean 'ekman'"):
        registry.label_map("ekmann", "labels.map")


def test_relabel_maps_keeps_and_names_what_it_leaves_out():
    scan = EmoDB(root=str(need(EMODB))).scan()
    ekman = get_registry().label_map("ekman", "labels.map")
    mapped = Relabel(ekman).apply(scan)
    assert mapped.labels == ["anger", "disgust", "fear", "happiness", "neutral", "sadness"]
    assert len(mapped.utterances) == 535 - 81 and mapped.relabel is not None
    assert mapped.warnings[-1] == "labels: label map 'ekman' leaves out dataset classes boredom (81)"
    kept = Relabel(None, ("sadness", "anger")).apply(scan)
    assert kept.labels == ["sadness", "anger"] and {u.label for u in kept.utterances} == {"sadness", "anger"}
    with pytest.raises(SerkitError, match="leaves no utterance"):
        Relabel(get_registry().label_map("four-class", ""), ("anger",)).apply(Relabel(None, ("fear",)).apply(scan))


def test_a_plugin_registers_a_label_map_from_its_own_toml_file(tmp_path, register_plugin):
    path = tmp_path / "valence.toml"
    path.write_text(
        'name = "valence"\ndescription = "positive or negative"\nclasses = ["negative", "positive"]\n'
        '[aliases]\nanger = "negative"\nsadness = "negative"\nhappiness = "positive"\n'
    )

    class Plugin:
        @hookimpl
        def register_label_maps(self, register):
            register(LabelMap.from_toml(path))

    class Mistaken:
        @hookimpl
        def register_label_maps(self, register):
            register({"name": "not a map"})

    register_plugin(Plugin(), "valence-plugin")
    register_plugin(Mistaken(), "mistaken-plugin")
    registry = get_registry()
    assert registry.label_map("valence", "").target("sadness") == "negative"
    assert registry.label_map("valence", "").target("neutral") is None
    (problem,) = [str(p) for p in registry.problems]
    assert "mistaken-plugin" in problem and "register_label_maps failed: TypeError" in problem
    assert "is not a serkit.LabelMap" in problem


def test_recipe_labels_are_checked_against_the_map(tmp_path):
    recipe = tmp_path / "r.toml"
    base = f'[dataset]\nname = "emodb"\nroot = "{need(EMODB)}"\n[features]\nname = "opensmile"\n[model]\nname = "svm"\n'
    recipe.write_text(base + '[labels]\nmap = "ekman"\nkeep = ["anger", "boredom"]\n')
    with pytest.raises(SerkitError, match=r"labels\.keep: boredom not among label map 'ekman''s classes"):
        load_recipe(recipe)


def test_a_cross_corpus_run_maps_both_corpora_and_keeps_the_shared_classes(tmp_path, cli_runner):
    args = [
        "run", "recipes/egemaps-svm.toml", "--set", f"dataset.root={emodb_subset(tmp_path / 'emodb', ('03', '09'))}",
        "--set", f"run.output={tmp_path / 'runs'}",
        "--set", 'protocol={name = "cross_corpus", test_dataset = "ravdess", test_root = "' + str(need(RAVDESS)) + '"}',
        "--set", 'labels.map="basic"', "--set", f"run.cache_dir={tmp_path / 'cache'}", "--set", "report.explain=false",
    ]  # fmt: skip
    refused = cli_runner.invoke(cli, args)
    suggested = "labels.keep = ['anger', 'disgust', 'fear', 'happiness', 'neutral', 'sadness']"
    assert refused.exit_code == 1 and suggested in refused.output
    keep = 'labels.keep=["anger", "disgust", "fear", "happiness", "neutral", "sadness"]'
    result = cli_runner.invoke(cli, [*args, "--set", keep])
    assert result.exit_code == 0, result.output
    (run,) = [p for p in (tmp_path / "runs").iterdir() if (p / "metrics.json").is_file()]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dataset"]["labels"] == ["anger", "disgust", "fear", "happiness", "neutral", "sadness"]
    assert any("leaves out test corpus 'ravdess' classes calm (16), surprised (16)" in w for w in metrics["notes"])
    assert any("leaves out dataset 'emodb' classes boredom (" in w for w in metrics["notes"])


def test_a_kept_class_the_corpus_lacks_is_refused_without_a_map_too(tmp_path, cli_runner):
    scan = EmoDB(root=str(need(EMODB))).scan()
    with pytest.raises(
        SerkitError, match=r"labels\.keep: 'sadnes' is not a class of the dataset .*did you mean 'sadness'"
    ):
        Relabel(None, ("anger", "sadnes")).apply(scan)
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'[dataset]\nname = "emodb"\nroot = "{need(EMODB)}"\n[features]\nname = "five_spectral"\n[model]\n'
        f'name = "svm"\n[run]\noutput = "{tmp_path / "runs"}"\n[labels]\nkeep = ["anger", "sadness", "boredum"]\n'
    )
    refused = cli_runner.invoke(cli, ["run", str(recipe)])
    assert refused.exit_code == 1 and "did you mean 'boredom'" in refused.output
    assert "labels.keep: 'boredum' is not a class of the dataset 'emodb'" in refused.output.splitlines()[-1]
    assert "Traceback" not in refused.output
