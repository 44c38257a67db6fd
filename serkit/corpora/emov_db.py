"""EmoV-DB: four North American English speakers reading CMU Arctic sentences in five styles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from serkit.core.components import DownloadSource, Utterance
from serkit.core.params import param
from serkit.corpora.named import NamedCorpus

#: The emotion in file names (amused_1-15_0001.wav) and in folder names (bea_Amused).
EMOTIONS = {
    "amused": "amusement",
    "anger": "anger",
    "disgust": "disgust",
    "neutral": "neutral",
    "sleepiness": "sleepiness",
}
FOLDERS = {"Amused": "amused", "Angry": "anger", "Disgusted": "disgust", "Neutral": "neutral", "Sleepy": "sleepiness"}
GENDERS = {"bea": "female", "jenie": "female", "josh": "male", "sam": "male"}
#: OpenSLR's archives (resource 115): one per speaker and style; josh recorded three styles.
ARCHIVES = tuple(
    f"{speaker}_{style}"
    for speaker, styles in (
        ("bea", "Amused Angry Disgusted Neutral Sleepy"),
        ("jenie", "Amused Angry Disgusted Neutral Sleepy"),
        ("josh", "Amused Neutral Sleepy"),
        ("sam", "Amused Angry Disgusted Neutral Sleepy"),
    )
    for style in styles.split()
)


@dataclass(frozen=True, kw_only=True)
class EmovDb(NamedCorpus):
    """EmoV-DB (bea_Amused/amused_1-15_0001.wav: the folder names speaker and style, the file the style,
    the sentence range and the sentence number)."""

    name = "emov_db"
    source = DownloadSource(
        url="https://www.openslr.org/resources/115/bea_Amused.tar.gz",
        filename="bea_Amused.tar.gz",
        parts=tuple(f"{archive}.tar.gz" for archive in ARCHIVES[1:]),
        folders=True,
        licence="non-commercial research only (Adigwe et al. 2018)",
    )
    root: str = param(help="the folder holding the <speaker>_<Emotion> folders")
    title = "EmoV-DB"
    example = "bea_Amused/amused_1-15_0001.wav"
    pattern = re.compile(r"^(amused|anger|disgust|neutral|sleepiness)_(\d+)-(\d+)_(\d{4})\.wav$", re.IGNORECASE)
    labels = tuple(EMOTIONS.values())
    published = None
    speakers = 4
    licence = "non-commercial research only (Adigwe et al. 2018; read the licence of the release you use)"
    non_commercial = True
    obtain = (
        "get it from OpenSLR (resource 115) or its GitHub page, extract every <speaker>_<Emotion> archive into "
        "one folder and point dataset.root at it"
    )
    citation = """@article{adigwe2018emovdb,
  author = {Adigwe, Adaeze and Tits, No{\\'e} and El Haddad, Kevin and Ostadabbas, Sarah and Dutoit, Thierry},
  title = {The Emotional Voices Database: Towards Controlling the Emotion Dimension in Voice Generation Systems},
  journal = {arXiv preprint arXiv:1806.09514}, year = {2018}
}"""

    def utterance(self, path: Path, match: re.Match[str]) -> Utterance | None:
        emotion, _, _, number = match.groups()
        speaker, _, style = path.parent.name.partition("_")
        if speaker.lower() not in GENDERS or FOLDERS.get(style) != emotion.lower():
            return None  # a file outside its <speaker>_<Emotion> folder: speaker unknown
        meta = {"gender": GENDERS[speaker.lower()], "sentence": number}
        return Utterance(str(path), EMOTIONS[emotion.lower()], speaker.lower(), meta)

    def design_notes(self, utterances: list[Utterance]) -> list[str]:
        styles: dict[str, set[str]] = {}
        for u in utterances:
            styles.setdefault(u.speaker, set()).add(u.label)
        short = sorted(s for s, found in styles.items() if len(found) < len(self.labels))
        if not short:
            return []
        return [f"not every speaker records every style ({', '.join(short)}): stratify or report per speaker"]
