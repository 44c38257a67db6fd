"""Datasets: RAVDESS (audio-only speech) and Berlin EMO-DB, found by their file-name conventions."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from serkit.components import Dataset, Scan, Utterance
from serkit.errors import SerkitError
from serkit.hookspecs import hookimpl
from serkit.params import param

RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$", re.IGNORECASE)

EMODB_EMOTIONS = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
EMODB_COUNTS = {"anger": 127, "boredom": 81, "disgust": 46, "fear": 69, "happiness": 71, "sadness": 62, "neutral": 79}
EMODB_MALE = {"03", "10", "11", "12", "15"}
EMODB_SPEAKERS = {"03", "08", "09", "10", "11", "12", "13", "14", "15", "16"}
EMODB_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])\.wav$")


def wav_files(root: str, key: str = "dataset.root") -> list[Path]:
    """Every .wav file under ``root``, sorted; a SerkitError if the folder is missing."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise SerkitError(f"{key}: folder '{root}' does not exist")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".wav" and p.is_file())


def restrict(utterances: list[Utterance], labels: list[str], emotions: list[str]) -> tuple[list[Utterance], list[str]]:
    """Keep only the requested emotions (all when ``emotions`` is empty): the utterances and the class order."""
    unknown = sorted(set(emotions) - set(labels))
    if unknown:
        raise SerkitError(f"dataset.emotions: unknown emotion(s) {', '.join(unknown)} (known: {', '.join(labels)})")
    if not emotions:
        return utterances, labels
    return [u for u in utterances if u.label in emotions], [label for label in labels if label in emotions]


def odd_names_note(odd: list[str]) -> list[str]:
    return [f"{len(odd)} .wav file(s) do not follow the naming convention, e.g. {odd[0]}"] if odd else []


def count_notes(utterances: list[Utterance], labels: list[str], expected: dict[str, int] | None) -> list[str]:
    """Notes on class counts compared with a corpus's published counts."""
    counts = Counter(u.label for u in utterances)
    notes = []
    missing = [label for label in labels if counts[label] == 0]
    if missing:
        notes.append(f"no files for class(es): {', '.join(missing)}")
    if expected:
        off = [f"{k} {counts[k]}/{n}" for k, n in expected.items() if counts[k] != n]
        if off:
            notes.append("class counts differ from the published corpus: " + ", ".join(off))
    return notes


@dataclass(frozen=True, kw_only=True)
class Ravdess(Dataset):
    """RAVDESS audio-only speech (03-01-EE-II-SS-RR-AA.wav); speaker = actor, odd actors male."""

    name = "ravdess"
    root: str = param(help="folder holding the Actor_XX folders (or the .wav files)")
    emotions: list[str] = param([], "emotions to keep; empty keeps all eight")

    def scan(self) -> Scan:
        utterances, ignored, odd = [], [], []
        for path in wav_files(self.root):
            match = RAVDESS_NAME.match(path.name)
            if not match or match.group(3) not in RAVDESS_EMOTIONS or not 1 <= int(match.group(7)) <= 24:
                odd.append(str(path))
                continue
            modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
            if modality != "03" or channel != "01":
                ignored.append(str(path))  # video or song files
                continue
            meta = {
                "gender": "male" if int(actor) % 2 else "female",
                "intensity": "strong" if intensity == "02" else "normal",
                "statement": statement,
                "repetition": repetition,
            }
            utterances.append(Utterance(str(path), RAVDESS_EMOTIONS[emotion], actor, meta))
        if not utterances:
            raise SerkitError(f"dataset.root: no RAVDESS speech files (03-01-EE-II-SS-RR-AA.wav) under '{self.root}'")
        utterances, labels = restrict(utterances, list(RAVDESS_EMOTIONS.values()), self.emotions)
        actors = sorted({u.speaker for u in utterances})
        notes = [f"{len(utterances)} speech files from {len(actors)} of 24 actors"]
        per_actor = Counter(u.speaker for u in utterances)
        short = [a for a in actors if per_actor[a] != 60] if not self.emotions else []
        if short:
            notes.append(
                "actors without the full 60 speech files: " + ", ".join(f"{a} ({per_actor[a]})" for a in short)
            )
        full = len(actors) == 24 and not self.emotions
        notes += count_notes(utterances, labels, {k: 96 if k == "neutral" else 192 for k in labels} if full else None)
        notes += odd_names_note(odd)
        if ignored:
            notes.append(f"ignored {len(ignored)} song or video file(s)")
        return Scan(utterances, labels, notes, ignored)


@dataclass(frozen=True, kw_only=True)
class EmoDB(Dataset):
    """Berlin EMO-DB (SSTTTEV.wav: speaker, text, emotion letter, version)."""

    name = "emodb"
    root: str = param(help="folder holding the .wav files (the corpus's wav/ folder)")
    emotions: list[str] = param([], "emotions to keep; empty keeps all seven")

    def scan(self) -> Scan:
        utterances, odd = [], []
        for path in wav_files(self.root):
            match = EMODB_NAME.match(path.name)
            if not match or match.group(3) not in EMODB_EMOTIONS or match.group(1) not in EMODB_SPEAKERS:
                odd.append(str(path))
                continue
            speaker, text, letter, version = match.groups()
            meta = {"gender": "male" if speaker in EMODB_MALE else "female", "text": text, "version": version}
            utterances.append(Utterance(str(path), EMODB_EMOTIONS[letter], speaker, meta))
        if not utterances:
            raise SerkitError(f"dataset.root: no EMO-DB files (e.g. 03a01Fa.wav) under '{self.root}'")
        utterances, labels = restrict(utterances, list(EMODB_EMOTIONS.values()), self.emotions)
        speakers = sorted({u.speaker for u in utterances})
        notes = [f"{len(utterances)} files from {len(speakers)} of 10 speakers"]
        missing = sorted(EMODB_SPEAKERS - set(speakers))
        if missing:
            notes.append("speakers without files: " + ", ".join(missing))
        expected = None if self.emotions else EMODB_COUNTS
        notes += count_notes(utterances, labels, expected) + odd_names_note(odd)
        return Scan(utterances, labels, notes)


@hookimpl
def register_datasets(register):
    for cls in (Ravdess, EmoDB):
        register(cls)
