"""EmoBox's published folds as a protocol, so that a serkit result is comparable with its leaderboard.

EmoBox (github.com/emo-box/EmoBox) keeps, per corpus, ``data/<corpus>/fold_<k>/`` with
``<corpus>_train_fold_<k>.jsonl`` and ``<corpus>_test_fold_<k>.jsonl`` (some corpora also have
``..._fold<k>`` copies and ``.json`` versions: a dict of key -> record instead of one record per line),
and ``label_map.json`` from each record's ``emo`` to EmoBox's label. Paths are relative to EmoBox's
download folder, so utterances are matched by file stem.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from serkit.core.components import Dataset, Fold, Protocol, Scan, Utterance
from serkit.core.errors import SerkitError
from serkit.core.fileio import read_json_file
from serkit.core.params import param


@dataclass(frozen=True)
class FoldList:
    """One fold's file lists: stem -> EmoBox's label, for its training and test parts."""

    number: int
    train: dict[str, str]
    test: dict[str, str]


def _records(path: Path) -> list[dict[str, object]]:
    """The records of one fold file: a JSON object of key -> record, or JSON Lines."""
    if path.suffix != ".jsonl":
        found = read_json_file(path, "protocol.folds_dir")
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SerkitError(f"protocol.folds_dir: cannot read {path} ({type(exc).__name__}: {exc})") from exc
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line)) if line.strip() else None
            except json.JSONDecodeError as exc:
                raise SerkitError(f"protocol.folds_dir: {path}, line {number}: not JSON ({exc.msg})") from exc
        return records
    if not isinstance(found, dict):
        raise SerkitError(f"protocol.folds_dir: {path} is not an EmoBox fold file (expected an object of records)")
    return list(found.values())


def _part(folder: Path, part: str, number: int, label_map: dict[str, str]) -> dict[str, str]:
    """The stems and labels of one part of one fold; ``_fold_<k>`` before ``_fold<k>``, ``.jsonl`` before ``.json``."""
    for pattern in (f"*_{part}_fold_{number}.jsonl", f"*_{part}_fold_{number}.json", f"*_{part}_fold{number}.jsonl"):
        found = sorted(folder.glob(pattern)) or sorted(folder.glob(pattern.replace(".jsonl", ".json")))
        if found:
            break
    else:
        raise SerkitError(f"protocol.folds_dir: {folder} has no {part} file (e.g. <corpus>_{part}_fold_{number}.jsonl)")
    stems = {}
    for record in _records(found[0]):
        if not isinstance(record, dict) or "wav" not in record:
            raise SerkitError(f"protocol.folds_dir: {found[0]}: a record without 'wav'")
        emotion = str(record.get("emo", ""))
        stems[Path(str(record["wav"])).stem] = label_map.get(emotion, emotion)
    return stems


@cache
def read_folds(folds_dir: str) -> tuple[FoldList, ...]:
    """Every fold under an EmoBox corpus folder, in fold order."""
    root = Path(folds_dir).expanduser()
    if not root.is_dir():
        raise SerkitError(f"protocol.folds_dir: folder '{folds_dir}' does not exist (EmoBox's data/<corpus> folder)")
    label_map: dict[str, str] = {}
    if (root / "label_map.json").is_file():
        label_map = read_json_file(root / "label_map.json", "protocol.folds_dir")
        if not isinstance(label_map, dict):
            raise SerkitError(f"protocol.folds_dir: {root / 'label_map.json'}: expected an object of label -> label")
    numbers = sorted(
        int(match.group(1)) for p in root.iterdir() if p.is_dir() and (match := re.fullmatch(r"fold_?(\d+)", p.name))
    )
    if not numbers:
        raise SerkitError(f"protocol.folds_dir: no fold_<k> folders in '{folds_dir}'")
    folders = {int(re.sub(r"\D", "", p.name)): p for p in root.iterdir() if re.fullmatch(r"fold_?\d+", p.name)}
    return tuple(
        FoldList(k, _part(folders[k], "train", k, label_map), _part(folders[k], "test", k, label_map)) for k in numbers
    )


def _stem(utterance: Utterance) -> str:
    return Path(utterance.path).stem


@dataclass(frozen=True, kw_only=True)
class EmoBoxFolds(Protocol):
    """EmoBox's published folds (its data/<corpus> folder), utterances matched by file stem; say where
    they are speaker-dependent."""

    name = "emobox"
    folds_dir: str = param(
        help="EmoBox's data/<corpus> folder, holding fold_1, fold_2, ... and label_map.json", path=True
    )
    missing_test_classes: str = param(
        "warn", "a fold whose test part lacks a class: stop, or warn", choices=("error", "warn")
    )

    def missing_test_class_policy(self) -> str:
        return self.missing_test_classes

    def prepare(self, scan: Scan, dataset: Dataset) -> Scan:
        folds = read_folds(self.folds_dir)
        have = {_stem(u) for u in scan.utterances}
        listed = set().union(*(set(f.train) | set(f.test) for f in folds))
        warnings = list(scan.warnings)
        absent = sorted(listed - have)
        if absent and len(absent) == len(listed):
            raise SerkitError(
                f"protocol.folds_dir: none of the {len(listed)} files its folds list is in the dataset "
                f"(e.g. {absent[0]}); is it the fold folder of this corpus?"
            )
        if absent:
            warnings.append(f"EmoBox's folds list {len(absent)} file(s) the dataset lacks, e.g. {absent[0]}")
        unlisted = len(have - listed)
        if unlisted:
            warnings.append(f"{unlisted} utterance(s) of the dataset are in no EmoBox fold and are not used")
        warnings += self._disagreements(scan.utterances, folds) + self._shared_speakers(scan.utterances, folds)
        kept = [u for u in scan.utterances if _stem(u) in listed]
        return Scan(kept, scan.labels, scan.notes, warnings, scan.ignored, scan.unmatched, scan.relabel)

    @staticmethod
    def _disagreements(utterances: list[Utterance], folds: tuple[FoldList, ...]) -> list[str]:
        """Whether serkit's labels and EmoBox's name the same classes (one EmoBox label per serkit label)."""
        theirs = {stem: label for fold in folds for stem, label in (fold.train | fold.test).items()}
        pairs: dict[str, Counter[str]] = defaultdict(Counter)
        for u in utterances:
            if _stem(u) in theirs:
                pairs[u.label][theirs[_stem(u)]] += 1
        mixed = {label: counts for label, counts in pairs.items() if len(counts) > 1}
        if not mixed:
            return []
        shown = "; ".join(f"{label}: {dict(counts)}" for label, counts in sorted(mixed.items()))
        return [f"serkit's labels and EmoBox's disagree for some files (serkit label: EmoBox labels) {shown}"]

    @staticmethod
    def _shared_speakers(utterances: list[Utterance], folds: tuple[FoldList, ...]) -> list[str]:
        speaker = {_stem(u): u.speaker for u in utterances}
        shared = []
        for fold in folds:
            train = {speaker[s] for s in fold.train if s in speaker}
            test = {speaker[s] for s in fold.test if s in speaker}
            if train & test:
                shared.append(f"fold {fold.number}: {len(train & test)} of {len(test)} test speakers")
        if not shared:
            return []
        return [
            "EmoBox's folds are speaker-dependent here (speakers on both sides: " + "; ".join(shared) + "); "
            "its results are not comparable with speaker-independent ones"
        ]

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        found = []
        for fold in read_folds(self.folds_dir):
            train = [i for i, u in enumerate(utterances) if _stem(u) in fold.train]
            test = [i for i, u in enumerate(utterances) if _stem(u) in fold.test]
            if not train or not test:
                raise SerkitError(f"protocol.folds_dir: EmoBox fold {fold.number} matches no training or no test file")
            found.append(Fold(f"fold{fold.number}", train, test))
        return found

    def describe(self, utterances: list[Utterance]) -> str:
        folds = read_folds(self.folds_dir)
        dependent = bool(self._shared_speakers(utterances, folds))
        design = "speaker-dependent" if dependent else "speaker-independent"
        return f"{design}: EmoBox's {len(folds)} published fold(s) from {self.folds_dir}, matched by file stem"
