"""`serkit leaks`: each leak made for real on EMO-DB speech, marked in its own report, measured against the
honest run; the recipe checks that refuse a leak a recipe cannot have."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, emodb_subset, not_blank, render_in_chromium

from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.recipe import load_recipe
from serkit.studies.leaks import Published

TINY = ROOT / "recipes" / "tiny.toml"


def small_emodb(tmp_path: Path) -> list[str]:
    """The tiny recipe on three EMO-DB speakers' anger, sadness and neutral: one noise copy, two epochs."""
    root = emodb_subset(tmp_path / "emodb", ("03", "08", "09"))
    return [
        f"dataset={{name = 'emodb', root = '{root}', emotions = ['anger', 'sadness', 'neutral']}}",
        "augment=[{name = 'gaussian_noise'}]",
        "preprocess[3].seconds=1.0",
        "train.max_epochs=2",
        "train.patience=5",
        "report.explain=false",
        f"run.output={tmp_path / 'runs'}",
        f"run.cache_dir={tmp_path / 'cache'}",
    ]


def summary(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_every_leak_is_made_marked_and_measured_against_the_honest_run(cli_runner, tmp_path):
    args = ["leaks", str(TINY), "--published", "accuracy=99.5", "--source", "a paper"]
    for override in small_emodb(tmp_path):
        args += ["--set", override]
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "leaks-tiny"
    runs = {p.name: p for p in folder.iterdir() if p.is_dir()}
    assert sorted(runs) == [
        "00-honest",
        "01-augmenting-before-the-split",
        "02-normalising-on-all-data",
        "03-choosing-the-epoch-on-the-test-part",
        "04-no-validation-part-epochs-chosen-on-the-test-part",
        "05-speaker-dependent-split",
    ]
    honest = summary(runs["00-honest"])
    # tiny's own split is random (speaker-dependent): the honest run is speaker folds, the recipe's split the leak
    assert "speaker-independent" in honest["protocol"] and honest["leaks"] == []
    assert not any(w.startswith("LEAK") for w in honest["warnings"])
    assert "speaker-dependent" in summary(runs["05-speaker-dependent-split"])["protocol"]
    for name, run in runs.items():
        if name != "00-honest":
            found = summary(run)
            assert found["leaks"] and found["warnings"][0].startswith("LEAK, not a result")
            assert "LEAK, not a result" in (run / "report.md").read_text()

    # Augmenting before the split: each test utterance's noise copy trained with the fit part.
    leaked = summary(runs["01-augmenting-before-the-split"])["folds"][0]["sizes"]
    fair = honest["folds"][0]["sizes"]
    assert leaked["augmented"] == fair["augmented"] + fair["test"] and fair["augmented"] == fair["fit"]

    # Normalising on all data: the same fold's statistics differ from the fit part's alone.
    def normaliser(run: Path) -> np.ndarray:
        fold = json.loads((run / "folds" / "fold1" / "result.json").read_text())
        return np.asarray(fold["normaliser"]["mean"])

    assert normaliser(runs["00-honest"]).shape == normaliser(runs["02-normalising-on-all-data"]).shape
    assert not np.allclose(normaliser(runs["00-honest"]), normaliser(runs["02-normalising-on-all-data"]))

    # Choosing the epoch on the test part: the chosen epoch's "validation" UAR is the fold's test UAR.
    chosen = summary(runs["03-choosing-the-epoch-on-the-test-part"])
    assert "early stopping on the test part" in chosen["training"]
    for fold in chosen["folds"]:
        row = json.loads(
            (runs["03-choosing-the-epoch-on-the-test-part"] / "folds" / fold["id"] / "result.json").read_text()
        )
        best = row["history"][row["best_epoch"] - 1]
        assert best["val_uar"] == pytest.approx(fold["metrics"]["uar"], abs=1e-6)
    assert (
        "refit on the fit and validation parts"
        in summary(runs["04-no-validation-part-epochs-chosen-on-the-test-part"])["training"]
    )

    with (folder / "ablation.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [bool(r["leak"]) for r in rows] == [False, True, True, True, True, True]
    report = (folder / "ablation.md").read_text()
    assert "## Leak audit" in report and "augmenting before the split (leak)" in report
    assert "the published 99.50 % accuracy (a paper)" in report.lower()
    assert "above the honest run's 95 % interval" in report
    assert report.startswith("# Leak audit (not a result) `leaks-tiny`")
    page = folder / "ablation.html"
    assert "LEAK, not a result" in page.read_text()
    shown = render_in_chromium(page, tmp_path / "page.png")
    assert shown["errors"] == [] and shown["sections"][0] == "warnings"
    assert "forest" in {name for name, _ in shown["images"]} and not_blank(tmp_path / "page.png")


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["augment=[]", "leaks.augment_before_split=true"], "leaks.augment_before_split: needs [[augment]] entries"),
        (["normalise.scope=speaker", "leaks.normalise_on_all=true"], "leaks.normalise_on_all"),
        (["model={name = 'svm'}", "features={name = 'five_spectral'}", "leaks.select_on_test=true"], "has no epochs"),
        (['protocol={name = "loso"}', "leaks.speaker_dependent_split=true"], "keeps speakers apart"),
    ],
)
def test_a_leak_the_recipe_cannot_have_is_refused_naming_the_key(overrides, says):
    with pytest.raises(SerkitError, match=r"leaks\.") as caught:
        load_recipe(TINY, ["dataset.root=.", *overrides])
    assert says in str(caught.value)


def test_an_honest_recipe_writes_no_leaks_section_and_a_leaky_one_round_trips(tmp_path):
    honest = load_recipe(TINY, ["dataset.root=."])
    assert "leaks" not in honest.to_dict()
    leaky = load_recipe(TINY, ["dataset.root=.", "leaks.normalise_on_all=true"])
    (tmp_path / "recipe.toml").write_text(leaky.to_toml())
    assert load_recipe(tmp_path / "recipe.toml", ["dataset.root=."]).leaks.normalise_on_all


def test_a_published_figure_is_a_percentage_of_accuracy_or_uar():
    assert Published.parse("accuracy=91.59", "Yadav et al.") == Published("accuracy", 0.9159, "Yadav et al.")
    for bad in ("f1=80", "accuracy=abc", "uar=150"):
        with pytest.raises(SerkitError, match="--published"):
            Published.parse(bad)
