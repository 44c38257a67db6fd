"""IEMOCAP: five sessions of dyadic conversation (improvised and scripted), each turn labelled with a
category by evaluators and with valence, activation and dominance (1-5). A local-only reader: the corpus
is released by USC's SAIL lab on request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from serkit.core.components import Dataset, Scan, Utterance
from serkit.core.errors import SerkitError
from serkit.core.params import param
from serkit.corpora.named import count_warnings, restrict

CODES = {
    "ang": "anger",
    "hap": "happiness",
    "exc": "excitement",
    "sad": "sadness",
    "neu": "neutral",
    "fru": "frustration",
    "sur": "surprise",
    "fea": "fear",
    "dis": "disgust",
    "oth": "other",
}
#: The label of a turn whose evaluators agreed on no category (xxx), kept with ``unagreed``.
UNAGREED = "no agreement"
#: IEMOCAP's usual four classes: excitement merged into happiness.
FOUR = ("anger", "happiness", "neutral", "sadness")
#: One line of dialog/EmoEvaluation/<dialog>.txt: [start - end] turn category [valence, activation, dominance].
NUMBER = r"(\d+\.?\d*)"
LINE = re.compile(
    rf"^\[{NUMBER} - {NUMBER}\]\t(Ses(\d\d)[FM]_\w+_([FM])\d+\w*)\t(\w+)\t\[{NUMBER}, {NUMBER}, {NUMBER}\]"
)
TURN = re.compile(r"^(Ses\d\d[FM]_\w+?)_[FM]\d+\w*$")


@dataclass(frozen=True, kw_only=True)
class Iemocap(Dataset):
    """IEMOCAP (Session1-5; Ses01F_impro01_F000.wav, labels and valence/activation/dominance from
    dialog/EmoEvaluation/*.txt); speaker = session and sex (01F)."""

    name = "iemocap"
    benchmark_protocol: ClassVar[dict[str, Any]] = {"name": "logo", "column": "session"}  # leave one session out
    target_scale = (1.0, 5.0)  # evaluators' self-assessment manikins
    root: str = param(help="the IEMOCAP_full_release folder (holding Session1 ... Session5)")
    classes: str = param(
        "four",
        "four: anger, happiness (excitement merged into it), neutral, sadness, the usual set (5 531 turns); "
        "all: every category evaluators agreed on, excitement apart",
        choices=("four", "all"),
    )
    emotions: list[str] = param([], "emotions to keep (after classes); empty keeps all")
    unagreed: bool = param(
        False,
        "keep the turns whose evaluators agreed on no category, labelled 'no agreement' (their dimensional "
        "labels are sound: for a regression); with classes = 'all', every turn (10 039)",
    )
    citation = """@article{busso2008iemocap,
  author = {Busso, Carlos and Bulut, Murtaza and Lee, Chi-Chun and Kazemzadeh, Abe and Mower, Emily and Kim, Samuel
            and Chang, Jeannette N. and Lee, Sungbok and Narayanan, Shrikanth S.},
  title = {{IEMOCAP}: interactive emotional dyadic motion capture database},
  journal = {Language Resources and Evaluation}, volume = {42}, number = {4}, pages = {335--359}, year = {2008}
}"""
    obtain = (
        "request it from sail.usc.edu/iemocap (a licence agreement) and point dataset.root at its "
        "IEMOCAP_full_release folder"
    )
    licence = "IEMOCAP's release agreement with USC SAIL: research only, no redistribution"

    def scan(self) -> Scan:
        root = Path(self.root).expanduser()
        sessions = sorted(root.glob("Session[1-5]"))
        if not sessions:
            raise SerkitError(
                f"dataset.root: no IEMOCAP sessions (Session1 ... Session5) under '{self.root}'; {self.obtain}"
            )
        utterances, ignored, missing = [], [], []
        for session in sessions:
            for labels in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
                for line in labels.read_text(encoding="utf-8", errors="replace").splitlines():
                    found = self._turn(session, line)
                    if found is None:
                        continue
                    utterance, kept = found
                    if not Path(utterance.path).is_file():
                        missing.append(utterance.path)
                    elif kept:
                        utterances.append(utterance)
                    else:
                        ignored.append(utterance.path)
        if not utterances:
            looked = (
                f"{len(missing)} labelled turn(s) name audio that is not there, e.g. {missing[0]} (serkit reads "
                "SessionN/sentences/wav/<dialog>/<turn>.wav)"
                if missing
                else "no labels in SessionN/dialog/EmoEvaluation/*.txt"
            )
            raise SerkitError(f"dataset.root: no labelled IEMOCAP turns with audio under '{self.root}': {looked}")
        order = (*(FOUR if self.classes == "four" else dict.fromkeys(CODES.values())), UNAGREED)
        present = [label for label in order if any(u.label == label for u in utterances)]
        utterances, present = restrict(utterances, present, self.emotions)
        notes = [
            f"{len(utterances)} turns from {len({u.speaker for u in utterances})} of 10 speakers "
            f"({'four classes, excitement merged into happiness' if self.classes == 'four' else 'every category'})",
            f"left out {len(ignored)} turn(s) without an agreed category in the chosen classes "
            + ("(others)" if self.unagreed else "(xxx, or others; dataset.unagreed = true keeps xxx)"),
            f"licence: {self.licence}",
            "IEMOCAP's licence forbids commercial use",
        ]
        warnings = count_warnings(utterances, present, None)
        if missing:
            warnings.append(f"{len(missing)} labelled turn(s) have no audio file, e.g. {missing[0]}")
        return Scan(utterances, present, notes, warnings, ignored)

    def _turn(self, session: Path, line: str) -> tuple[Utterance, bool] | None:
        """A labelled turn of one EmoEvaluation line, and whether the chosen classes keep it (None: no turn)."""
        match = LINE.match(line)
        if not match:
            return None
        start, end, turn, number, sex, code, valence, activation, dominance = match.groups()
        dialog = TURN.match(turn)
        path = session / "sentences" / "wav" / (dialog.group(1) if dialog else turn) / f"{turn}.wav"
        label = UNAGREED if code == "xxx" and self.unagreed else CODES.get(code)
        if label == "excitement" and self.classes == "four":
            label = "happiness"
        kept = label is not None and (self.classes == "all" or label in (*FOUR, UNAGREED))
        meta = {
            "gender": "female" if sex == "F" else "male",
            "session": number,
            "dialog": "improvised" if "_impro" in turn else "scripted",
            "valence": valence,
            "arousal": activation,
            "dominance": dominance,
            "start": start,
            "end": end,
        }
        return Utterance(str(path), label or code, f"{number}{sex}", meta), kept
