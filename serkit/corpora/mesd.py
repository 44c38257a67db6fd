"""MESD (Mexican Spanish): 864 single words, six emotions, female, male and child voices."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from serkit.core.components import Utterance
from serkit.core.params import param
from serkit.corpora.named import NamedCorpus

EMOTIONS = {
    "Anger": "anger",
    "Disgust": "disgust",
    "Fear": "fear",
    "Happiness": "happiness",
    "Neutral": "neutral",
    "Sadness": "sadness",
}
VOICES = {"F": "female", "M": "male", "C": "child"}


@dataclass(frozen=True, kw_only=True)
class Mesd(NamedCorpus):
    """Mexican Emotional Speech Database (Anger_C_A_abajo.wav: emotion, voice F/M/C, word corpus A/B, word)."""

    name = "mesd"
    root: str = param(help="the folder holding the .wav files")
    title = "MESD"
    example = "Anger_C_A_abajo.wav"
    pattern = re.compile(r"^(Anger|Disgust|Fear|Happiness|Neutral|Sadness)_([FMC])_([AB])_(.+)\.wav$")
    labels = tuple(EMOTIONS.values())
    published = dict.fromkeys(EMOTIONS.values(), 144)
    speakers = 3  # voices named in the files (11 speakers: 3 women, 2 men, 6 children)
    licence = "CC BY 4.0 (Duville et al. 2021)"
    obtain = "get it from Mendeley Data (doi:10.17632/cy34mh68j9) and point dataset.root at its folder of .wav files"
    citation = """@article{duville2021mesd,
  author = {Duville, Mathilde Marie and Alonso-Valerdi, Luz Mar{\\'i}a and Ibarra-Zarate, David I.},
  title = {Mexican Emotional Speech Database Based on Semantic, Frequency, Familiarity, Concreteness,
           and Cultural Shaping of Affective Prosody},
  journal = {Data}, volume = {6}, number = {12}, pages = {130}, year = {2021}
}"""

    def utterance(self, path: Path, match: re.Match[str]) -> Utterance | None:
        emotion, voice, corpus, word = match.groups()
        meta = {"voice": VOICES[voice], "word_corpus": corpus, "sentence": word}
        if voice != "C":
            meta["gender"] = VOICES[voice]
        return Utterance(str(path), EMOTIONS[emotion], VOICES[voice], meta)

    def design_notes(self, utterances: list[Utterance]) -> list[str]:
        return [
            "the file names name a voice (female, male, child), not one of the 11 speakers behind them: serkit "
            "takes each voice as one speaker, so speaker-independent protocols hold out a whole voice"
        ]
