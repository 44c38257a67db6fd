"""TESS: 2 800 clips, two women (OAF, aged 64; YAF, aged 26) saying "Say the word ..." in seven emotions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from serkit.core.components import DownloadSource, Utterance
from serkit.core.params import param
from serkit.corpora.named import NamedCorpus

EMOTIONS = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "neutral": "neutral",
    "ps": "pleasant_surprise",
    "sad": "sadness",
}


@dataclass(frozen=True, kw_only=True)
class Tess(NamedCorpus):
    """Toronto emotional speech set (OAF_back_angry.wav: speaker, word, emotion; ps = pleasant surprise)."""

    name = "tess"
    benchmark_protocol: ClassVar[dict[str, Any]] = {"name": "loso"}
    source = DownloadSource(
        url="https://borealis.ca/api/access/dataset/:persistentId/?persistentId=doi:10.5683/SP2/E8H2MF",
        filename="tess.zip",
        licence="non-commercial (CC BY-NC-ND 4.0 or CC BY-NC 4.0; read its Borealis record)",
    )
    root: str = param(help="the folder holding the .wav files (any subfolders)")
    title = "TESS"
    example = "OAF_back_angry.wav"
    pattern = re.compile(r"^(OAF|OA|YAF)_([A-Za-z]+)_(angry|disgust|fear|happy|neutral|ps|sad)\.wav$", re.IGNORECASE)
    labels = tuple(EMOTIONS.values())
    published = dict.fromkeys(EMOTIONS.values(), 400)
    speakers = 2
    licence = (
        "non-commercial: CC BY-NC-ND 4.0 or CC BY-NC 4.0 by the source (read its Borealis record; "
        "Dupuis & Pichora-Fuller 2010)"
    )
    non_commercial = True
    obtain = "get it from the University of Toronto's Borealis repository (doi:10.5683/SP2/E8H2MF)"
    citation = """@misc{dupuis2010tess,
  author = {Dupuis, Kate and Pichora-Fuller, M. Kathleen},
  title = {Toronto Emotional Speech Set ({TESS})},
  publisher = {University of Toronto, Psychology Department},
  year = {2010}, doi = {10.5683/SP2/E8H2MF}
}"""

    def utterance(self, path: Path, match: re.Match[str]) -> Utterance | None:
        speaker, word, emotion = match.groups()
        speaker = "OAF" if speaker.upper() == "OA" else speaker  # the release's one OA_bite_neutral.wav
        meta = {"gender": "female", "sentence": word.lower(), "age": "64" if speaker.upper() == "OAF" else "26"}
        return Utterance(str(path), EMOTIONS[emotion.lower()], speaker.upper(), meta)

    def design_notes(self, utterances: list[Utterance]) -> list[str]:
        return [
            "two speakers: a speaker-independent protocol can only leave one speaker out (loso: two folds, "
            "each trained on one woman); a random split is speaker-dependent, and every word occurs in every emotion"
        ]
