"""Datasets: RAVDESS (audio-only speech) and Berlin EMO-DB, found by their file-name conventions."""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from serkit.core.components import Dataset, DownloadSource, Scan, Utterance
from serkit.core.errors import SerkitError
from serkit.core.fileio import read_json_file
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param
from serkit.core.suggest import did_you_mean
from serkit.corpora.banglaser import BanglaSer
from serkit.corpora.crema_d import CremaD
from serkit.corpora.emov_db import EmovDb
from serkit.corpora.iemocap import Iemocap
from serkit.corpora.mesd import Mesd
from serkit.corpora.msp_podcast import MspPodcast
from serkit.corpora.named import count_warnings, odd_names_warning, restrict, wav_files
from serkit.corpora.savee import Savee
from serkit.corpora.shemo import Shemo
from serkit.corpora.subesco import Subesco
from serkit.corpora.tess import Tess

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


def parse_ravdess(root: str) -> tuple[list[Utterance], list[str], list[str]]:
    """RAVDESS speech utterances under ``root``, the song/video files ignored, and files with odd names."""
    utterances, ignored, odd = [], [], []
    for path in wav_files(root):
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
        raise SerkitError(f"dataset.root: no RAVDESS speech files (03-01-EE-II-SS-RR-AA.wav) under '{root}'")
    return utterances, ignored, odd


@dataclass(frozen=True, kw_only=True)
class Ravdess(Dataset):
    """RAVDESS audio-only speech (03-01-EE-II-SS-RR-AA.wav); speaker = actor, odd actors male."""

    name = "ravdess"
    benchmark_protocol: ClassVar[dict[str, Any]] = {
        "name": "fixed",
        "test_speakers": [[f"{a + k:02d}" for k in range(4)] for a in range(1, 25, 4)],
    }  # six folds of four actors
    source = DownloadSource(
        url="https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1",
        filename="Audio_Speech_Actors_01-24.zip",
        md5="bc696df654c87fed845eb13823edef8a",  # as published on the Zenodo record
        licence="CC BY-NC-SA 4.0 (Livingstone & Russo 2018); cite the PLoS ONE paper",
    )
    citation = """@article{livingstone2018ravdess,
  author = {Livingstone, Steven R. and Russo, Frank A.},
  title = {The {Ryerson} Audio-Visual Database of Emotional Speech and Song ({RAVDESS})},
  journal = {PLOS ONE}, volume = {13}, number = {5}, pages = {e0196391}, year = {2018}
}"""
    root: str = param(help="folder holding the Actor_XX folders (or the .wav files)")
    emotions: list[str] = param([], "emotions to keep; empty keeps all eight")

    def scan(self) -> Scan:
        utterances, ignored, odd = parse_ravdess(self.root)
        utterances, labels = restrict(utterances, list(RAVDESS_EMOTIONS.values()), self.emotions)
        actors = sorted({u.speaker for u in utterances})
        notes = [f"{len(utterances)} speech files from {len(actors)} of 24 actors"]
        if ignored:
            notes.append(f"ignored {len(ignored)} song or video file(s)")
        per_actor = Counter(u.speaker for u in utterances)
        short = [a for a in actors if per_actor[a] != 60] if not self.emotions else []
        warnings = []
        if short:
            warnings.append(
                "actors without the full 60 speech files: " + ", ".join(f"{a} ({per_actor[a]})" for a in short)
            )
        # The published design: per actor 4 neutral files and 8 of every other emotion.
        expected = None if self.emotions else {k: (4 if k == "neutral" else 8) * len(actors) for k in labels}
        warnings += count_warnings(utterances, labels, expected)
        return Scan(utterances, labels, notes, warnings + odd_names_warning(odd), ignored, odd)


