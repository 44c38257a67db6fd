"""CREMA-D: 7 442 clips of 91 actors (1001-1091), 12 sentences, six emotions at up to four levels."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from serkit.core.components import Utterance
from serkit.core.fileio import read_csv_rows
from serkit.core.params import param
from serkit.corpora.named import NamedCorpus

EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral", "SAD": "sadness"}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}  # 1040_ITH_SAD_X.wav


@dataclass(frozen=True, kw_only=True)
class CremaD(NamedCorpus):
    """CREMA-D (1001_DFA_ANG_XX.wav: actor, sentence, emotion, level); sex and age from VideoDemographics.csv."""

    name = "crema_d"
    benchmark_protocol: ClassVar[dict[str, Any]] = {"name": "speaker_kfold", "folds": 5}
    root: str = param(help="the AudioWAV folder (VideoDemographics.csv beside or inside it gives sex and age)")
    title = "CREMA-D"
    example = "1001_DFA_ANG_XX.wav"
    pattern = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_(LO|MD|HI|XX|X)\.wav$")
    labels = tuple(EMOTIONS.values())
    published: ClassVar[dict[str, int] | None] = {**dict.fromkeys(EMOTIONS.values(), 1271), "neutral": 1087}
    speakers = 91
    licence = "Open Database License (ODbL) 1.0, contents under the Database Contents License (Cao et al. 2014)"
    obtain = (
        "get it from github.com/CheyneyComputerScience/CREMA-D (Git LFS) and point dataset.root at its AudioWAV folder"
    )
    citation = """@article{cao2014crema,
  author = {Cao, Houwei and Cooper, David G. and Keutmann, Michael K. and Gur, Ruben C.
            and Nenkova, Ani and Verma, Ragini},
  title = {{CREMA-D}: Crowd-sourced Emotional Multimodal Actors Dataset},
  journal = {IEEE Transactions on Affective Computing},
  volume = {5}, number = {4}, pages = {377--390}, year = {2014}
}"""

    @cached_property
    def demographics(self) -> dict[str, dict[str, str]]:
        """ActorID -> sex and age, from VideoDemographics.csv where it is found (empty otherwise)."""
        root = Path(self.root).expanduser()
        for candidate in (root / "VideoDemographics.csv", root.parent / "VideoDemographics.csv"):
            if candidate.is_file():
                rows = read_csv_rows(candidate, ("ActorID", "Sex", "Age"), "dataset.root")
                return {row["ActorID"]: {"gender": row["Sex"].lower(), "age": row["Age"]} for row in rows}
        return {}

    def utterance(self, path: Path, match: re.Match[str]) -> Utterance | None:
        actor, sentence, emotion, level = match.groups()
        if not 1001 <= int(actor) <= 1091:
            return None
        meta = {"sentence": sentence, "level": LEVELS[level], **self.demographics.get(actor, {})}
        return Utterance(str(path), EMOTIONS[emotion], actor, meta)
