"""EmoBox's published folds as a protocol: fold files made here in EmoBox's real format (its
data/<corpus>/fold_<k>/ layout, JSON Lines and JSON, `_fold_<k>` and `_fold<k>` names, label_map.json,
paths under its download folder) for the RAVDESS sample, run through `serkit run`; the test sets are
the files the fold lists name, and speaker-dependent folds are said to be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import RAVDESS, need

from serkit.builtin.datasets import Ravdess
from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.corpora.emobox import EmoBoxFolds, read_folds

#: RAVDESS's emotion codes as EmoBox's records spell them, and its label_map.json (github.com/emo-box/EmoBox).
EMO = {"01": "Neutral", "02": "Calm", "03": "Happy", "04": "Sad", "05": "Angry", "06": "Fearful", "07": "Disgust",
       "08": "Surprised"}  # fmt: skip
LABEL_MAP = {"Angry": "Angry", "Surprised": "Surprise", "Sad": "Sad", "Disgust": "Disgust", "Happy": "Happy",
             "Calm": "Calm", "Neutral": "Neutral", "Fearful": "Fear"}  # fmt: skip


def _record(path: Path) -> dict[str, object]:
    actor = path.parent.name
    return {
        "key": f"ravdess-{path.stem}",
        "dataset": "ravdess",
        "wav": f"downloads/ravdess/audio/Audio_Speech_Actors_01-24/{actor}/{path.name}",
        "type": "raw",
        "sample_rate": 48000,
        "task": "category",
        "emo": EMO[path.stem.split("-")[2]],
        "channel": 1,
    }


def _write_folds(folder: Path, folds: list[tuple[list[Path], list[Path]]]) -> Path:
    """Fold 1 as JSON Lines named ``_fold_1``; later folds as JSON objects named ``_fold<k>``."""
    folder.mkdir(parents=True)
    (folder / "label_map.json").write_text(json.dumps(LABEL_MAP, indent=4))
    for k, (train, test) in enumerate(folds, start=1):
        (folder / f"fold_{k}").mkdir()
        for part, files in (("train", train), ("test", test)):
            records = [_record(p) for p in files]
            if k == 1:
                text = "".join(json.dumps(r) + "\n" for r in records)
                (folder / f"fold_{k}" / f"ravdess_{part}_fold_{k}.jsonl").write_text(text)
            else:
                keyed = {r["key"]: {x: r[x] for x in ("wav", "emo", "dataset", "channel")} for r in records}
                (folder / f"fold_{k}" / f"ravdess_{part}_fold{k}.json").write_text(json.dumps(keyed, indent=4))
    return folder


def _speech(actor: str) -> list[Path]:
    return sorted((need(RAVDESS) / f"Actor_{actor}").glob("03-01-*.wav"))


def test_emobox_folds_run_as_a_protocol_with_the_listed_test_sets(tmp_path, cli_runner):
    pytest.importorskip("opensmile", reason="the openSMILE plugin (plugins/serkit-opensmile) is not installed")
    one, two = _speech("01"), _speech("02")
    folds = _write_folds(tmp_path / "data" / "ravdess", [(two, one), (one, two)])
    args = [
        "run", "recipes/egemaps-svm.toml", "--set", "dataset.name=ravdess", "--set", f"dataset.root={need(RAVDESS)}",
        "--set", f"protocol={{name = \"emobox\", folds_dir = \"{folds}\"}}",
        "--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}",
        "--set", "report.explain=false", "--set", "normalise.scope=band",
    ]  # fmt: skip
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    split = json.loads((run / "split.json").read_text())
    assert [f["name"] for f in split["folds"]] == ["fold1", "fold2"]
    for fold, listed in zip(split["folds"], (one, two), strict=True):
        assert sorted(Path(p).name for p in fold["test"]) == [p.name for p in listed]
        assert not {Path(p).name for p in fold["train"] + fold["validation"]} & {p.name for p in listed}
    assert "speaker-independent: EmoBox's 2 published fold(s)" in split["protocol"]


def test_speaker_dependent_folds_missing_files_and_label_agreement_are_said(tmp_path):
    files = _speech("01") + _speech("02")
    folds = _write_folds(tmp_path / "ravdess", [(files[1::2], files[0::2][:-1])])  # both actors on both sides
    scan = Ravdess(root=str(need(RAVDESS))).scan()
    protocol = EmoBoxFolds(folds_dir=str(folds))
    prepared = protocol.prepare(scan, Ravdess(root=str(need(RAVDESS))))
    warnings = " | ".join(prepared.warnings)
    assert (
        "EmoBox's folds are speaker-dependent here (speakers on both sides: fold 1: 2 of 2 test speakers)" in warnings
    )
    assert "1 utterance(s) of the dataset are in no EmoBox fold" in warnings
    assert "disagree" not in warnings  # serkit's eight RAVDESS labels are EmoBox's eight, one to one
    assert protocol.describe(prepared.utterances).startswith("speaker-dependent")
    assert len(prepared.utterances) == 119 and read_folds(str(folds))[0].test[files[0].stem] == "Neutral"


def test_fold_files_of_another_corpus_are_refused_in_one_line(tmp_path):
    folder = tmp_path / "emodb"
    (folder / "fold1").mkdir(parents=True)
    record = {"emodb-03a01Fa": {"wav": "downloads/emodb/wav/03a01Fa.wav", "emo": "happy"}}
    for part in ("train", "test"):
        (folder / "fold1" / f"emodb_{part}_fold1.json").write_text(json.dumps(record))
    protocol = EmoBoxFolds(folds_dir=str(folder))
    scan = Ravdess(root=str(need(RAVDESS))).scan()
    with pytest.raises(SerkitError, match="none of the 1 files its folds list is in the dataset"):
        protocol.prepare(scan, Ravdess(root=str(need(RAVDESS))))
    with pytest.raises(SerkitError, match="no fold_<k> folders"):
        read_folds(str(tmp_path))