@dataclass(frozen=True, kw_only=True)
class EmoDB(Dataset):
    """Berlin EMO-DB (SSTTTEV.wav: speaker, text, emotion letter, version)."""

    name = "emodb"
    benchmark_protocol: ClassVar[dict[str, Any]] = {"name": "loso"}
    source = DownloadSource(
        url="http://emodb.bilderbar.info/download/download.zip",
        filename="emodb.zip",
        root="wav",
        licence="free for research (Burkhardt et al. 2005)",
    )
    citation = """@inproceedings{burkhardt2005emodb,
  author = {Burkhardt, Felix and Paeschke, Astrid and Rolfes, Miriam and Sendlmeier, Walter F. and Weiss, Benjamin},
  title = {A database of {German} emotional speech},
  booktitle = {Proc. Interspeech 2005}, pages = {1517--1520}, year = {2005}
}"""
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
        warnings = ["speakers without files: " + ", ".join(missing)] if missing else []
        expected = None if self.emotions else EMODB_COUNTS
        warnings += count_warnings(utterances, labels, expected) + odd_names_warning(odd)
        return Scan(utterances, labels, notes, warnings, unmatched=odd)


@dataclass(frozen=True, kw_only=True)
class Synthetic(Dataset):
    """eSpeak NG acted-emotion corpus in RAVDESS's layout, synthesised on first use (no download)."""

    name = "synthetic"
    benchmark_protocol: ClassVar[dict[str, Any]] = {"name": "loso"}
    target_scale = (-1.0, 1.0)  # each dimension a tanh (serkit.corpora.synth.dimensions)
    root: str = param("", "corpus folder; empty uses a folder in the serkit cache keyed by the settings")
    actors: int = param(4, "number of speakers (odd male, even female)", ge=1, le=24)
    emotions: list[str] = param([], "emotions to synthesise; empty means all eight RAVDESS emotions")
    statements: int = param(2, "sentences per emotion and intensity", ge=1, le=6)
    repetitions: int = param(2, "repetitions of each sentence", ge=1, le=9)
    sample_rate: int = param(48000, "sample rate of the written files", ge=8000, le=192000)
    seed: int = param(0, "synthesis seed (the corpus is byte-identical for a given seed)", ge=0)
    noise_snr_db: float = param(0.0, "background noise at this SNR in dB; 0 means none", ge=0)

    def config(self):
        from serkit.corpora.synth import EMOTION_CODES, SynthConfig

        emotions = tuple(e for e in EMOTION_CODES if not self.emotions or e in self.emotions)
        unknown = sorted(set(self.emotions) - set(EMOTION_CODES))
        if unknown:
            raise SerkitError(f"dataset.emotions: unknown emotion(s) {', '.join(unknown)}")
        return SynthConfig(
            self.actors, emotions, self.statements, self.repetitions, self.sample_rate, self.seed, self.noise_snr_db
        )

    def folder(self) -> Path:
        from serkit.data.cache import default_cache_dir, digest

        if self.root:
            return Path(self.root).expanduser()
        return default_cache_dir() / "corpora" / f"synthetic-{digest(self.config().describe())[:16]}"

    def location(self) -> str:
        return str(self.folder())

    def scan(self) -> Scan:
        import time

        from serkit.corpora.synth import MARKER, synthesise_corpus

        folder, notes = self.folder(), []
        if not (folder / MARKER).is_file():
            start = time.perf_counter()
            synthesise_corpus(folder, self.config())
            notes.append(f"synthesised a new corpus into {folder} in {time.perf_counter() - start:.1f} s")
        utterances, _, odd = parse_ravdess(str(folder))
        utterances = with_dimensions(utterances)
        labels = [label for label in RAVDESS_EMOTIONS.values() if any(u.label == label for u in utterances)]
        notes.insert(
            0,
            f"{len(utterances)} synthetic files from {len({u.speaker for u in utterances})} actors "
            f"(eSpeak NG, seed {self.seed}) in {folder}; arousal, valence and dominance from each file's drawn "
            "prosody (serkit.corpora.synth.dimensions)",
        )
        return Scan(utterances, labels, notes, odd_names_warning(odd), unmatched=odd)


