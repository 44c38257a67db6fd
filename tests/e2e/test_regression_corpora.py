"""A regression across corpora whose targets are on different scales: the synthetic corpus (-1 to 1) and RAVDESS
files listed in a manifest with arousal and valence on a 1-5 scale; task.rescale = "declared" puts them on one,
in a multi-corpus recipe, a cross_corpus run and the `serkit crosscorpus` matrix."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from serkit.cli import cli

#: RAVDESS's emotion code -> (name, arousal, valence) on a 1-5 scale, as a rater might give them.
RATED = {"01": ("neutral", 2.5, 3.0), "03": ("happy", 4.0, 4.5), "04": ("sad", 1.5, 1.5), "05": ("angry", 4.5, 1.5)}

RECIPE = """
[run]
name = "regression-corpora"
seed = 0
output = "{tmp}/runs"
cache_dir = "{tmp}/cache"

[[dataset]]
name = "manifest"
root = "{tmp}/rated.csv"
scale = [1, 5]

[[dataset]]
name = "synthetic"
root = "{tmp}/synthetic"
actors = 2
statements = 1
repetitions = 1
sample_rate = 16000
emotions = ["neutral", "happy", "sad", "angry"]

[task]
kind = "regression"
targets = ["arousal", "valence"]

[protocol]
name = "loco"

[[preprocess]]
name = "resample"
sample_rate = 16000

[features]
name = "log_mel_stats"

[model]
name = "ridge"

[report]
explain = false
"""


def _rated(ravdess: Path, tmp: Path) -> None:
    rng = np.random.default_rng(0)
    with open(tmp / "rated.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "speaker", "arousal", "valence"])
        for path in sorted(ravdess.rglob("*.wav")):
            code, actor = path.name.split("-")[2], path.stem.split("-")[-1]
            if code in RATED:
                name, arousal, valence = RATED[code]
                jitter = rng.uniform(-0.3, 0.3, 2)
                writer.writerow([str(path), name, actor, f"{arousal + jitter[0]:.2f}", f"{valence + jitter[1]:.2f}"])


def _run(tmp: Path, *overrides: str):
    recipe = tmp / "recipe.toml"
    recipe.write_text(RECIPE.format(tmp=tmp))
    return CliRunner().invoke(cli, ["run", str(recipe), *(p for o in overrides for p in ("--set", o))])


def _finished(tmp: Path) -> Path:
    (run,) = (folder for folder in (tmp / "runs").iterdir() if (folder / "metrics.json").is_file())
    return run


def test_targets_on_different_scales_are_refused_then_rescaled(ravdess_root, tmp_path):
    _rated(ravdess_root, tmp_path)
    refused = _run(tmp_path)
    message = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "task.rescale: the corpora's targets are on different scales" in message
    assert "manifest 1 to 5" in message and "synthetic -1 to 1" in message
    result = _run(tmp_path, "task.rescale=declared")
    assert result.exit_code == 0, result.output
    run = _finished(tmp_path)
    summary = json.loads((run / "metrics.json").read_text())
    said = "mapped linearly onto -1 to 1 from each corpus's scale (manifest 1 to 5, synthetic -1 to 1)"
    assert any(said in note for note in summary["notes"])
    assert said in " ".join((run / "report.md").read_text().split())
    rows = list(csv.DictReader((run / "predictions.csv").open()))
    manifest = [float(r["true_arousal"]) for r in rows if r["corpus"] == "manifest"]
    assert manifest and all(-1 <= value <= 1 for value in manifest)  # 4.5 + 0.3 of 1..5 would be above 1
    angry = [float(r["true_arousal"]) for r in rows if r["corpus"] == "manifest" and r["label"] == "angry"]
    assert np.mean(angry) == np.float64(np.mean(angry)) and 0.6 < np.mean(angry) < 0.85  # (4.5 - 1) / 2 - 1 = 0.75
    assert set(summary["metrics"]["groups"]["corpus"]["groups"]) == {"manifest", "synthetic"}


def test_a_cross_corpus_regression_states_its_rescaling(ravdess_root, tmp_path):
    _rated(ravdess_root, tmp_path)
    result = _run(
        tmp_path,
        'dataset={name = "manifest", root = "' + str(tmp_path / "rated.csv") + '", scale = [1, 5]}',
        'protocol={name = "cross_corpus", test_dataset = "synthetic", test_root = "' + str(tmp_path / "synth") + '"}',
        "task.rescale=declared",
        "labels.keep=['angry', 'happy', 'neutral', 'sad']",  # the classes the manifest lists
    )
    assert result.exit_code == 0, result.output
    run = _finished(tmp_path)
    notes = " ".join(json.loads((run / "metrics.json").read_text())["notes"])
    assert "mapped linearly onto -1 to 1 from each corpus's scale (manifest 1 to 5, synthetic -1 to 1)" in notes


SPEC = """
[crosscorpus]
name = "cc-regression"
base = "base.toml"
set = ["run.output={tmp}/runs", "run.cache_dir={tmp}/cache"]

