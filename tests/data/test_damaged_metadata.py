"""Every file a reader or protocol parses is named in its error, with the line where possible and the recipe key the
user wrote: a cut row, another separator, invalid JSON; and a layout the reader does not know says where it looked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from serkit.core.errors import SerkitError
from serkit.corpora.crema_d import CremaD
from serkit.corpora.emobox import read_folds
from serkit.corpora.iemocap import Iemocap
from serkit.corpora.msp_podcast import COLUMNS, MspPodcast

HEADER = ",".join(COLUMNS)
ROW = "MSP-PODCAST_0001_0001.wav,A,4.2,3.1,4.0,127,Female,Train"


def msp(tmp_path, text: str) -> MspPodcast:
    (tmp_path / "Labels").mkdir(parents=True)
    (tmp_path / "Audios").mkdir()
    (tmp_path / "Labels" / "labels_consensus.csv").write_text(text)
    return MspPodcast(root=str(tmp_path))


def test_msp_podcasts_cut_last_row_is_named_with_its_line(tmp_path):
    dataset = msp(
        tmp_path, f"{HEADER}\n{ROW}\n{ROW.replace('0001.wav', '0002.wav')}\nMSP-PODCAST_0003_0001.wav,A,4.2\n"
    )
    with pytest.raises(SerkitError, match=r"dataset\.root: .*labels_consensus\.csv, line 4: the row has 3 field\(s\)"):
        dataset.scan()


def test_msp_podcasts_labels_with_another_separator_are_named(tmp_path):
    dataset = msp(tmp_path, f"{HEADER.replace(',', ';')}\n{ROW.replace(',', ';')}\n")
    with pytest.raises(
        SerkitError, match=r"labels_consensus\.csv: the header lacks column\(s\) FileName.*separated by commas"
    ):
        dataset.scan()


def test_crema_ds_demographics_with_another_separator_are_named(tmp_path):
    wav = tmp_path / "AudioWAV"
    wav.mkdir()
    sf.write(wav / "1001_DFA_ANG_XX.wav", np.zeros(1600, np.float32), 16000)
    (tmp_path / "VideoDemographics.csv").write_text('"ActorID";"Age";"Sex"\n1001;51;Male\n')
    with pytest.raises(SerkitError, match=r"VideoDemographics\.csv: the header lacks column\(s\) ActorID, Sex, Age"):
        CremaD(root=str(wav)).scan()


def test_emoboxs_label_map_that_is_not_json_is_named_with_its_line(tmp_path):
    (tmp_path / "fold_1").mkdir()
    (tmp_path / "label_map.json").write_text('{"ang": "anger",\n "hap": }\n')
    read_folds.cache_clear()
    with pytest.raises(SerkitError, match=r"protocol\.folds_dir: .*label_map\.json, line 2 column 9: not JSON"):
        read_folds(str(tmp_path))


def test_an_emobox_fold_file_with_a_cut_line_is_named_with_its_line(tmp_path):
    (tmp_path / "fold_1").mkdir()
    record = {"key": "a", "wav": "x/03a01Fa.wav", "emo": "ang"}
    lines = [json.dumps(record), json.dumps(record | {"wav": "x/03a01Fb.wav"})[:20]]
    (tmp_path / "fold_1" / "emodb_train_fold_1.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "fold_1" / "emodb_test_fold_1.jsonl").write_text(lines[0] + "\n")
    read_folds.cache_clear()
    with pytest.raises(SerkitError, match=r"emodb_train_fold_1\.jsonl, line 2: not JSON"):
        read_folds(str(tmp_path))


def test_iemocap_in_another_layout_says_where_it_looked(tmp_path):
    labels = tmp_path / "Session1" / "dialog" / "EmoEvaluation"
    labels.mkdir(parents=True)
    (labels / "Ses01F_impro01.txt").write_text(
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
    )
    (tmp_path / "Session1" / "wav").mkdir()  # audio elsewhere than sentences/wav/<dialog>/
    with pytest.raises(SerkitError, match=r"1 labelled turn\(s\) name audio that is not there, e\.g\. .*sentences/wav"):
        Iemocap(root=str(tmp_path)).scan()