def with_dimensions(utterances: list[Utterance]) -> list[Utterance]:
    """The synthetic files with their arousal, valence and dominance (each actor folder's targets file) in
    their metadata; a corpus made before the targets existed keeps none."""
    from serkit.corpora.synth import TARGETS

    found: dict[str, dict[str, Any]] = {}
    for folder in {Path(u.path).parent for u in utterances}:
        if (folder / TARGETS).is_file():
            targets = read_json_file(folder / TARGETS, "dataset.root")
            if not isinstance(targets, dict):
                raise SerkitError(f"dataset.root: {folder / TARGETS}: expected an object of file name -> targets")
            found |= {str(folder / n): v for n, v in targets.items()}
    dims = ("arousal", "valence", "dominance")
    return [
        replace(u, meta={**u.meta, **{d: found[u.path][d] for d in dims}}) if u.path in found else u for u in utterances
    ]


@dataclass(frozen=True, kw_only=True)
class Manifest(Dataset):
    """Any corpus listed in a CSV file with columns path, label, speaker (and optional extra columns)."""

    name = "manifest"
    root: str = param(help="the CSV file; relative paths in it are relative to the file's folder")
    labels: list[str] = param([], "allowed labels in class order; empty takes the labels found, sorted")
    scale: list[float] = param(
        [], "the documented scale [lowest, highest] of its target columns (e.g. [1, 5]), for task.rescale"
    )

    def validate(self) -> None:
        if self.scale and (len(self.scale) != 2 or self.scale[0] >= self.scale[1]):
            raise ValueError("scale: give two numbers, the lowest and the highest value, e.g. [1, 5]")

    def documented_scale(self) -> tuple[float, float] | None:
        return (float(self.scale[0]), float(self.scale[1])) if self.scale else None

    def scan(self) -> Scan:
        manifest = Path(self.root).expanduser()
        if not manifest.is_file():
            raise SerkitError(f"dataset.root: manifest file '{self.root}' does not exist")
        try:
            with manifest.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                missing = {"path", "label", "speaker"} - set(reader.fieldnames or [])
                if missing:
                    raise SerkitError(
                        f"{manifest}: missing column(s) {', '.join(sorted(missing))} (needs path, label, speaker)"
                    )
                utterances = [self._row(manifest, line, row) for line, row in enumerate(reader, start=2)]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise SerkitError(f"{manifest}: cannot read the manifest ({exc})") from exc
        if not utterances:
            raise SerkitError(f"{manifest}: the manifest lists no files")
        labels = list(self.labels) or sorted({u.label for u in utterances})
        speakers = {u.speaker for u in utterances}
        notes = [f"{len(utterances)} files from {len(speakers)} speakers in {len(labels)} classes"]
        return Scan(utterances, labels, notes, count_warnings(utterances, labels, None))

    def _row(self, manifest: Path, line: int, row: dict[str, str]) -> Utterance:
        where = f"{manifest}:{line}"
        path, label, speaker = ((row.get(k) or "").strip() for k in ("path", "label", "speaker"))
        if not path or not label or not speaker:
            raise SerkitError(f"{where}: path, label and speaker must all be given")
        audio_path = Path(path).expanduser()
        audio_path = audio_path if audio_path.is_absolute() else manifest.parent / audio_path
        if not audio_path.is_file():
            raise SerkitError(f"{where}: file '{path}' does not exist")
        if self.labels and label not in self.labels:
            raise SerkitError(
                f"{where}: unknown label '{label}'{did_you_mean(label, self.labels)} (labels: {', '.join(self.labels)})"
            )
        meta = {k: v for k, v in row.items() if k not in ("path", "label", "speaker") and k is not None}
        return Utterance(str(audio_path), label, speaker, meta)


@hookimpl
def register_datasets(register):
    named = (CremaD, Tess, Savee, Subesco, Shemo, Mesd, BanglaSer, EmovDb, Iemocap, MspPodcast)
    for cls in (Ravdess, EmoDB, Synthetic, Manifest, *named):
        register(cls)
