"""The local-only readers, on folders laid out as the released corpora: IEMOCAP (sessions, EmoEvaluation
files with categories and valence/activation/dominance) and MSP-Podcast (labels_consensus.csv and its
official partitions, run through the partition protocol on real speech)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import EMODB, need

from serkit.builtin.protocols import Partition
from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.corpora.iemocap import Iemocap
from serkit.corpora.msp_podcast import MspPodcast

TONE = (0.1 * np.sin(np.linspace(0, 200 * np.pi, 8000))).astype(np.float32)

EVALUATION = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[3.5000, 4.0000, 3.0000]
[14.8872 - 18.0175]\tSes01F_impro01_F002\txxx\t[2.0000, 3.5000, 3.5000]
[19.2900 - 20.7875]\tSes01F_impro01_M003\tfru\t[2.0000, 3.0000, 3.0000]
[21.1000 - 22.0000]\tSes01F_impro01_F004\tang\t[1.5000, 4.0000, 4.0000]
"""


def _iemocap(root: Path) -> Path:
    labels = root / "Session1" / "dialog" / "EmoEvaluation"
    labels.mkdir(parents=True)
    (labels / "Ses01F_impro01.txt").write_text(EVALUATION)
    audio = root / "Session1" / "sentences" / "wav" / "Ses01F_impro01"
    audio.mkdir(parents=True)
    for turn in ("F000", "M001", "F002", "M003", "F004"):
        soundfile.write(audio / f"Ses01F_impro01_{turn}.wav", TONE, 16000)
    return root


def test_iemocap_four_classes_merge_excitement_and_keep_the_dimensions(tmp_path):
    scan = Iemocap(root=str(_iemocap(tmp_path))).scan()
    found = {Path(u.path).stem[-4:]: u for u in scan.utterances}
    assert {k: u.label for k, u in found.items()} == {"F000": "neutral", "M001": "happiness", "F004": "anger"}
    assert found["M001"].speaker == "01M" and found["F000"].speaker == "01F"
    assert found["M001"].meta | {"start": ""} == {
        "gender": "male", "session": "01", "dialog": "improvised", "valence": "3.5000", "arousal": "4.0000",
        "dominance": "3.0000", "start": "", "end": "11.3925",
    }  # fmt: skip
    assert scan.labels == ["anger", "happiness", "neutral"] and len(scan.ignored) == 2  # xxx and frustration
    every = Iemocap(root=str(tmp_path), classes="all").scan()
    assert sorted(u.label for u in every.utterances) == ["anger", "excitement", "frustration", "neutral"]
    assert "IEMOCAP's licence forbids commercial use" in every.notes
    dimensional = Iemocap(root=str(tmp_path), classes="all", unagreed=True).scan()  # a regression's every turn
    assert len(dimensional.utterances) == 5 and not dimensional.ignored and "no agreement" in dimensional.labels
    (unagreed,) = [u for u in dimensional.utterances if u.label == "no agreement"]
    assert Path(unagreed.path).stem.endswith("F002") and unagreed.meta["arousal"] == "3.5000"
    four = Iemocap(root=str(tmp_path), unagreed=True).scan()
    assert sorted(u.label for u in four.utterances) == ["anger", "happiness", "neutral", "no agreement"]
    with pytest.raises(SerkitError, match=r"no IEMOCAP sessions .* sail\.usc\.edu"):
        Iemocap(root=str(tmp_path / "Session1")).scan()


def _msp(root: Path, speakers: dict[str, str], files: list[Path]) -> Path:
    """EMO-DB's recordings laid out as MSP-Podcast: Audios/ and Labels/labels_consensus.csv, each speaker
    in the partition ``speakers`` names; emotion letters as MSP-Podcast's classes (boredom is 'O', other)."""
    classes = {"W": "A", "T": "S", "F": "H", "A": "F", "E": "D", "N": "N", "L": "O"}
    (root / "Audios").mkdir(parents=True)
    (root / "Labels").mkdir()
    rows = []
    for k, path in enumerate(files):
        name = f"MSP-PODCAST_{k:04d}_0001.wav"
        (root / "Audios" / name).symlink_to(path)
        speaker = path.name[:2]
        rows.append([name, classes[path.name[5]], "4.2", "3.0", "4.4", speaker, "Male", speakers[speaker]])
    rows.append(["MSP-PODCAST_9999_0001.wav", "X", "4", "4", "4", "Unknown", "Female", "Train"])  # no agreement
    with (root / "Labels" / "labels_consensus.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"])
        writer.writerows(rows)
    return root


def test_msp_podcast_official_partitions_run_through_the_partition_protocol(tmp_path, cli_runner):
    split = {"03": "Train", "09": "Train", "10": "Train", "11": "Train", "12": "Development", "13": "Test1"}
    files = [p for p in sorted(need(EMODB).glob("*.wav")) if p.name[:2] in split]
    root = _msp(tmp_path / "msp", split, files)
    scan = MspPodcast(root=str(root)).scan()
    assert len(scan.utterances) == len(files) and len(scan.ignored) == 1
    assert "other" in scan.labels and scan.utterances[0].meta["split"] in split.values()
    kept = MspPodcast(root=str(root), unagreed=True).scan()  # X kept: its audio is absent here, and said so
    assert not kept.ignored and any("1 labelled turn(s) have no audio file" in w for w in kept.warnings)
    folds = Partition(train=["Train", "Development"], test="Test1").split(scan.utterances, 0)
    assert {scan.utterances[i].speaker for i in folds[0].test} == {"13"}
    with pytest.raises(SerkitError, match=r"protocol\.test: no utterance in partition\(s\) Test2"):
        Partition(test="Test2").split(scan.utterances, 0)
    pytest.importorskip("opensmile", reason="the openSMILE plugin (plugins/serkit-opensmile) is not installed")
    args = [
        "run", "recipes/egemaps-svm.toml", "--set", f"dataset={{name = 'msp_podcast', root = '{root}'}}",
        "--set", "protocol={name = 'partition', train = ['Train', 'Development'], test = 'Test1'}",
        "--set", "model={name = 'logistic_regression'}",
        "--set", "normalise.scope=band", "--set", "report.explain=false", "--set", "calibrate.method=none",
        "--set", "labels.map=ekman", "--set", f"run.output={tmp_path / 'runs'}",
        "--set", f"run.cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"].startswith("speaker-independent: the corpus's partitions, train on Train, Development")
    assert "other" not in metrics["dataset"]["labels"]  # the ekman map leaves it out, and says so
    assert any("leaves out dataset 'msp_podcast' classes other" in note for note in metrics["notes"])
    assert metrics["metrics"]["uar"] > 1 / len(metrics["dataset"]["labels"])
