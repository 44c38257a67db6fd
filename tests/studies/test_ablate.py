"""`serkit ablate`: every variant validated up front, compared, and resumed after an interruption."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.registry import get_registry
from serkit.results.stats import TESTS, WILCOXON_SPEAKERS
from serkit.studies.ablate import load_sweep

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def write_sweep(tmp_path: Path, variants: str, common: str = "") -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(
        f'[sweep]\nname = "sweep-file-name"\nbase = "{RECIPES / "tiny.toml"}"\nbaseline = "noise"\n'
        f"set = [{common}]\n{variants}"
    )
    return path


VARIANTS = """
[[variant]]
name = "no augmentation"
set = ["augment=[]"]

[[variant]]
name = "smaller model"
set = ["model.lstm_units=8"]
"""


def test_shipped_sweep_validates(tmp_path):
    sweep = load_sweep(RECIPES / "ablation-augment.toml", [f"dataset.root={tmp_path}"], get_registry())
    assert [v.name for v in sweep.variants] == [
        "all four (paper)",
        "no augmentation",
        "noise only",
        "stretch 1.1 only",
        "stretch 0.8 only",
        "pitch 1.5 only",
    ]
    assert [len(v.recipe.augment) for v in sweep.variants] == [4, 0, 1, 1, 1, 1]
    assert sweep.variants[3].recipe.augment[0].rate == 1.1
    assert all(v.recipe.dataset.root == str(tmp_path) for v in sweep.variants)


def test_bad_variants_fail_before_any_training(cli_runner, tmp_path, ravdess_root):
    common = f'"dataset.root={ravdess_root}", "run.output={tmp_path / "runs"}"'
    bad_key = write_sweep(tmp_path, '[[variant]]\nname = "typo"\nset = ["train.max_epoch=3"]\n', common)
    result = cli_runner.invoke(cli, ["ablate", str(bad_key)])
    assert result.exit_code == 1
    assert "variant[0] ('typo')" in result.output and "did you mean 'max_epochs'" in result.output
    impossible = write_sweep(
        tmp_path, '[[variant]]\nname = "kfold"\nset = [\'protocol={name = "speaker_kfold", folds = 4}\']\n', common
    )
    result = cli_runner.invoke(cli, ["ablate", str(impossible)])
    assert result.exit_code == 1 and "variant 'kfold'" in result.output and "4 folds need at least 4" in result.output
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_a_variant_named_like_the_default_baseline_is_told_why(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        f'[sweep]\nbase = "{RECIPES / "tiny.toml"}"\n[[variant]]\nname = "baseline"\nset = ["augment=[]"]\n'
    )
    with pytest.raises(
        SerkitError, match=r"variant\[0\]: 'baseline' is the name serkit gives the baseline .* \[sweep\] baseline"
    ):
        load_sweep(path, [], get_registry())
    twice = write_sweep(tmp_path, VARIANTS + VARIANTS.split("\n\n")[0])
    with pytest.raises(SerkitError, match="the name 'no augmentation' is used twice"):
        load_sweep(twice, [], get_registry())


@pytest.mark.parametrize(
    ("tables", "says"),
    [
        ('[sweep]\nbase = "{base}"\n[[variant]]\nname = "x"\nsets = ["augment=[]"]\n', "variant[0].sets: unknown"),
        ('[sweep]\nbase = "{base}"\nbasline = "b"\n', "sweep.basline: unknown parameter; did you mean 'baseline'?"),
        ('[sweep]\nbase = "{base}"\nset = "augment=[]"\n', "sweep.set:"),
        ('[sweep]\nbase = "{base}"\n[[variant]]\nset = ["augment=[]"]\n', "variant[0].name: required parameter"),
        ('[sweep]\nbase = "{base}"\n[variants]\n', "variants: unknown table; did you mean 'variant'?"),
    ],
)
def test_sweep_tables_are_declared_and_checked_like_train(tmp_path, tables, says):
    path = tmp_path / "sweep.toml"
    path.write_text(tables.format(base=RECIPES / "tiny.toml"))
    with pytest.raises(SerkitError) as error:
        load_sweep(path, [], get_registry())
    assert says in str(error.value)


@pytest.mark.slow
def test_ablation_compares_variants_and_resumes(cli_runner, tmp_path, ravdess_root):
    common = (
        f'"dataset.root={ravdess_root}", "run.output={tmp_path / "runs"}", '
        f'"run.cache_dir={tmp_path / "cache"}", "train.max_epochs=1", '
        '\'augment=[{name = "gaussian_noise"}]\', \'protocol={name = "fixed", test_speakers = [["01"], ["02"]]}\''
    )
    sweep = write_sweep(tmp_path, VARIANTS, common)
    result = cli_runner.invoke(cli, ["ablate", str(sweep), "--name", "mini"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "mini"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [
        "00-noise",
        "01-no-augmentation",
        "02-smaller-model",
    ]
    with open(folder / "ablation.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["variant"] for r in rows] == ["noise", "no augmentation", "smaller model"]
    assert rows[0]["delta_uar"] == "0.0" and rows[1]["folds"] == "2" and rows[1]["p_uar"] != ""
    assert rows[1]["test"] == "Wilcoxon signed-rank over speakers"  # one fold per test speaker
    assert 0 <= float(rows[0]["uar_pooled_ci_low"]) <= float(rows[0]["uar_pooled_ci_high"]) <= 1
    report = (folder / "ablation.md").read_text()
    assert "speaker-independent, 2 fixed fold(s)" in report and TESTS[WILCOXON_SPEAKERS].explanation() in report
    assert "resampled by utterance: the test set has 2 speaker(s)" in report  # too few speakers to resample
    assert (folder / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    # The cache is shared: the variants re-extract nothing the baseline made.
    metrics = json.loads((folder / "01-no-augmentation" / "metrics.json").read_text())
    assert (
        metrics["timings"]["features"]
        < json.loads((folder / "00-noise" / "metrics.json").read_text())["timings"]["features"]
    )
    # Interrupt the last variant mid-way: a rerun reuses the finished ones and completes it.
    (folder / "02-smaller-model" / "metrics.json").unlink()
    (folder / "02-smaller-model" / "folds" / "fold2" / "result.json").unlink()
    again = cli_runner.invoke(cli, ["ablate", str(sweep), "--name", "mini"], env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert again.output.count("finished earlier, reusing") == 2
    assert again.output.count("finished in an earlier attempt") == 1  # fold1 of the interrupted variant
    with open(folder / "ablation.csv", newline="") as handle:
        assert [r["uar_mean"] for r in csv.DictReader(handle)] == [r["uar_mean"] for r in rows]


def test_a_variant_naming_a_plugin_no_longer_installed_says_which_package_had_it(
    cli_runner, tmp_path, ravdess_root, register_plugin
):
    from dataclasses import dataclass

    import numpy as np

    from serkit import Augmenter, hookimpl, param
    from serkit.core.registry import get_plugin_manager

    @dataclass(frozen=True, kw_only=True)
    class CheapMic(Augmenter):
        """Clips the waveform as a cheap microphone would."""

        name = "cheap_mic"
        level: float = param(0.5, "clipping level", gt=0)

        def __call__(self, wave, sample_rate, rng):
            return np.clip(wave, -self.level, self.level).astype(np.float32)

    class Plugin:
        @hookimpl
        def register_augmenters(self, register):
            register(CheapMic)

    register_plugin(Plugin(), "serkit-cheap-mic")
    common = f'"dataset.root={ravdess_root}", "run.output={tmp_path / "runs"}", "train.max_epochs=1", "run.workers=1"'
    sweep = write_sweep(
        tmp_path, '[[variant]]\nname = "cheap mic"\nset = ["augment=[{name = \'cheap_mic\'}]"]\n', common
    )
    assert cli_runner.invoke(cli, ["ablate", str(sweep)]).exit_code == 0
    get_plugin_manager().unregister(name="serkit-cheap-mic")  # the package is gone
    result = cli_runner.invoke(cli, ["ablate", str(sweep)])
    line = " ".join(result.output.split())
    assert result.exit_code == 1 and "unknown augmenter 'cheap_mic'" in line
    assert (
        "the sweep's earlier run" in line
        and "had it from serkit-cheap-mic" in line
        and "pip install serkit-cheap-mic" in line
    )
