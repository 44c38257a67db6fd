"""ShEMO (Persian): 3 000 clips of 87 speakers from radio plays, six emotions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from serkit.core.components import DownloadSource, Utterance
from serkit.core.params import param
from serkit.corpora.named import NamedCorpus

EMOTIONS = {"A": "anger", "F": "fear", "H": "happiness", "N": "neutral", "S": "sadness", "W": "surprise"}


@dataclass(frozen=True, kw_only=True)
class Shemo(NamedCorpus):
    """Sharif Emotional Speech Database (F01A01.wav: sex, speaker, emotion letter, utterance)."""

    name = "shemo"
    source = DownloadSource(
        url="https://github.com/mansourehk/ShEMO/raw/master/female.zip",
        filename="female.zip",
        parts=("male.zip",),
        licence="free for research; see the ShEMO repository",
    )
    root: str = param(help="the folder holding the female and male folders (or the .wav files)")
    title = "ShEMO"
    example = "F01A01.wav"
    pattern = re.compile(r"^([FM])(\d\d)([AFHNSW])(\d\d)\.wav$")
    labels = tuple(EMOTIONS.values())
    published = None  # 3 000 clips; the classes are far from balanced (fear is rare)
    speakers = 87
    licence = "free for research; see the ShEMO repository (Mohamad Nezami et al. 2019)"
    obtain = "get it from github.com/mansourehk/ShEMO and point dataset.root at the folder holding its .wav files"
    citation = """@article{nezami2019shemo,
  author = {Mohamad Nezami, Omid and Jamshid Lou, Paria and Karami, Mansoureh},
  title = {{ShEMO}: a large-scale validated database for {Persian} speech emotion detection},
  journal = {Language Resources and Evaluation}, volume = {53}, number = {1}, pages = {1--16}, year = {2019}
}"""

    def utterance(self, path: Path, match: re.Match[str]) -> Utterance | None:
        sex, number, emotion, item = match.groups()
        meta = {"gender": "female" if sex == "F" else "male", "item": item}
        return Utterance(str(path), EMOTIONS[emotion], f"{sex}{number}", meta)
