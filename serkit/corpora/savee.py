"""SAVEE: 480 clips of four male speakers (DC, JE, JK, KL), 120 each: 30 neutral, 15 of every other emotion."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from serkit.core.components import Utterance
from serkit.core.params import param
from serkit.corpora.named import NamedCorpus

EMOTIONS = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}
SPEAKERS = ("DC", "JE", "JK", "KL")


@dataclass(frozen=True, kw_only=True)
class Savee(NamedCorpus):
    """Surrey Audio-Visual Expressed Emotion (DC_a01.wav, or the published AudioData/DC/a01.wav)."""

    name = "savee"
    benchmark_protocol: ClassVar[dict[str, Any]] = {"name": "loso"}
    root: str = param(help="the AudioData folder (speaker folders DC, JE, JK, KL) or a folder of DC_a01.wav files")
    title = "SAVEE"
    example = "DC_a01.wav"
    pattern = re.compile(r"^(?:(DC|JE|JK|KL)_)?(sa|su|a|d|f|h|n)(\d\d)\.wav$")
    labels = tuple(EMOTIONS.values())
    published: ClassVar[dict[str, int] | None] = {
        label: 4 * (30 if label == "neutral" else 15) for label in EMOTIONS.values()
    }
    speakers = 4
    licence = "free for research on request (Jackson & Haq 2014)"
    obtain = "request it on the University of Surrey's SAVEE page and point dataset.root at its AudioData folder"
    citation = """@misc{jackson2014savee,
  author = {Jackson, Philip J. B. and Haq, Sanaul},
  title = {Surrey Audio-Visual Expressed Emotion ({SAVEE}) Database},
  publisher = {University of Surrey},
  year = {2014}
}"""

    def utterance(self, path: Path, match: re.Match[str]) -> Utterance | None:
        speaker, emotion, number = match.groups()
        speaker = speaker or path.parent.name
        if speaker not in SPEAKERS:
            return None
        return Utterance(str(path), EMOTIONS[emotion], speaker, {"gender": "male", "number": number})
