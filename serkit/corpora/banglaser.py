"""BanglaSER: 1 467 clips of 34 speakers, five emotions, in RAVDESS's seven-field naming."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from serkit.core.components import Utterance
from serkit.core.params import param
from serkit.corpora.named import NamedCorpus

EMOTIONS = {"01": "happiness", "02": "sadness", "03": "anger", "04": "surprise", "05": "neutral"}


@dataclass(frozen=True, kw_only=True)
class BanglaSer(NamedCorpus):
    """BanglaSER (03-01-02-01-02-01-17.wav: modality, channel, emotion, intensity, statement, repetition,
    speaker; emotions 01 happy, 02 sad, 03 angry, 04 surprise, 05 neutral)."""

    name = "banglaser"
    root: str = param(help="the folder holding the .wav files (any subfolders)")
    title = "BanglaSER"
    example = "03-01-02-01-02-01-17.wav"
    pattern = re.compile(r"^(\d\d)-(\d\d)-(0[1-5])-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$")
    labels = tuple(EMOTIONS.values())
    published = None  # 1 467 clips; the class counts are not published per class
    speakers = 34
    licence = "CC BY 4.0 (Das et al. 2022, Mendeley Data)"
    obtain = (
        "get it from Mendeley Data (doi:10.17632/t9h6p943xy) and point dataset.root at the folder of its .wav files"
    )
    citation = """@article{das2022banglaser,
  author = {Das, Rakesh Kumar and Islam, Nahidul and Ahmed, Md. Rayhan and Islam, Salekul and Shatabda, Swakkhar
            and Islam, A. K. M. Muzahidul},
  title = {{BanglaSER}: A speech emotion recognition dataset for the {Bangla} language},
  journal = {Data in Brief}, volume = {42}, pages = {108091}, year = {2022}
}"""

    def utterance(self, path: Path, match: re.Match[str]) -> Utterance | None:
        _, _, emotion, intensity, statement, repetition, speaker = match.groups()
        if not 1 <= int(speaker) <= 34:
            return None
        meta = {
            "intensity": "strong" if intensity == "02" else "normal",
            "statement": statement,
            "repetition": repetition,
        }
        return Utterance(str(path), EMOTIONS[emotion], speaker, meta)
