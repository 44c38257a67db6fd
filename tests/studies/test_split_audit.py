"""The split audit on real audio: no warning on a clean leave-one-speaker-out split of the EMO-DB
copy; a planted byte-identical and a planted near-identical copy warned about in a run's report and
metrics; a planted speaker overlap in a split file warned about by `serkit audit`."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import EMODB, ROOT, need

from serkit.cli import cli
from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry
from serkit.data.split import SplitFile
from serkit.results.folder import RunFolder
from serkit.run.planning import plan_run
from serkit.run.reporter import Reporter
from serkit.run.stages import Context, scan

pytestmark = pytest.mark.slow

IMAGE = ['features={name = "log_mel", n_mels = 32}', 'model={name = "crnn"}', "augment=[]"]


def test_a_clean_loso_split_of_emodb_gets_no_warning(cli_runner, tmp_path):
    recipe_file = ROOT / "recipes" / "egemaps-svm.toml"
    overrides = [f"dataset.root={need(EMODB)}", f"run.cache_dir={tmp_path / 'cache'}", *IMAGE]
    recipe = load_recipe(recipe_file, overrides, get_registry())
    corpus = scan(Context(recipe, RunFolder(tmp_path), get_registry(), Reporter()))
    plans, _ = plan_run(recipe, corpus.utterances)
    split = tmp_path / "split.json"
    description = recipe.protocol.describe(corpus.utterances)
    split.write_text(
        json.dumps(SplitFile.of(plans, corpus.utterances, recipe.dataset.location(), description).to_json())
    )
    args = ["audit", str(split), "--recipe", str(recipe_file), "--json"]
    result = cli_runner.invoke(cli, args + [x for o in overrides for x in ("--set", o)])
    assert result.exit_code == 0, result.output
    audit = json.loads(result.stdout)
    assert len(plans) == 10 and audit["warnings"] == []
    assert any("near-identical audio" in c for c in audit["checked"])
    assert audit["notes"] == [
        "in 10 of 10 fold(s) the test part's sentences (metadata 'text') also occur in training: the model may use "
        "lexical content (EMO-DB and RAVDESS share their sentences across speakers by design, so every split of "
        "them does)"
    ]


def _planted_manifest(tmp: Path) -> Path:
    """Three angry and three neutral EMO-DB files of each of four speakers, a byte-identical copy of one
    listed as a fifth speaker's, and a copy of another shifted by 10 ms listed as a sixth's."""
    rows, taken = [], {}
    for path in sorted(need(EMODB).glob("*.wav")):
        speaker, label = path.name[:2], path.name[5]
        if speaker in ("03", "08", "09", "10") and label in "WN" and taken.get((speaker, label), 0) < 3:
            taken[speaker, label] = taken.get((speaker, label), 0) + 1
            rows.append([str(path), label, speaker])
    identical = tmp / "copy.wav"
    shutil.copy(rows[0][0], identical)
    wave, rate = soundfile.read(rows[6][0])
    shifted = tmp / "shifted.wav"
    soundfile.write(shifted, np.roll(np.asarray(wave), rate // 100).astype(np.float32), rate)
    rows += [[str(identical), rows[0][1], "99"], [str(shifted), rows[6][1], "98"]]
    manifest = tmp / "planted.csv"
    with manifest.open("w", newline="") as handle:
        csv.writer(handle).writerows([["path", "label", "speaker"], *rows])
    return manifest


def test_planted_duplicates_and_speaker_overlap_are_warned_about(cli_runner, tmp_path):
    manifest = _planted_manifest(tmp_path)
    args = [
        "run", str(ROOT / "recipes" / "egemaps-svm.toml"),
        "--set", f"dataset={{name = 'manifest', root = '{manifest}'}}",
        "--set", "protocol={name = 'loso', missing_test_classes = 'warn'}",
        "--set", 'features={name = "five_spectral"}', "--set", 'model={name = "logistic_regression"}',
        "--set", "normalise.scope=band",
        "--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    warnings = json.loads((run / "metrics.json").read_text())["warnings"]
    identical = next(w for w in warnings if "byte-identical pair(s)" in w)
    assert "copy.wav" in identical and "the model is tested on audio it was trained on" in identical
    near = next(w for w in warnings if "near-identical pair(s)" in w)
    assert "shifted.wav" in near
    report = (run / "report.md").read_text()
    assert "## Split audit" in report and "- **Warning:** 1 byte-identical pair(s) across parts in 2 of 6" in report
    assert json.loads((run / "split.json").read_text())["audit"]["warnings"] == warnings

    # A split file edited by hand: one of the test speaker's files moved into training.
    split = json.loads((run / "split.json").read_text())
    fold = next(f for f in split["folds"] if f["name"] == "speaker-03")
    fold["train"].append(fold["test"].pop())
    edited = tmp_path / "edited" / "split.json"
    edited.parent.mkdir()
    edited.write_text(json.dumps(split))
    shutil.copy(run / "recipe.toml", edited.parent / "recipe.toml")
    audited = cli_runner.invoke(cli, ["audit", str(edited), "--json"])
    assert audited.exit_code == 0, audited.output
    found = json.loads(audited.stdout)["warnings"]
    assert any(w.startswith("speaker(s) 03 in both the training and the test part of 1 of 6 fold(s)") for w in found)
