"""MSP-Podcast: speaking turns from podcasts, each with a consensus category and arousal, valence and
dominance (1-7), in official partitions. A local-only reader: the corpus is licensed by UT Dallas."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from serkit.core.components import Dataset, Scan, Utterance
from serkit.core.errors import SerkitError
from serkit.core.fileio import read_csv_rows
from serkit.core.params import param
from serkit.corpora.iemocap import UNAGREED
from serkit.corpora.named import count_warnings, restrict

CLASSES = {
    "A": "anger",
    "S": "sadness",
    "H": "happiness",
    "U": "surprise",
    "F": "fear",
    "D": "disgust",
    "C": "contempt",
    "N": "neutral",
    "O": "other",
}
COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")


@dataclass(frozen=True, kw_only=True)
class MspPodcast(Dataset):
    """MSP-Podcast (Labels/labels_consensus.csv: FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender,
    Split_Set; audio in Audios/); its partitions are each utterance's 'split' (the partition protocol)."""

    name = "msp_podcast"
    benchmark_protocol: ClassVar[dict[str, Any]] = {
        "name": "partition",
        "column": "split",
        "train": ["Train"],
        "test": "Test1",
    }
    target_scale = (1.0, 7.0)  # the consensus of seven-point scales
    root: str = param(help="the corpus folder (holding Labels/labels_consensus.csv and Audios/)")
    emotions: list[str] = param([], "emotions to keep; empty keeps every agreed category (X, no agreement, is out)")
    unagreed: bool = param(
        False,
        "keep the turns whose evaluators agreed on no category, labelled 'no agreement' (their dimensional "
        "labels are sound: for a regression)",
    )
    obtain = (
        "request an academic licence from UT Dallas's MSP lab (ecs.utdallas.edu/research/researchlabs/msp-lab) "
        "and point dataset.root at the corpus folder"
    )
    licence = "MSP-Podcast's academic licence from UT Dallas: research only, no redistribution"
    citation = """@article{lotfian2019msppodcast,
  author = {Lotfian, Reza and Busso, Carlos},
  title = {Building Naturalistic Emotionally Balanced Speech Corpus by Retrieving Emotional Speech from Existing
           Podcast Recordings},
  journal = {IEEE Transactions on Affective Computing}, volume = {10}, number = {4}, pages = {471--483}, year = {2019}
}"""

    def scan(self) -> Scan:
        root = Path(self.root).expanduser()
        labels_file = root / "Labels" / "labels_consensus.csv"
        if not labels_file.is_file():
            raise SerkitError(f"dataset.root: no Labels/labels_consensus.csv under '{self.root}'; {self.obtain}")
        rows = read_csv_rows(labels_file, tuple(COLUMNS), "dataset.root")
        utterances, ignored, missing = [], [], []
        for row in rows:
            path = root / "Audios" / row["FileName"]
            code = row["EmoClass"].strip()
            label = UNAGREED if code == "X" and self.unagreed else CLASSES.get(code)
            if label is None:
                ignored.append(str(path))  # X: the annotators did not agree
            elif not path.is_file():
                missing.append(str(path))
            else:
                utterances.append(self._utterance(path, label, row))
        if not utterances:
            raise SerkitError(f"dataset.root: no labelled MSP-Podcast audio under '{root / 'Audios'}'")
        present = [label for label in (*CLASSES.values(), UNAGREED) if any(u.label == label for u in utterances)]
        utterances, present = restrict(utterances, present, self.emotions)
        unknown = sum(u.meta["speaker_known"] == "no" for u in utterances)
        notes = [
            f"{len(utterances)} turns, {len({u.speaker for u in utterances}) - unknown} known speakers",
            f"left out {len(ignored)} turn(s) without an agreed category (X)"
            + ("" if self.unagreed else "; dataset.unagreed = true keeps them"),
            f"licence: {self.licence}",
            "MSP-Podcast's licence forbids commercial use",
        ]
        if unknown:
            notes.append(f"{unknown} turn(s) have no speaker id: each counts as a speaker of its own")
        warnings = count_warnings(utterances, present, None)
        if missing:
            warnings.append(f"{len(missing)} labelled turn(s) have no audio file, e.g. {missing[0]}")
        return Scan(utterances, present, notes, warnings, ignored)

    @staticmethod
    def _utterance(path: Path, label: str, row: dict[str, str]) -> Utterance:
        speaker = row["SpkrID"].strip()
        known = speaker not in ("", "Unknown", "unknown")
        meta = {
            "gender": row["Gender"].strip().lower() or "unknown",
            "arousal": row["EmoAct"],
            "valence": row["EmoVal"],
            "dominance": row["EmoDom"],
            "split": row["Split_Set"].strip(),
            "speaker_known": "yes" if known else "no",
        }
        return Utterance(str(path), label, speaker if known else f"unknown-{path.stem}", meta)