[[corpus]]
name = "manifest"
label = "rated"
root = "rated.csv"
options = {{scale = [1, 5]}}

[[corpus]]
name = "synthetic"
root = "synthetic"
options = {{actors = 2, statements = 1, repetitions = 1, sample_rate = 16000, emotions = ["neutral", "angry"]}}
"""


def test_the_crosscorpus_matrix_of_a_regression_is_of_ccc_and_states_its_rescaling(ravdess_root, tmp_path):
    from serkit.core.scores import mean_ccc

    _rated(ravdess_root, tmp_path)
    base = RECIPE.split("[[dataset]]")[0] + RECIPE[RECIPE.index("[task]") :].replace('"loco"', '"loso"')
    (tmp_path / "base.toml").write_text(base.format(tmp=tmp_path) + '\n[dataset]\nname = "synthetic"\n')
    spec = tmp_path / "cc.toml"
    spec.write_text(SPEC.format(tmp=tmp_path))
    refused = CliRunner().invoke(cli, ["crosscorpus", str(spec)])
    message = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "rated → synthetic: task.rescale: the corpora's targets are on" in message
    assert not (tmp_path / "runs").exists()  # refused before any run
    result = CliRunner().invoke(cli, ["crosscorpus", str(spec), "--set", "task.rescale=declared"])
    assert result.exit_code == 0, result.output
    study = tmp_path / "runs" / "cc-regression"
    cells = list(csv.DictReader((study / "matrix.csv").open()))
    assert [(c["train"], c["test"]) for c in cells] == [
        ("rated", "rated"), ("rated", "synthetic"), ("synthetic", "rated"), ("synthetic", "synthetic"),
    ]  # fmt: skip
    assert "uar" not in cells[0] and cells[1]["protocol"].startswith("cross-corpus")
    for cell in cells:
        rows = list(csv.DictReader((study / cell["folder"] / "predictions.csv").open()))
        truth, predicted = (
            np.array([[float(r[f"{k}_{t}"]) for t in ("arousal", "valence")] for r in rows])
            for k in ("true", "predicted")
        )
        assert float(cell["ccc"]) == pytest.approx(mean_ccc(truth, predicted))
        assert float(cell["ccc_ci_low"]) <= float(cell["ccc"]) <= float(cell["ccc_ci_high"])
        assert cell["per_target"].startswith("arousal ")
    report = " ".join((study / "crosscorpus.md").read_text().split())
    assert "mapped linearly onto -1 to 1 from its documented scale (rated 1 to 5, synthetic -1 to 1)" in report
    assert "mean CCC" in (study / "crosscorpus.html").read_text()
    assert json.loads((study / "crosscorpus.json").read_text())["targets"] == ["arousal", "valence"]
