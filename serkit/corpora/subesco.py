"""SUBESCO (Bangla): 7 000 clips, 20 speakers (10 female, 10 male), 10 sentences, seven emotions, 5 takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from serkit.core.components import DownloadSource, Utterance
from serkit.core.params import param
from serkit.corpora.named import NamedCorpus

EMOTIONS = {
    "ANGER": "anger",
    "ANGRY": "anger",  # the released files' spelling
    "DISGUST": "disgust",
    "FEAR": "fear",
    "HAPPY": "happiness",
    "NEUTRAL": "neutral",
    "SAD": "sadness",
    "SURPRISE": "surprise",
}


@dataclass(frozen=True, kw_only=True)
class Subesco(NamedCorpus):
    """SUST Bangla Emotional Speech Corpus (F_02_MONIKA_S_1_NEUTRAL_5.wav: sex, speaker number, name, S,
    sentence, emotion, take)."""

    name = "subesco"
    source = DownloadSource(
        url="https://zenodo.org/records/4526477/files/SUBESCO.zip?download=1",
        filename="SUBESCO.zip",
        licence="CC BY 4.0 (Sultana et al. 2021)",
    )
    root: str = param(help="the folder holding the .wav files")
    title = "SUBESCO"
    example = "F_02_MONIKA_S_1_NEUTRAL_5.wav"
    pattern = re.compile(r"^([FM])_(\d\d)_([A-Za-z]+)_S_(\d{1,2})_([A-Z]+)_(\d)\]?\.wav$")  # one file ends "3].wav"
    labels = tuple(dict.fromkeys(EMOTIONS.values()))
    published = dict.fromkeys(EMOTIONS.values(), 1000)
    speakers = 20
    licence = "CC BY 4.0 (Sultana et al. 2021)"
    obtain = "get it from Zenodo (doi:10.5281/zenodo.4526477) and point dataset.root at its folder of .wav files"
    citation = """@article{sultana2021subesco,
  author = {Sultana, Sadia and Rahman, M. Shahidur and Selim, M. Reza and Iqbal, M. Zafar},
  title = {{SUST Bangla Emotional Speech Corpus (SUBESCO)}: An audio-only emotional speech corpus for {Bangla}},
  journal = {PLOS ONE}, volume = {16}, number = {4}, pages = {e0250173}, year = {2021}
}"""

    def utterance(self, path: Path, match: re.Match[str]) -> Utterance | None:
        sex, number, speaker, sentence, emotion, take = match.groups()
        if emotion not in EMOTIONS:
            return None
        meta = {"gender": "female" if sex == "F" else "male", "sentence": sentence, "take": take}
        return Utterance(str(path), EMOTIONS[emotion], f"{sex}_{number}_{speaker}", meta)
