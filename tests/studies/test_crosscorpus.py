"""`serkit crosscorpus` end to end on real speech: EMO-DB (five speakers) x the RAVDESS sample, eGeMAPS
and an SVM. The 2 x 2 matrix with intervals and its heatmap, each corpus's features computed once,
every cell equal to its run's predictions, a rerun that reuses every run, and the spec's mistakes."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import RAVDESS, emodb_subset, need

from serkit.cli import cli
from serkit.core.scores import uar

pytest.importorskip("opensmile", reason="the openSMILE plugin (plugins/serkit-opensmile) is not installed")

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


BASIC = 'label_map = "basic"'


def _spec(tmp: Path, corpora: str, head: str = "") -> Path:
    spec = tmp / "cc.toml"
    spec.write_text(
        f'[crosscorpus]\nname = "cc"\nbase = "{RECIPES / "egemaps-svm.toml"}"\n'
        f'set = ["report.explain=false", "run.output={tmp / "runs"}", "run.cache_dir={tmp / "cache"}"]\n'
        f"{head or BASIC}\n{corpora}"
    )
    return spec


def _corpora(tmp: Path) -> str:
    emodb = emodb_subset(tmp / "emodb", ("03", "09", "10", "11", "12"))  # 08 has no disgust
    return (
        f'[[corpus]]\nname = "emodb"\nlabel = "EMO-DB"\nroot = "{emodb}"\n'
        f'within = {{name = "speaker_kfold", folds = 5}}\n'
        f'[[corpus]]\nname = "ravdess"\nroot = "{need(RAVDESS)}"\n'
    )


def test_the_matrix_of_two_corpora_with_intervals_heatmap_and_resume(tmp_path, cli_runner):
    spec = _spec(tmp_path, _corpora(tmp_path))
    result = cli_runner.invoke(cli, ["crosscorpus", str(spec)])
    assert result.exit_code == 0, result.output
    study = tmp_path / "runs" / "cc"
    with (study / "matrix.csv").open(newline="") as handle:
        cells = list(csv.DictReader(handle))
    assert [(c["train"], c["test"]) for c in cells] == [
        ("EMO-DB", "EMO-DB"), ("EMO-DB", "ravdess"), ("ravdess", "EMO-DB"), ("ravdess", "ravdess"),
    ]  # fmt: skip
    protocols = [c["protocol"] for c in cells]
    assert "5-fold" in protocols[0] and "leave-one-speaker-out" in protocols[3]
    assert all(p.startswith("cross-corpus") for p in protocols[1:3])
    for cell in cells:
        rows = list(csv.DictReader((study / cell["folder"] / "predictions.csv").open(newline="")))
        truth, predicted = np.array([r["true"] for r in rows]), np.array([r["predicted"] for r in rows])
        assert float(cell["uar"]) == pytest.approx(uar(truth, predicted))
        assert float(cell["uar_ci_low"]) <= float(cell["uar"]) <= float(cell["uar_ci_high"])
        assert set(truth) == {"anger", "disgust", "fear", "happiness", "neutral", "sadness"}
    # the RAVDESS sample has two speakers: its intervals resample utterances, EMO-DB's speakers, and it says so
    assert [c["resampled_by"] for c in cells] == ["speaker", "utterance", "speaker", "utterance"]
    report = (study / "crosscorpus.md").read_text()
    assert "by utterance for ravdess (fewer than five test speakers" in report
    assert "| EMO-DB | " in report and "chance UAR 16.67 %" in report
    assert (study / "matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert "<h1>Cross-corpus matrix cc</h1>" in (study / "crosscorpus.html").read_text()
    # each corpus's features computed once: one cache entry per file, though each file is read by three runs
    entries = list((tmp_path / "cache" / "features").rglob("*.npy"))
    used = [p for p in (tmp_path / "emodb").glob("*.wav") if p.name[5] != "L"]  # boredom (L) is left out
    assert len(entries) == len(used) + 88  # RAVDESS: 120 files less calm and surprised (16 each)
    # a rerun reuses every run and rewrites the same matrix
    matrix = (study / "matrix.csv").read_text()
    stamps = {c["folder"]: os.stat(study / c["folder"] / "metrics.json").st_mtime_ns for c in cells}
    again = cli_runner.invoke(cli, ["crosscorpus", str(spec)])
    assert again.exit_code == 0, again.output
    assert again.output.count("finished earlier, reusing") == 4
    assert stamps == {f: os.stat(study / f / "metrics.json").st_mtime_ns for f in stamps}
    assert (study / "matrix.csv").read_text() == matrix
    record = json.loads((study / "crosscorpus.json").read_text())
    assert record["classes"] == ["anger", "disgust", "fear", "happiness", "neutral", "sadness"]


@pytest.mark.parametrize(
    ("head", "corpora", "message"),
    [
        ('keep = ["anger", "boredom"]', "both", "crosscorpus.keep: corpus 'ravdess' has no boredom"),
        ('label_map = "four"', "both", "crosscorpus.label_map: unknown label map 'four'; did you mean 'four-class'"),
        ("", "one", "needs two or more [[corpus]] tables"),
        ("", "typo", "corpus[1].name: unknown dataset 'ravdes'; did you mean 'ravdess'"),
    ],
)
def test_spec_mistakes_are_one_line_naming_the_key(tmp_path, cli_runner, head, corpora, message):
    both = f'[[corpus]]\nname = "emodb"\nroot = "{tmp_path}"\n[[corpus]]\nname = "ravdess"\nroot = "{need(RAVDESS)}"\n'
    emodb = emodb_subset(tmp_path / "emodb", ("03",))
    both = both.replace(f'root = "{tmp_path}"', f'root = "{emodb}"')
    text = {
        "both": both,
        "one": both.split('[[corpus]]\nname = "ravdess"')[0],
        "typo": both.replace('"ravdess"', '"ravdes"'),
    }
    result = cli_runner.invoke(cli, ["crosscorpus", str(_spec(tmp_path, text[corpora], head))])
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output
