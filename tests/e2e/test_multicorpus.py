"""Several corpora in one training (``[[dataset]]``): EMO-DB, the RAVDESS sample and the synthetic corpus."""

from __future__ import annotations

import csv
import json
import shutil
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import ROOT

from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.recipe import load_recipe
from serkit.core.settings import TrainSettings
from serkit.learn.trainer import epoch_order, stratum_chances

RECIPE = ROOT / "recipes" / "multicorpus.toml"
#: EMO-DB's letters of the four shared classes: Wut (anger), Freude (happiness), Neutral, Trauer (sadness).
LETTERS = "WFNT"


@pytest.fixture
def small_emodb(emodb_root: Path, tmp_path: Path) -> Path:
    """Two files per class from each of four EMO-DB speakers (32 files)."""
    target = tmp_path / "emodb"
    target.mkdir()
    taken: Counter[tuple[str, str]] = Counter()
    for path in sorted(emodb_root.glob("*.wav")):
        speaker, letter = path.name[:2], path.name[5]
        if speaker in ("03", "08", "09", "10") and letter in LETTERS and taken[speaker, letter] < 2:
            taken[speaker, letter] += 1
            shutil.copy(path, target / path.name)
    return target


def _args(emodb: Path, ravdess: Path, tmp: Path, *more: str) -> list[str]:
    overrides = [
        f"dataset[0].root={emodb}",
        f"dataset[1].root={ravdess}",
        f"dataset[2].root={tmp / 'synthetic'}",
        "dataset[2].actors=2",
        "dataset[2].statements=1",
        "dataset[2].repetitions=1",
        "dataset[2].sample_rate=16000",
        "model.filters=[4, 4, 8, 8]",
        "model.lstm_units=8",
        "train.max_epochs=1",
        "features.n_mels=32",
        f"run.output={tmp / 'runs'}",
        f"run.cache_dir={tmp / 'cache'}",
        *more,
    ]
    return ["run", str(RECIPE), *(part for o in overrides for part in ("--set", o))]


def test_three_corpora_train_one_model_and_each_is_reported(small_emodb, small_ravdess, tmp_path):
    result = CliRunner().invoke(cli, _args(small_emodb, small_ravdess, tmp_path, "protocol.name=loco"))
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dataset"]["name"] == "emodb+ravdess+synthetic"
    assert [fold["id"] for fold in metrics["folds"]] == ["corpus-emodb", "corpus-ravdess", "corpus-synthetic"]
    assert "leave one corpus out: 3 fold(s)" in metrics["protocol"]
    per_corpus = metrics["metrics"]["groups"]["corpus"]["groups"]
    assert set(per_corpus) == {"emodb", "ravdess", "synthetic"}
    for corpus, figures in per_corpus.items():
        low, high = figures["uar_ci"]
        assert low <= figures["uar"] <= high, corpus
    assert per_corpus["emodb"]["n"] == 32
    with open(run / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["corpus"] for row in rows} == {"emodb", "ravdess", "synthetic"}
    assert {row["speaker"].split(":")[0] for row in rows} == {"emodb", "ravdess", "synthetic"}  # namespaced
    assert {row["true"] for row in rows} == {"anger", "happiness", "neutral", "sadness"}
    notes = " ".join(metrics["notes"])
    assert "emodb: licence" in notes and "ravdess: licence" in notes
    assert "labels: left out of ravdess: calm" in notes  # what the four-class map left out, per corpus
    report = (run / "report.md").read_text()
    assert "corpus" in report and "synthetic" in report
    written = tomllib.loads((run / "recipe.toml").read_text())
    assert [entry["name"] for entry in written["dataset"]] == ["emodb", "ravdess", "synthetic"]
    assert load_recipe(run / "recipe.toml").dataset.name == "emodb+ravdess+synthetic"  # the run's recipe reloads
    compared = CliRunner().invoke(cli, ["runs", "compare", str(run), str(run), "--json"])
    assert compared.exit_code == 0, compared.output
    assert set(json.loads(compared.stdout)["groups"]["corpus"]["groups"]) == {"emodb", "ravdess", "synthetic"}


def test_corpora_whose_classes_differ_need_a_label_map(small_emodb, small_ravdess, tmp_path):
    result = CliRunner().invoke(cli, _args(small_emodb, small_ravdess, tmp_path, "labels.map=", "labels.keep=[]"))
    message = " ".join(result.output.split())
    assert result.exit_code == 1 and "labels: the corpora's classes differ" in message
    assert "emodb: anger" in message and "ravdess:" in message and "[labels] map" in message


def test_what_reads_corpus_marks_refuses_a_single_corpus(tmp_path):
    recipe = tmp_path / "one.toml"
    text = (ROOT / "recipes" / "tiny.toml").read_text()
    recipe.write_text(text.replace('name = "random"\ntest_size = 0.25', 'name = "loco"'))
    with pytest.raises(SerkitError, match="loco leaves one corpus out of several"):
        load_recipe(recipe)
    with pytest.raises(SerkitError, match='"by_corpus" balances the corpora'):
        load_recipe(ROOT / "recipes" / "tiny.toml", overrides=["train.sampler=by_corpus"])


def test_by_corpus_draws_each_corpus_alike():
    strata = np.array(["big"] * 900 + ["small"] * 100)
    labels = np.array([0, 1] * 450 + [0] * 90 + [1] * 10)
    by_corpus = stratum_chances("by_corpus", labels, strata)
    assert by_corpus[strata == "small"].sum() == pytest.approx(0.5)
    cells = stratum_chances("by_corpus_class", labels, strata)
    assert cells[(strata == "small") & (labels == 1)].sum() == pytest.approx(0.25)
    draw = epoch_order(TrainSettings(sampler="by_corpus"), labels, 2, np.zeros((1000, 1)), strata)
    import torch

    drawn = draw(torch.Generator().manual_seed(0)).numpy()
    assert 0.4 < (strata[drawn] == "small").mean() < 0.6  # a tenth of the items, half the draws
    with pytest.raises(SerkitError, match="needs the corpus of every fit item"):
        stratum_chances("by_corpus", labels, None)
