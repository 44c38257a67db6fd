"""A module per corpus: each name parser on files named by its corpus's published convention, the
published design checked, the licence said, `serkit data cite`, and a run on real speech (EMO-DB's
audio under CREMA-D's names, its emotions mapped onto CREMA-D's)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import EMODB, need

from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.corpora.banglaser import BanglaSer
from serkit.corpora.crema_d import CremaD
from serkit.corpora.emov_db import EmovDb
from serkit.corpora.mesd import Mesd
from serkit.corpora.savee import Savee
from serkit.corpora.shemo import Shemo
from serkit.corpora.subesco import Subesco
from serkit.corpora.tess import Tess


def _write(folder: Path, names: list[str]) -> Path:
    """Short tones under the given names (the parsers read names; the audio is beside the point here)."""
    wave = (0.1 * np.sin(np.linspace(0, 200 * np.pi, 8000))).astype(np.float32)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / name, wave, 16000)
    return folder


CASES = [
    (CremaD, ["1001_DFA_ANG_XX.wav", "1091_IEO_SAD_HI.wav", "1002_TIE_NEU_XX.wav"], ["1001", "1091", "1002"],
     ["anger", "sadness", "neutral"], {"sentence": "DFA", "level": "unspecified"}),
    (Tess, ["OAF_back_angry.wav", "YAF_youth_ps.wav", "OAF_Bath_Neutral.wav"], ["OAF", "YAF", "OAF"],
     ["anger", "pleasant_surprise", "neutral"], {"gender": "female", "sentence": "back", "age": "64"}),
    (Savee, ["DC_a01.wav", "JK_sa15.wav", "KL/su03.wav"], ["DC", "JK", "KL"],
     ["anger", "sadness", "surprise"], {"gender": "male", "number": "01"}),
    (Subesco, ["F_02_MONIKA_S_1_NEUTRAL_5.wav", "M_10_RAHIM_S_10_ANGER_1.wav", "F_02_MONIKA_S_3_SURPRISE_2.wav"],
     ["F_02_MONIKA", "M_10_RAHIM", "F_02_MONIKA"], ["neutral", "anger", "surprise"],
     {"gender": "female", "sentence": "1", "take": "5"}),
    (Shemo, ["F01A01.wav", "M45W12.wav", "F01F03.wav"], ["F01", "M45", "F01"], ["anger", "surprise", "fear"],
     {"gender": "female", "item": "01"}),
    (Mesd, ["Anger_C_A_abajo.wav", "Sadness_F_B_casa.wav", "Neutral_M_A_sol.wav"], ["child", "female", "male"],
     ["anger", "sadness", "neutral"], {"voice": "child", "word_corpus": "A", "sentence": "abajo"}),
    (BanglaSer, ["03-01-02-01-02-01-17.wav", "03-01-05-02-01-03-34.wav", "03-01-04-01-03-02-01.wav"],
     ["17", "34", "01"], ["sadness", "neutral", "surprise"], {"intensity": "normal", "statement": "02"}),
    (EmovDb,
     ["bea_Amused/amused_1-15_0001.wav", "josh_Sleepy/sleepiness_57-84_0070.wav", "sam_Angry/anger_1-28_0003.wav"],
     ["bea", "josh", "sam"], ["amusement", "sleepiness", "anger"], {"gender": "female", "sentence": "0001"}),
]  # fmt: skip


@pytest.mark.parametrize(("corpus", "names", "speakers", "labels", "meta"), CASES, ids=lambda c: getattr(c, "name", ""))
def test_each_corpus_reads_its_published_names(tmp_path, corpus, names, speakers, labels, meta):
    root = _write(tmp_path / corpus.name, [*names, "notes_or_odd.wav"])
    scan = corpus(root=str(root)).scan()
    by_name = {Path(u.path).name: u for u in scan.utterances}
    found = [by_name[Path(n).name] for n in names]
    assert [u.speaker for u in found] == speakers and [u.label for u in found] == labels
    assert meta.items() <= found[0].meta.items()
    assert scan.labels == list(corpus.labels) and [Path(p).name for p in scan.unmatched] == ["notes_or_odd.wav"]
    assert f"licence: {corpus.licence}" in scan.notes and corpus.citation.startswith("@")
    if corpus.published:  # three files are not the published corpus, and it says so
        assert any(w.startswith("class counts differ from the published corpus") for w in scan.warnings)
    kept = corpus(root=str(root), emotions=[labels[0]]).scan()
    assert {u.label for u in kept.utterances} == {labels[0]}


def test_the_releases_known_odd_names_are_read(tmp_path):
    """Names the released corpora hold beside their conventions: SUBESCO spells anger ANGRY and has one
    "3].wav"; CREMA-D has one level "X"; TESS has one "OA_" for OAF."""
    subesco = Subesco(
        root=str(_write(tmp_path / "s", ["M_01_RAHIM_S_1_ANGRY_1.wav", "F_02_MONIKA_S_2_SURPRISE_3].wav"]))
    )
    assert [u.label for u in subesco.scan().utterances] == ["surprise", "anger"]
    (crema,) = CremaD(root=str(_write(tmp_path / "c", ["1040_ITH_SAD_X.wav"]))).scan().utterances
    assert crema.label == "sadness" and crema.meta["level"] == "unspecified"
    (tess,) = Tess(root=str(_write(tmp_path / "t", ["OAF_neutral/OA_bite_neutral.wav"]))).scan().utterances
    assert tess.speaker == "OAF" and tess.label == "neutral"


def test_a_folder_without_the_corpus_says_where_to_get_it(tmp_path):
    _write(tmp_path, ["something.wav"])
    with pytest.raises(SerkitError, match=r"no TESS files \(e.g. OAF_back_angry.wav\) under .*Borealis"):
        Tess(root=str(tmp_path)).scan()


def test_non_commercial_licences_and_the_two_speaker_design_are_said(tmp_path):
    scan = Tess(root=str(_write(tmp_path, ["OAF_back_angry.wav", "YAF_back_sad.wav"]))).scan()
    assert "TESS's licence forbids commercial use" in scan.notes
    assert any(
        note.startswith("two speakers: a speaker-independent protocol can only leave one") for note in scan.notes
    )


def test_crema_d_takes_sex_and_age_from_its_demographics(tmp_path):
    root = _write(tmp_path / "AudioWAV", ["1001_DFA_ANG_XX.wav"])
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
    )
    (utterance,) = CremaD(root=str(root)).scan().utterances
    assert utterance.meta["gender"] == "male" and utterance.meta["age"] == "51"


def test_data_cite_and_data_check(cli_runner, tmp_path):
    result = cli_runner.invoke(cli, ["data", "cite", "crema_d"])
    assert result.exit_code == 0 and result.output.startswith("@article{cao2014crema,")
    assert "Livingstone" in cli_runner.invoke(cli, ["data", "cite", "ravdess"]).output
    missing = cli_runner.invoke(cli, ["data", "cite", "manifest"])
    assert missing.exit_code == 1 and "records no citation" in missing.output
    root = _write(tmp_path / "tess", ["OAF_back_angry.wav", "YAF_back_sad.wav"])
    checked = json.loads(cli_runner.invoke(cli, ["data", "check", "tess", str(root), "--json"]).stdout)
    assert f"licence: {Tess.licence}" in checked["notes"] and "non-commercial" in Tess.licence


@pytest.mark.slow
def test_a_run_on_real_speech_named_as_crema_d(cli_runner, tmp_path):
    """EMO-DB's recordings of four speakers, renamed by CREMA-D's convention (actor 10SS, sentence code
    from EMO-DB's text, emotion mapped onto CREMA-D's six), trained and tested leaving speakers out."""
    letters = {"W": "ANG", "E": "DIS", "A": "FEA", "F": "HAP", "N": "NEU", "T": "SAD"}
    texts = ["a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10"]  # EMO-DB's ten
    codes = dict(zip(texts, ["DFA", "IEO", "IOM", "ITH", "ITS", "IWL", "IWW", "MTI", "TAI", "TIE"], strict=True))
    root = tmp_path / "AudioWAV"
    root.mkdir()
    for path in sorted(need(EMODB).glob("*.wav")):
        speaker, text, letter = path.name[:2], path.name[2:5], path.name[5]
        if speaker in ("03", "08", "09", "10") and letter in letters:
            target = root / f"10{speaker}_{codes[text]}_{letters[letter]}_XX.wav"
            if not target.exists():
                shutil.copy(path, target)
    args = ["run", str(Path(__file__).resolve().parents[2] / "recipes" / "egemaps-svm.toml")]
    for override in (
        f"dataset={{name = 'crema_d', root = '{root}'}}",
        "protocol={name = 'loso', missing_test_classes = 'warn'}",
        "features={name = 'five_spectral'}",
        "model={name = 'logistic_regression'}",
        "normalise.scope=band",
        "report.explain=false",
        f"run.output={tmp_path / 'runs'}",
        f"run.cache_dir={tmp_path / 'cache'}",
    ):
        args += ["--set", override]
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["dataset"]["labels"] == list(CremaD.labels) and summary["dataset"]["speakers"] == 4
    assert summary["metrics"]["uar"] > 1 / 6  # above chance on real speech
    assert any(note.startswith("licence: Open Database License") for note in summary["notes"])
    assert json.loads((run / "environment.json").read_text())["dataset_licence"] == CremaD.licence
